//! One conversation: its messages with their delivery status, the disappearing-message timer, the
//! composer, the safety code and, in a support conversation, the support options.

import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { app, useApp } from '../app';
import { sessionLabel, whenText } from '../debriefs';
import { TIMER_CHOICES, type Message } from '../engine/model';
import { onLinkClick } from '../router';
import { deviceWarnings, send as sendMessage, setTimer, syncMembersOnce } from '../workflows/conversations';
import { formatTime } from '../formatTime';
import { DeviceWarnings } from './DeviceWarnings';
import { SafetyCode } from './SafetyCode';
import { SupportPanel } from './SupportPanel';

const STATUS_TEXT: Record<Message['status'], string> = {
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  received: '',
  failed: 'Not sent',
};

export function ConversationView({ group }: { group: string }) {
  useApp();
  const m = app.messenger!;
  const conv = m.conversations.get(group);
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const logRef = useRef<HTMLDivElement>(null);
  const messages = conv ? m.messagesOf(group) : [];
  // Rows show a time for today and a date before: they redraw when the day changes.
  const today = new Date().toDateString();
  const last = messages[messages.length - 1]?.key;
  // Device warnings arrive after the directory answers; they push the composer's neighbours down.
  const warnings = deviceWarnings(group).length;
  useEffect(() => {
    // The page scrolls (not the log): keep the newest message in view above the composer.
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    window.scrollTo(0, document.documentElement.scrollHeight);
  }, [last, warnings]);
  const online = m.connection === 'online';
  useEffect(() => {
    // Once per page life and conversation: add members' new devices, remove revoked ones.
    if (online) syncMembersOnce(group);
  }, [group, online]);

  if (!conv) {
    return (
      <main>
        <h1>Conversation not found</h1>
        <p>It may have disappeared, or it has not reached this device yet.</p>
      </main>
    );
  }

  const send = (e: Event) => {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    setText('');
    setError('');
    sendMessage(group, body).catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };

  return (
    <main class="conversation-view">
      <h1>{m.conversationName(conv)}</h1>
      {conv.debrief && (
        // The invitation card loads with the debrief screens (lazily): here, one link to it.
        <p class="card">
          <a href={`/debriefs/${conv.debrief.id}`} onClick={onLinkClick}>
            {conv.debrief.cancelled ? 'Cancelled: ' : 'Invitation: '}
            {sessionLabel(conv.debrief.session)}, {whenText(conv.debrief.start, conv.debrief.duration)}
          </a>
        </p>
      )}
      <div class="conv-settings">
        <label for="timer">Disappearing messages</label>
        <select
          id="timer"
          value={String(conv.timer)}
          disabled={conv.removed}
          onChange={(e) => setTimer(group, Number(e.currentTarget.value)).catch((err: unknown) => setError(String(err)))}
        >
          {TIMER_CHOICES.map((c) => (
            <option key={c.seconds} value={String(c.seconds)}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      <DeviceWarnings group={group} />
      <div class="messages" role="log" aria-label="Messages" ref={logRef}>
        <ol>
        {messages.map((msg) => (
          <MessageRow
            key={msg.key}
            body={msg.body}
            at={msg.at}
            from={msg.from}
            mine={msg.mine}
            notice={!!msg.notice}
            status={msg.status}
            today={today}
          />
        ))}
        </ol>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <SafetyCode group={group} />
      {conv.support && <SupportPanel conv={conv} />}
      {conv.closed ? null : conv.removed ? (
        <p class="muted">You were removed from this conversation.</p>
      ) : (
        <form class="composer" onSubmit={send}>
          <label for="message" class="visually-hidden">
            Message
          </label>
          <textarea
            id="message"
            rows={1}
            value={text}
            placeholder="Message"
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) send(e);
            }}
          />
          <button type="submit">Send</button>
        </form>
      )}
    </main>
  );
}

interface RowProps {
  body: string;
  at: number;
  from: string;
  mine: boolean;
  notice: boolean;
  status: Message['status'];
  today: string;
}

/** One message. Redrawn only when what it shows changes: every app change redraws the
 * conversation, and redrawing every row each time made a long conversation slower with every
 * message (bench/README.md, "Browser: 1,000 messages between two tabs"). */
class MessageRow extends Component<RowProps> {
  shouldComponentUpdate(next: RowProps): boolean {
    const now = this.props;
    return (Object.keys(next) as (keyof RowProps)[]).some((k) => next[k] !== now[k]);
  }

  render({ body, at, from, mine, notice, status }: RowProps) {
    return (
      <li class={notice ? 'notice-line' : mine ? 'mine' : 'theirs'}>
        {!mine && !notice && <span class="visually-hidden">{from}: </span>}
        <p class="body">{body}</p>
        <p class="meta">
          <time dateTime={new Date(at).toISOString()}>{formatTime(at)}</time>
          {mine && !notice && <span class="status"> · {STATUS_TEXT[status]}</span>}
        </p>
      </li>
    );
  }
}
