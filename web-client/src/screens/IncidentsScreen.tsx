//! The open incidents (/incidents) and one incident's board (/incidents/<id>) for its declarer,
//! coordinators and the team: the details opened on this device, severity, when declared, "Short
//! by 2 (a clinician)" or "Quorum met at 3:12 AM", each person paged with role and tier, when, each
//! push's outcome in plain words, their answer and ETA; the escalation steps; "Responding" /
//! "Unavailable" (with an optional ETA) for someone on the team; "Resolve" for the declarer and
//! coordinators after a question; the incident conversation (the declarer's device opens it and adds
//! responders as they answer; "Open the incident conversation" for everyone in it), which stays on
//! the devices once the incident is resolved. Refreshes on an `incident_changed` frame, on a page the service
//! worker shows, and every 5 s while visible (the fallback when neither comes).

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, describeError } from '../api';
import { useApp } from '../app';
import { ANSWERS, incidentTypeLabel, minutesUntil, outcomeLabel, shortfall, stepLabel, type Answer, type Board, type Paged, type Preview } from '../incidents';
import { onLinkClick, usePath } from '../router';
import { incidentListeners } from '../socket';
import {
  answerIncident,
  incidentBoard,
  isCoordinator,
  joinedIncidentConversation,
  keepIncidentConversation,
  mayDeclare,
  myAccount,
  myTeams,
  openIncidents,
  resolveIncident,
  type IncidentConversation,
  type OpenBoard,
} from '../workflows/incidents';
import './incidents.css';

const POLL_MS = 5_000;
const ETA_CHOICES = [5, 10, 15, 20, 30, 45, 60, 90];

const time = (ms: number) => new Date(ms).toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });

/** Calls `refresh` now, on every change the server or the service worker announces for `incident`
 *  (any incident when undefined), and every 5 s while the page is visible. */
function useLive(refresh: () => void, incident: string | undefined) {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    const run = () => latest.current();
    const onChange = (id: string) => (incident === undefined || id === incident) && run();
    const onWorker = (e: MessageEvent) => {
      const d = e.data as { kind?: string; incident?: string } | null;
      if (d?.kind === 'incident' && typeof d.incident === 'string') onChange(d.incident);
    };
    const timer = setInterval(() => document.visibilityState === 'visible' && run(), POLL_MS);
    const onVisible = () => document.visibilityState === 'visible' && run();
    incidentListeners.add(onChange);
    navigator.serviceWorker?.addEventListener('message', onWorker);
    document.addEventListener('visibilitychange', onVisible);
    run();
    return () => {
      clearInterval(timer);
      incidentListeners.delete(onChange);
      navigator.serviceWorker?.removeEventListener('message', onWorker);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [incident]);
}

function Title({ board, details }: OpenBoard) {
  return (
    <>
      {board.test ? 'Test page' : 'Critical incident'} · Severity {board.severity}
      {details && ` — ${incidentTypeLabel(details.type)}`}
    </>
  );
}

function Status({ board }: { board: Board }) {
  if (board.resolved_at) return <p class="incident-status resolved">Resolved at {time(board.resolved_at)}</p>;
  const short = shortfall(board);
  if (short) return <p class="incident-status short">{short}</p>;
  return <p class="incident-status met">Quorum met{board.quorum_at ? ` at ${time(board.quorum_at)}` : ''}</p>;
}

export function IncidentsScreen() {
  const path = usePath();
  const id = path.startsWith('/incidents/') ? decodeURIComponent(path.slice('/incidents/'.length)) : undefined;
  return id ? <IncidentBoard key={id} id={id} /> : <IncidentList />;
}

