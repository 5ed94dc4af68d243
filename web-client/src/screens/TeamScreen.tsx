//! The Peer Support Team: coordinators keep the roster, training, rotations and overrides;
//! supporters see their shifts, set their own switch and propose or answer swaps.

import { useEffect, useState } from 'preact/hooks';
import {
  addSupporter,
  answerSwap,
  createOverride,
  createRotation,
  deleteOverride,
  deleteRotation,
  describeError,
  getDirectory,
  getMyRecord,
  getMyShifts,
  getRotations,
  getRoster,
  getSwaps,
  proposeSwap,
  recordTraining,
  removeSupporter,
  setSwitch,
  TRAINING_KINDS,
  type Override,
  type Person,
  type Rotation,
  type Shift,
  type SupporterRecord,
  type Swap,
  type SwitchState,
} from '../api';
import { app } from '../app';

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const when = (ms: number) => new Date(ms).toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const trainingLabel = (k: string) => TRAINING_KINDS.find((t) => t.kind === k)?.label ?? k;

function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const run = async (fn: () => Promise<unknown>, ok = '') => {
    setBusy(true);
    setError('');
    setDone('');
    try {
      await fn();
      setDone(ok);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };
  const messages = (
    <>
      {error && <p role="alert" class="error">{error}</p>}
      {done && <p role="status">{done}</p>}
    </>
  );
  return { busy, run, messages };
}

export function TeamScreen() {
  const signer = app.signer!;
  const [roster, setRoster] = useState<SupporterRecord[]>([]);
  const [people, setPeople] = useState<Person[]>([]);
  const [rotations, setRotations] = useState<Rotation[]>([]);
  const [overrides, setOverrides] = useState<Override[]>([]);
  const { busy, run, messages } = useAction();
  const reload = async () => {
    const [r, d, rot] = await Promise.all([getRoster(signer), getDirectory(signer), getRotations(signer)]);
    setRoster(r.supporters);
    setPeople(d.people);
    setRotations(rot.rotations);
    setOverrides(rot.overrides);
  };
  useEffect(() => void run(reload), []);

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
              <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => { await removeSupporter(signer, s.account); await reload(); }, `${s.display_name} was removed.`)}>
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
        <button type="button" disabled={busy || !addAccount} onClick={() => run(async () => { await addSupporter(signer, addAccount); setAddAccount(''); await reload(); }, 'Added to the team.')}>
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
            run(async () => {
              const kinds = kind === 'all' ? TRAINING_KINDS.map((t) => t.kind) : [kind];
              for (const k of kinds) await recordTraining(signer, trainee, k, { completed_at: completed, expires_at: expires });
              await reload();
            }, 'Training recorded.')
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
            <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => { await deleteRotation(signer, r.id); await reload(); }, 'Rotation deleted.')}>
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
              await createRotation(signer, { name: rotName, members, handoff, time_zone: zone, period_days: Number(period), start_date: startDate });
              setMembers([]);
              await reload();
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
              <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => { await deleteOverride(signer, o.id); await reload(); })}>
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
            run(async () => {
              await createOverride(signer, { rotation: ovRotation, account: ovAccount, start: new Date(ovStart).getTime(), end: new Date(ovEnd).getTime() });
              await reload();
            }, 'Override added.')
          }
        >
          Add override
        </button>
      </section>
    </main>
  );
}

const SWITCHES: { id: SwitchState; label: string }[] = [
  { id: 'available', label: 'Available' },
  { id: 'busy', label: 'Busy' },
  { id: 'off', label: 'Off' },
];

