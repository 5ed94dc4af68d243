//! KeyPackages: this device publishes one-time ones in batches when the server runs low and a fresh
//! last-resort one every 7 days (private halves stored before the public ones leave); to add a
//! mailbox to a group, one of its KeyPackages is claimed (given up after 10 s).

import type { Identities } from './identities';
import type { Runtime } from './runtime';
import { emptyBatch, type Store } from './store';

const KEY_PACKAGE_BATCH = 20;
const LAST_RESORT_MAX_AGE_MS = 7 * 86400_000;
const CLAIM_TIMEOUT_MS = 10_000;

export class KeyPackages {
  private claims = new Map<string, (kp: Uint8Array | null) => void>();

  constructor(
    private readonly rt: Runtime,
    private readonly store: Store,
    private readonly ids: Identities,
  ) {}

  /** Publishes `count` one-time KeyPackages (and a new last-resort one) for the device's mailbox. */
  async publish(count = KEY_PACKAGE_BATCH, withLastResort = false): Promise<void> {
    if (this.rt.closed || !this.rt.session.isReady) return;
    const mls = this.ids.device;
    const kps = count > 0 ? mls.keyPackages(count) : [];
    const lastResort = withLastResort ? mls.lastResortKeyPackage() : undefined;
    const b = emptyBatch();
    await this.ids.takeChanges(b);
    if (withLastResort) b.meta.push(await this.store.sealMeta('lastResortAt', Date.now()));
    await this.store.write(b); // private keys before the public halves leave
    this.rt.session.publishKeyPackages(this.ids.creds.mailbox, kps, lastResort ?? null);
    this.rt.flush();
  }

  /** After `ready`: a new last-resort KeyPackage once the last is a week old (one-time ones follow
   *  `key_packages_low`, which the server sends right after `ready`). */
  async renewLastResort(): Promise<void> {
    // A device that waits for approval publishes nothing: the server refuses it (`device_pending`).
    if (this.ids.creds.approved === false) return;
    const lastResortAt = ((await this.store.getMeta('lastResortAt')) as number | undefined) ?? 0;
    if (Date.now() - lastResortAt > LAST_RESORT_MAX_AGE_MS) await this.publish(0, true);
  }

  /** One KeyPackage of `mailbox`, or null (none, refused, or no answer in time). */
  claim(mailbox: string): Promise<Uint8Array | null> {
    if (this.rt.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.claims.delete(mailbox);
        resolve(null);
      }, CLAIM_TIMEOUT_MS);
      this.claims.set(mailbox, (kp) => {
        clearTimeout(timer);
        resolve(kp);
      });
      this.rt.session.claimKeyPackage(mailbox);
      this.rt.flush();
    });
  }

  /** Claims one KeyPackage per mailbox at once; the mailboxes that got one, with theirs. */
  async claimAll(mailboxes: string[]): Promise<{ mailboxes: string[]; keyPackages: Uint8Array[] }> {
    const claimed = await Promise.all(mailboxes.map((mb) => this.claim(mb)));
    const ok = { mailboxes: [] as string[], keyPackages: [] as Uint8Array[] };
    mailboxes.forEach((mb, i) => {
      const kp = claimed[i];
      if (kp) {
        ok.mailboxes.push(mb);
        ok.keyPackages.push(kp);
      }
    });
    return ok;
  }

  /** The server's answer to a claim (`key_package`). */
  answered(mailbox: string, keyPackage: Uint8Array): void {
    const w = this.claims.get(mailbox);
    this.claims.delete(mailbox);
    w?.(keyPackage);
  }

  /** An error about `mailbox`: a claim waiting for it gets nothing. */
  refused(mailbox: string): void {
    const w = this.claims.get(mailbox);
    if (!w) return;
    this.claims.delete(mailbox);
    w(null);
  }

  /** Gives up every claim (lock). */
  cancelAll(): void {
    for (const w of this.claims.values()) w(null);
    this.claims.clear();
  }
}
