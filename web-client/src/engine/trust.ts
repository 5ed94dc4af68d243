//! Which of a person's devices this device trusts (protocol/README.md §14). The server (and so an
//! administrator) can enrol a device on anyone's account; it must not become a silent reader. So a
//! person's device is added to conversations only if this device already trusts its key, or its
//! key carries an approval signed by a device of that person this device trusts. The first time
//! this device meets a person it trusts the devices the directory lists as approved (trust on first
//! use, as Signal and Matrix do) and keeps their keys ("pins", sealed in IndexedDB). Anything else
//! is a "new, unverified device": shown with its code, and added only if the user says so. When
//! none of a known person's devices is trusted any more, their identity changed (they lost every
//! device, or someone poses as them): everyone who knew them is told.

import type { DirectoryDevice } from '../api';
import type { Store } from './store';

export type { DirectoryDevice };

/** A person as `GET /v1/directory` lists them. */
export interface DirectoryPerson {
  account: string;
  display_name: string;
  mailboxes: string[];
  devices?: DirectoryDevice[];
}

/** What this device makes of one person's devices. */
export interface TrustDecision {
  account: string;
  name: string;
  /** Devices that may be added to conversations (their keys are pinned). */
  trusted: DirectoryDevice[];
  /** Listed devices this device does not trust: not added without the user's confirmation. */
  unverified: DirectoryDevice[];
  /** This device knew the person, and none of their devices is trusted now. */
  identityChanged: boolean;
}

/** Whether `d.approval` verifies as `d.approved_by`'s approval of `d` on `account`. */
export type VerifyApproval = (account: string, d: DirectoryDevice) => boolean;

const TRUST_KEY = 'trust';

/**
 * The decision for one person given the keys pinned for them (undefined: never met), and the pins
 * afterwards. Pure: the caller keeps the pins.
 */
export function decide(person: DirectoryPerson, pinned: ReadonlySet<string> | undefined, verify: VerifyApproval): { decision: TrustDecision; pins: Set<string> } {
  const devices = person.devices ?? [];
  const signed = (d: DirectoryDevice) => !!d.approved_by && !!d.approval && verify(person.account, d);
  const trusted = new Set<DirectoryDevice>();
  if (!pinned || pinned.size === 0) {
    // First contact: the devices the directory lists as approved, an approval's signature checked.
    for (const d of devices) if (d.approved && (!d.approval || signed(d))) trusted.add(d);
  } else {
    // Approvals link a person's devices both ways: a device approved by a trusted key is trusted
    // (and may vouch for the next), and the approver of a trusted device is trusted too (it was an
    // approved device of theirs when it signed).
    const keys = new Set(pinned);
    let grew = true;
    while (grew) {
      grew = false;
      for (const d of devices) {
        if (trusted.has(d)) {
          if (d.approved_by && !keys.has(d.approved_by) && signed(d)) {
            keys.add(d.approved_by);
            grew = true;
          }
        } else if (keys.has(d.signing_key) || (d.approved_by && keys.has(d.approved_by) && signed(d))) {
          trusted.add(d);
          keys.add(d.signing_key);
          grew = true;
        }
      }
    }
  }
  const pins = new Set(pinned ?? []);
  for (const d of trusted) pins.add(d.signing_key);
  const decision: TrustDecision = {
    account: person.account,
    name: person.display_name,
    trusted: devices.filter((d) => trusted.has(d)),
    unverified: devices.filter((d) => !trusted.has(d)),
    identityChanged: !!pinned && pinned.size > 0 && trusted.size === 0 && devices.length > 0,
  };
  return { decision, pins };
}

/** The pins of every person this device has met, sealed in IndexedDB. */
export class Trust {
  private constructor(
    private readonly store: Store,
    private readonly verify: VerifyApproval,
    private readonly pins: Map<string, Set<string>>,
  ) {}

  /** Loads the pins; this device's own key is always trusted for its own account. */
  static async load(store: Store, verify: VerifyApproval, own: { account: string; signingKey: string }): Promise<Trust> {
    const saved = ((await store.getMeta(TRUST_KEY)) as Record<string, string[]> | undefined) ?? {};
    const pins = new Map(Object.entries(saved).map(([a, keys]) => [a, new Set(keys)]));
    const mine = pins.get(own.account) ?? new Set<string>();
    mine.add(own.signingKey);
    pins.set(own.account, mine);
    return new Trust(store, verify, pins);
  }

  /** Decides for each person, and keeps the keys newly trusted. */
  async decide(people: DirectoryPerson[]): Promise<TrustDecision[]> {
    let changed = false;
    const out: TrustDecision[] = [];
    for (const p of people) {
      const before = this.pins.get(p.account);
      const { decision, pins } = decide(p, before, this.verify);
      if (pins.size !== (before?.size ?? 0)) {
        this.pins.set(p.account, pins);
        changed = true;
      }
      out.push(decision);
    }
    if (changed) await this.save();
    return out;
  }

  /** The user confirmed an unverified device (or a changed identity): its key is trusted. */
  async confirm(account: string, signingKey: string): Promise<void> {
    const pins = this.pins.get(account) ?? new Set<string>();
    pins.add(signingKey);
    this.pins.set(account, pins);
    await this.save();
  }

  private save(): Promise<void> {
    const out: Record<string, string[]> = {};
    for (const [a, keys] of this.pins) out[a] = [...keys];
    return this.store.putMeta(TRUST_KEY, out);
  }
}
