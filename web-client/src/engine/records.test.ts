//! Unit tests of the engine's records: app payload parsing, delivery status order, disappearing
//! messages (timers, expiry in IndexedDB), atomic batches (a failed write leaves nothing), and
//! forgetting a support identity.

import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { NEVER, openDb, type OutboxEntry, type StoredMessage } from '../db';
import { createLock } from '../lock';
import { advanceStatus, DEFAULT_TIMER_SECONDS, expiryOf, type Message, type SupportIdentity } from './model';
import { Names, UNKNOWN_NAME } from './names';
import { parseAppPayload } from './payload';
import { emptyBatch, Store, supportPrefix } from './store';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('app payloads', () => {
  it('parses the three kinds and refuses anything else', () => {
    expect(parseAppPayload(enc({ v: 1, kind: 'text', id: 'a', body: 'hi', sentAt: 5 }))).toEqual({ v: 1, kind: 'text', id: 'a', body: 'hi', sentAt: 5 });
    expect(parseAppPayload(enc({ v: 1, kind: 'receipt', ids: ['a', 'b'] }))).toEqual({ v: 1, kind: 'receipt', ids: ['a', 'b'] });
    expect(parseAppPayload(enc({ v: 1, kind: 'timer', id: 't', seconds: 86400, sentAt: 1 }))?.kind).toBe('timer');
    expect(parseAppPayload(enc({ v: 2, kind: 'text', id: 'a', body: 'hi', sentAt: 5 }))).toBeNull();
    expect(parseAppPayload(enc({ v: 1, kind: 'text', id: 'a', body: 7, sentAt: 5 }))).toBeNull();
    expect(parseAppPayload(enc({ v: 1, kind: 'receipt', ids: [1] }))).toBeNull();
    expect(parseAppPayload(enc({ v: 1, kind: 'page' }))).toBeNull();
    expect(parseAppPayload(new TextEncoder().encode('not json'))).toBeNull();
    expect(parseAppPayload(enc(null))).toBeNull();
  });

  it('a requester\'s chosen name: trimmed, 1-60 characters, no control characters', () => {
    expect(parseAppPayload(enc({ v: 1, kind: 'name', name: ' Steady Cedar ' }))).toEqual({ v: 1, kind: 'name', name: 'Steady Cedar' });
    for (const name of ['', '   ', 'x'.repeat(61), 'a\u0000b', 'line\nbreak', 7]) expect(parseAppPayload(enc({ v: 1, kind: 'name', name }))).toBeNull();
    expect(parseAppPayload(enc({ v: 1, kind: 'name', name: 'é'.repeat(60) }))?.kind).toBe('name');
  });

  it("an incident conversation's incident and name: a 16-byte id, a name of 1-60 characters", () => {
    const id = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect(parseAppPayload(enc({ v: 1, kind: 'incident', id, title: ' Incident · Disturbance · 03:12 ' }))).toEqual({ v: 1, kind: 'incident', id, title: 'Incident · Disturbance · 03:12' });
    for (const bad of [{ id: 'short', title: 'x' }, { id, title: '' }, { id, title: 'x'.repeat(61) }, { id, title: 'a\nb' }, { id: 7, title: 'x' }, { id }])
      expect(parseAppPayload(enc({ v: 1, kind: 'incident', ...bad }))).toBeNull();
  });
});

describe('names shown for members', () => {
  it('the directory names devices; a requester names only an unlinked mailbox; otherwise "Someone"', () => {
    const n = new Names();
    expect(n.of('mb-a')).toBe(UNKNOWN_NAME);
    n.remember('mb-a', 'Old Name');
    expect(n.of('mb-a')).toBe('Old Name');
    expect(n.learnDirectory([{ display_name: 'Alex Morgan', mailboxes: ['mb-a'] }])).toBe(true);
    expect(n.learnDirectory([{ display_name: 'Alex Morgan', mailboxes: ['mb-a'] }])).toBe(false);
    expect(n.of('mb-a')).toBe('Alex Morgan');
    expect(n.choose('mb-a', 'Impostor')).toBe(false);
    expect(n.of('mb-a')).toBe('Alex Morgan');
    expect(n.choose('mb-unlinked', 'Steady Cedar')).toBe(true);
    expect(n.of('mb-unlinked')).toBe('Steady Cedar');
  });
});

describe('delivery status', () => {
  it('only moves forward', () => {
    expect(advanceStatus('sending', 'sent')).toBe('sent');
    expect(advanceStatus('sending', 'delivered')).toBe('delivered');
    expect(advanceStatus('sent', 'delivered')).toBe('delivered');
    // a receipt can overtake the server's `accepted`: delivered stays delivered
    expect(advanceStatus('delivered', 'sent')).toBe('delivered');
    expect(advanceStatus('received', 'sent')).toBe('received');
  });
});

