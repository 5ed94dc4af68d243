//! Which of a person's devices this device trusts (trust.ts), against a directory that may lie: a
//! device the server lists as approved is not trusted once this device knows the person, unless
//! its approval verifies under a key this device trusts; the user's confirmation pins a key; a
//! person whose every device is new shows a changed identity. Pins survive a restart (sealed meta).

import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { DirectoryDevice } from '../api';
import { openDb } from '../db';
import { createLock } from '../lock';
import { Store } from './store';
import { decide, Trust, type DirectoryPerson, type VerifyApproval } from './trust';

const ACCOUNT = 'acct-pat';

function dev(n: string, extra: Partial<DirectoryDevice> = {}): DirectoryDevice {
  return { device: `dev-${n}`, mailbox: `mbx-${n}`, signing_key: `key-${n}`, notification_key: `nk-${n}`, approved: true, ...extra };
}

/** An approval "verifies" when its signature is `sig(approver→device)` for this account. */
const sig = (by: string, d: string) => `sig:${by}>${d}`;
const verify: VerifyApproval = (account, d) => account === ACCOUNT && d.approval === sig(d.approved_by ?? '', d.signing_key);
const signedBy = (by: string, n: string, extra: Partial<DirectoryDevice> = {}) =>
  dev(n, { approved_by: `key-${by}`, approval: sig(`key-${by}`, `key-${n}`), ...extra });

const pat = (...devices: DirectoryDevice[]): DirectoryPerson => ({ account: ACCOUNT, display_name: 'Pat', mailboxes: devices.filter((d) => d.approved).map((d) => d.mailbox), devices });
const mailboxes = (ds: DirectoryDevice[]) => ds.map((d) => d.mailbox);

describe('decide', () => {
  it('trusts what the directory lists as approved at first contact, and pins it', () => {
    const { decision, pins } = decide(pat(dev('a'), signedBy('a', 'b'), dev('w', { approved: false })), undefined, verify);
    expect(mailboxes(decision.trusted)).toEqual(['mbx-a', 'mbx-b']);
    expect(mailboxes(decision.unverified)).toEqual(['mbx-w']);
    expect([...pins].sort()).toEqual(['key-a', 'key-b']);
    expect(decision.identityChanged).toBe(false);
  });

  it('does not trust, even at first contact, an approval whose signature does not verify', () => {
    const forged = dev('f', { approved_by: 'key-a', approval: 'sig:nonsense' });
    const { decision } = decide(pat(dev('a'), forged), undefined, verify);
    expect(mailboxes(decision.unverified)).toEqual(['mbx-f']);
  });

  it('once it knows a person: a device the server calls approved but nobody trusted signed is unverified', () => {
    const known = new Set(['key-a']);
    // The administrator's device, listed as a fresh "first" device or with an approval by a key
    // this device never trusted: neither is added.
    const rogue = dev('r');
    const vouched = signedBy('x', 'v');
    const { decision, pins } = decide(pat(dev('a'), rogue, vouched, dev('x', { approved: false })), known, verify);
    expect(mailboxes(decision.trusted)).toEqual(['mbx-a']);
    expect(mailboxes(decision.unverified)).toEqual(['mbx-r', 'mbx-v', 'mbx-x']);
    expect([...pins]).toEqual(['key-a']);
  });

  it('follows approvals from a trusted key, forwards and back, and pins what it learns', () => {
    // a (pinned) approved b, b approved c; c was approved by b, whose approver a is known.
    const { decision, pins } = decide(pat(signedBy('b', 'c'), signedBy('a', 'b'), dev('a')), new Set(['key-a']), verify);
    expect(mailboxes(decision.trusted).sort()).toEqual(['mbx-a', 'mbx-b', 'mbx-c']);
    expect([...pins].sort()).toEqual(['key-a', 'key-b', 'key-c']);
    // Knowing only c (a's device was lost): c's approver b is trusted because c is.
    const back = decide(pat(signedBy('a', 'b'), signedBy('b', 'c')), new Set(['key-c']), verify);
    expect(mailboxes(back.decision.trusted).sort()).toEqual(['mbx-b', 'mbx-c']);
  });

  it('a person whose every device is unknown has a changed identity', () => {
    const { decision } = decide(pat(dev('n')), new Set(['key-old']), verify);
    expect(decision.identityChanged).toBe(true);
    expect(mailboxes(decision.unverified)).toEqual(['mbx-n']);
  });

  it('a signature for another account does not verify', () => {
    const other: DirectoryPerson = { ...pat(dev('a'), signedBy('a', 'b')), account: 'acct-lee' };
    const { decision } = decide(other, new Set(['key-a']), verify);
    expect(mailboxes(decision.unverified)).toEqual(['mbx-b']);
  });
});

describe('Trust', () => {
  it('keeps pins sealed across restarts, trusts its own key, and pins what the user confirms', async () => {
    const db = await openDb();
    const { key } = await createLock('482915');
    const store = new Store(db, key);
    const own = { account: 'acct-me', signingKey: 'key-me' };
    const t = await Trust.load(store, verify, own);
    const [first] = await t.decide([pat(dev('a'), dev('w', { approved: false }))]);
    expect(mailboxes(first!.trusted)).toEqual(['mbx-a']);
    const [mine] = await t.decide([{ account: 'acct-me', display_name: 'Me', mailboxes: [], devices: [dev('me', { signing_key: 'key-me' }), dev('new')] }]);
    expect(mailboxes(mine!.trusted)).toEqual(['mbx-me']);
    expect(mailboxes(mine!.unverified)).toEqual(['mbx-new']);
    await t.confirm(ACCOUNT, 'key-w');

    const again = await Trust.load(new Store(db, key), verify, own);
    const [later] = await again.decide([pat(dev('a'), dev('w', { approved: false }), dev('r'))]);
    expect(mailboxes(later!.trusted)).toEqual(['mbx-a', 'mbx-w']);
    expect(mailboxes(later!.unverified)).toEqual(['mbx-r']);
    // The pins are sealed: no key in the clear in IndexedDB.
    const raw = JSON.stringify(await db.getAll('meta'));
    expect(raw).not.toContain('key-a');
    expect(raw).not.toContain(ACCOUNT);
  });
});
