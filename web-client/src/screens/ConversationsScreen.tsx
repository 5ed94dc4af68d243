//! "Conversations": the list (names, preview, time, "Peer support" tag), "Talk to a peer", "New
//! conversation", the supporters' links, and the notices (notifications unavailable, iOS install).

import { useState } from 'preact/hooks';
import { app, useApp } from '../app';
import { INCIDENT_TYPES } from '../incidentTypes';
import { onLinkClick } from '../router';
import { formatTime } from '../formatTime';
import { DeviceApproval } from './DeviceApproval';
import { InstallGuide } from './InstallGuide';

const NOTICE_KEY = 'sallyport.pushNoticeDismissed';

export function ConversationsScreen() {
  useApp();
  const m = app.messenger!;
  const [noticeHidden, setNoticeHidden] = useState(() => localStorage.getItem(NOTICE_KEY) === '1');
  const roles = m.creds.roles;
  const declarer = roles.includes('supervisor') || roles.includes('coordinator');
  const list = [...m.conversations.values()].sort((a, b) => (b.lastAt ?? b.updatedAt) - (a.lastAt ?? a.updatedAt));
  return (
    <main>
      <h1>Conversations</h1>
      <DeviceApproval />
      {app.push === 'unavailable' && !noticeHidden && (
        <div class="card notice">
          <p>Notifications are unavailable on this browser. Open Sallyport now and then to check for messages.</p>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              localStorage.setItem(NOTICE_KEY, '1');
              setNoticeHidden(true);
            }}
          >
            Dismiss
          </button>
        </div>
      )}
      <InstallGuide />
      {declarer && (
        // Supervisors and coordinators: one tap here chooses what happened and opens the declare
        // screen, where the location and then the severity declare (three taps in all).
        <section class="card declare-home" aria-labelledby="declare-home">
          <h2 id="declare-home">Declare a critical incident</h2>
          <div class="declare-types">
            {INCIDENT_TYPES.map((t) => (
              <a key={t.id} class="button" href={`/declare?type=${t.id}`} onClick={onLinkClick}>
                {t.label}
              </a>
            ))}
          </div>
          <a href="/incidents" onClick={onLinkClick}>
            Open incidents
          </a>
        </section>
      )}
      <a class="button talk" href="/reach-out" onClick={onLinkClick}>
        Talk to a peer
      </a>
      <a class="button secondary" href="/new" onClick={onLinkClick}>
        New conversation
      </a>
      {(m.creds.roles.includes('peer_supporter') || m.creds.roles.includes('coordinator')) && (
        <nav class="row" aria-label="Peer support">
          <a class="button secondary" href="/requests" onClick={onLinkClick}>
            Support requests
          </a>
          <a class="button secondary" href="/shifts" onClick={onLinkClick}>
            My shifts
          </a>
          {m.creds.roles.includes('coordinator') && (
            <>
              <a class="button secondary" href="/team" onClick={onLinkClick}>
                Peer support team
              </a>
              <a class="button secondary" href="/crisis-teams" onClick={onLinkClick}>
                Crisis teams
              </a>
              <a class="button secondary" href="/debriefs" onClick={onLinkClick}>
                Debriefings
              </a>
              <a class="button secondary" href="/report" onClick={onLinkClick}>
                Programme report
              </a>
            </>
          )}
        </nav>
      )}
      {list.length === 0 ? (
        <p class="muted">No conversations yet.</p>
      ) : (
        <ul class="conversations">
          {list.map((c) => (
            <li key={c.id} class="conversation">
              {/* The link's name starts with the people's names, then the preview and time. */}
              <a href={`/c/${c.id}`} onClick={onLinkClick}>
                <span class="name">
                  {m.conversationName(c)}
                  {c.support && <span class="tag"> · Peer support</span>}
                </span>
                <span class="preview">
                  <span class="text">{c.closed ? 'Closed.' : c.removed ? 'You were removed from this conversation.' : c.lastText ?? 'No messages yet'}</span>
                  {c.lastAt && <time dateTime={new Date(c.lastAt).toISOString()}>{formatTime(c.lastAt)}</time>}
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}
