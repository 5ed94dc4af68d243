//! Unit tests of the engine's records: app payload parsing, delivery status order, disappearing
//! messages (timers, expiry in IndexedDB), and atomic batches (a failed write leaves nothing).

import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { deleteExpired, NEVER, openDb, type StoredMessage } from '../db';
import { createLock, sealJson } from '../lock';
import { advanceStatus, DEFAULT_TIMER_SECONDS, expiryOf } from './model';
import { Names, UNKNOWN_NAME } from './names';
import { parseAppPayload } from './payload';
import { writeBatch } from './store';

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
    const { key } = await createLock('1234', 1000);
    const msg = async (id: string, expiresAt: number): Promise<StoredMessage> => ({
      key: `g:${id}`,
      conv: 'g',
      id,
      at: 0,
      expiresAt,
      status: 'received',
      sealed: await sealJson(key, { body: id }, `msg:g:${id}`),
    });
    await writeBatch(db, {
      mls: [],
      conversations: [],
      messages: [await msg('old', 1000), await msg('new', 5000), await msg('forever', NEVER)],
      outboxPut: [],
      outboxDelete: [],
      meta: [],
    });
    expect(await deleteExpired(db, 2000)).toEqual(['g:old']);
    expect((await db.getAllKeys('messages')).sort()).toEqual(['g:forever', 'g:new']);
    expect(await deleteExpired(db, 2000)).toEqual([]);
    expect(await deleteExpired(db, Date.now())).toEqual(['g:new']);
    db.close();
  });
});

describe('outbox', () => {
  it('an MLS change, a message and its outbox entry are written together or not at all', async () => {
    const db = await openDb('outbox-test');
    const { key } = await createLock('1234', 1000);
    const sealed = await sealJson(key, { body: 'x' }, 'msg:g:1');
    const entry = { id: 'w1', group: 'g', to: ['m'], envelope: new Uint8Array([1]), kind: 'text' as const, msgKey: 'g:1', createdAt: 1 };
    await writeBatch(db, {
      mls: [['state', sealed]],
      conversations: [],
      messages: [{ key: 'g:1', conv: 'g', id: '1', at: 1, expiresAt: NEVER, status: 'sending', sealed }],
      outboxPut: [entry],
      outboxDelete: [],
      meta: [],
    });
    expect(await db.get('outbox', 'w1')).toEqual(entry);
    expect(await db.get('mls', 'state')).toBeDefined();

    // A batch that fails part-way (a message without its key path) leaves nothing behind.
    const bad = { ...entry, id: 'w2' };
    await expect(
      writeBatch(db, {
        mls: [['state2', sealed]],
        conversations: [],
        messages: [{ conv: 'g' } as unknown as StoredMessage],
        outboxPut: [bad],
        outboxDelete: ['w1'],
        meta: [],
      }),
    ).rejects.toThrow();
    expect(await db.get('outbox', 'w2')).toBeUndefined();
    expect(await db.get('outbox', 'w1')).toEqual(entry);
    expect(await db.get('mls', 'state2')).toBeUndefined();
    db.close();
  });
});
