//! The conversation engine. Each delivery is processed by MLS and its state changes, messages and
//! conversations are written in ONE IndexedDB transaction before the delivery is acked. Each
//! outgoing message is encrypted, then persisted (MLS changes + message + outbox entry) in one
//! transaction, then handed to the session; the outbox entry goes when the server accepts it.
//! App-level plaintext inside MLS: JSON `{v:1, kind:"text"|"receipt"|"timer", ...}`.

import { fromBase64, fromUtf8, randomId, toBase64Url, utf8 } from './bytes';
import type { Urgency } from './api';
import { groupSendWithId, type Core, type DeviceKeys, type MlsClient, type MlsEvent, type MlsMember, type Session, type SessionEvent } from './core';
import { deleteExpired, NEVER, type Db, type MessageStatus, type OutboxEntry, type OutboxKind, type StoredConversation, type StoredMessage } from './db';
import { openBytes, openJson, sealBytes, sealJson, type Sealed } from './lock';
import { Connection, type ConnectionState } from './socket';
import { dropSupportPush } from './push';

export const DEFAULT_TIMER_SECONDS = 7 * 86400;
export const TIMER_CHOICES: { label: string; seconds: number }[] = [
  { label: 'Off', seconds: 0 },
  { label: '1 day', seconds: 86400 },
  { label: '7 days', seconds: 7 * 86400 },
  { label: '30 days', seconds: 30 * 86400 },
];
const KEY_PACKAGE_BATCH = 20;
const LAST_RESORT_MAX_AGE_MS = 7 * 86400_000;
const CLAIM_TIMEOUT_MS = 10_000;

/** The saved form of an enrolment, as the wasm Session wants it (secret: stored sealed). */
export interface Credentials {
  server_url: string;
  account: string;
  device: string;
  mailbox: string;
  display_name: string;
  roles: string[];
  keys: unknown;
}

export interface Member {
  handle: string;
  mailbox: string;
}

export interface Conversation {
  id: string;
  updatedAt: number;
  members: Member[]; // the others
  timer: number; // seconds; 0 = messages stay
  lastText?: string;
  lastAt?: number;
  removed?: boolean;
  /** A support conversation: the unlinked mailbox this device speaks from (requester side). */
  identity?: string;
  /** A support conversation: which side this device is on and the request (for closing). */
  support?: { role: 'requester' | 'supporter'; request: string };
  closed?: boolean;
}

/** A pseudonymous identity with its unlinked mailbox (a support request this device made). */
export interface SupportIdentity {
  mailbox: string;
  secret: string;
  handle: string;
  identity: string; // MlsIdentity secret, base64url
  request: string; // request id ('' until the server answered)
  urgency: Urgency;
  createdAt: number;
}

const SUPPORT_META = 'support:';
const supportPrefix = (mailbox: string) => `s:${mailbox}:`;

export interface Message {
  key: string;
  conv: string;
  id: string;
  at: number;
  expiresAt: number;
  status: MessageStatus | 'failed';
  from: string;
  body: string;
  mine: boolean;
  notice?: boolean; // a system line ("Dana set disappearing messages to 1 day")
}

export type AppPayload =
  | { v: 1; kind: 'text'; id: string; body: string; sentAt: number }
  | { v: 1; kind: 'receipt'; ids: string[] }
  | { v: 1; kind: 'timer'; id: string; seconds: number; sentAt: number }
  // Hand-off: tells the members just added that this is a support conversation (never synced
  // with the directory, which does not know the requester's unlinked mailbox).
  | { v: 1; kind: 'support'; request: string };

/** Parses a decrypted app payload; null for anything unknown or malformed. */
export function parseAppPayload(bytes: Uint8Array): AppPayload | null {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (o.v !== 1) return null;
  if (o.kind === 'text' && typeof o.id === 'string' && typeof o.body === 'string' && typeof o.sentAt === 'number')
    return { v: 1, kind: 'text', id: o.id, body: o.body, sentAt: o.sentAt };
  if (o.kind === 'receipt' && Array.isArray(o.ids) && o.ids.every((x) => typeof x === 'string'))
    return { v: 1, kind: 'receipt', ids: o.ids as string[] };
  if (o.kind === 'timer' && typeof o.id === 'string' && typeof o.seconds === 'number' && typeof o.sentAt === 'number')
    return { v: 1, kind: 'timer', id: o.id, seconds: o.seconds, sentAt: o.sentAt };
  if (o.kind === 'support' && typeof o.request === 'string') return { v: 1, kind: 'support', request: o.request };
  return null;
}

export const timerLabel = (seconds: number): string =>
  TIMER_CHOICES.find((c) => c.seconds === seconds)?.label ?? `${Math.round(seconds / 3600)} hours`;

/** When a message stored at `at` under `timer` seconds disappears. */
export const expiryOf = (at: number, timer: number): number => (timer > 0 ? at + timer * 1000 : NEVER);

/** The status a message moves to on an event, never backwards (delivered stays delivered). */
export function advanceStatus(current: Message['status'], next: 'sent' | 'delivered'): Message['status'] {
  const rank: Record<string, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, received: 3 };
  return rank[next]! > rank[current]! ? next : current;
}

/** One atomic write: sealed records prepared beforehand (no awaits inside the transaction). */
interface Batch {
  mls: [string, Sealed | null][];
  conversations: StoredConversation[];
  messages: StoredMessage[];
  outboxPut: OutboxEntry[];
  outboxDelete: string[];
  meta: [string, unknown][];
}

const emptyBatch = (): Batch => ({ mls: [], conversations: [], messages: [], outboxPut: [], outboxDelete: [], meta: [] });

