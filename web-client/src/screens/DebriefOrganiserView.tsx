//! The organisers' view of a debrief (coordinator and facilitators): the answers sealed to this
//! device, counted; for the coordinator who made it, "Change time", "Cancel", and "Send again"
//! when the server has not confirmed the latest version.

import { useEffect, useState } from 'preact/hooks';
import { app, useApp } from '../app';
import { ANSWER_LABEL, fromLocalInput, tallyLine, toLocalInput, type DebriefPlan } from '../debriefs';
import { answers, cancel, changeTime, debriefRecord, resend, type Answers, type DebriefRecord } from '../workflows/debriefs';
import { useAction } from './useAction';
import './debriefs.css';

const RETRY_MS = 10_000;

export function DebriefOrganiserView({ group, plan }: { group: string; plan: DebriefPlan }) {
  useApp();
  const [got, setGot] = useState<Answers | undefined>();
  const [record, setRecord] = useState<DebriefRecord | undefined>();
  const [start, setStart] = useState(toLocalInput(plan.start));
  const [confirming, setConfirming] = useState(false);
  const { busy, run, messages } = useAction();
  const rsvps = rsvpCount(group);
  useEffect(() => {
    void answers(group).then(setGot);
  }, [group, rsvps, plan.sequence]);
  useEffect(() => {
    void debriefRecord(plan.id).then(setRecord);
  }, [plan.id, plan.sequence, busy]);
  // A version the server has not confirmed is sent again (same id) every 10 s while this shows, as
  // a declaration is: the first try's answer may have been lost, or the phone was offline.
  const unsent = !!record?.unsent && !record.refused;
  useEffect(() => {
    if (!unsent) return;
    const timer = setInterval(() => {
      if (app.messenger?.connection !== 'online') return;
      resend(plan.id).then(setRecord, () => undefined);
    }, RETRY_MS);
    return () => clearInterval(timer);
  }, [unsent, plan.id]);

  return (
    <section class="card" aria-labelledby="answers-title">
      <h2 id="answers-title">Answers</h2>
      {got ? <p class="tally">{tallyLine(got.tally)}</p> : <p class="muted">Loading…</p>}
      {got && got.people.length > 0 && (
        <ul aria-label="Who answered">
          {got.people.map((p) => (
            <li key={p.name}>
              {p.name}: {ANSWER_LABEL[p.answer]}
            </li>
          ))}
        </ul>
      )}
      {record?.followups && record.followups.length > 0 && <p class="muted">{record.followups.length} follow-ups set.</p>}
      {record?.skipped && record.skipped.length > 0 && <p class="muted">Not added (no device Sallyport can reach): {record.skipped.join(', ')}.</p>}
      {record && record.unsent && (
        <p>
          <button type="button" disabled={busy} onClick={() => void run(() => resend(plan.id), 'Sent.')}>
            Send again
          </button>{' '}
          The server does not have the latest version yet.
        </p>
      )}
      {record && !plan.cancelled && (
        <>
          <h3>Change time</h3>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const at = fromLocalInput(start);
              if (at && at > Date.now()) void run(() => changeTime(plan.id, at, plan.duration), 'Moved. Everyone invited sees the new time; the reminders move with it.');
            }}
          >
            <label class="field">
              New start
              <input type="datetime-local" name="new-start" value={start} onInput={(e) => setStart(e.currentTarget.value)} />
            </label>
            <button type="submit" class="secondary" disabled={busy}>
              Change time
            </button>
          </form>
          {confirming ? (
            <div role="alertdialog" aria-labelledby="cancel-q">
              <p id="cancel-q">
                <strong>Cancel this session?</strong> Everyone invited is told; the reminders are not sent.
              </p>
              <button type="button" class="danger" disabled={busy} onClick={() => void run(() => cancel(plan.id), 'Cancelled.').then(() => setConfirming(false))}>
                Cancel the session
              </button>{' '}
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </div>
          ) : (
            <p>
              <button type="button" class="secondary" onClick={() => setConfirming(true)}>
                Cancel…
              </button>
            </p>
          )}
        </>
      )}
      {messages}
    </section>
  );
}

/** How many RSVPs this device holds for the conversation (a change re-opens the answers). */
const rsvpCount = (group: string): string => (app.messenger?.conversations.get(group)?.rsvps ?? []).map((r) => `${r.from}@${r.receivedAt}`).join();