export function ShiftsScreen() {
  const signer = app.signer!;
  const me = app.messenger!.creds.account;
  const [record, setRecord] = useState<SupporterRecord | undefined>();
  const [shifts, setShifts] = useState<Shift[]>([]);
  const [swaps, setSwaps] = useState<Swap[]>([]);
  const [rotations, setRotations] = useState<Rotation[]>([]);
  const [mine, setMine] = useState('');
  const [theirs, setTheirs] = useState('');
  const { busy, run, messages } = useAction();
  const reload = async () => {
    const [r, s, w, rot] = await Promise.all([getMyRecord(signer), getMyShifts(signer), getSwaps(signer), getRotations(signer)]);
    setRecord(r);
    setShifts(s.shifts);
    setSwaps(w.swaps);
    setRotations(rot.rotations);
  };
  useEffect(() => void run(reload), []);

  const others = rotations.flatMap((r) => r.upcoming.filter((u) => u.account !== me).map((u) => ({ rotation: r, stretch: u })));
  const mineShift = shifts.find((s) => `${s.rotation}|${s.start}` === mine);
  const theirShift = others.find((o) => `${o.rotation.id}|${o.stretch.start}` === theirs);

  return (
    <main>
      <h1>My shifts</h1>
      {messages}
      {record && (
        <fieldset>
          <legend>My availability</legend>
          {SWITCHES.map((s) => (
            <label key={s.id} class="check">
              <input type="radio" name="switch" checked={record.switch === s.id} disabled={busy} onChange={() => {
                  const before = record;
                  setRecord({ ...record, switch: s.id }); // shown at once; put back if refused
                  void run(async () => {
                    try {
                      setRecord(await setSwitch(signer, s.id));
                    } catch (e) {
                      setRecord(before);
                      throw e;
                    }
                  }, `You are ${s.label.toLowerCase()}.`);
                }} />
              {s.label}
            </label>
          ))}
        </fieldset>
      )}
      {record && !record.training_current && (
        <p class="error">Your training is not current ({record.training_missing.map(trainingLabel).join(', ')}), so you are not on call.</p>
      )}
      <section class="card" aria-labelledby="next-title">
        <h2 id="next-title">Next shifts</h2>
        {shifts.length === 0 ? (
          <p class="muted">No shifts scheduled.</p>
        ) : (
          <ul>
            {shifts.map((s) => (
              <li key={`${s.rotation}${s.start}`}>
                {s.rotation_name}: {when(s.start)} – {when(s.end)}
                {s.source !== 'rotation' && ` (${s.source})`}
              </li>
            ))}
          </ul>
        )}
      </section>
      <section class="card" aria-labelledby="swaps-title">
        <h2 id="swaps-title">Swaps</h2>
        <ul>
          {swaps.map((w) => (
            <li key={w.id}>
              {w.proposer.display_name} ({when(w.proposer_shift_start)}) ⇄ {w.counterpart.display_name} ({when(w.counterpart_shift_start)}): {w.status}
              {w.status === 'proposed' && w.counterpart.account === me && (
                <span class="row">
                  <button type="button" class="small" disabled={busy} onClick={() => run(async () => { await answerSwap(signer, w.id, 'accept'); await reload(); }, 'Swap accepted.')}>
                    Accept swap
                  </button>
                  <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => { await answerSwap(signer, w.id, 'decline'); await reload(); })}>
                    Decline swap
                  </button>
                </span>
              )}
              {w.status === 'proposed' && w.proposer.account === me && (
                <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => { await answerSwap(signer, w.id, 'cancel'); await reload(); })}>
                  Cancel swap
                </button>
              )}
            </li>
          ))}
        </ul>
        <h3>Propose a swap</h3>
        <label for="my-shift">My shift</label>
        <select id="my-shift" value={mine} onChange={(e) => setMine(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {shifts.map((s) => (
            <option key={`${s.rotation}|${s.start}`} value={`${s.rotation}|${s.start}`}>{s.rotation_name}: {when(s.start)}</option>
          ))}
        </select>
        <label for="their-shift">Their shift</label>
        <select id="their-shift" value={theirs} onChange={(e) => setTheirs(e.currentTarget.value)}>
          <option value="">Choose…</option>
          {others
            .filter((o) => !mineShift || o.rotation.id === mineShift.rotation)
            .map((o) => (
              <option key={`${o.rotation.id}|${o.stretch.start}`} value={`${o.rotation.id}|${o.stretch.start}`}>
                {o.stretch.display_name}: {when(o.stretch.start)}
              </option>
            ))}
        </select>
        <button
          type="button"
          disabled={busy || !mineShift || !theirShift}
          onClick={() =>
            run(async () => {
              await proposeSwap(signer, { rotation: mineShift!.rotation, counterpart: theirShift!.stretch.account, my_shift_start: mineShift!.start, their_shift_start: theirShift!.stretch.start });
              await reload();
            }, 'Swap proposed.')
          }
        >
          Propose swap
        </button>
      </section>
    </main>
  );
}
