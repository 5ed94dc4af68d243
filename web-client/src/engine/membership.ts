//! Who is in a conversation: creating one (a group, a KeyPackage claimed per mailbox, one commit
//! with the Welcome), bringing one in line with the directory, adding people (hand-off) and leaving
//! (a Remove proposal for oneself, which the members who stay commit).

import type { Conversations } from './conversations';
import type { Identities } from './identities';
import type { KeyPackages } from './keypackages';
import { DEFAULT_TIMER_SECONDS, type Conversation } from './model';
import type { Outbox } from './outbox';
import type { Runtime } from './runtime';
import { emptyBatch, type Store } from './store';

const OFFLINE = 'You are offline. Try again when connected.';
const PENDING = 'This device waits for approval by another device of yours: until then it cannot start conversations.';

/** A person's devices to bring into line: `mailboxes` are the trusted ones (engine/trust.ts), with
 *  their keys in `keys` (a claimed KeyPackage must carry that key); `listed` every active one. */
export interface SyncPerson {
  account: string;
  display_name?: string;
  mailboxes: string[];
  listed?: string[];
  keys?: Record<string, string>;
}

export class Membership {
  constructor(
    private readonly rt: Runtime,
    private readonly store: Store,
    private readonly ids: Identities,
    private readonly convs: Conversations,
    private readonly outbox: Outbox,
    private readonly keyPackages: KeyPackages,
  ) {}

  /** createGroup → claim a KeyPackage per mailbox → addMembers → group_send the commit + Welcome.
   *  With no mailboxes (an incident conversation before anyone answered), the group alone. */
  async create(name: string, mailboxes: string[], extra?: Pick<Conversation, 'support' | 'incident' | 'debrief'>, keys: Record<string, string> = {}): Promise<string> {
    const existing = extra ? undefined : this.convs.findWith(mailboxes);
    if (existing) return existing.id;
    if (this.ids.creds.approved === false) throw new Error(PENDING);
    if (mailboxes.length && !this.rt.session.isReady) throw new Error(OFFLINE);
    const mls = this.ids.device;
    const group = await this.rt.run(async () => {
      const g = mls.createGroup();
      const now = Date.now();
      const c: Conversation = { id: g, updatedAt: now, members: mailboxes.map((mailbox) => ({ handle: name, mailbox })), timer: DEFAULT_TIMER_SECONDS, ...extra };
      for (const mb of mailboxes) this.ids.names.remember(mb, name);
      const b = emptyBatch();
      await this.ids.takeChanges(b);
      b.conversations.push(await this.store.sealConversation(c));
      await this.store.write(b);
      this.convs.conversations.set(g, c);
      this.rt.changed();
      return g;
    });
    if (!mailboxes.length) return group;
    const ok = this.withKeys(await this.keyPackages.claimAll(mailboxes), keys);
    if (ok.mailboxes.length === 0) throw new Error(`${name} cannot be added right now. Try again later.`);
    await this.outbox.commit(group, () => mls.addMembers(group, ok.mailboxes, ok.keyPackages));
    return group;
  }

  /**
   * Brings a conversation in line with the directory (`people`: accounts and their active
   * devices' mailboxes): revoked devices of its members are removed and their new devices added,
   * each change a commit every member sees. A commit that loses a race is dropped; the next call
   * tries again.
   */
  async sync(group: string, people: SyncPerson[]): Promise<void> {
    const c = this.convs.get(group);
    // Support conversations hold unlinked mailboxes the directory does not know: never synced.
    if (this.rt.closed || !c || c.removed || c.support || !this.rt.session.isReady || this.ids.mlsFor(group).hasPendingCommit(group)) return;
    const mls = this.ids.device;
    const members = this.convs.safeMembers(group);
    const have = new Set(members.map((m) => m.mailbox));
    const active = new Set(people.flatMap((p) => p.listed ?? p.mailboxes));
    // Only devices of people the directory names (a revoked device); an unknown mailbox may be a
    // requester's unlinked one in a handed-off support conversation.
    const known = new Set(people.map((p) => p.display_name).filter((n): n is string => !!n));
    const gone = members.filter((m) => !active.has(m.mailbox) && (known.size === 0 || known.has(m.handle))).map((m) => m.mailbox);
    const theirs = people.filter((p) => p.account === this.ids.creds.account || p.mailboxes.some((mb) => have.has(mb)));
    const missing = theirs.flatMap((p) => p.mailboxes).filter((mb) => !have.has(mb) && mb !== this.ids.creds.mailbox);
    if (gone.length) await this.outbox.sendCommit(group, () => mls.removeMembers(group, gone));
    if (!missing.length || this.rt.closed) return;
    const ok = this.withKeys(await this.keyPackages.claimAll(missing), Object.assign({}, ...people.map((p) => p.keys ?? {})));
    if (ok.mailboxes.length && !this.rt.closed) await this.outbox.sendCommit(group, () => mls.addMembers(group, ok.mailboxes, ok.keyPackages));
  }

  /** The claimed KeyPackages whose credential key is the one expected for their mailbox (a
   *  mailbox without an expected key passes): the server cannot swap in another device's key. */
  private withKeys(ok: { mailboxes: string[]; keyPackages: Uint8Array[] }, keys: Record<string, string>): { mailboxes: string[]; keyPackages: Uint8Array[] } {
    const out = { mailboxes: [] as string[], keyPackages: [] as Uint8Array[] };
    ok.mailboxes.forEach((mb, i) => {
      const want = keys[mb];
      const kp = ok.keyPackages[i]!;
      if (want && this.ids.keyPackageKey(kp) !== want) {
        console.warn('sallyport: a KeyPackage with another key than the trusted device\'s was refused');
        return;
      }
      out.mailboxes.push(mb);
      out.keyPackages.push(kp);
    });
    return out;
  }

  /** Adds people's devices to a conversation (hand-off); resolves once the commit is accepted. */
  async add(group: string, mailboxes: string[], keys: Record<string, string> = {}): Promise<void> {
    const have = new Set(this.convs.safeMembers(group).map((m) => m.mailbox));
    const missing = mailboxes.filter((mb) => !have.has(mb) && mb !== this.ids.myMailbox(group));
    if (!missing.length) return;
    if (!this.rt.session.isReady) throw new Error(OFFLINE);
    const ok = this.withKeys(await this.keyPackages.claimAll(missing), keys);
    if (!ok.mailboxes.length) throw new Error('They cannot be added right now. Try again later.');
    await this.outbox.sendCommit(group, () => this.ids.mlsFor(group).addMembers(group, ok.mailboxes, ok.keyPackages));
    const c = this.convs.get(group);
    if (c?.support) await this.rt.run(() => this.outbox.sendApp(group, { v: 1, kind: 'support', request: c.support!.request }, 'receipt'));
    else if (c?.incident) await this.rt.run(() => this.outbox.sendApp(group, { v: 1, kind: 'incident', ...c.incident! }, 'receipt'));
    else if (c?.debrief) await this.rt.run(() => this.outbox.sendApp(group, { v: 1, kind: 'debrief', ...c.debrief! }, 'receipt'));
  }

  /** Leaves a conversation: asks the others to remove this device (they commit it). */
  async leave(group: string): Promise<void> {
    await this.outbox.waitForCommit(group).catch(() => undefined);
    await this.rt.run(async () => {
      const c = this.convs.get(group);
      if (!c) return;
      const out = this.ids.mlsFor(group).leave(group);
      const next: Conversation = { ...c, removed: true, updatedAt: Date.now() };
      this.outbox.send(await this.outbox.persist(group, out, 'receipt', undefined, next));
      this.rt.changed();
    });
  }
}
