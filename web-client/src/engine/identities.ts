//! The identities this device speaks as: its own MLS client, and one pseudonymous MLS client per
//! support request it made, each with its unlinked mailbox (created before the request leaves,
//! read while the request is open, forgotten when it closes). Knows which client holds each group.

import { fromBase64, toBase64Url } from '../bytes';
import type { Urgency } from '../api';
import type { Core, DeviceKeys, MlsClient, MlsMember } from '../core';
import type { Credentials, Member, SupportIdentity } from './model';
import { Names } from './names';
import type { Runtime } from './runtime';
import { emptyBatch, supportPrefix, type Batch, type Store } from './store';

export class Identities {
  /** Support identities by unlinked mailbox, with their MLS clients. */
  private support = new Map<string, { id: SupportIdentity; mls: MlsClient }>();
  /** group → the unlinked mailbox whose client holds it (absent: the device's own client). */
  private groupOwner = new Map<string, string>();
  /** The names shown for other members (credentials carry none). */
  readonly names = new Names();

  private constructor(
    private readonly core: Core,
    private readonly rt: Runtime,
    private readonly store: Store,
    readonly creds: Credentials,
    /** The device's own MLS client. */
    readonly device: MlsClient,
    /** Told when an unlinked mailbox is no longer read (its request closed or forgotten). */
    private readonly onMailboxClosed: (mailbox: string) => void,
  ) {}

  /** The device's client and every support identity's, from their sealed state. */
  static async load(core: Core, rt: Runtime, store: Store, creds: Credentials, keys: DeviceKeys, onMailboxClosed: (mailbox: string) => void): Promise<Identities> {
    const state = await store.mlsState();
    const identity = core.MlsIdentity.forDevice(keys);
    const mls = new core.MlsClient(identity, creds.mailbox, state.device);
    identity.free();
    const ids = new Identities(core, rt, store, creds, mls, onMailboxClosed);
    for (const id of await store.supportIdentities()) {
      const ident = core.MlsIdentity.fromSecret(fromBase64(id.identity));
      const client = new core.MlsClient(ident, id.mailbox, state.support.get(id.mailbox) ?? new Map());
      ident.free();
      ids.support.set(id.mailbox, { id, mls: client });
      for (const g of client.groups()) ids.groupOwner.set(g, id.mailbox);
    }
    return ids;
  }

  /** The support requests this device made (newest first). */
  list(): SupportIdentity[] {
    return [...this.support.values()].map((s) => s.id).sort((a, b) => b.createdAt - a.createdAt);
  }

  get(mailbox: string): SupportIdentity | undefined {
    return this.support.get(mailbox)?.id;
  }

  /** The MLS client reading an unlinked mailbox of this device (undefined: not one). */
  clientOf(mailbox: string): MlsClient | undefined {
    return this.support.get(mailbox)?.mls;
  }

  ownsGroup(group: string): boolean {
    return this.groupOwner.has(group);
  }

  /** `group` is held by the client of the unlinked `mailbox`. */
  setOwner(group: string, mailbox: string): void {
    this.groupOwner.set(group, mailbox);
  }

  /** The MLS client that holds `group`: a support identity's or the device's own. */
  mlsFor(group: string): MlsClient {
    const owner = this.groupOwner.get(group);
    return (owner && this.support.get(owner)?.mls) || this.device;
  }

  /** The mailbox this device is in `group` as. */
  myMailbox(group: string): string {
    return this.groupOwner.get(group) ?? this.creds.mailbox;
  }

  /** The name this device goes by in `group` (the pseudonym in a support request it made). */
  myName(group: string): string {
    const owner = this.groupOwner.get(group);
    return (owner && this.support.get(owner)?.id.handle) || this.creds.display_name;
  }

  /** The name shown for the member with `mailbox` in `group` (this device: its own name there). */
  nameOf(mailbox: string, group: string): string {
    return mailbox === this.myMailbox(group) ? this.myName(group) : this.names.of(mailbox);
  }

