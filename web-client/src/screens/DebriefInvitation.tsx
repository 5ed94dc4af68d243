//! The invitation card (at /debriefs/{id}, linked from its conversation): what, when, where, who
//! leads it, that attendance may be expected but speaking never is, and what stays confidential;
//! Attending / Can't attend / "I'd rather talk one-to-one" (which then opens "Talk to a peer" with
//! nothing of the debrief in it); "Add to calendar" (a neutral .ics, the place only if ticked; a
//! changed or cancelled plan offers the updated file).

import { useEffect, useState } from 'preact/hooks';
import { app } from '../app';
import { ANSWER_LABEL, RSVP_ANSWERS, invitationText, type DebriefPlan, type RsvpAnswer } from '../debriefs';
import { downloadIcs } from '../ics';
import { navigate } from '../router';
import { answer, myAnswer } from '../workflows/debriefs';
import { useAction } from './useAction';
import './debriefs.css';

const DOWNLOADED = (id: string) => `ics:${id}`;

export function DebriefInvitation({ group, plan, organiser }: { group: string; plan: DebriefPlan; organiser: boolean }) {
  const [mine, setMine] = useState<RsvpAnswer | undefined>();
  const [withPlace, setWithPlace] = useState(false);
  const [downloaded, setDownloaded] = useState<number | undefined>();
  const { busy, run, messages } = useAction();
  useEffect(() => {
    void myAnswer(plan.id).then(setMine);
    void app.messenger?.record<number>(DOWNLOADED(plan.id)).then((n) => setDownloaded(n ?? undefined));
  }, [plan.id]);

  const respond = (a: RsvpAnswer) =>
    run(async () => {
      await answer(group, a);
      setMine(a);
      // Nothing of the debrief goes with the request: only how soon.
      if (a === 'one_to_one') navigate('/reach-out', false, { urgency: 'today' });
    }, 'Your answer was sent to the organisers.');

  const calendar = () => {
    downloadIcs({
      uid: plan.id,
      sequence: plan.sequence,
      start: plan.start,
      end: plan.start + plan.duration * 60_000,
      stamp: Date.now(),
      ...(withPlace && plan.place ? { location: plan.place } : {}),
      ...(plan.cancelled ? { cancelled: true } : {}),
    });
    setDownloaded(plan.sequence);
    void app.messenger?.setRecord(DOWNLOADED(plan.id), plan.sequence);
  };

  const stale = downloaded !== undefined && downloaded < plan.sequence;
  return (
    <section class="card debrief-card" aria-labelledby="invitation-title">
      <h2 id="invitation-title">
        Invitation{plan.cancelled ? ' — cancelled' : ''}
      </h2>
      {plan.cancelled ? (
        <p>This session was cancelled.</p>
      ) : (
        invitationText(plan).map((line, i) => (
          <p key={i} class={i === 1 ? 'when' : undefined}>
            {line}
          </p>
        ))
      )}
      {!plan.cancelled && !organiser && (
        <>
          <h3>Your answer</h3>
          <p class="muted">Only the facilitators and the coordinator see it.</p>
          <div class="rsvp-buttons">
            {RSVP_ANSWERS.map((a) => (
              <button key={a} type="button" class={a === 'attending' ? 'big' : 'big secondary'} disabled={busy} aria-pressed={mine === a} onClick={() => void respond(a)}>
                {ANSWER_LABEL[a]}
              </button>
            ))}
          </div>
        </>
      )}
      {messages}
      <h3>Calendar</h3>
      {stale && <p role="status">{plan.cancelled ? 'Remove it from your calendar with the updated file.' : 'The plan changed: add the updated file to your calendar.'}</p>}
      {plan.place && !plan.cancelled && (
        <label class="check">
          <input type="checkbox" name="include-place" checked={withPlace} onChange={(e) => setWithPlace(e.currentTarget.checked)} />
          Include the place
        </label>
      )}
      <p class="muted">The calendar entry is called “Appointment” and says nothing else unless you include the place.</p>
      <button type="button" class="secondary" onClick={calendar}>
        {plan.cancelled ? 'Download the cancellation' : stale ? 'Download the updated file' : 'Add to calendar'}
      </button>
    </section>
  );
}
