//! Debriefings (/debriefs, /debriefs/new, /debriefs/{id}): a coordinator's debriefs with their
//! answers counted and "Schedule a debriefing", the programme's follow-up days; one debrief's
//! invitation card (everyone in it) with the organisers' view (coordinator and facilitators).

import { useEffect, useState } from 'preact/hooks';
import { app, useApp } from '../app';
import { sessionLabel, tallyLine, whenText } from '../debriefs';
import { onLinkClick } from '../router';
import { answers, debriefConversation, isCoordinator, isOrganiser, myDebriefs, resend, type DebriefRecord } from '../workflows/debriefs';
import { useAction } from './useAction';
import { DebriefInvitation } from './DebriefInvitation';
import { DebriefOrganiserView } from './DebriefOrganiserView';
import { FollowupDaysSection } from './FollowupDaysSection';
import { ScheduleDebriefScreen } from './ScheduleDebriefScreen';
import './debriefs.css';

export function DebriefsScreen() {
  useApp();
  const path = location.pathname;
  if (path === '/debriefs/new') {
    // From an incident's board: the incident in history state (never in the URL the server sees).
    const incident = (history.state as { incident?: unknown } | null)?.incident;
    return <ScheduleDebriefScreen incident={typeof incident === 'string' ? incident : undefined} />;
  }
  const id = /^\/debriefs\/([A-Za-z0-9_-]{22})$/.exec(path)?.[1];
  if (id) return <OneDebrief id={id} />;
  return <DebriefList />;
}

function OneDebrief({ id }: { id: string }) {
  const c = debriefConversation(id);
  if (!c?.debrief) {
    return (
      <main>
        <h1>Debriefing</h1>
        <p class="muted">This invitation is not on this device (yet). It arrives with its conversation.</p>
      </main>
    );
  }
  const organiser = isOrganiser(c.debrief);
  return (
    <main>
      <h1>{sessionLabel(c.debrief.session)}</h1>
      <DebriefInvitation group={c.id} plan={c.debrief} organiser={organiser} />
      {organiser && <DebriefOrganiserView group={c.id} plan={c.debrief} />}
      <p>
        <a class="button secondary" href={`/c/${c.id}`} onClick={onLinkClick}>
          Open the conversation
        </a>
      </p>
    </main>
  );
}

function DebriefList() {
  const [list, setList] = useState<DebriefRecord[] | undefined>();
  const sessions = [...(app.messenger?.conversations.values() ?? [])].filter((c) => c.debrief && !c.removed);
  const [tallies, setTallies] = useState<Record<string, string>>({});
  const key = sessions.map((c) => `${c.id}:${c.rsvps?.length ?? 0}:${c.debrief!.sequence}`).join();
  useEffect(() => {
    if (isCoordinator()) void myDebriefs().then(setList);
    void (async () => {
      const out: Record<string, string> = {};
      for (const c of sessions) {
        if (!isOrganiser(c.debrief!)) continue;
        const a = await answers(c.id);
        if (a) out[c.id] = tallyLine(a.tally);
      }
      setTallies(out);
    })();
  }, [key]);
  return (
    <main>
      <h1>Debriefings</h1>
      {isCoordinator() && (
        <p>
          <a class="button big" href="/debriefs/new" onClick={onLinkClick}>
            Schedule a debriefing
          </a>
        </p>
      )}
      {sessions.length === 0 && <p class="muted">No debriefings on this device.</p>}
      <ul class="debrief-list">
        {sessions
          .sort((a, b) => b.debrief!.start - a.debrief!.start)
          .map((c) => {
            const r = list?.find((x) => x.plan.id === c.debrief!.id);
            return (
              <li key={c.id}>
                <a href={`/debriefs/${c.debrief!.id}`} onClick={onLinkClick}>
                  {sessionLabel(c.debrief!.session)}: {whenText(c.debrief!.start, c.debrief!.duration)}
                  {c.debrief!.cancelled ? ' (cancelled)' : ''}
                </a>
                {tallies[c.id] && <div class="muted">{tallies[c.id]}</div>}
                {r?.unsent && <div class="muted">Not yet sent to the server: open it to send again.</div>}
              </li>
            );
          })}
      </ul>
      {list?.some((r) => !r.group || !app.messenger?.conversations.has(r.group)) && <NotSent list={list} onSent={() => void myDebriefs().then(setList)} />}
      {isCoordinator() && <FollowupDaysSection />}
    </main>
  );
}

/** Debriefs this device saved but could not invite to yet (offline when scheduling): send them. */
function NotSent({ list, onSent }: { list: DebriefRecord[]; onSent: () => void }) {
  const { busy, run, messages } = useAction();
  const waiting = list.filter((r) => !r.group || !app.messenger?.conversations.has(r.group));
  return (
    <section class="card" aria-labelledby="not-sent-title">
      <h2 id="not-sent-title">Not sent yet</h2>
      <ul class="debrief-list">
        {waiting.map((r) => (
          <li key={r.plan.id}>
            {sessionLabel(r.plan.session)}: {whenText(r.plan.start, r.plan.duration)}{' '}
            <button type="button" class="secondary" disabled={busy} onClick={() => void run(() => resend(r.plan.id), 'Sent.').then(onSent)}>
              Send now
            </button>
          </li>
        ))}
      </ul>
      {messages}
    </section>
  );
}
