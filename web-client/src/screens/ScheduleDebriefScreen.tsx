//! "Schedule a debriefing" (/debriefs/new, coordinators; `?incident=ID` from an incident's board):
//! defusing or debriefing at CISM's proposed time, the place or call link (and whether reminders on
//! a lock screen may show it), invitees (prefilled with those who answered `responding`), the
//! facilitators (a clinician and peer supporters), and follow-ups at the programme's days.

import { useEffect, useState } from 'preact/hooks';
import { describeError, type Person } from '../api';
import { app } from '../app';
import { MAX_DURATION, MAX_TEXT, fromLocalInput, proposals, sessionLabel, toLocalInput, type SessionKind } from '../debriefs';
import { incidentConversationTitle } from '../incidentConversation';
import { navigate } from '../router';
import { debriefRecord, directory, isCoordinator, newPlan, schedule, scheduleFollowups } from '../workflows/debriefs';
import { incidentBoard } from '../workflows/incidents';
import { PeoplePicker } from './PeoplePicker';
import './debriefs.css';

interface FromIncident {
  id: string;
  title: string;
  at: number;
  responders: string[];
}

export function ScheduleDebriefScreen({ incident }: { incident?: string }) {
  const [people, setPeople] = useState<Person[] | undefined>();
  const [from, setFrom] = useState<FromIncident | undefined>();
  const [session, setSession] = useState<SessionKind>('debriefing');
  const [start, setStart] = useState(() => toLocalInput(proposals(Date.now(), Date.now()).debriefing.start));
  const [duration, setDuration] = useState(120);
  const [place, setPlace] = useState('');
  const [placeInReminders, setPlaceInReminders] = useState(false);
  const [invitees, setInvitees] = useState<string[]>([]);
  const [facilitators, setFacilitators] = useState<string[]>([]);
  const [followups, setFollowups] = useState(true);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState('');

  useEffect(() => {
    directory().then(setPeople, (e) => setError(describeError(e)));
    if (!incident) return;
    incidentBoard(incident).then(
      ({ board, details }) => {
        const responders = board.paged.filter((p) => p.answer === 'responding').map((p) => p.person.account);
        const f = { id: board.id, title: incidentConversationTitle(board, details), at: board.declared_at, responders };
        setFrom(f);
        setInvitees(responders);
        setStart(toLocalInput(proposals(f.at, Date.now()).debriefing.start));
      },
      (e) => setError(describeError(e)),
    );
  }, [incident]);

  if (!isCoordinator()) {
    return (
      <main>
        <h1>Schedule a debriefing</h1>
        <p>Only coordinators schedule debriefings.</p>
      </main>
    );
  }

  const choose = (s: SessionKind) => {
    setSession(s);
    const p = proposals(from?.at ?? Date.now(), Date.now())[s];
    setStart(toLocalInput(p.start));
    setDuration(p.duration);
  };

  const named = (accounts: string[]) => accounts.map((a) => people?.find((p) => p.account === a)).filter((p): p is Person => !!p).map((p) => ({ account: p.account, name: p.display_name }));

  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    const at = fromLocalInput(start);
    if (!at || at < Date.now()) return setError('Choose a time that has not passed.');
    if (invitees.length === 0) return setError('Choose at least one person to invite.');
    setBusy('Scheduling…');
    let id: string | undefined;
    try {
      const r = newPlan({
        session,
        start: at,
        duration,
        ...(place.trim() ? { place: place.trim() } : {}),
        placeInReminders: placeInReminders && !!place.trim(),
        invitees: named(invitees),
        facilitators: named(facilitators.filter((f) => !invitees.includes(f))),
        ...(from ? { incident: { id: from.id, title: from.title.slice(0, MAX_TEXT) } } : {}),
      });
      id = r.plan.id;
      await schedule(r);
      if (followups && from) {
        setBusy('Setting the follow-ups…');
        await scheduleFollowups(r.plan.id, from.at);
      }
      navigate(`/debriefs/${r.plan.id}`, true);
    } catch (err) {
      // Invited already (the conversation and the plan went out): its page says what is left to send.
      if (id && (await debriefRecord(id).catch(() => undefined))?.group) return navigate(`/debriefs/${id}`, true);
      setError(describeError(err));
      setBusy('');
    }
  };

  const directoryOthers = (people ?? []).filter((p) => p.account !== app.messenger?.creds.account && p.devices.length > 0);
  const helpers = [...directoryOthers].sort((a, b) => rank(a) - rank(b));
  return (
    <main>
      <h1>Schedule a {session === 'defusing' ? 'defusing' : 'debriefing'}</h1>
      {from && <p class="muted">After: {from.title}</p>}
      <form onSubmit={submit}>
        <fieldset>
          <legend>Kind</legend>
          {(['defusing', 'debriefing'] as const).map((s) => (
            <label class="check" key={s}>
              <input type="radio" name="session" checked={session === s} onChange={() => choose(s)} />
              {sessionLabel(s)} {s === 'defusing' ? '(within 8 hours)' : '(24–72 hours after)'}
            </label>
          ))}
        </fieldset>
        <label class="field">
          Starts
          <input type="datetime-local" name="start" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label class="field">
          Length (minutes)
          <input type="number" name="duration" min={15} max={MAX_DURATION} step={15} required value={duration} onInput={(e) => setDuration(Math.max(15, Math.min(MAX_DURATION, Number(e.currentTarget.value) || 60)))} />
        </label>
        <label class="field">
          Place or call link (optional)
          <input type="text" name="place" maxLength={MAX_TEXT} value={place} onInput={(e) => setPlace(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" name="place-in-reminders" checked={placeInReminders} onChange={(e) => setPlaceInReminders(e.currentTarget.checked)} />
          Show the place in reminders (they can appear on a locked phone)
        </label>
        {!people && !error && <p class="muted">Loading people…</p>}
        {people && <PeoplePicker label="Invite" people={directoryOthers} chosen={invitees} onChange={setInvitees} />}
        {people && <PeoplePicker label="Facilitators" people={helpers} chosen={facilitators} onChange={setFacilitators} />}
        {from && (
          <label class="check">
            <input type="checkbox" name="followups" checked={followups} onChange={(e) => setFollowups(e.currentTarget.checked)} />
            Also send the people invited “How are you doing?” follow-ups at the programme’s days
          </label>
        )}
        {error && <p role="alert" class="error">{error}</p>}
        {busy && <p role="status">{busy}</p>}
        <button type="submit" class="big" disabled={!!busy || !people}>
          Schedule and invite
        </button>
      </form>
    </main>
  );
}

/** Clinicians first, then peer supporters, then everyone else (facilitators come from these). */
const rank = (p: Person): number => (p.roles.includes('clinician') ? 0 : p.roles.includes('peer_supporter') ? 1 : 2);