describe('disappearing messages', () => {
  it('default to 7 days and never expire when off', () => {
    expect(DEFAULT_TIMER_SECONDS).toBe(7 * 86400);
    expect(expiryOf(1000, 86400)).toBe(1000 + 86400_000);
    expect(expiryOf(1000, 0)).toBe(NEVER);
  });

  it('expired messages are deleted from IndexedDB, the others kept', async () => {
    const db = await openDb('expiry-test');
    const { key } = await createLock('123456', 1000);
    const store = new Store(db, key);
    const msg = (id: string, expiresAt: number): Message => ({ key: `g:${id}`, conv: 'g', id, at: 0, expiresAt, status: 'received', from: 'Dana', body: id, mine: false });
    await store.write({ ...emptyBatch(), messages: [await store.sealMessage(msg('old', 1000)), await store.sealMessage(msg('new', 5000)), await store.sealMessage(msg('forever', NEVER))] });
    expect(await store.deleteExpired(2000)).toEqual(['g:old']);
    expect(await db.count('messages')).toBe(2);
    // After a reload (a new Store), what is left is found and expires in its turn.
    const reloaded = new Store(db, key);
    expect((await reloaded.messages()).map((m) => m.key).sort()).toEqual(['g:forever', 'g:new']);
    expect(await reloaded.deleteExpired(2000)).toEqual([]);
    expect(await reloaded.deleteExpired(Date.now())).toEqual(['g:new']);
    expect((await new Store(db, key).messages()).map((m) => m.key)).toEqual(['g:forever']);
    db.close();
  });
});

describe('outbox', () => {
  it('an MLS change, a message and its outbox entry are written together or not at all', async () => {
    const db = await openDb('outbox-test');
    const { key } = await createLock('123456', 1000);
    const store = new Store(db, key);
    const message: Message = { key: 'g:1', conv: 'g', id: '1', at: 1, expiresAt: NEVER, status: 'sending', from: 'Me', body: 'x', mine: true };
    const entry: OutboxEntry = { id: 'w1', group: 'g', to: ['m'], envelope: new Uint8Array([1]), kind: 'text', msgKey: 'g:1', createdAt: 1 };
    await store.write({ ...emptyBatch(), mls: [await store.sealMls('state', new Uint8Array([7]))], messages: [await store.sealMessage(message)], outboxPut: [await store.sealOutbox(entry)] });
    expect(await new Store(db, key).outbox()).toEqual([entry]);
    expect((await new Store(db, key).mlsState()).device.get('state')).toEqual(new Uint8Array([7]));

    // A batch that fails part-way (a message without its key path) leaves nothing behind.
    await expect(
      store.write({
        ...emptyBatch(),
        mls: [await store.sealMls('state2', new Uint8Array([8]))],
        messages: [{ sealed: (await store.sealMessage(message)).sealed } as unknown as StoredMessage],
        outboxPut: [await store.sealOutbox({ ...entry, id: 'w2' })],
        outboxDelete: [await store.outboxName('w1')],
      }),
    ).rejects.toThrow();
    expect(await new Store(db, key).outbox()).toEqual([entry]);
    expect((await new Store(db, key).mlsState()).device.has('state2')).toBe(false);
    db.close();
  });
});

describe('support identities', () => {
  it('forgetting one deletes its record and its MLS state, and nothing of the device\'s or another\'s', async () => {
    const db = await openDb('support-forget-test');
    const { key } = await createLock('123456', 1000);
    const id = (mailbox: string): SupportIdentity => ({ mailbox, secret: 's', handle: 'Steady Cedar', identity: 'aWQ', request: 'r-' + mailbox, urgency: 'now', createdAt: 1 });
    const store = new Store(db, key);
    await store.write({
      ...emptyBatch(),
      mls: [await store.sealMls('device-state', new Uint8Array([1])), await store.sealMls(`${supportPrefix('a')}g1`, new Uint8Array([2])), await store.sealMls(`${supportPrefix('a')}g2`, new Uint8Array([3])), await store.sealMls(`${supportPrefix('b')}g1`, new Uint8Array([4]))],
      meta: [await store.sealSupportIdentity(id('a')), await store.sealSupportIdentity(id('b'))],
    });
    // After a reload: the names of the MLS records are learnt from opening them.
    const reloaded = new Store(db, key);
    await reloaded.mlsState();
    await reloaded.deleteSupportIdentity('a');
    const left = await new Store(db, key).mlsState();
    expect([...left.device.keys()]).toEqual(['device-state']);
    expect([...left.support.keys()]).toEqual(['b']);
    expect((await new Store(db, key).supportIdentities()).map((i) => i.mailbox)).toEqual(['b']);
    expect(await db.count('mls')).toBe(2);
    db.close();
  });
});
