//! Incoming: a delivery is processed by the MLS client of the mailbox it arrived in, and its state
//! changes, messages and conversations are written in ONE transaction before it is acked. Then read
//! receipts go back, a member's request to leave (hand-off) is committed, and a support requester
//! sends the name it chose (end to end) to whoever just joined.

import type { MlsEvent } from '../core';
import type { Conversations } from './conversations';
import type { Identities } from './identities';
import { advanceStatus, DEFAULT_TIMER_SECONDS, expiryOf, timerLabel, type Conversation, type Message } from './model';
import type { Outbox } from './outbox';
import { parseAppPayload } from './payload';
import type { Runtime } from './runtime';
import { emptyBatch, type Store } from './store';

export class Delivery {
  constructor(
    private readonly rt: Runtime,
    private readonly store: Store,
    private readonly ids: Identities,
    private readonly convs: Conversations,
    private readonly outbox: Outbox,
  ) {}

  /** Inside a queued operation: delivery `seq` of `mailbox`. */
  async process(mailbox: string, seq: number, payload: Uint8Array): Promise<void> {
    if (this.rt.closed) return;
    let events: MlsEvent[];
    const support = this.ids.get(mailbox);
    const client = this.ids.clientOf(mailbox) ?? this.ids.device;
    try {
      events = client.process(payload);
    } catch (e) {
      console.warn('sallyport: undecryptable delivery dropped', e);
      this.rt.session.ack(mailbox, seq);
      this.rt.flush();
      return;
    }
    if (support) for (const e of events) if ('group' in e && typeof e.group === 'string') this.ids.setOwner(e.group, mailbox);
    const b = emptyBatch();
    await this.ids.takeChanges(b);
    const now = Date.now();
    const convs = new Map<string, Conversation>();
    const msgs = new Map<string, Message>();
    const receipts = new Map<string, string[]>();
    const proposals = new Set<string>();
    // Requester side: groups whose new members should learn the name this device chose.
    const tellName = new Set<string>();
    const conv = (group: string): Conversation => {
      let c = convs.get(group) ?? this.convs.get(group);
      if (!c) {
        c = { id: group, updatedAt: now, members: this.convs.safeMembers(group), timer: DEFAULT_TIMER_SECONDS };
        if (support) {
          c.identity = mailbox;
          c.support = { role: 'requester', request: support.request };
        }
      }
      c = { ...c };
      convs.set(group, c);
      return c;
    };
    const msg = (key: string): Message | undefined => msgs.get(key) ?? this.convs.messages.get(key);
    for (const e of events) {
      if (e.type === 'joined') {
        const c = conv(e.group);
        c.members = this.ids.others(e.members, e.group);
        c.updatedAt = now;
        if (support) tellName.add(e.group);
      } else if (e.type === 'membership_changed') {
        const c = conv(e.group);
        c.members = this.convs.safeMembers(e.group);
        if (support && e.added.length > 0) tellName.add(e.group);
        for (const n of this.convs.membershipNotices(e, now, c.timer)) msgs.set(n.key, n);
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
            msgs.set(key, { key, conv: e.group, id: p.id, at, expiresAt: expiryOf(now, c.timer), status: 'received', from: this.ids.nameOf(e.sender.mailbox, e.group), body: p.body, mine: false });
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
        } else if (p.kind === 'incident') {
          // Named once, by whoever added this device first (its declarer).
          if (!c.incident && !c.support && !c.identity) c.incident = { id: p.id, title: p.title };
        } else if (p.kind === 'debrief') {
          // The plan of the conversation this device was added to (never a support or incident
          // one): the first from whoever sent it (its coordinator, right after the Welcome), each
          // change only from that same mailbox and only forward. The coordinator's own device
          // (no `debriefFrom`) takes none: an invitee cannot move or cancel the session.
          const first = !c.debrief;
          const change = !!c.debrief && c.debriefFrom === e.sender.mailbox && c.debrief.id === p.id && p.sequence > c.debrief.sequence;
          if (!c.support && !c.identity && !c.incident && (first || change)) {
            const { v: _v, kind: _k, ...plan } = p;
            c.debrief = plan;
            c.debriefFrom = e.sender.mailbox;
            c.updatedAt = now;
          }
        } else if (p.kind === 'rsvp') {
          // Never a chat line: only the answer sealed to this device is kept (the latest per sender).
          const mine = p.sealed.find((x) => x.device === this.ids.creds.device);
          if (mine && c.debrief?.id === p.debrief) {
            const from = e.sender.mailbox;
            const kept = (c.rsvps ?? []).filter((r) => r.from !== from);
            c.rsvps = [...kept, { from, name: this.ids.nameOf(from, e.group), sealed: mine.sealed, receivedAt: now }].slice(-512);
            c.updatedAt = now;
          }
        } else if (p.kind === 'name') {
          // Only the holder of an unlinked mailbox names itself this way (a device's name is the
          // directory's: choose() ignores those), and never to the requester's own side. A
          // supporter added at a hand-off may get it before the `support` message.
          if (!c.identity && this.ids.names.choose(e.sender.mailbox, p.name)) {
            c.members = this.convs.safeMembers(e.group);
            c.updatedAt = now;
          }
        } else if (p.kind === 'timer') {
          c.timer = p.seconds;
          const key = `${e.group}:${p.id}`;
          const from = this.ids.nameOf(e.sender.mailbox, e.group);
          const body = `${from} set disappearing messages to ${timerLabel(p.seconds)}.`;
          msgs.set(key, { key, conv: e.group, id: p.id, at: Math.min(p.sentAt, now), expiresAt: expiryOf(now, p.seconds), status: 'received', from, body, mine: false, notice: true });
        }
      }
    }
    for (const c of convs.values()) b.conversations.push(await this.store.sealConversation(c));
    for (const m of msgs.values()) b.messages.push(await this.store.sealMessage(m));
    await this.store.write(b);
    for (const c of convs.values()) this.convs.conversations.set(c.id, c);
    for (const m of msgs.values()) this.convs.messages.set(m.key, m);
    this.rt.session.ack(mailbox, seq);
    this.rt.flush();
    this.rt.changed();
    // A member asked to leave (hand-off): whoever sees the proposal commits it.
    for (const group of proposals) {
      if (this.convs.get(group)?.removed) continue;
      try {
        const out = this.ids.mlsFor(group).commitPending(group);
        if (out) await this.outbox.queueCommit(group, out);
      } catch (e) {
        console.warn('sallyport: commit of pending proposals failed', e);
      }
    }
    for (const group of tellName) {
      if (support && !this.convs.get(group)?.removed) await this.outbox.sendApp(group, { v: 1, kind: 'name', name: support.handle }, 'receipt');
    }
    for (const [group, ids] of receipts) {
      if (!this.convs.get(group)?.removed) await this.outbox.sendApp(group, { v: 1, kind: 'receipt', ids }, 'receipt');
    }
  }
}
