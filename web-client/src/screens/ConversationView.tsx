import { useEffect, useRef, useState } from 'preact/hooks';
import { getDirectory } from '../api';
import { app, useApp } from '../app';
import { TIMER_CHOICES, type Message } from '../messenger';
import { formatTime } from './ConversationsScreen';
import { SupportPanel } from './SupportPanel';

const synced = new Set<string>();

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
  const last = messages[messages.length - 1]?.key;
  useEffect(() => {
    // The page scrolls (not the log): keep the newest message in view above the composer.
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    window.scrollTo(0, document.documentElement.scrollHeight);
  }, [last]);
  const online = m.connection === 'online';
  useEffect(() => {
    // Once per page life and conversation: add members' new devices, remove revoked ones.
    const signer = app.signer;
    if (!online || !signer || synced.has(group)) return;
    synced.add(group);
    getDirectory(signer)
      .then((d) => m.syncMembers(group, d.people))
      .catch((e: unknown) => {
        synced.delete(group);
        console.warn('sallyport: members not synced', e);
      });
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
    m.sendText(group, body).catch((err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };

  return (
    <main class="conversation-view">
      <h1>{m.conversationName(conv)}</h1>
      <div class="conv-settings">
        <label for="timer">Disappearing messages</label>
        <select
          id="timer"
          value={String(conv.timer)}
          disabled={conv.removed}
          onChange={(e) => m.setTimer(group, Number(e.currentTarget.value)).catch((err: unknown) => setError(String(err)))}
        >
          {TIMER_CHOICES.map((c) => (
            <option key={c.seconds} value={String(c.seconds)}>
              {c.label}
            </option>
          ))}
        </select>
      </div>
      <div class="messages" role="log" aria-label="Messages" ref={logRef}>
        <ol>
        {messages.map((msg) => (
          <li key={msg.key} class={msg.notice ? 'notice-line' : msg.mine ? 'mine' : 'theirs'}>
            {!msg.mine && !msg.notice && <span class="visually-hidden">{msg.from}: </span>}
            <p class="body">{msg.body}</p>
            <p class="meta">
              <time dateTime={new Date(msg.at).toISOString()}>{formatTime(msg.at)}</time>
              {msg.mine && !msg.notice && <span class="status"> · {STATUS_TEXT[msg.status]}</span>}
            </p>
          </li>
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

/** Compare these digits with the other person (in person or by phone) to rule out an impostor. */
function SafetyCode({ group }: { group: string }) {
  const [code, setCode] = useState<string | null | undefined>();
  return (
    <details
      class="safety"
      onToggle={(e) => {
        if (e.currentTarget.open && code === undefined) setCode(app.messenger!.safetyCode(group));
      }}
    >
      <summary>Safety code</summary>
      {code ? (
        <>
          <p class="digits">{code}</p>
          <p class="muted">If the other person sees the same digits, no one is listening in.</p>
        </>
      ) : (
        <p class="muted">{code === null ? 'A safety code is shown for conversations between two people.' : ''}</p>
      )}
    </details>
  );
}
