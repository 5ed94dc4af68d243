//! The conversation engine, put together: opens what an unlocked device has (credentials, MLS
//! clients, sealed records), runs the connection and hands each session event to the part that owns
//! it, and offers the operations the workflows and screens use.

import type { Urgency } from '../api';
import type { Core, DeviceKeys, SessionEvent } from '../core';
import { LAYOUT, type Db } from '../db';
import type { DataKey } from '../lock';
import { Connection, type ConnectionState } from '../socket';
import { Conversations } from './conversations';
import { Delivery } from './delivery';
import { Identities } from './identities';
import { KeyPackages } from './keypackages';
import { Membership, type SyncPerson } from './membership';
import type { DebriefPlan } from '../debriefs';
import type { Conversation, Credentials, Member, Message, SupportIdentity } from './model';
import type { SealedTo } from './payload';
import { Outbox } from './outbox';
import { Runtime } from './runtime';
import { Store } from './store';
import { Trust, type DirectoryDevice, type DirectoryPerson, type TrustDecision } from './trust';

export interface MessengerOptions {
  /** Told when an unlinked mailbox is no longer read (its request closed or forgotten). */
  onMailboxClosed?: (mailbox: string) => void;
}

const NOTICE_KEY = 'supportNoticeAcknowledged';

export class Messenger {
  connection: ConnectionState = 'offline';
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly convs: Conversations;
  private readonly outbox: Outbox;
  private readonly keyPackages: KeyPackages;
  private readonly delivery: Delivery;
  private readonly membership: Membership;

  private constructor(
    readonly core: Core,
    private readonly store: Store,
    private readonly rt: Runtime,
    readonly keys: DeviceKeys,
    private readonly ids: Identities,
    private readonly trust: Trust,
  ) {
    this.convs = new Conversations(rt, store, ids);
    this.outbox = new Outbox(rt, store, ids, this.convs);
    this.keyPackages = new KeyPackages(rt, store, ids);
    this.delivery = new Delivery(rt, store, ids, this.convs, this.outbox);
    this.membership = new Membership(rt, store, ids, this.convs, this.outbox, this.keyPackages);
  }

  /** Loads everything for an unlocked device. */
  static async open(core: Core, db: Db, key: DataKey, options: MessengerOptions = {}): Promise<Messenger> {
    const store = new Store(db, key);
    // Once per install (records from before their names were sealed): loaded only then.
    if ((await db.get('meta', 'layout')) !== LAYOUT) await (await import('./migrate')).migrate(store, key);
    const creds = await store.credentials();
    const keys = core.DeviceKeys.fromJson(JSON.stringify(creds.keys));
    const rt = new Runtime(new core.Session(JSON.stringify(creds)));
    const ids = await Identities.load(core, rt, store, creds, keys, options.onMailboxClosed ?? (() => undefined));
    const verify = (account: string, d: DirectoryDevice) =>
      core.verifyDeviceApproval(d.approved_by ?? '', account, d.device, d.mailbox, d.signing_key, d.notification_key, d.approval ?? '');
    const trust = await Trust.load(store, verify, { account: creds.account, signingKey: keys.signingPublic });
    const m = new Messenger(core, store, rt, keys, ids, trust);
    await m.convs.load();
    await m.outbox.load();
    await m.convs.expire(Date.now());
    for (const c of m.conversations.values()) if (c.identity && !ids.ownsGroup(c.id)) ids.setOwner(c.id, c.identity);
    // Read each unlinked mailbox still open (a closed request's mailbox is gone from the server).
    for (const id of ids.list()) if (!m.convs.ofRequest(id.mailbox)?.closed) ids.read(id);
    return m;
  }

  /** Stores fresh credentials (at enrolment, and when the server's roles or name changed). */
  static saveCredentials(db: Db, key: DataKey, creds: Credentials): Promise<void> {
    return Store.saveCredentials(db, key, creds);
  }

  get db(): Db {
    return this.store.db;
  }
  get creds(): Credentials {
    return this.ids.creds;
  }
  get conversations(): Map<string, Conversation> {
    return this.convs.conversations;
  }
  get messages(): Map<string, Message> {
    return this.convs.messages;
  }
  get isAdmin(): boolean {
    return this.creds.roles.includes('admin');
  }
  /** The server said this device's clock is more than 5 minutes off. */
  get clockSkew(): boolean {
    return this.rt.connection?.clockSkew ?? false;
  }

  subscribe(fn: () => void): () => void {
    return this.rt.subscribe(fn);
  }