  /** The members of `group` other than this device, with the names this device knows for them. */
  others(members: MlsMember[], group: string): Member[] {
    const me = this.myMailbox(group);
    const out: Member[] = [];
    for (const m of members) if (m.mailbox !== me) out.push({ handle: this.names.of(m.mailbox), mailbox: m.mailbox });
    return out;
  }

  /** A KeyPackage's credential key (unpadded base64url), or null if it is not one. */
  keyPackageKey(kp: Uint8Array): string | null {
    try {
      return toBase64Url(this.core.MlsClient.keyPackageSigningKey(kp));
    } catch {
      return null;
    }
  }

  /** Every client's MLS state changes, sealed into `b`. */
  async takeChanges(b: Batch): Promise<void> {
    for (const [k, v] of this.device.takeChanges()) b.mls.push(await this.store.sealMls(k, v));
    for (const [mb, s] of this.support) {
      for (const [k0, v] of s.mls.takeChanges()) b.mls.push(await this.store.sealMls(supportPrefix(mb) + k0, v));
    }
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
      const code = new this.core.SafetyCode(me.signingKey, me.mailbox, them.signingKey, them.mailbox);
      const display = code.display;
      code.free();
      return display;
    } catch {
      return null;
    }
  }

  /**
   * A fresh unlinked mailbox and pseudonymous MLS identity, sealed into IndexedDB (identity record
   * and MLS state) before its last-resort KeyPackage is handed out for the request. `handle`, the
   * name chosen, stays on this device: the credential holds only the mailbox, and the name is sent
   * inside the conversation once it exists.
   */
  async create(urgency: Urgency, handle: string): Promise<{ identity: SupportIdentity; keyPackage: string }> {
    const { mailbox, secret } = this.core.newMailbox();
    const ident = this.core.MlsIdentity.generate();
    const client = new this.core.MlsClient(ident, mailbox, new Map());
    const id: SupportIdentity = { mailbox, secret, handle, identity: toBase64Url(ident.secret()), request: '', urgency, createdAt: Date.now() };
    ident.free();
    const keyPackage = await this.rt.run(async () => {
      this.support.set(mailbox, { id, mls: client });
      const kp = client.lastResortKeyPackage();
      const b = emptyBatch();
      await this.takeChanges(b);
      b.meta.push(await this.store.sealSupportIdentity(id));
      await this.store.write(b);
      return toBase64Url(kp);
    });
    return { identity: id, keyPackage };
  }

  /** The server made the request: its id is kept with the identity, and the mailbox is read from now on. */
  async requestMade(id: SupportIdentity, request: string): Promise<void> {
    id.request = request;
    await this.store.putSupportIdentity(id);
    this.rt.session.subscribe(id.mailbox, id.secret);
    this.rt.flush();
    this.rt.changed();
  }

  /** Reads an open request's unlinked mailbox on every connection. */
  read(id: SupportIdentity): void {
    this.rt.session.subscribe(id.mailbox, id.secret);
  }

  /** Forgets a support identity: its keys, its record and the mailbox subscription. */
  async forget(mailbox: string): Promise<void> {
    const s = this.support.get(mailbox);
    if (!s) return;
    await this.rt.run(async () => {
      await this.store.deleteSupportIdentity(mailbox);
      this.stopReading(mailbox);
      this.support.delete(mailbox);
      s.mls.free();
    });
    this.rt.changed();
  }

  /** Stops reading an unlinked mailbox (its request was closed). */
  stopReading(mailbox: string): void {
    this.onMailboxClosed(mailbox);
    try {
      this.rt.session.forgetMailbox(mailbox);
    } catch {
      /* not subscribed */
    }
  }

  /** Frees every MLS client (lock). */
  free(): void {
    this.device.free();
    for (const s of this.support.values()) s.mls.free();
    this.support.clear();
  }
}
