//! One rotation: its members in order, hand-off, period and start, the next hand-offs, its
//! overrides (add, delete) and deleting it, after a question.

import { useState } from 'preact/hooks';
import { addOverride, deleteOverride, deleteRotation } from '../workflows/team';
import { BackToTeam, ConfirmButton, Gone, type TeamViewProps } from './teamParts';
import { clockTime, periodLabel, when } from './teamFormat';
import { backToList } from './teamRoutes';
import { handOffs } from './teamWeek';

export function RotationDetail({ id, team, loaded, busy, act, setTeam, messages }: TeamViewProps & { id: string }) {
  const [ovAccount, setOvAccount] = useState('');
  const [ovStart, setOvStart] = useState('');
  const [ovEnd, setOvEnd] = useState('');
  const rotation = team.rotations.find((r) => r.id === id);
  if (!rotation) return <Gone title="Rotation" loaded={loaded} text="This rotation is not there any more." messages={messages} />;
  const { name } = rotation;
  const trained = new Map(team.roster.map((s) => [s.account, s.training_current]));
  const overrides = team.overrides.filter((o) => o.rotation === id);
  const now = Date.now();
  const handoffs = handOffs(rotation.upcoming).slice(0, 6);

  return (
    <main>
      <BackToTeam />
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
              {trained.get(m.account) === false && <span class="error"> · training missing</span>}
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
              <button type="button" class="secondary small" disabled={busy} onClick={() => act(async () => setTeam(await deleteOverride(o.id)), 'Override deleted.')}>
                Delete override for {o.display_name}
              </button>
            </li>
          ))}
        </ul>
        <h3>Add an override</h3>
        <label for="ov-account">Covered by</label>
        <select id="ov-account" value={ovAccount} onChange={(e) => setOvAccount(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {team.roster.map((s) => (
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
              setTeam(await addOverride({ rotation: id, account: ovAccount, start: new Date(ovStart).getTime(), end: new Date(ovEnd).getTime() }));
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
              const next = await deleteRotation(id);
              await backToList();
              setTeam(next);
            }, 'Rotation deleted.')
          }
        />
      </section>
    </main>
  );
}