export async function writeBatch(db: Db, b: Batch): Promise<void> {
  const tx = db.transaction(['mls', 'conversations', 'messages', 'outbox', 'meta'], 'readwrite');
  // Requests are issued synchronously; a request that fails (or throws) aborts them all.
  const requests: Promise<unknown>[] = [];
  try {
    const mls = tx.objectStore('mls');
    for (const [k, v] of b.mls) requests.push(v === null ? mls.delete(k) : mls.put(v, k));
    for (const c of b.conversations) requests.push(tx.objectStore('conversations').put(c));
    for (const m of b.messages) requests.push(tx.objectStore('messages').put(m));
    for (const o of b.outboxPut) requests.push(tx.objectStore('outbox').put(o));
    for (const k of b.outboxDelete) requests.push(tx.objectStore('outbox').delete(k));
    for (const [k, v] of b.meta) requests.push(tx.objectStore('meta').put(v, k));
  } catch (e) {
    tx.abort();
    await Promise.allSettled([tx.done, ...requests]);
    throw e;
  }
  await Promise.all([tx.done, ...requests]);
}

type Listener = () => void;

export class LockedError extends Error {
  constructor() {
    super('Sallyport is locked.');
  }
}

export class Messenger {
  readonly conversations = new Map<string, Conversation>();
  readonly messages = new Map<string, Message>();
  connection: ConnectionState = 'offline';
  /** Problems worth telling the user about (e.g. "Dana cannot be added right now"). */
  notice: string | undefined;

  private listeners = new Set<Listener>();
  private queue: Promise<unknown> = Promise.resolve();
  private outbox = new Map<string, OutboxEntry>();
  private wire = new Map<string, string>(); // wire id → outbox id, for sends made in this page life
  private claims = new Map<string, (kp: Uint8Array | null) => void>();
  private commitWaiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();
  private conn: Connection | undefined;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /** Support identities by unlinked mailbox, with their MLS clients. */
  private supportIds = new Map<string, { id: SupportIdentity; mls: MlsClient }>();
  /** group → the unlinked mailbox whose client holds it (absent: the device's own client). */
  private groupOwner = new Map<string, string>();

  private constructor(
    readonly core: Core,
    readonly db: Db,
    private readonly key: CryptoKey,
    readonly creds: Credentials,
    readonly keys: DeviceKeys,
    private readonly mls: MlsClient,
    readonly session: Session,
  ) {}

  /** Loads everything for an unlocked device. */
  static async open(core: Core, db: Db, key: CryptoKey): Promise<Messenger> {
    const sealedCreds = (await db.get('meta', 'creds')) as Sealed | undefined;
    if (!sealedCreds) throw new Error('This device is not enrolled.');
    const creds = await openJson<Credentials>(key, sealedCreds, 'meta:creds');
    const keys = core.DeviceKeys.fromJson(JSON.stringify(creds.keys));
    const state = new Map<string, Uint8Array>();
    const supportState = new Map<string, Map<string, Uint8Array>>();
    const tx = db.transaction('mls');
    const [mlsKeys, mlsValues] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
    for (let i = 0; i < mlsKeys.length; i++) {
      const k = mlsKeys[i]!;
      const v = await openBytes(key, mlsValues[i]!, 'mls:' + k);
      if (k.startsWith('s:')) {
        const mb = k.slice(2, k.indexOf(':', 2));
        const inner = supportState.get(mb) ?? new Map<string, Uint8Array>();
        inner.set(k.slice(supportPrefix(mb).length), v);
        supportState.set(mb, inner);
      } else state.set(k, v);
    }
    const identity = core.MlsIdentity.forDevice(keys);
    const mls = new core.MlsClient(identity, creds.display_name, creds.mailbox, state);
    identity.free();
    const session = new core.Session(JSON.stringify(creds));
    const m = new Messenger(core, db, key, creds, keys, mls, session);
    const metaKeys = await db.getAllKeys('meta');
    for (const mk of metaKeys) {
      if (!mk.startsWith(SUPPORT_META)) continue;
      const id = await openJson<SupportIdentity>(key, (await db.get('meta', mk)) as Sealed, 'meta:' + mk);
      const ident = core.MlsIdentity.fromSecret(fromBase64(id.identity));
      const client = new core.MlsClient(ident, id.handle, id.mailbox, supportState.get(id.mailbox) ?? new Map());
      ident.free();
      m.supportIds.set(id.mailbox, { id, mls: client });
      for (const g of client.groups()) m.groupOwner.set(g, id.mailbox);
    }
    await m.load();
    for (const c of m.conversations.values()) if (c.identity && !m.groupOwner.has(c.id)) m.groupOwner.set(c.id, c.identity);
    // Read each unlinked mailbox still open (a closed request's mailbox is gone from the server).
    for (const { id } of m.supportIds.values()) if (!m.conversationOfRequest(id.mailbox)?.closed) session.subscribe(id.mailbox, id.secret);
    return m;
  }

  /** Stores fresh credentials (at enrolment). */
  static async saveCredentials(db: Db, key: CryptoKey, creds: Credentials): Promise<void> {
    await db.put('meta', await sealJson(key, creds, 'meta:creds'), 'creds');
  }

  private async load(): Promise<void> {
    for (const c of await this.db.getAll('conversations')) {
      const data = await openJson<Omit<Conversation, 'id' | 'updatedAt'>>(this.key, c.sealed, 'conv:' + c.id);
      this.conversations.set(c.id, { ...data, id: c.id, updatedAt: c.updatedAt });
    }
    for (const s of await this.db.getAll('messages')) {
      const data = await openJson<Pick<Message, 'from' | 'body' | 'mine' | 'notice'>>(this.key, s.sealed, 'msg:' + s.key);
      this.messages.set(s.key, { ...data, key: s.key, conv: s.conv, id: s.id, at: s.at, expiresAt: s.expiresAt, status: s.status });
    }
    for (const o of await this.db.getAll('outbox')) this.outbox.set(o.id, o);
    await this.expire(Date.now());
  }

