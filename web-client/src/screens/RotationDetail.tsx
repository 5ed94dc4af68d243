//! One rotation of a team (the peer support team's or a crisis team's, through `Schedule`): its
//! members in order, hand-off, period and start, the next hand-offs, its overrides (add, delete)
//! and deleting it, after a question.

import { useState } from 'preact/hooks';
import { BackToTeam, ConfirmButton, Gone, type ScheduleViewProps } from './teamParts';
import { clockTime, periodLabel, when } from './teamFormat';
import { backToList } from './teamRoutes';
import { handOffs } from './teamWeek';

export function RotationDetail({ id, schedule, loaded, busy, act, messages }: ScheduleViewProps & { id: string }) {
  const [ovAccount, setOvAccount] = useState('');
  const [ovStart, setOvStart] = useState('');
  const [ovEnd, setOvEnd] = useState('');
  const { list } = schedule;
  const rotation = schedule.rotations.find((r) => r.id === id);
  if (!rotation) return <Gone title="Rotation" loaded={loaded} text="This rotation is not there any more." messages={messages} list={list} />;
  const { name } = rotation;
  const warnings = new Map(schedule.members.map((s) => [s.account, s.warning]));
  const overrides = schedule.overrides.filter((o) => o.rotation === id);
  const now = Date.now();
  const handoffs = handOffs(rotation.upcoming).slice(0, 6);

  return (
    <main>
      <BackToTeam list={list} />
      <h1 tabIndex={-1}>{name}</h1>
      {messages}
      <dl class="facts">
        <div>
          <dt>Hand-off</dt>
          <dd>
            {clockTime(rotation.handoff)} ({rotation.time_zone})
          </dd>
        </div>
        <div>
          <dt>Period</dt>
          <dd>{periodLabel(rotation.period_days)}</dd>
        </div>
        <div>
          <dt>First hand-off</dt>
          <dd>
            {rotation.start_date}, {clockTime(rotation.handoff)}
          </dd>
        </div>
      </dl>

      <section class="card" aria-labelledby="members-title">
        <h2 id="members-title">Members, in order</h2>
        <ol class="members">
          {rotation.members.map((m) => (
            <li key={m.account}>
              {m.display_name}
              {warnings.get(m.account) && <span class="error"> · {warnings.get(m.account)}</span>}
            </li>
          ))}
        </ol>
      </section>

      <section class="card" aria-labelledby="handoffs-title">
        <h2 id="handoffs-title">Next hand-offs</h2>
        {handoffs.length === 0 ? (
          <p class="muted">None listed.</p>
        ) : (
          <ul class="records">
            {handoffs.map((u) => (
              <li key={u.start}>
                <span class="name">{u.start <= now ? `Now (since ${when(u.start)})` : when(u.start)}</span>{' '}
                <span>
                  {u.display_name}
                  {u.source !== 'rotation' && <span class="muted"> ({u.source})</span>}
                </span>
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="overrides-title">
        <h2 id="overrides-title">Overrides</h2>
        {overrides.length === 0 && <p class="muted">None: the rotation decides who is on call.</p>}
        <ul class="records">
          {overrides.map((o) => (
            <li key={o.id}>
              <span class="name">{o.display_name}</span>{' '}
              <span>
                {when(o.start)} – {when(o.end)}
              </span>
              <button type="button" class="secondary small" disabled={busy} onClick={() => act(() => schedule.deleteOverride(o.id), 'Override deleted.')}>
                Delete override for {o.display_name}
              </button>
            </li>
          ))}
        </ul>
        <h3>Add an override</h3>
        <label for="ov-account">Covered by</label>
        <select id="ov-account" value={ovAccount} onChange={(e) => setOvAccount(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {schedule.members.map((s) => (
            <option key={s.account} value={s.account}>{s.display_name}</option>
          ))}
        </select>
        <label for="ov-start">From</label>
        <input id="ov-start" type="datetime-local" value={ovStart} onInput={(e) => setOvStart(e.currentTarget.value)} />
        <label for="ov-end">Until</label>
        <input id="ov-end" type="datetime-local" value={ovEnd} onInput={(e) => setOvEnd(e.currentTarget.value)} />
        <button
          type="button"
          disabled={busy || !ovAccount || !ovStart || !ovEnd}
          onClick={() =>
            act(async () => {
              await schedule.addOverride({ rotation: id, account: ovAccount, start: new Date(ovStart).getTime(), end: new Date(ovEnd).getTime() });
              setOvAccount('');
              setOvStart('');
              setOvEnd('');
            }, 'Override added.')
          }
        >
          Add override
        </button>
      </section>

      <section class="card" aria-labelledby="delete-title">
        <h2 id="delete-title">Delete this rotation</h2>
        <p class="muted">Its overrides and swaps are deleted with it.</p>
        <ConfirmButton
          id="confirm-delete"
          label={`Delete rotation ${name}`}
          question={`Delete the rotation ${name}?`}
          confirm={`Yes, delete ${name}`}
          busy={busy}
          onConfirm={() =>
            act(async () => {
              const apply = await schedule.deleteRotation(id);
              await backToList(list);
              apply();
            }, 'Rotation deleted.')
          }
        />
      </section>
    </main>
  );
}

