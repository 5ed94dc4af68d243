//! "Declare a critical incident" (/declare, supervisors and coordinators): the largest, simplest
//! screen, for one thumb at night. What happened (six buttons; the home screen's buttons open this
//! screen with it chosen), where (the facility's list), an optional note, then the severity button,
//! which declares. The team is the one used last (a choice only when there are several). Sending
//! shows "Paging the team…"; without a connection the declaration is kept (sealed on the device)
//! and sent again every few seconds, with the same id, until the server has it. `/declare?test=1`
//! sends a test page the same way.

import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from '../api';
import { INCIDENT_TYPES, MAX_NOTE_CHARS, SEVERITIES, SEVERITY_HINT, incidentTypeLabel, type Severity } from '../incidents';
import { navigate, onLinkClick } from '../router';
import {
  declarableTeams,
  declare,
  incidentLocations,
  lastTeam,
  mayDeclare,
  newDeclaration,
  pendingDeclaration,
  retryable,
  type Declaration,
  type TeamSummary,
} from '../workflows/incidents';
import './incidents.css';

const RETRY_MS = 5_000;

type Sending =
  | { state: 'idle' }
  | { state: 'sending'; d: Declaration }
  | { state: 'waiting'; d: Declaration; error: string }
  | { state: 'failed'; error: string };

/**
 * The one declaration being sent, outside the component: it goes on being retried if the person
 * leaves the screen, and a screen opened later shows it.
 */
const sender = {
  now: { state: 'idle' } as Sending,
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  listeners: new Set<() => void>(),
  set(s: Sending) {
    this.now = s;
    for (const fn of this.listeners) fn();
  },
  async send(d: Declaration) {
    clearTimeout(this.timer);
    this.set({ state: 'sending', d });
    try {
      const board = await declare(d);
      this.set({ state: 'idle' });
      navigate(`/incidents/${board.id}`, location.pathname === '/declare');
    } catch (e) {
      if (retryable(e)) {
        this.set({ state: 'waiting', d, error: describeError(e) });
        this.timer = setTimeout(() => void this.send(d), RETRY_MS);
      } else {
        this.set({ state: 'failed', error: describeError(e) });
      }
    }
  },
};
addEventListener('online', () => {
  const s = sender.now;
  if (s.state === 'waiting') void sender.send(s.d);
});

function useSender(): Sending {
  const [, tick] = useState(0);
  useEffect(() => {
    const fn = () => tick((n) => n + 1);
    sender.listeners.add(fn);
    return () => void sender.listeners.delete(fn);
  }, []);
  return sender.now;
}

function Summary({ d }: { d: Declaration }) {
  return (
    <p class="declare-summary">
      {d.test ? 'Test page' : 'Critical incident'} · Severity {d.severity}: {incidentTypeLabel(d.type)} — {d.location}
    </p>
  );
}