  get isAdmin(): boolean {
    return this.creds.roles.includes('admin');
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** Runs `fn` after everything queued before it: MLS state is touched by one operation at a time. */
  private run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      // Locked meanwhile: the keys and the wasm objects are gone.
      if (this.closed) throw new LockedError();
      return fn();
    });
    this.queue = next.catch((e) => {
      if (!(e instanceof LockedError)) console.error('sallyport:', e);
    });
    return next;
  }

  start(): void {
    const url = this.core.wsUrl(this.creds.server_url);
    this.conn = new Connection(
      this.session,
      url,
      (events) => this.onEvents(events),
      (state) => {
        this.connection = state;
        this.changed();
      },
    );
    this.conn.start();
    this.sweepTimer = setInterval(() => void this.sweep(), 60_000);
  }

  /** The server said this device's clock is more than 5 minutes off. */
  get clockSkew(): boolean {
    return this.conn?.clockSkew ?? false;
  }

  /** "Use here": take the connection back from another tab. */
  reconnect(): void {
    this.conn?.connectNow();
  }

  /** Forgets the keys and the wasm objects (lock). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn?.stop();
    clearInterval(this.sweepTimer);
    for (const w of this.claims.values()) w(null);
    this.claims.clear();
    this.listeners.clear();
    this.conversations.clear();
    this.messages.clear();
    // The operation in flight (if any) finishes with live objects; queued ones see `closed`.
    void this.queue.finally(() => {
      this.session.free();
      this.mls.free();
      for (const s of this.supportIds.values()) s.mls.free();
      this.supportIds.clear();
      this.keys.free();
    });
  }

  private flush(): void {
    this.conn?.flush();
  }

  /** Deletes expired messages (IndexedDB and memory); previews that showed them go too. */
  sweep(now = Date.now()): Promise<void> {
    return this.run(() => this.expire(now));
  }

  private async expire(now: number): Promise<void> {
    const gone = new Set(await deleteExpired(this.db, now));
    for (const m of this.messages.values()) if (m.expiresAt <= now) gone.add(m.key);
    if (gone.size === 0) return;
    const convIds = new Set<string>();
    for (const k of gone) {
      const m = this.messages.get(k);
      convIds.add(m?.conv ?? k.slice(0, k.indexOf(':')));
      this.messages.delete(k);
    }
    const b = emptyBatch();
    const updated: Conversation[] = [];
    for (const id of convIds) {
      const c = this.conversations.get(id);
      if (!c) continue;
      const last = this.messagesOf(id).filter((m) => !m.notice).pop();
      if (c.lastText === last?.body && c.lastAt === last?.at) continue;
      const next = { ...c, lastText: last?.body, lastAt: last?.at };
      updated.push(next);
      b.conversations.push(await this.sealConversation(next));
    }
    await writeBatch(this.db, b);
    for (const c of updated) this.conversations.set(c.id, c);
    this.changed();
  }

  // ---- records -------------------------------------------------------------------------------

  private async sealConversation(c: Conversation): Promise<StoredConversation> {
    const { id, updatedAt, ...data } = c;
    return { id, updatedAt, sealed: await sealJson(this.key, data, 'conv:' + id) };
  }

  private async sealMessage(m: Message): Promise<StoredMessage> {
    const data = { from: m.from, body: m.body, mine: m.mine, notice: m.notice };
    const status = m.status === 'failed' ? 'sending' : m.status;
    return { key: m.key, conv: m.conv, id: m.id, at: m.at, expiresAt: m.expiresAt, status, sealed: await sealJson(this.key, data, 'msg:' + m.key) };
  }

  private async mlsChanges(b: Batch): Promise<void> {
    for (const [k, v] of this.mls.takeChanges()) b.mls.push([k, v === null ? null : await sealBytes(this.key, v, 'mls:' + k)]);
    for (const [mb, s] of this.supportIds) {
      for (const [k0, v] of s.mls.takeChanges()) {
        const k = supportPrefix(mb) + k0;
        b.mls.push([k, v === null ? null : await sealBytes(this.key, v, 'mls:' + k)]);
      }
    }
  }

  /** The MLS client that holds `group`: a support identity's or the device's own. */
  private mlsFor(group: string): MlsClient {
    const owner = this.groupOwner.get(group);
    return (owner && this.supportIds.get(owner)?.mls) || this.mls;
  }

  /** The mailbox this device is in `group` as. */
  myMailbox(group: string): string {
    return this.groupOwner.get(group) ?? this.creds.mailbox;
  }

  /** The name this device goes by in `group` (the pseudonym in a support request it made). */
  myName(group: string): string {
    const owner = this.groupOwner.get(group);
    return (owner && this.supportIds.get(owner)?.id.handle) || this.creds.display_name;
  }

  private others(members: MlsMember[], group: string): Member[] {
    const me = this.myMailbox(group);
    const out: Member[] = [];
    for (const m of members) if (m.mailbox !== me) out.push({ handle: m.handle, mailbox: m.mailbox });
    return out;
  }

  conversationName(c: Conversation): string {
    const names = [...new Set(c.members.map((m) => m.handle))];
    return names.length ? names.join(', ') : 'Only you';
  }

  /** The safety code with the one other person in a conversation (null in a group or unknown). */
  safetyCode(group: string): string | null {
    try {
      const members = this.mlsFor(group).members(group);
      const mine = this.myMailbox(group);
      const me = members.find((m) => m.mailbox === mine);
      const others = members.filter((m) => m.mailbox !== mine);
      if (!me || others.length !== 1) return null;
      const them = others[0]!;
      const code = new this.core.SafetyCode(me.signingKey, me.handle, them.signingKey, them.handle);
      const display = code.display;
      code.free();
      return display;
    } catch {
      return null;
    }
  }

  messagesOf(conv: string): Message[] {
    return [...this.messages.values()].filter((m) => m.conv === conv).sort((a, b) => a.at - b.at || a.key.localeCompare(b.key));
  }

  // ---- session events ------------------------------------------------------------------------

  private onEvents(events: SessionEvent[]): void {
    for (const e of events) {
      switch (e.type) {
        case 'ready':
          void this.run(() => this.onReady());
          break;
        case 'message':
          void this.run(() => this.onDelivery(e.mailbox, e.seq, e.payload));
          break;
        case 'accepted':
          void this.run(() => this.onAccepted(e.id));
          break;
        case 'error':
          void this.run(() => this.onError(e.code, e.id, e.mailbox));
          break;
        case 'key_package': {
          const w = this.claims.get(e.mailbox);
          this.claims.delete(e.mailbox);
          w?.(e.keyPackage);
          break;
        }
        case 'key_packages_low':
          if (e.mailbox === this.creds.mailbox) void this.run(() => this.publishKeyPackages());
          break;
        default:
          break;
      }
    }
  }

  private async onReady(): Promise<void> {
    // Re-send what an earlier page life left in the outbox (the session re-sends its own).
    const pending = [...this.outbox.values()].filter((o) => !this.wire.has(o.id) && ![...this.wire.values()].includes(o.id));
    pending.sort((a, b) => a.createdAt - b.createdAt);
    for (const o of pending) this.wire.set(groupSendWithId(this.session, o.id, o.to, o.envelope), o.id);
    const lastResortAt = ((await this.db.get('meta', 'lastResortAt')) as number | undefined) ?? 0;
    // One-time KeyPackages follow `key_packages_low`, which the server sends right after `ready`.
    if (Date.now() - lastResortAt > LAST_RESORT_MAX_AGE_MS) await this.publishKeyPackages(0, true);
    this.flush();
  }

  private async publishKeyPackages(count = KEY_PACKAGE_BATCH, withLastResort = false): Promise<void> {
    if (this.closed || !this.session.isReady) return;
    const kps = count > 0 ? this.mls.keyPackages(count) : [];
    const lastResort = withLastResort ? this.mls.lastResortKeyPackage() : undefined;
    const b = emptyBatch();
    await this.mlsChanges(b);
    if (withLastResort) b.meta.push(['lastResortAt', Date.now()]);
    await writeBatch(this.db, b); // private keys before the public halves leave
    this.session.publishKeyPackages(this.creds.mailbox, kps, lastResort ?? null);
    this.flush();
  }

  private async onDelivery(mailbox: string, seq: number, payload: Uint8Array): Promise<void> {
    if (this.closed) return;
    let events: MlsEvent[];
    const support = this.supportIds.get(mailbox);
    const client = support?.mls ?? this.mls;
    try {
      events = client.process(payload);
    } catch (e) {
      console.warn('sallyport: undecryptable delivery dropped', e);
      this.session.ack(mailbox, seq);
      this.flush();
      return;
    }
    if (support) for (const e of events) if ('group' in e && typeof e.group === 'string') this.groupOwner.set(e.group, mailbox);
    const b = emptyBatch();
    await this.mlsChanges(b);
    const now = Date.now();
    const convs = new Map<string, Conversation>();
    const msgs = new Map<string, Message>();
    const receipts = new Map<string, string[]>();
    const proposals = new Set<string>();
    const conv = (group: string): Conversation => {
      let c = convs.get(group) ?? this.conversations.get(group);
      if (!c) {
        c = { id: group, updatedAt: now, members: this.safeMembers(group), timer: DEFAULT_TIMER_SECONDS };
        if (support) {
          c.identity = mailbox;
          c.support = { role: 'requester', request: support.id.request };
        }
      }
      c = { ...c };
      convs.set(group, c);
      return c;
    };
    const msg = (key: string): Message | undefined => msgs.get(key) ?? this.messages.get(key);
    for (const e of events) {
      if (e.type === 'joined') {
        const c = conv(e.group);
        c.members = this.others(e.members, e.group);
        c.updatedAt = now;
      } else if (e.type === 'membership_changed') {
        const c = conv(e.group);
        c.members = this.safeMembers(e.group);
        for (const n of this.membershipNotices(e, now, c.timer)) msgs.set(n.key, n);
      } else if (e.type === 'leave_requested' || e.type === 'proposal_received') {
        proposals.add(e.group);
      } else if (e.type === 'removed') {
        conv(e.group).removed = true;
      } else if (e.type === 'message') {
        const p = parseAppPayload(e.plaintext);
        if (!p) continue;
        const c = conv(e.group);
        if (p.kind === 'text') {
          const key = `${e.group}:${p.id}`;
          if (!msg(key)) {
            const at = Math.min(p.sentAt, now);
            msgs.set(key, { key, conv: e.group, id: p.id, at, expiresAt: expiryOf(now, c.timer), status: 'received', from: e.sender.handle, body: p.body, mine: false });
            c.lastText = p.body;
            c.lastAt = at;
            c.updatedAt = now;
          }
          receipts.set(e.group, [...(receipts.get(e.group) ?? []), p.id]);
        } else if (p.kind === 'receipt') {
          for (const id of p.ids) {
            const m = msg(`${e.group}:${id}`);
            if (m?.mine && advanceStatus(m.status, 'delivered') !== m.status) msgs.set(m.key, { ...m, status: 'delivered' });
          }
        } else if (p.kind === 'support') {
          if (!c.support && !c.identity) c.support = { role: 'supporter', request: p.request };
        } else if (p.kind === 'timer') {
          c.timer = p.seconds;
          const key = `${e.group}:${p.id}`;
          const body = `${e.sender.handle} set disappearing messages to ${timerLabel(p.seconds)}.`;
          msgs.set(key, { key, conv: e.group, id: p.id, at: Math.min(p.sentAt, now), expiresAt: expiryOf(now, p.seconds), status: 'received', from: e.sender.handle, body, mine: false, notice: true });
        }
      }
    }
    for (const c of convs.values()) b.conversations.push(await this.sealConversation(c));
    for (const m of msgs.values()) b.messages.push(await this.sealMessage(m));
    await writeBatch(this.db, b);
    for (const c of convs.values()) this.conversations.set(c.id, c);
    for (const m of msgs.values()) this.messages.set(m.key, m);
    this.session.ack(mailbox, seq);
    this.flush();
    this.changed();
    // A member asked to leave (hand-off): whoever sees the proposal commits it.
    for (const group of proposals) {
      if (this.conversations.get(group)?.removed) continue;
      try {
        const out = this.mlsFor(group).commitPending(group);
        if (out) await this.queueCommit(group, out);
      } catch (e) {
        console.warn('sallyport: commit of pending proposals failed', e);
      }
    }
    for (const [group, ids] of receipts) {
      if (!this.conversations.get(group)?.removed) await this.sendApp(group, { v: 1, kind: 'receipt', ids }, 'receipt');
    }
  }

  /** Persists and sends a commit made inside a queued operation (does not wait for its answer). */
  private async queueCommit(group: string, out: { to: string[]; envelope: Uint8Array }): Promise<void> {
    const b = emptyBatch();
    await this.mlsChanges(b);
    const entry: OutboxEntry = { id: randomId(), group, to: out.to, envelope: out.envelope, kind: 'commit', createdAt: Date.now() };
    b.outboxPut.push(entry);
    await writeBatch(this.db, b);
    this.outbox.set(entry.id, entry);
    if (out.to.length === 0) {
      await this.onAccepted(entry.id);
      return;
    }
    this.wire.set(groupSendWithId(this.session, entry.id, out.to, out.envelope), entry.id);
    this.flush();
  }

  /** Visible lines for a membership change after the conversation began (no silent adds). */
  private membershipNotices(e: MlsEvent, now: number, timer: number): Message[] {
    if (e.type !== 'membership_changed' || e.epoch <= 1) return [];
    const line = (m: MlsMember, what: string): Message => {
      const id = randomId();
      const who = m.mailbox === this.myMailbox(e.group) ? 'This device' : `${m.handle}’s device`;
      return { key: `${e.group}:${id}`, conv: e.group, id, at: now, expiresAt: expiryOf(now, timer), status: 'received', from: '', body: `${who} ${what}.`, mine: false, notice: true };
    };
    return [...e.added.map((m) => line(m, 'was added')), ...e.removed.map((m) => line(m, 'was removed'))];
  }

  private safeMembers(group: string): Member[] {
    try {
      return this.others(this.mlsFor(group).members(group), group);
    } catch {
      return this.conversations.get(group)?.members ?? [];
    }
  }

  private async onAccepted(wireId: string): Promise<void> {
    const id = this.wire.get(wireId) ?? wireId;
    this.wire.delete(wireId);
    const o = this.outbox.get(id);
    if (!o || this.closed) return;
    const b = emptyBatch();
    b.outboxDelete.push(o.id);
    let conv: Conversation | undefined;
    const notices: Message[] = [];
    if (o.kind === 'commit') {
      const events = this.mlsFor(o.group).commitAccepted(o.group);
      await this.mlsChanges(b);
      const c = this.conversations.get(o.group);
      if (c) {
        conv = { ...c, members: this.safeMembers(o.group) };
        b.conversations.push(await this.sealConversation(conv));
        for (const e of events) notices.push(...this.membershipNotices(e, Date.now(), c.timer));
        for (const n of notices) b.messages.push(await this.sealMessage(n));
      }
    }
    let m = o.msgKey ? this.messages.get(o.msgKey) : undefined;
    if (m && advanceStatus(m.status, 'sent') !== m.status) {
      m = { ...m, status: 'sent' };
      b.messages.push(await this.sealMessage(m));
    } else m = undefined;
    await writeBatch(this.db, b);
    this.outbox.delete(o.id);
    if (conv) this.conversations.set(conv.id, conv);
    if (m) this.messages.set(m.key, m);
    for (const n of notices) this.messages.set(n.key, n);
    if (o.kind === 'commit') this.settleCommit(o.group);
    this.changed();
  }

  private settleCommit(group: string, error?: Error): void {
    const waiters = this.commitWaiters.get(group) ?? [];
    this.commitWaiters.delete(group);
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  private async onError(code: string, wireId?: string, mailbox?: string): Promise<void> {
    if (mailbox && !wireId && this.supportIds.has(mailbox) && (code === 'unknown_mailbox' || code === 'wrong_mailbox_secret')) {
      // The request was closed and its unlinked mailbox deleted: stop reading it.
      const c = this.conversationOfRequest(mailbox);
      if (c && !c.closed) await this.closeLocally(c);
      else this.forgetSubscription(mailbox);
      return;
    }
    if (mailbox && this.claims.has(mailbox)) {
      const w = this.claims.get(mailbox)!;
      this.claims.delete(mailbox);
      w(null);
    }
    if (!wireId || this.closed) return;
    const id = this.wire.get(wireId) ?? wireId;
    const o = this.outbox.get(id);
    if (!o) return;
    if (code === 'rate_limited' || code === 'quota_exceeded' || code === 'internal') {
      setTimeout(() => {
        if (!this.closed) {
          this.session.resendUnaccepted();
          this.flush();
        }
      }, 5000);
      return;
    }
    this.wire.delete(wireId);
    const b = emptyBatch();
    b.outboxDelete.push(o.id);
    // A closed support request: the server forgot the requester's unlinked mailbox.
    const sc = this.conversations.get(o.group);
    let closedConv: Conversation | undefined;
    if (code === 'unknown_mailbox' && sc?.support && !sc.closed) {
      closedConv = { ...sc, closed: true, updatedAt: Date.now() };
      b.conversations.push(await this.sealConversation(closedConv));
    }
    if (closedConv) {
      this.conversations.set(closedConv.id, closedConv);
      if (closedConv.identity) this.forgetSubscription(closedConv.identity);
    }
    if (o.kind === 'commit') {
      this.mlsFor(o.group).commitRejected(o.group);
      await this.mlsChanges(b);
    }
    await writeBatch(this.db, b);
    this.outbox.delete(o.id);
    if (o.kind === 'commit') {
      this.settleCommit(o.group, new Error(`The change was refused (${code}).`));
      return;
    }
    const m = o.msgKey ? this.messages.get(o.msgKey) : undefined;
    if (code === 'stale_epoch' && m && !m.notice) {
      // §9: process pending deliveries (queued before us), then encrypt again under a new id.
      this.messages.delete(m.key);
      await this.sendApp(o.group, { v: 1, kind: 'text', id: m.id, body: m.body, sentAt: m.at }, 'text', m);
      return;
    }
    if (m) {
      this.messages.set(m.key, { ...m, status: 'failed' });
      this.changed();
    }
  }

  // ---- sending -------------------------------------------------------------------------------

  /** encrypt → persist (MLS changes + message + outbox, one transaction) → hand to the session. */
  private async sendApp(group: string, payload: AppPayload, kind: OutboxKind, message?: Message, conv?: Conversation): Promise<void> {
    const out = this.mlsFor(group).encrypt(group, utf8.encode(JSON.stringify(payload)));
    const b = emptyBatch();
    await this.mlsChanges(b);
    const id = randomId();
    const entry: OutboxEntry = { id, group, to: out.to, envelope: out.envelope, kind, msgKey: message?.key, createdAt: Date.now() };
    b.outboxPut.push(entry);
    if (message) b.messages.push(await this.sealMessage(message));
    if (conv) b.conversations.push(await this.sealConversation(conv));
    await writeBatch(this.db, b);
    this.outbox.set(id, entry);
    if (message) this.messages.set(message.key, message);
    if (conv) this.conversations.set(conv.id, conv);
    this.changed();
    if (out.to.length === 0) {
      // Alone in the group: nothing to send.
      await this.onAccepted(id);
      return;
    }
    this.wire.set(groupSendWithId(this.session, id, out.to, out.envelope), id);
    this.flush();
  }

  private async waitForCommit(group: string): Promise<void> {
    if (this.closed) throw new LockedError();
    if (!this.mlsFor(group).hasPendingCommit(group)) return;
    await new Promise<void>((resolve, reject) => {
      const list = this.commitWaiters.get(group) ?? [];
      list.push({ resolve, reject });
      this.commitWaiters.set(group, list);
    });
  }

  async sendText(group: string, body: string): Promise<void> {
    const text = body.trim();
    if (!text) return;
    await this.waitForCommit(group).catch(() => undefined);
    await this.run(async () => {
      const c = this.conversations.get(group);
      if (!c) throw new Error('No such conversation.');
      const now = Date.now();
      const id = randomId();
      const key = `${group}:${id}`;
      const m: Message = { key, conv: group, id, at: now, expiresAt: expiryOf(now, c.timer), status: 'sending', from: this.myName(group), body: text, mine: true };
      await this.sendApp(group, { v: 1, kind: 'text', id, body: text, sentAt: now }, 'text', m, { ...c, lastText: text, lastAt: now, updatedAt: now });
    });
  }

  async setTimer(group: string, seconds: number): Promise<void> {
    await this.waitForCommit(group).catch(() => undefined);
    await this.run(async () => {
      const c = this.conversations.get(group);
      if (!c || c.timer === seconds) return;
      const now = Date.now();
      const id = randomId();
      const key = `${group}:${id}`;
      const m: Message = { key, conv: group, id, at: now, expiresAt: expiryOf(now, seconds), status: 'sending', from: this.myName(group), body: `You set disappearing messages to ${timerLabel(seconds)}.`, mine: true, notice: true };
      await this.sendApp(group, { v: 1, kind: 'timer', id, seconds, sentAt: now }, 'timer', m, { ...c, timer: seconds, updatedAt: now });
    });
  }

  private claim(mailbox: string): Promise<Uint8Array | null> {
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.claims.delete(mailbox);
        resolve(null);
      }, CLAIM_TIMEOUT_MS);
      this.claims.set(mailbox, (kp) => {
        clearTimeout(timer);
        resolve(kp);
      });
      this.session.claimKeyPackage(mailbox);
      this.flush();
    });
  }

  /** An existing conversation with exactly this person (all their devices), if any. */
  findConversationWith(mailboxes: string[]): Conversation | undefined {
    for (const c of this.conversations.values()) {
      if (c.removed) continue;
      const have = new Set(c.members.map((m) => m.mailbox));
      if (have.size === mailboxes.length && mailboxes.every((mb) => have.has(mb))) return c;
    }
    return undefined;
  }

  /** Sends a commit (persisted with its MLS changes first) and waits for the server's answer. */
  private async sendCommit(group: string, make: () => { to: string[]; envelope: Uint8Array }): Promise<void> {
    await this.run(async () => {
      const out = make();
      const b = emptyBatch();
      await this.mlsChanges(b);
      const entry: OutboxEntry = { id: randomId(), group, to: out.to, envelope: out.envelope, kind: 'commit', createdAt: Date.now() };
      b.outboxPut.push(entry);
      await writeBatch(this.db, b);
      this.outbox.set(entry.id, entry);
      this.wire.set(groupSendWithId(this.session, entry.id, out.to, out.envelope), entry.id);
      this.flush();
    });
    await this.waitForCommit(group);
  }

  /**
   * Brings a conversation in line with the directory (`people`: accounts and their active
   * devices' mailboxes): revoked devices of its members are removed and their new devices added,
   * each change a commit every member sees. A commit that loses a race is dropped; the next call
   * tries again.
   */
  async syncMembers(group: string, people: { account: string; mailboxes: string[] }[]): Promise<void> {
    const c = this.conversations.get(group);
    // Support conversations hold unlinked mailboxes the directory does not know: never synced.
    if (this.closed || !c || c.removed || c.support || !this.session.isReady || this.mlsFor(group).hasPendingCommit(group)) return;
    const members = this.safeMembers(group);
    const have = new Set(members.map((m) => m.mailbox));
    const active = new Set(people.flatMap((p) => p.mailboxes));
    // Only devices of people the directory names (a revoked device); an unknown mailbox may be a
    // requester's unlinked one in a handed-off support conversation.
    const known = new Set(people.map((p) => (p as { display_name?: string }).display_name).filter((n): n is string => !!n));
    const gone = members.filter((m) => !active.has(m.mailbox) && (known.size === 0 || known.has(m.handle))).map((m) => m.mailbox);
    const theirs = people.filter((p) => p.account === this.creds.account || p.mailboxes.some((mb) => have.has(mb)));
    const missing = theirs.flatMap((p) => p.mailboxes).filter((mb) => !have.has(mb) && mb !== this.creds.mailbox);
    if (gone.length) await this.sendCommit(group, () => this.mls.removeMembers(group, gone));
    if (!missing.length || this.closed) return;
    const claimed = await Promise.all(missing.map((mb) => this.claim(mb)));
    const ok = missing.map((mb, i) => [mb, claimed[i]] as const).filter((x): x is readonly [string, Uint8Array] => x[1] !== null);
    if (ok.length && !this.closed) await this.sendCommit(group, () => this.mls.addMembers(group, ok.map((x) => x[0]), ok.map((x) => x[1])));
  }

  /** createGroup → claim a KeyPackage per mailbox → addMembers → group_send the commit + Welcome. */
  async createConversation(name: string, mailboxes: string[], extra?: Pick<Conversation, 'support'>): Promise<string> {
    const existing = extra ? undefined : this.findConversationWith(mailboxes);
    if (existing) return existing.id;
    if (!this.session.isReady) throw new Error('You are offline. Try again when connected.');
    const group = await this.run(async () => {
      const g = this.mls.createGroup();
      const now = Date.now();
      const c: Conversation = { id: g, updatedAt: now, members: mailboxes.map((mailbox) => ({ handle: name, mailbox })), timer: DEFAULT_TIMER_SECONDS, ...extra };
      const b = emptyBatch();
      await this.mlsChanges(b);
      b.conversations.push(await this.sealConversation(c));
      await writeBatch(this.db, b);
      this.conversations.set(g, c);
      this.changed();
      return g;
    });
    const claimed = await Promise.all(mailboxes.map((mb) => this.claim(mb)));
    const ok = mailboxes.map((mb, i) => [mb, claimed[i]] as const).filter((x): x is readonly [string, Uint8Array] => x[1] !== null);
    if (ok.length === 0) throw new Error(`${name} cannot be added right now. Try again later.`);
    await this.run(async () => {
      const out = this.mls.addMembers(group, ok.map((x) => x[0]), ok.map((x) => x[1]));
      const b = emptyBatch();
      await this.mlsChanges(b);
      const entry: OutboxEntry = { id: randomId(), group, to: out.to, envelope: out.envelope, kind: 'commit', createdAt: Date.now() };
      b.outboxPut.push(entry);
      await writeBatch(this.db, b);
      this.outbox.set(entry.id, entry);
      this.wire.set(groupSendWithId(this.session, entry.id, out.to, out.envelope), entry.id);
      this.flush();
    });
    return group;
  }

  // ---- peer support ----------------------------------------------------------------------------

  /** The support requests this device made (newest first). */
  supportRequests(): SupportIdentity[] {
    return [...this.supportIds.values()].map((s) => s.id).sort((a, b) => b.createdAt - a.createdAt);
  }

  supportIdentity(mailbox: string): SupportIdentity | undefined {
    return this.supportIds.get(mailbox)?.id;
  }

  /** The conversation a support request of this device turned into, if it has. */
  conversationOfRequest(mailbox: string): Conversation | undefined {
    for (const c of this.conversations.values()) if (c.identity === mailbox) return c;
    return undefined;
  }

  /**
   * Reaches out: a fresh unlinked mailbox and pseudonymous MLS identity (kept sealed before the
   * KeyPackage leaves), then `create(mailbox, secret, keyPackage)` makes the request on the server;
   * the device reads the mailbox from then on.
   */
  async reachOut(urgency: Urgency, handle: string, create: (mailbox: string, secret: string, keyPackage: string) => Promise<string>): Promise<SupportIdentity> {
    const { mailbox, secret } = this.core.newMailbox();
    const ident = this.core.MlsIdentity.generate();
    const client = new this.core.MlsClient(ident, handle, mailbox, new Map());
    const id: SupportIdentity = { mailbox, secret, handle, identity: toBase64Url(ident.secret()), request: '', urgency, createdAt: Date.now() };
    ident.free();
    const metaKey = SUPPORT_META + mailbox;
    const keyPackage = await this.run(async () => {
      this.supportIds.set(mailbox, { id, mls: client });
      const kp = client.lastResortKeyPackage();
      const b = emptyBatch();
      await this.mlsChanges(b);
      b.meta.push([metaKey, await sealJson(this.key, id, 'meta:' + metaKey)]);
      await writeBatch(this.db, b);
      return toBase64Url(kp);
    });
    let request: string;
    try {
      request = await create(mailbox, secret, keyPackage);
    } catch (e) {
      await this.forgetSupport(mailbox);
      throw e;
    }
    id.request = request;
    await this.db.put('meta', await sealJson(this.key, id, 'meta:' + metaKey), metaKey);
    this.session.subscribe(mailbox, secret);
    this.flush();
    this.changed();
    return id;
  }

  /** Forgets a support identity: its keys, its record and the mailbox subscription. */
  async forgetSupport(mailbox: string): Promise<void> {
    const s = this.supportIds.get(mailbox);
    if (!s) return;
    await this.run(async () => {
      const keys = (await this.db.getAllKeys('mls')).filter((k) => k.startsWith(supportPrefix(mailbox)));
      const tx = this.db.transaction(['mls', 'meta'], 'readwrite');
      await Promise.all([...keys.map((k) => tx.objectStore('mls').delete(k)), tx.objectStore('meta').delete(SUPPORT_META + mailbox), tx.done]);
      this.forgetSubscription(mailbox);
      this.supportIds.delete(mailbox);
      s.mls.free();
    });
    this.changed();
  }

  /** The supporter's side after a successful claim: the conversation with the requester's mailbox. */
  acceptRequest(request: string, mailbox: string): Promise<string> {
    return this.createConversation('Requester', [mailbox], { support: { role: 'supporter', request } });
  }

  /** Adds people's devices to a conversation (hand-off); resolves once the commit is accepted. */
  async addPeople(group: string, mailboxes: string[]): Promise<void> {
    const have = new Set(this.safeMembers(group).map((m) => m.mailbox));
    const missing = mailboxes.filter((mb) => !have.has(mb) && mb !== this.myMailbox(group));
    if (!missing.length) return;
    if (!this.session.isReady) throw new Error('You are offline. Try again when connected.');
    const claimed = await Promise.all(missing.map((mb) => this.claim(mb)));
    const ok = missing.map((mb, i) => [mb, claimed[i]] as const).filter((x): x is readonly [string, Uint8Array] => x[1] !== null);
    if (!ok.length) throw new Error('They cannot be added right now. Try again later.');
    await this.sendCommit(group, () => this.mlsFor(group).addMembers(group, ok.map((x) => x[0]), ok.map((x) => x[1])));
    const c = this.conversations.get(group);
    if (c?.support) await this.run(() => this.sendApp(group, { v: 1, kind: 'support', request: c.support!.request }, 'receipt'));
  }

  /** Leaves a conversation: asks the others to remove this device (they commit it). */
  async leaveConversation(group: string): Promise<void> {
    await this.waitForCommit(group).catch(() => undefined);
    await this.run(async () => {
      const c = this.conversations.get(group);
      if (!c) return;
      const out = this.mlsFor(group).leave(group);
      const b = emptyBatch();
      await this.mlsChanges(b);
      const entry: OutboxEntry = { id: randomId(), group, to: out.to, envelope: out.envelope, kind: 'receipt', createdAt: Date.now() };
      b.outboxPut.push(entry);
      const next: Conversation = { ...c, removed: true, updatedAt: Date.now() };
      b.conversations.push(await this.sealConversation(next));
      await writeBatch(this.db, b);
      this.outbox.set(entry.id, entry);
      this.conversations.set(group, next);
      this.wire.set(groupSendWithId(this.session, entry.id, out.to, out.envelope), entry.id);
      this.flush();
      this.changed();
    });
  }

  /** Marks a support conversation closed (after the server forgot the request). */
  async markClosed(group: string): Promise<void> {
    await this.run(async () => {
      const c = this.conversations.get(group);
      if (c) await this.closeLocally(c);
    });
  }

  private async closeLocally(c: Conversation): Promise<void> {
    const next: Conversation = { ...c, closed: true, updatedAt: Date.now() };
    await writeBatch(this.db, { ...emptyBatch(), conversations: [await this.sealConversation(next)] });
    this.conversations.set(c.id, next);
    if (c.identity) this.forgetSubscription(c.identity);
    this.changed();
  }

  private forgetSubscription(mailbox: string): void {
    void dropSupportPush(mailbox);
    try {
      this.session.forgetMailbox(mailbox);
    } catch {
      /* not subscribed */
    }
  }

  /** The requester tells the others their real name, end to end inside the conversation. */
  revealName(group: string): Promise<void> {
    return this.sendText(group, `My name is ${this.creds.display_name}.`);
  }
}