function IncidentList() {
  const [list, setList] = useState<OpenBoard[] | undefined>();
  const [error, setError] = useState('');
  useLive(() => {
    openIncidents().then(
      (l) => {
        setList(l);
        setError('');
        // The declarer's incidents take their responders into the conversation from the list too.
        for (const o of l) void keepIncidentConversation(o.board.id, o).catch(() => undefined);
      },
      (e) => setError(describeError(e)),
    );
  }, undefined);
  return (
    <main>
      <h1>Incidents</h1>
      {mayDeclare() && (
        <a class="button danger big" href="/declare" onClick={onLinkClick}>
          Declare incident
        </a>
      )}
      {error && <p role="alert" class="error">{error}</p>}
      {list === undefined ? (
        !error && <p class="muted">Loading…</p>
      ) : list.length === 0 ? (
        <p class="muted">No open incidents.</p>
      ) : (
        <ul class="rows">
          {list.map((o) => (
            <li key={o.board.id}>
              <a href={`/incidents/${o.board.id}`} onClick={onLinkClick}>
                <span class="text">
                  <span class="name">
                    <Title {...o} />
                  </span>
                  <span class="muted">
                    {o.details?.location ? `${o.details.location} · ` : ''}
                    {o.board.team_name} · declared {time(o.board.declared_at)}
                  </span>
                  <span>{shortfall(o.board) ?? 'Quorum met'}</span>
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}

function Details({ details, board }: { details: Preview | undefined; board: Board }) {
  if (!details) {
    return <p class="muted">{board.resolved_at ? 'The details were deleted when the incident was resolved.' : 'The details were not sealed to this device.'}</p>;
  }
  return (
    <div class="incident-details">
      <p class="incident-type">{incidentTypeLabel(details.type)}</p>
      {details.location && <p class="incident-place">{details.location}</p>}
      {details.note && <p class="incident-note">{details.note}</p>}
    </div>
  );
}

function answerText(p: Paged, now: number): string {
  if (p.answer === 'responding') return p.eta_at ? `Responding · arriving in about ${minutesUntil(p.eta_at, now)} min (${time(p.eta_at)})` : 'Responding';
  if (p.answer === 'unavailable') return 'Unavailable';
  return 'No answer yet';
}

function PagedPerson({ p, now, conversation }: { p: Paged; now: number; conversation?: string }) {
  return (
    <li class={`paged ${p.answer ?? 'none'}`}>
      <p class="paged-name">
        {p.person.display_name} <span class="muted">· {p.role.replace(/_/g, ' ')}{p.tier ? ` · tier ${p.tier}` : ''}</span>
      </p>
      <p class="paged-answer">
        {answerText(p, now)}
        {p.answered_at ? ` (at ${time(p.answered_at)})` : ''}
      </p>
      <p class="muted">
        {p.paged_at ? `Paged at ${time(p.paged_at)}${p.pages > 1 ? `, ${p.pages} times` : ''}` : 'Not paged yet'}
        {p.waiting_until ? ` · inside the perimeter until ${time(p.waiting_until)}: paged when out if still needed` : ''}
      </p>
      {conversation && <p class="paged-conversation">{conversation}</p>}
      {p.attempts.length > 0 && (
        <ul class="attempts">
          {p.attempts.map((a, i) => (
            <li key={i}>
              {time(a.at)}: {outcomeLabel(a.outcome)}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/** What the declarer's board says of a paged person and the incident conversation, if anything. */
function conversationNote(p: Paged, conv: IncidentConversation | undefined): string | undefined {
  if (!conv) return undefined;
  if (conv.added.includes(p.person.account)) return 'In the incident conversation';
  const skipped = conv.skipped.find((s) => s.account === p.person.account);
  return skipped && `Not added to the incident conversation: ${skipped.why}`;
}

function ConversationSection({ group, conv, declarer, board }: { group: string | undefined; conv: IncidentConversation | undefined; declarer: boolean; board: Board }) {
  const resolved = !!board.resolved_at;
  let text: string;
  if (group) {
    text = resolved
      ? 'The incident is resolved; its conversation and messages stay on the devices of everyone in it.'
      : declarer
        ? 'Responders are added as they answer “Responding”.'
        : 'You were added when you answered “Responding”.';
  } else if (declarer) {
    text = resolved ? 'No incident conversation was opened on this device.' : conv ? 'The incident conversation is opened on the device that declared it.' : 'Opening the incident conversation…';
  } else {
    text = resolved ? 'You were not added to an incident conversation.' : 'Whoever answers “Responding” is added to the incident conversation.';
  }
  const skipped = conv?.skipped.length ?? 0;
  return (
    <section class="card" aria-labelledby="incident-conversation">
      <h2 id="incident-conversation">Incident conversation</h2>
      <p>{text}</p>
      {skipped > 0 && (
        <p>
          {skipped === 1 ? '1 person who is responding was' : `${skipped} people who are responding were`} not added: see below.
        </p>
      )}
      {conv?.error && <p role="alert" class="error">Not everyone could be added yet: {conv.error}</p>}
      {group && (
        <a class="button" href={`/c/${group}`} onClick={onLinkClick}>
          Open the incident conversation
        </a>
      )}
    </section>
  );
}

function IncidentBoard({ id }: { id: string }) {
  useApp(); // a responder's conversation arrives with its Welcome
  const [open, setOpen] = useState<OpenBoard | undefined>();
  const [conv, setConv] = useState<IncidentConversation | undefined>();
  const [error, setError] = useState('');
  const [eta, setEta] = useState('');
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [done, setDone] = useState('');
  const heading = useRef<HTMLHeadingElement>(null);

  const [teams, setTeams] = useState<string[]>([]);
  useEffect(() => {
    heading.current?.focus();
    myTeams().then(setTeams, () => undefined);
  }, []);

  const keep = (o: OpenBoard) => void keepIncidentConversation(id, o).then(setConv, () => undefined);
  useLive(() => {
    incidentBoard(id).then(
      (o) => (setOpen(o), setError(''), keep(o)),
      // Once resolved, the server forgets its declarer: a supervisor's next fetch is 404, and the
      // resolved board stays as it was left.
      (e) => !(open?.board.resolved_at && e instanceof ApiError && e.status === 404) && setError(describeError(e)),
    );
  }, id);

  const act = async (fn: () => Promise<OpenBoard>, ok: string) => {
    setBusy(true);
    setActionError('');
    setDone('');
    try {
      const o = await fn();
      setOpen(o);
      keep(o);
      setDone(ok);
    } catch (e) {
      setActionError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <main>
        <a class="back" href="/incidents" onClick={onLinkClick}>
          <span aria-hidden="true">‹</span> Incidents
        </a>
        <h1 ref={heading} tabIndex={-1}>Incident</h1>
        {error ? <p role="alert" class="error">{error}</p> : <p class="muted">Loading…</p>}
      </main>
    );
  }
  const { board, details } = open;
  const now = Date.now();
  const me = myAccount();
  const mine = board.paged.find((p) => p.person.account === me);
  const onTeam = !!mine || teams.includes(board.team);
  const declarer = me !== undefined && board.declared_by?.account === me;
  const mayResolve = !board.resolved_at && (isCoordinator() || declarer);
  const group = conv?.group ?? joinedIncidentConversation(id);
  const answer = (a: Answer) => act(() => answerIncident(id, a, a === 'responding' && eta ? Number(eta) : undefined), `You answered: ${a}.`);

  return (
    <main class="incident">
      <a class="back" href="/incidents" onClick={onLinkClick}>
        <span aria-hidden="true">‹</span> Incidents
      </a>
      <h1 ref={heading} tabIndex={-1}>
        <Title {...open} />
      </h1>
      <Details details={details} board={board} />
      <p>
        {board.team_name} · declared at {time(board.declared_at)}
        {board.declared_by ? ` by ${board.declared_by.display_name}` : ''}
      </p>
      <div role="status">
        <Status board={board} />
      </div>
      {error && <p role="alert" class="error">Not up to date: {error}</p>}

      {onTeam && !board.resolved_at && (
        <section class="card" aria-labelledby="incident-answer">
          <h2 id="incident-answer">Your answer</h2>
          <p>{mine?.answer ? `You answered: ${mine.answer}.` : 'You have not answered yet.'}</p>
          <label for="incident-eta">Arriving in (optional)</label>
          <select id="incident-eta" value={eta} onChange={(e) => setEta(e.currentTarget.value)}>
            <option value="">Not sure</option>
            {ETA_CHOICES.map((m) => (
              <option key={m} value={String(m)}>
                {m} minutes
              </option>
            ))}
          </select>
          <div class="answer-buttons">
            {ANSWERS.map((a) => (
              <button key={a.id} type="button" class={a.id === 'responding' ? 'big' : 'big secondary'} disabled={busy} aria-pressed={mine?.answer === a.id} onClick={() => void answer(a.id)}>
                {a.label}
              </button>
            ))}
          </div>
        </section>
      )}
      {actionError && <p role="alert" class="error">{actionError}</p>}
      {done && <p role="status">{done}</p>}

      {(group || declarer || onTeam) && <ConversationSection group={group} conv={conv} declarer={declarer} board={board} />}

      <section aria-labelledby="incident-paged">
        <h2 id="incident-paged">Paged</h2>
        {board.paged.length === 0 ? (
          <p class="muted">{board.resolved_at ? 'Who was paged was deleted when the incident was resolved.' : 'No one paged yet.'}</p>
        ) : (
          <ul class="paged-list">
            {board.paged.map((p) => (
              <PagedPerson key={p.person.account} p={p} now={now} conversation={declarer ? conversationNote(p, conv) : undefined} />
            ))}
          </ul>
        )}
      </section>

      {board.steps.length > 0 && (
        <section aria-labelledby="incident-steps">
          <h2 id="incident-steps">Escalation</h2>
          <ol class="steps">
            {board.steps.map((s, i) => (
              <li key={i}>
                {time(s.at)}: {stepLabel(s.step)}
              </li>
            ))}
          </ol>
        </section>
      )}

      {isCoordinator() && !board.resolved_at && (
        // The incident rides in history state, not the URL: a reload's request never names it.
        <a class="button secondary" href="/debriefs/new" onClick={(e) => onLinkClick(e, { incident: id })}>
          Schedule debriefing / defusing
        </a>
      )}

      {mayResolve &&
        (confirming ? (
          <div class="card" role="group" aria-labelledby="incident-resolve-q">
            <p id="incident-resolve-q">
              <strong>Resolve this incident?</strong> Paging stops for everyone, and who was paged and answered is deleted. The incident conversation stays on the devices.
            </p>
            <div class="row">
              <button type="button" class="danger" disabled={busy} onClick={() => void act(() => resolveIncident(id), 'Resolved. Paging has stopped.').then(() => setConfirming(false))}>
                Yes, resolve
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </div>
          </div>
        ) : (
          <button type="button" class="secondary" onClick={() => setConfirming(true)}>
            Resolve
          </button>
        ))}
    </main>
  );
}