  start(): void {
    const url = this.core.wsUrl(this.creds.server_url);
    this.rt.connection = new Connection(
      this.rt.session,
      url,
      (events) => this.onEvents(events),
      (state) => {
        this.connection = state;
        this.rt.changed();
      },
    );
    this.rt.connection.start();
    this.sweepTimer = setInterval(() => void this.sweep(), 60_000);
  }

  /** A small record of the app's, sealed like every other (a declaration not yet sent, an incident's
   *  details for its declarer); undefined when there is none. */
  async record<T>(name: string): Promise<T | undefined> {
    return ((await this.store.getMeta('app:' + name)) ?? undefined) as T | undefined;
  }

  /** Keeps (or, with null, empties) a record of the app's. */
  setRecord(name: string, value: unknown): Promise<void> {
    return this.store.putMeta('app:' + name, value);
  }

  /** "Use here": take the connection back from another tab. */
  reconnect(): void {
    this.rt.connection?.connectNow();
  }

  /** Forgets the keys and the wasm objects (lock). */
  close(): void {
    if (this.rt.closed) return;
    this.rt.closed = true;
    this.rt.connection?.stop();
    clearInterval(this.sweepTimer);
    this.keyPackages.cancelAll();
    this.rt.clearListeners();
    this.convs.clear();
    this.rt.whenIdle(() => {
      this.rt.session.free();
      this.ids.free();
      this.keys.free();
    });
  }

  /** Deletes expired messages (IndexedDB and memory); previews that showed them go too. */
  sweep(now = Date.now()): Promise<void> {
    return this.rt.run(() => this.convs.expire(now));
  }

  // ---- session events ------------------------------------------------------------------------

  private onEvents(events: SessionEvent[]): void {
    const run = (fn: () => Promise<void>) => void this.rt.run(fn);
    for (const e of events) {
      switch (e.type) {
        case 'ready':
          run(() => this.onReady());
          break;
        case 'message':
          run(() => this.delivery.process(e.mailbox, e.seq, e.payload));
          break;
        case 'accepted':
          run(() => this.outbox.onAccepted(e.id));
          break;
        case 'error':
          run(() => this.onError(e.code, e.id, e.mailbox));
          break;
        case 'key_package':
          this.keyPackages.answered(e.mailbox, e.keyPackage);
          break;
        case 'key_packages_low':
          if (e.mailbox === this.creds.mailbox) run(() => this.keyPackages.publish());
          break;
        default:
          break;
      }
    }
  }

  private async onReady(): Promise<void> {
    // Re-send what an earlier page life left in the outbox (the session re-sends its own).
    this.outbox.resendPending();
    await this.keyPackages.renewLastResort();
    this.rt.flush();
  }

  private async onError(code: string, wireId?: string, mailbox?: string): Promise<void> {
    if (mailbox && !wireId && this.ids.get(mailbox) && (code === 'unknown_mailbox' || code === 'wrong_mailbox_secret')) {
      // The request was closed and its unlinked mailbox deleted: stop reading it.
      const c = this.convs.ofRequest(mailbox);
      if (c && !c.closed) await this.convs.closeLocally(c);
      else this.ids.stopReading(mailbox);
      return;
    }
    if (mailbox) this.keyPackages.refused(mailbox);
    await this.outbox.onError(code, wireId);
  }

  // ---- conversations -------------------------------------------------------------------------

  messagesOf(conv: string): Message[] {
    return this.convs.messagesOf(conv);
  }
  conversationName(c: Conversation): string {
    return this.convs.name(c);
  }
  /** The safety code with the one other person in a conversation (null in a group or unknown). */
  safetyCode(group: string): string | null {
    return this.ids.safetyCode(group);
  }
  /** The name this device goes by in `group` (the pseudonym in a support request it made). */
  myName(group: string): string {
    return this.ids.myName(group);
  }
  /** Names from `/v1/directory` for the members of conversations (credentials carry none). */
  learnNames(people: { display_name: string; mailboxes: string[] }[]): Promise<void> {
    return this.rt.run(() => this.convs.learnNames(people));
  }
  /** Whether a conversation shows a member whose name this device has not learned. */
  hasUnnamedMembers(): boolean {
    return this.convs.unnamed().length > 0;
  }
  /** An existing conversation with exactly this person (all their devices), if any. */
  findConversationWith(mailboxes: string[]): Conversation | undefined {
    return this.convs.findWith(mailboxes);
  }

