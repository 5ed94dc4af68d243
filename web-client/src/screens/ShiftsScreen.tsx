//! "My shifts" for peer supporters: the availability switch (shown at once, put back if refused),
//! training status, next shifts, and swaps to propose, accept, decline or cancel.

import { useEffect, useState } from 'preact/hooks';
import type { Rotation, Shift, SupporterRecord, Swap, SwitchState } from '../api';
import { app } from '../app';
import { answerSwap, loadMyShifts, proposeSwap, setAvailability, type MyShifts } from '../workflows/team';
import { trainingLabel, when } from './teamFormat';
import { useAction } from './useAction';

const SWITCHES: { id: SwitchState; label: string }[] = [
  { id: 'available', label: 'Available' },
  { id: 'busy', label: 'Busy' },
  { id: 'off', label: 'Off' },
];

export function ShiftsScreen() {
  const me = app.messenger!.creds.account;
  const [record, setRecord] = useState<SupporterRecord | undefined>();
  const [shifts, setShifts] = useState<Shift[]>([]);
  const [swaps, setSwaps] = useState<Swap[]>([]);
  const [rotations, setRotations] = useState<Rotation[]>([]);
  const [mine, setMine] = useState('');
  const [theirs, setTheirs] = useState('');
  const { busy, run, messages } = useAction();
  const show = (s: MyShifts) => {
    setRecord(s.record);
    setShifts(s.shifts);
    setSwaps(s.swaps);
    setRotations(s.rotations);
  };
  useEffect(() => void run(async () => show(await loadMyShifts())), []);

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
                      setRecord(await setAvailability(s.id));
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
                  <button type="button" class="small" disabled={busy} onClick={() => run(async () => show(await answerSwap(w.id, 'accept')), 'Swap accepted.')}>
                    Accept swap
                  </button>
                  <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => show(await answerSwap(w.id, 'decline')))}>
                    Decline swap
                  </button>
                </span>
              )}
              {w.status === 'proposed' && w.proposer.account === me && (
                <button type="button" class="secondary small" disabled={busy} onClick={() => run(async () => show(await answerSwap(w.id, 'cancel')))}>
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
            run(async () => show(await proposeSwap({ rotation: mineShift!.rotation, counterpart: theirShift!.stretch.account, my_shift_start: mineShift!.start, their_shift_start: theirShift!.stretch.start })), 'Swap proposed.')
          }
        >
          Propose swap
        </button>
      </section>
    </main>
  );
}
