//! Outgoing: each MLS message or commit is persisted with its MLS changes (and the message or
//! conversation it changes) in ONE transaction, then handed to the session; its outbox entry goes
//! when the server accepts it, is re-sent after a reload, and on a refusal the commit is rolled
//! back or the message marked "Not sent" (encrypted again once on a stale epoch).

import { randomId } from '../bytes';
import type { MlsOutgoing } from '../core';
import type { OutboxEntry, OutboxKind } from '../db';
import type { Conversations } from './conversations';
import type { Identities } from './identities';
import { advanceStatus, expiryOf, timerLabel, type Conversation, type Message } from './model';
import { encodePayload, type AppPayload } from './payload';
import { LockedError, type Runtime } from './runtime';
import { emptyBatch, type Store } from './store';

type Outgoing = Pick<MlsOutgoing, 'to' | 'envelope' | 'members'>;

export class Outbox {
  private entries = new Map<string, OutboxEntry>();
  /** Entries handed to the session in this page life (the session re-sends those itself). */
  private sent = new Set<string>();
  private commitWaiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }[]>();

  constructor(
    private readonly rt: Runtime,
    private readonly store: Store,
    private readonly ids: Identities,
    private readonly convs: Conversations,
  ) {}

  async load(): Promise<void> {
    for (const o of await this.store.outbox()) this.entries.set(o.id, o);
  }

  /**
   * Inside a queued operation: writes `out` as a new outbox entry together with the MLS changes and
   * the message and conversation given, in one transaction, then keeps them in memory.
   */
  async persist(group: string, out: Outgoing, kind: OutboxKind, message?: Message, conv?: Conversation): Promise<OutboxEntry> {
    const b = emptyBatch();
    await this.ids.takeChanges(b);
    const entry: OutboxEntry = { id: randomId(), group, to: out.to, members: out.members, envelope: out.envelope, kind, ...(message ? { msgKey: message.key } : {}), createdAt: Date.now() };
    b.outboxPut.push(await this.store.sealOutbox(entry));
    if (message) b.messages.push(await this.store.sealMessage(message));
    if (conv) b.conversations.push(await this.store.sealConversation(conv));
    await this.store.write(b);
    this.entries.set(entry.id, entry);
    if (message) this.convs.messages.set(message.key, message);
    if (conv) this.convs.conversations.set(conv.id, conv);
    return entry;
  }

  /** Hands a persisted entry to the session under its own id and writes it out. */
  send(entry: OutboxEntry): void {
    this.handOver(entry);
    this.rt.flush();
  }

  private handOver(o: OutboxEntry): void {
    // An entry persisted before commits named their members has none: the server refuses such a
    // commit (bad_recipients), which rolls it back like any refusal.
    this.rt.session.groupSendWithId(o.id, o.to, o.members ?? [], o.envelope);
    this.sent.add(o.id);
  }

  /** After `ready`: re-sends, oldest first, what an earlier page life left in the outbox. */
  resendPending(): void {
    const pending = [...this.entries.values()].filter((o) => !this.sent.has(o.id));
    pending.sort((a, b) => a.createdAt - b.createdAt);
    for (const o of pending) this.handOver(o);
  }

  /** Inside a queued operation: encrypt → persist (MLS changes + message + outbox) → hand to the session. */
  async sendApp(group: string, payload: AppPayload, kind: OutboxKind, message?: Message, conv?: Conversation): Promise<void> {
    const out = this.ids.mlsFor(group).encrypt(group, encodePayload(payload));
    const entry = await this.persist(group, out, kind, message, conv);
    this.rt.changed();
    if (out.to.length === 0) {
      // Alone in the group: nothing to send.
      await this.onAccepted(entry.id);
      return;
    }
    this.send(entry);
  }

  /** A text message: shown at once as Sending, persisted with its outbox entry, then sent. */
  async sendText(group: string, body: string): Promise<void> {
    const text = body.trim();
    if (!text) return;
    await this.waitForCommit(group).catch(() => undefined);
    await this.rt.run(async () => {
      const c = this.convs.get(group);
      if (!c) throw new Error('No such conversation.');
      const now = Date.now();
      const id = randomId();
      const key = `${group}:${id}`;
      const m: Message = { key, conv: group, id, at: now, expiresAt: expiryOf(now, c.timer), status: 'sending', from: this.ids.myName(group), body: text, mine: true };
      await this.sendApp(group, { v: 1, kind: 'text', id, body: text, sentAt: now }, 'text', m, { ...c, lastText: text, lastAt: now, updatedAt: now });
    });
  }

  /** A payload that is no chat line (a debrief plan, an RSVP), sent after any commit in flight;
   *  `update` changes this device's own conversation record with it. */
  async sendControl(group: string, payload: AppPayload, update?: (c: Conversation) => Conversation): Promise<void> {
    await this.waitForCommit(group).catch(() => undefined);
    await this.rt.run(async () => {
      const c = this.convs.get(group);
      if (!c) throw new Error('No such conversation.');
      await this.sendApp(group, payload, 'receipt', undefined, update ? update(c) : undefined);
    });
  }

  /** Changes the disappearing-message timer for everyone in the conversation (a visible line too). */
  async setTimer(group: string, seconds: number): Promise<void> {
    await this.waitForCommit(group).catch(() => undefined);
    await this.rt.run(async () => {
      const c = this.convs.get(group);
      if (!c || c.timer === seconds) return;
      const now = Date.now();
      const id = randomId();
      const key = `${group}:${id}`;
      const m: Message = { key, conv: group, id, at: now, expiresAt: expiryOf(now, seconds), status: 'sending', from: this.ids.myName(group), body: `You set disappearing messages to ${timerLabel(seconds)}.`, mine: true, notice: true };
      await this.sendApp(group, { v: 1, kind: 'timer', id, seconds, sentAt: now }, 'timer', m, { ...c, timer: seconds, updatedAt: now });
    });
  }

  /** Queues a commit made by `make` (persisted with its MLS changes first); does not wait for its answer. */
  commit(group: string, make: () => Outgoing): Promise<void> {
    return this.rt.run(async () => {
      this.send(await this.persist(group, make(), 'commit'));
    });
  }

  /** Sends a commit (persisted with its MLS changes first) and waits for the server's answer. */
  async sendCommit(group: string, make: () => Outgoing): Promise<void> {
    await this.commit(group, make);
    await this.waitForCommit(group);
  }

  /** Persists and sends a commit made inside a queued operation (does not wait for its answer). */
  async queueCommit(group: string, out: Outgoing): Promise<void> {
    const entry = await this.persist(group, out, 'commit');
    if (out.to.length === 0) {
      await this.onAccepted(entry.id);
      return;
    }
    this.send(entry);
  }

  /** Resolves once `group` has no commit waiting for the server's answer; rejects if it is refused. */
  async waitForCommit(group: string): Promise<void> {
    if (this.rt.closed) throw new LockedError();
    if (!this.ids.mlsFor(group).hasPendingCommit(group)) return;
    await new Promise<void>((resolve, reject) => {
      const list = this.commitWaiters.get(group) ?? [];
      list.push({ resolve, reject });
      this.commitWaiters.set(group, list);
    });
  }

  private settleCommit(group: string, error?: Error): void {
    const waiters = this.commitWaiters.get(group) ?? [];
    this.commitWaiters.delete(group);
    for (const w of waiters) (error ? w.reject(error) : w.resolve());
  }

  /** The server accepted entry `id`: a commit takes effect, a message is Sent. */
  async onAccepted(id: string): Promise<void> {
    this.sent.delete(id);
    const o = this.entries.get(id);
    if (!o || this.rt.closed) return;
    const b = emptyBatch();
    b.outboxDelete.push(await this.store.outboxName(o.id));
    let conv: Conversation | undefined;
    const notices: Message[] = [];
    if (o.kind === 'commit') {
      const events = this.ids.mlsFor(o.group).commitAccepted(o.group);
      await this.ids.takeChanges(b);
      const c = this.convs.get(o.group);
      if (c) {
        conv = { ...c, members: this.convs.safeMembers(o.group) };
        b.conversations.push(await this.store.sealConversation(conv));
        for (const e of events) notices.push(...this.convs.membershipNotices(e, Date.now(), c.timer));
        for (const n of notices) b.messages.push(await this.store.sealMessage(n));
      }
    }
    let m = o.msgKey ? this.convs.messages.get(o.msgKey) : undefined;
    if (m && advanceStatus(m.status, 'sent') !== m.status) {
      m = { ...m, status: 'sent' };
      b.messages.push(await this.store.sealMessage(m));
    } else m = undefined;
    await this.store.write(b);
    this.entries.delete(o.id);
    if (conv) this.convs.conversations.set(conv.id, conv);
    if (m) this.convs.messages.set(m.key, m);
    for (const n of notices) this.convs.messages.set(n.key, n);
    if (o.kind === 'commit') this.settleCommit(o.group);
    this.rt.changed();
  }

  /** The server refused entry `id` with `code`. */
  async onError(code: string, id: string | undefined): Promise<void> {
    if (!id || this.rt.closed) return;
    const o = this.entries.get(id);
    if (!o) return;
    if (code === 'rate_limited' || code === 'quota_exceeded' || code === 'internal') {
      setTimeout(() => {
        if (!this.rt.closed) {
          this.rt.session.resendUnaccepted();
          this.rt.flush();
        }
      }, 5000);
      return;
    }
    this.sent.delete(id);
    const b = emptyBatch();
    b.outboxDelete.push(await this.store.outboxName(o.id));
    // A closed support request: the server forgot the requester's unlinked mailbox.
    const sc = this.convs.get(o.group);
    let closedConv: Conversation | undefined;
    if (code === 'unknown_mailbox' && sc?.support && !sc.closed) {
      closedConv = { ...sc, closed: true, updatedAt: Date.now() };
      b.conversations.push(await this.store.sealConversation(closedConv));
    }
    if (closedConv) {
      this.convs.conversations.set(closedConv.id, closedConv);
      if (closedConv.identity) this.ids.stopReading(closedConv.identity);
    }
    if (o.kind === 'commit') {
      this.ids.mlsFor(o.group).commitRejected(o.group);
      await this.ids.takeChanges(b);
    }
    await this.store.write(b);
    this.entries.delete(o.id);
    if (o.kind === 'commit') {
      this.settleCommit(o.group, new Error(`The change was refused (${code}).`));
      return;
    }
    const m = o.msgKey ? this.convs.messages.get(o.msgKey) : undefined;
    if (code === 'stale_epoch' && m && !m.notice) {
      // §9: process pending deliveries (queued before us), then encrypt again under a new id.
      this.convs.messages.delete(m.key);
      await this.sendApp(o.group, { v: 1, kind: 'text', id: m.id, body: m.body, sentAt: m.at }, 'text', m);
      return;
    }
    if (m) {
      this.convs.messages.set(m.key, { ...m, status: 'failed' });
      this.rt.changed();
    }
  }
}