  sendText(group: string, body: string): Promise<void> {
    return this.outbox.sendText(group, body);
  }
  setTimer(group: string, seconds: number): Promise<void> {
    return this.outbox.setTimer(group, seconds);
  }
  /** Sends a debrief plan (or its change or cancellation) to the group; this device keeps it too. */
  sendDebriefPlan(group: string, plan: DebriefPlan): Promise<void> {
    return this.outbox.sendControl(group, { v: 1, kind: 'debrief', ...plan }, (c) => ({ ...c, debrief: plan, updatedAt: Date.now() }));
  }
  /** Sends an RSVP (already sealed to the organisers' devices) to the group. */
  sendRsvp(group: string, debrief: string, sealed: SealedTo[]): Promise<void> {
    return this.outbox.sendControl(group, { v: 1, kind: 'rsvp', debrief, sealed });
  }
  /** This conversation's members' mailboxes (the others), as this device's MLS state has them. */
  membersOf(group: string): Member[] {
    return this.convs.safeMembers(group);
  }
  /** A conversation with `mailboxes`; with none (an incident conversation), this device alone. */
  createConversation(name: string, mailboxes: string[], extra?: Pick<Conversation, 'support' | 'incident' | 'debrief'>, keys?: Record<string, string>): Promise<string> {
    return this.membership.create(name, mailboxes, extra, keys);
  }
  /** Brings a conversation in line with the directory (see Membership.sync). */
  syncMembers(group: string, people: SyncPerson[]): Promise<void> {
    return this.membership.sync(group, people);
  }
  /** Adds people's devices to a conversation (hand-off); resolves once the commit is accepted. */
  addPeople(group: string, mailboxes: string[], keys?: Record<string, string>): Promise<void> {
    return this.membership.add(group, mailboxes, keys);
  }

  // ---- device trust (engine/trust.ts) ----------------------------------------------------------

  /** Which of each person's devices this device trusts; keys newly trusted are kept. */
  decideTrust(people: DirectoryPerson[]): Promise<TrustDecision[]> {
    return this.trust.decide(people);
  }
  /** The user confirmed a person's unverified device (or changed identity). */
  confirmDevice(account: string, d: DirectoryDevice): Promise<void> {
    return this.trust.confirm(account, d.signing_key);
  }
  /** A device's own code (30 digits): its half of every safety code. */
  deviceCode(d: { signing_key: string; mailbox: string }): string {
    return this.core.deviceCode(d.signing_key, d.mailbox);
  }
  /** This device's own code. */
  get myDeviceCode(): string {
    return this.core.deviceCode(this.keys.signingPublic, this.creds.mailbox);
  }
  /** This device's signature approving `d`, a new device of its own account. */
  signApproval(d: DirectoryDevice): string {
    return this.keys.signDeviceApproval(this.creds.account, d.device, d.mailbox, d.signing_key, d.notification_key);
  }
  /** Leaves a conversation: asks the others to remove this device (they commit it). */
  leaveConversation(group: string): Promise<void> {
    return this.membership.leave(group);
  }
  /** Marks a support conversation closed (after the server forgot the request). */
  async markClosed(group: string): Promise<void> {
    await this.rt.run(async () => {
      const c = this.convs.get(group);
      if (c) await this.convs.closeLocally(c);
    });
  }

  // ---- peer support identities ----------------------------------------------------------------

  /** The support requests this device made (newest first). */
  supportRequests(): SupportIdentity[] {
    return this.ids.list();
  }
  supportIdentity(mailbox: string): SupportIdentity | undefined {
    return this.ids.get(mailbox);
  }
  /** The conversation a support request of this device turned into, if it has. */
  conversationOfRequest(mailbox: string): Conversation | undefined {
    return this.convs.ofRequest(mailbox);
  }
  /** A fresh unlinked mailbox and pseudonymous identity, kept sealed, and its KeyPackage for the request. */
  newSupportIdentity(urgency: Urgency, handle: string): Promise<{ identity: SupportIdentity; keyPackage: string }> {
    return this.ids.create(urgency, handle);
  }
  /** The server made the request `request` for `identity`: the device reads its mailbox from now on. */
  supportRequestMade(identity: SupportIdentity, request: string): Promise<void> {
    return this.ids.requestMade(identity, request);
  }
  /** Forgets a support identity: its keys, its record and the mailbox subscription. */
  forgetSupport(mailbox: string): Promise<void> {
    return this.ids.forget(mailbox);
  }
  /** Whether the confidentiality notice was acknowledged on this device (the first time only). */
  async supportNoticeAcknowledged(): Promise<boolean> {
    return !!(await this.store.getMeta(NOTICE_KEY));
  }
  acknowledgeSupportNotice(): Promise<void> {
    return this.store.putMeta(NOTICE_KEY, true);
  }
}