export function DeclareScreen() {
  const sending = useSender();
  const query = new URLSearchParams(location.search);
  const test = query.get('test') === '1';
  const [type, setType] = useState(() => INCIDENT_TYPES.find((t) => t.id === query.get('type'))?.id ?? '');
  const [teams, setTeams] = useState<TeamSummary[] | undefined>();
  const [team, setTeam] = useState('');
  const [locations, setLocations] = useState<string[] | undefined>();
  const [place, setPlace] = useState('');
  const [note, setNote] = useState('');
  const [problem, setProblem] = useState('');
  const [loadError, setLoadError] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
    void (async () => {
      try {
        const [t, l, last, pending] = await Promise.all([declarableTeams(), incidentLocations(), lastTeam(), pendingDeclaration()]);
        setTeams(t);
        setLocations(l);
        setTeam(t.find((x) => x.id === last)?.id ?? t[0]?.id ?? '');
        // A declaration from before (the app was closed or offline): send it now.
        if (pending && sender.now.state === 'idle') void sender.send(pending);
      } catch (e) {
        setLoadError(describeError(e));
      }
    })();
  }, []);

  const title = test ? 'Send a test page' : 'Declare a critical incident';

  if (!mayDeclare()) {
    return (
      <main class="declare">
        <h1>{title}</h1>
        <p>Only shift supervisors and coordinators declare incidents.</p>
      </main>
    );
  }

  if (sending.state === 'sending' || sending.state === 'waiting') {
    const d = sending.d;
    return (
      <main class="declare" aria-busy={sending.state === 'sending'}>
        <h1 ref={heading} tabIndex={-1}>{d.test ? 'Send a test page' : 'Declare a critical incident'}</h1>
        <Summary d={d} />
        {sending.state === 'sending' ? (
          <p role="status" class="declare-progress">Paging the team…</p>
        ) : (
          <div role="alert" class="declare-waiting">
            <p>
              <strong>Not sent yet.</strong> {sending.error}
            </p>
            <p>Sallyport has kept this declaration and tries again every few seconds. Keep the app open, or page the team another way.</p>
          </div>
        )}
        {sending.state === 'waiting' && (
          <button type="button" class="big" onClick={() => void sender.send(d)}>
            Try again now
          </button>
        )}
      </main>
    );
  }

  // The next (and last) tap within the thumb's reach.
  const showSeverity = () => document.getElementById('declare-severity')?.scrollIntoView({ block: 'center' });

  const declareWith = (severity: Severity) => {
    if (!type) return setProblem('Choose what happened first.');
    const where = place.trim();
    if (!where) return setProblem('Choose where it happened first.');
    if (!team) return setProblem('There is no crisis team to page.');
    setProblem('');
    void sender.send(newDeclaration({ team, type, location: where, note: note.trim(), severity, test }));
  };

  return (
    <main class="declare">
      <h1 ref={heading} tabIndex={-1}>{title}</h1>
      {test && <p class="declare-test">A test page goes through the whole path, marked as a test: nobody is sent to an incident.</p>}
      {loadError && <p role="alert" class="error">{loadError}</p>}
      {sending.state === 'failed' && <p role="alert" class="error">Not declared: {sending.error}</p>}

      <section aria-labelledby="declare-what">
        <h2 id="declare-what">What happened?</h2>
        <div class="declare-grid">
          {INCIDENT_TYPES.map((t) => (
            <button key={t.id} type="button" class="choice" aria-pressed={type === t.id} onClick={() => setType(t.id)}>
              {t.label}
            </button>
          ))}
        </div>
      </section>

      <section aria-labelledby="declare-where">
        <h2 id="declare-where">Where?</h2>
        {locations === undefined && !loadError ? (
          <p class="muted">Loading…</p>
        ) : locations && locations.length > 0 ? (
          <div class="declare-grid">
            {locations.map((l) => (
              <button key={l} type="button" class="choice" aria-pressed={place === l} onClick={() => (setPlace(l), showSeverity())}>
                {l}
              </button>
            ))}
          </div>
        ) : (
          <>
            <label for="declare-place">Location</label>
            <input id="declare-place" type="text" maxLength={60} value={place} onInput={(e) => setPlace(e.currentTarget.value)} />
          </>
        )}
      </section>

      <label for="declare-note">Note (optional)</label>
      <textarea id="declare-note" rows={2} maxLength={MAX_NOTE_CHARS} value={note} onInput={(e) => setNote(e.currentTarget.value)} />

      {teams && teams.length > 1 && (
        <>
          <label for="declare-team">Team to page</label>
          <select id="declare-team" value={team} onChange={(e) => setTeam(e.currentTarget.value)}>
            {teams.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name} ({t.on_call_now} on call)
              </option>
            ))}
          </select>
        </>
      )}
      {teams && teams.length === 1 && (
        <p class="muted">
          Pages {teams[0]!.name} ({teams[0]!.on_call_now} on call now).
        </p>
      )}
      {teams && teams.length === 0 && (
        <p role="alert" class="error">There is no crisis team to page. A coordinator creates the teams.</p>
      )}

      <section aria-labelledby="declare-severity">
        <h2 id="declare-severity">{test ? 'Severity — tapping sends the test page' : 'Severity — tapping declares'}</h2>
        {problem && <p role="alert" class="error">{problem}</p>}
        <div class="declare-severities">
          {SEVERITIES.map((s) => (
            <button key={s} type="button" class="severity" disabled={!teams || teams.length === 0} onClick={() => declareWith(s)}>
              <span class="severity-n">Severity {s}</span>
              <span class="severity-hint">{SEVERITY_HINT[s]}</span>
            </button>
          ))}
        </div>
      </section>

      <nav class="row declare-more" aria-label="Incidents">
        <a href="/incidents" onClick={onLinkClick}>
          Open incidents
        </a>
        {!test && (
          <a href="/declare?test=1" onClick={(e) => (onLinkClick(e), setType(''), setPlace(''))}>
            Send a test page
          </a>
        )}
      </nav>
    </main>
  );
}
