//! The conversations and messages this device holds: in memory for the screens and sealed in
//! IndexedDB, their names and previews, the visible lines for membership changes, closing a support
//! conversation here, and disappearing messages (expiry).

import { debriefName } from '../debriefs';
import { randomId } from '../bytes';
import type { MlsEvent, MlsMember } from '../core';
import type { Identities } from './identities';
import { expiryOf, type Conversation, type Member, type Message } from './model';
import type { Runtime } from './runtime';
import { emptyBatch, type Store } from './store';

export class Conversations {
  readonly conversations = new Map<string, Conversation>();
  readonly messages = new Map<string, Message>();

  constructor(
    private readonly rt: Runtime,
    private readonly store: Store,
    private readonly ids: Identities,
  ) {}

  async load(): Promise<void> {
    for (const c of await this.store.conversations()) {
      this.conversations.set(c.id, c);
      for (const m of c.members) this.ids.names.remember(m.mailbox, m.handle);
    }
    for (const m of await this.store.messages()) this.messages.set(m.key, m);
  }

  /** Forgets what is in memory (lock). */
  clear(): void {
    this.conversations.clear();
    this.messages.clear();
  }

  get(group: string): Conversation | undefined {
    return this.conversations.get(group);
  }

  messagesOf(conv: string): Message[] {
    return [...this.messages.values()].filter((m) => m.conv === conv).sort((a, b) => a.at - b.at || a.key.localeCompare(b.key));
  }

  name(c: Conversation): string {
    if (c.incident) return c.incident.title;
    if (c.debrief) return debriefName(c.debrief);
    const names = [...new Set(c.members.map((m) => m.handle))];
    return names.length ? names.join(', ') : 'Only you';
  }

  /** An existing conversation with exactly this person (all their devices), if any. */
  findWith(mailboxes: string[]): Conversation | undefined {
    for (const c of this.conversations.values()) {
      if (c.removed || c.incident || c.debrief) continue;
      const have = new Set(c.members.map((m) => m.mailbox));
      if (have.size === mailboxes.length && mailboxes.every((mb) => have.has(mb))) return c;
    }
    return undefined;
  }

  /** The conversation a support request of this device turned into, if it has. */
  ofRequest(mailbox: string): Conversation | undefined {
    for (const c of this.conversations.values()) if (c.identity === mailbox) return c;
    return undefined;
  }

  /** The others in `group` as MLS sees them; what was stored if MLS cannot say. */
  safeMembers(group: string): Member[] {
    try {
      return this.ids.others(this.ids.mlsFor(group).members(group), group);
    } catch {
      return this.conversations.get(group)?.members ?? [];
    }
  }

  /** Visible lines for a membership change after the conversation began (no silent adds). */
  membershipNotices(e: MlsEvent, now: number, timer: number): Message[] {
    // An incident conversation began with its declarer alone: its first add is shown too.
    if (e.type !== 'membership_changed' || (e.epoch <= 1 && !this.conversations.get(e.group)?.incident)) return [];
    const line = (m: MlsMember, what: string): Message => {
      const id = randomId();
      const who = m.mailbox === this.ids.myMailbox(e.group) ? 'This device' : `${this.ids.nameOf(m.mailbox, e.group)}’s device`;
      return { key: `${e.group}:${id}`, conv: e.group, id, at: now, expiresAt: expiryOf(now, timer), status: 'received', from: '', body: `${who} ${what}.`, mine: false, notice: true };
    };
    return [...e.added.map((m) => line(m, 'was added')), ...e.removed.map((m) => line(m, 'was removed'))];
  }

  /**
   * Names learned from the directory: every conversation's members are shown with them, and a
   * conversation whose shown names changed is stored again (sealed).
   */
  async learnNames(people: { display_name: string; mailboxes: string[] }[]): Promise<void> {
    if (!this.ids.names.learnDirectory(people)) return;
    const b = emptyBatch();
    const updated: Conversation[] = [];
    for (const c of this.conversations.values()) {
      const members = c.members.map((m) => ({ ...m, handle: this.ids.names.known(m.mailbox) ? this.ids.names.of(m.mailbox) : m.handle }));
      if (members.every((m, i) => m.handle === c.members[i]!.handle)) continue;
      const next = { ...c, members };
      updated.push(next);
      b.conversations.push(await this.store.sealConversation(next));
    }
    if (updated.length === 0) return;
    await this.store.write(b);
    for (const c of updated) this.conversations.set(c.id, c);
    this.rt.changed();
  }

  /**
   * Mailboxes of members whose name this device does not know and the directory may: not in a
   * support conversation this device answers (its unknown member is the requester, whose name
   * arrives inside the conversation).
   */
  unnamed(): string[] {
    const out = new Set<string>();
    for (const c of this.conversations.values()) {
      if (c.removed || c.closed || c.support?.role === 'supporter') continue;
      for (const m of c.members) if (!this.ids.names.known(m.mailbox)) out.add(m.mailbox);
    }
    return [...out];
  }

  /** Marks a support conversation closed and stops reading its unlinked mailbox. */
  async closeLocally(c: Conversation): Promise<void> {
    const next: Conversation = { ...c, closed: true, updatedAt: Date.now() };
    await this.store.write({ ...emptyBatch(), conversations: [await this.store.sealConversation(next)] });
    this.conversations.set(c.id, next);
    if (c.identity) this.ids.stopReading(c.identity);
    this.rt.changed();
  }

  /** Deletes expired messages (IndexedDB and memory); previews that showed them go too. */
  async expire(now: number): Promise<void> {
    const gone = new Set(await this.store.deleteExpired(now));
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
      b.conversations.push(await this.store.sealConversation(next));
    }
    await this.store.write(b);
    for (const c of updated) this.conversations.set(c.id, c);
    this.rt.changed();
  }
}
