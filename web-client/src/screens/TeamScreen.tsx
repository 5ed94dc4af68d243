//! "Peer support team" for coordinators: the roster with training status, adding and removing
//! supporters, recording training, rotations and overrides.

import { useEffect, useState } from 'preact/hooks';
import { TRAINING_KINDS } from '../api';
import { addOverride, addToTeam, createRotation, deleteOverride, deleteRotation, loadTeam, recordTraining, removeFromTeam, type Team } from '../workflows/team';
import { day, trainingLabel, when } from './teamFormat';
import { useAction } from './useAction';

export function TeamScreen() {
  const [{ roster, people, rotations, overrides }, setTeam] = useState<Team>({ roster: [], people: [], rotations: [], overrides: [] });
  const { busy, run, messages } = useAction();
  useEffect(() => void run(async () => setTeam(await loadTeam())), []);

  const today = day(Date.now());
  const inTwoYears = day(Date.now() + 2 * 365 * 86400_000);
  const [addAccount, setAddAccount] = useState('');
  const [trainee, setTrainee] = useState('');
  const [kind, setKind] = useState('all');
  const [completed, setCompleted] = useState(today);
  const [expires, setExpires] = useState(inTwoYears);
  const [rotName, setRotName] = useState('Peer support on call');
  const [members, setMembers] = useState<string[]>([]);
  const [handoff, setHandoff] = useState('08:00');
  const [zone, setZone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [period, setPeriod] = useState('7');
  const [startDate, setStartDate] = useState(day(Date.now() - 86400_000));
  const [ovRotation, setOvRotation] = useState('');
  const [ovAccount, setOvAccount] = useState('');
  const [ovStart, setOvStart] = useState('');
  const [ovEnd, setOvEnd] = useState('');

  const onRoster = new Set(roster.map((s) => s.account));
  const candidates = people.filter((p) => !onRoster.has(p.account));

  return (
    <main>
      <h1>Peer support team</h1>
      {messages}
      <section class="card" aria-labelledby="roster-title">
        <h2 id="roster-title">Supporters</h2>
        {roster.length === 0 && <p class="muted">No one is on the team yet.</p>}
        <ul class="people">
          {roster.map((s) => (
            <li key={s.account} class="card">
              <p>
                <strong>{s.display_name}</strong> · {s.switch}
              </p>
              <p class={s.training_current ? 'muted' : 'error'}>
                {s.training_current ? 'Training current' : `Training missing: ${s.training_missing.map(trainingLabel).join(', ')}`}
              </p>
              <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => setTeam(await removeFromTeam(s.account)), `${s.display_name} was removed.`)}>
                Remove {s.display_name}
              </button>
            </li>
          ))}
        </ul>
      </section>

      <section class="card" aria-labelledby="add-title">
        <h2 id="add-title">Add a supporter</h2>
        <label for="add-person">Person</label>
        <select id="add-person" value={addAccount} onChange={(e) => setAddAccount(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {candidates.map((p) => (
            <option key={p.account} value={p.account}>{p.display_name}</option>
          ))}
        </select>
        <button type="button" disabled={busy || !addAccount} onClick={() => run(async () => setTeam(await addToTeam(addAccount, () => setAddAccount(''))), 'Added to the team.')}>
          Add to the team
        </button>
      </section>

      <section class="card" aria-labelledby="training-title">
        <h2 id="training-title">Record training</h2>
        <label for="trainee">Supporter</label>
        <select id="trainee" value={trainee} onChange={(e) => setTrainee(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {roster.map((s) => (
            <option key={s.account} value={s.account}>{s.display_name}</option>
          ))}
        </select>
        <label for="training-kind">Training</label>
        <select id="training-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
          <option value="all">All five</option>
          {TRAINING_KINDS.map((t) => (
            <option key={t.kind} value={t.kind}>{t.label}</option>
          ))}
        </select>
        <label for="completed">Completed on</label>
        <input id="completed" type="date" value={completed} onInput={(e) => setCompleted(e.currentTarget.value)} />
        <label for="expires">Expires on</label>
        <input id="expires" type="date" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
        <button
          type="button"
          disabled={busy || !trainee}
          onClick={() =>
            run(async () => setTeam(await recordTraining(trainee, kind, completed, expires)), 'Training recorded.')
          }
        >
          Record training
        </button>
      </section>

      <section class="card" aria-labelledby="rotations-title">
        <h2 id="rotations-title">Rotations</h2>
        {rotations.map((r) => (
          <div key={r.id} class="card">
            <p>
              <strong>{r.name}</strong> · hand-off {r.handoff} {r.time_zone} · every {r.period_days} day{r.period_days === 1 ? '' : 's'}
            </p>
            <ul>
              {r.upcoming.slice(0, 4).map((u) => (
                <li key={u.start}>
                  {when(u.start)}: {u.display_name}
                  {u.source !== 'rotation' && ` (${u.source})`}
                </li>
              ))}
            </ul>
            <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => setTeam(await deleteRotation(r.id)), 'Rotation deleted.')}>
              Delete rotation {r.name}
            </button>
          </div>
        ))}
        <h3>New rotation</h3>
        <label for="rot-name">Rotation name</label>
        <input id="rot-name" type="text" value={rotName} onInput={(e) => setRotName(e.currentTarget.value)} />
        <fieldset>
          <legend>Members, in order</legend>
          {roster.map((s) => (
            <label key={s.account} class="check">
              <input
                type="checkbox"
                checked={members.includes(s.account)}
                onChange={(e) => setMembers((list) => (e.currentTarget.checked ? [...list, s.account] : list.filter((a) => a !== s.account)))}
              />
              {s.display_name}
            </label>
          ))}
        </fieldset>
        <label for="handoff">Hand-off time</label>
        <input id="handoff" type="time" value={handoff} onInput={(e) => setHandoff(e.currentTarget.value)} />
        <label for="zone">Time zone</label>
        <input id="zone" type="text" value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
        <label for="period">Period</label>
        <select id="period" value={period} onChange={(e) => setPeriod(e.currentTarget.value)}>
          <option value="1">Daily</option>
          <option value="7">Weekly</option>
          <option value="14">Every two weeks</option>
        </select>
        <label for="start-date">Start date</label>
        <input id="start-date" type="date" value={startDate} onInput={(e) => setStartDate(e.currentTarget.value)} />
        <button
          type="button"
          disabled={busy || members.length === 0}
          onClick={() =>
            run(async () => {
              const body = { name: rotName, members, handoff, time_zone: zone, period_days: Number(period), start_date: startDate };
              setTeam(await createRotation(body, () => setMembers([])));
            }, 'Rotation created.')
          }
        >
          Create rotation
        </button>
      </section>

      <section class="card" aria-labelledby="overrides-title">
        <h2 id="overrides-title">Overrides</h2>
        <ul>
          {overrides.map((o) => (
            <li key={o.id}>
              {o.display_name}: {when(o.start)} – {when(o.end)}{' '}
              <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => setTeam(await deleteOverride(o.id)))}>
                Delete override for {o.display_name}
              </button>
            </li>
          ))}
        </ul>
        <label for="ov-rotation">Rotation</label>
        <select id="ov-rotation" value={ovRotation} onChange={(e) => setOvRotation(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {rotations.map((r) => (
            <option key={r.id} value={r.id}>{r.name}</option>
          ))}
        </select>
        <label for="ov-account">Covered by</label>
        <select id="ov-account" value={ovAccount} onChange={(e) => setOvAccount(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {roster.map((s) => (
            <option key={s.account} value={s.account}>{s.display_name}</option>
          ))}
        </select>
        <label for="ov-start">From</label>
        <input id="ov-start" type="datetime-local" value={ovStart} onInput={(e) => setOvStart(e.currentTarget.value)} />
        <label for="ov-end">Until</label>
        <input id="ov-end" type="datetime-local" value={ovEnd} onInput={(e) => setOvEnd(e.currentTarget.value)} />
        <button
          type="button"
          disabled={busy || !ovRotation || !ovAccount || !ovStart || !ovEnd}
          onClick={() =>
            run(async () => setTeam(await addOverride({ rotation: ovRotation, account: ovAccount, start: new Date(ovStart).getTime(), end: new Date(ovEnd).getTime() })), 'Override added.')
          }
        >
          Add override
        </button>
      </section>
    </main>
  );
}
