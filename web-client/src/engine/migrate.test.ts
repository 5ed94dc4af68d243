//! The migration from layout 1 (clear record names, ids, times and recipients) to layout 2: a
//! database written as the app wrote it before is converted at the first unlock, nothing is lost,
//! nothing of it is left in the clear, and an interrupted conversion leaves the old layout whole.

import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64, toBase64Url } from '../bytes';
import { LAYOUT, NEVER, openDb, type Db, type OutboxEntry } from '../db';
import { createLock, sealBytes, sealJson, type DataKey, type LockRecord } from '../lock';
import { migrate } from './migrate';
import type { Conversation, Credentials, Message, SupportIdentity } from './model';
import { Store } from './store';

const MAILBOX = 'mbx-7f3a9c2e-requester';
const REQUEST = 'req-41d8cd98f00b204e';
const GROUP = '9e107d9d372bb6826bd81d3542a419d6';
const HANDLE = 'Steady Cedar';
const SUPPORTER = 'mbx-supporter-5a105e8b';
const CREATED = 1764700000123;

const creds: Credentials = { server_url: 'https://sallyport.test', account: 'acct-1', device: 'dev-1', mailbox: 'mbx-device', display_name: 'Dana Reyes', roles: ['staff'], keys: { k: 1 } };
const identity: SupportIdentity = { mailbox: MAILBOX, secret: 'secret-1', handle: HANDLE, identity: 'aWQ', request: REQUEST, urgency: 'now', createdAt: CREATED };
const conv: Conversation = { id: GROUP, updatedAt: CREATED + 5000, members: [{ handle: 'Pat Quinn', mailbox: SUPPORTER }], timer: 86400, lastText: 'hello', lastAt: CREATED + 5000, identity: MAILBOX, support: { role: 'requester', request: REQUEST } };
const message: Message = { key: `${GROUP}:m1`, conv: GROUP, id: 'm1', at: CREATED + 5000, expiresAt: CREATED + 5000 + 86400_000, status: 'sent', from: HANDLE, body: 'hello', mine: true };
const notice: Message = { key: `${GROUP}:m2`, conv: GROUP, id: 'm2', at: CREATED + 6000, expiresAt: NEVER, status: 'received', from: '', body: 'This device was added.', mine: false, notice: true };
const entry: OutboxEntry = { id: 'wire-1', group: GROUP, to: [SUPPORTER], envelope: new Uint8Array([1, 2, 3]), kind: 'text', msgKey: message.key, createdAt: CREATED + 5000 };
const deviceMls = new Map([[`group:${GROUP}`, new Uint8Array([9, 9])], ['signer', new Uint8Array([5])]]);
const supportMls = new Map([[`group:${GROUP}`, new Uint8Array([4, 4, 4])]]);

/** A database as layout 1 left it (the schema with its indexes, records with clear fields). */
async function layoutOne(name: string): Promise<{ db: Db; key: DataKey; lock: LockRecord }> {
  const old = await openDB(name, 1, {
    upgrade(db) {
      db.createObjectStore('meta');
      db.createObjectStore('mls');
      db.createObjectStore('conversations', { keyPath: 'id' });
      const messages = db.createObjectStore('messages', { keyPath: 'key' });
      messages.createIndex('byConv', ['conv', 'at']);
      messages.createIndex('byExpiry', 'expiresAt');
      const outbox = db.createObjectStore('outbox', { keyPath: 'id' });
      outbox.createIndex('byCreated', 'createdAt');
    },
  });
  const { record, key } = await createLock('246801', 1000);
  const s = key.seal;
  await old.put('meta', record, 'lock');
  await old.put('meta', await sealJson(s, creds, 'meta:creds'), 'creds');
  await old.put('meta', await sealJson(s, identity, `meta:support:${MAILBOX}`), `support:${MAILBOX}`);
  await old.put('meta', true, 'supportNoticeAcknowledged');
  await old.put('meta', CREATED - 1000, 'lastResortAt');
  for (const [k, v] of deviceMls) await old.put('mls', await sealBytes(s, v, 'mls:' + k), k);
  for (const [k, v] of supportMls) await old.put('mls', await sealBytes(s, v, `mls:s:${MAILBOX}:${k}`), `s:${MAILBOX}:${k}`);
  const { id, updatedAt, ...data } = conv;
  await old.put('conversations', { id, updatedAt, sealed: await sealJson(s, data, 'conv:' + id) });
  for (const m of [message, notice]) {
    const { key: k, conv: c, id: mid, at, expiresAt, status, ...rest } = m;
    await old.put('messages', { key: k, conv: c, id: mid, at, expiresAt, status, sealed: await sealJson(s, rest, 'msg:' + k) });
  }
  await old.put('outbox', entry);
  old.close();
  return { db: await openDb(name), key, lock: record };
}

/** Every store's keys and values, as a reader of the disk would see them. */
async function dump(db: Db): Promise<Record<string, [unknown, unknown][]>> {
  const out: Record<string, [unknown, unknown][]> = {};
  for (const s of ['meta', 'mls', 'conversations', 'messages', 'outbox'] as const) {
    const tx = db.transaction(s);
    const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
    out[s] = keys.map((k, i) => [k, values[i]]);
  }
  return out;
}

/** A dump as text: strings as they are, bytes also as base64, base64url, hex and latin-1. */
function serialise(d: unknown): string {
  return JSON.stringify(d, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return [toBase64(v), toBase64Url(v), [...v].map((x) => x.toString(16).padStart(2, '0')).join(''), String.fromCharCode(...v)].join(' ');
    return v;
  });
}

async function everything(db: Db, key: DataKey) {
  const s = new Store(db, key);
  const mls = await s.mlsState();
  return {
    creds: await s.credentials(),
    identities: await s.supportIdentities(),
    notice: await s.getMeta('supportNoticeAcknowledged'),
    lastResortAt: await s.getMeta('lastResortAt'),
    device: mls.device,
    support: mls.support,
    conversations: await s.conversations(),
    messages: (await s.messages()).sort((a, b) => a.at - b.at),
    outbox: await s.outbox(),
  };
}

const realPut = IDBObjectStore.prototype.put;
afterEach(() => {
  IDBObjectStore.prototype.put = realPut;
});

describe('migration to sealed record names', () => {
  it('converts every record at the first unlock: nothing lost, nothing of it in the clear', async () => {
    const { db, key, lock } = await layoutOne('migrate-all');
    expect(serialise(await dump(db))).toContain(MAILBOX); // the test's premise: layout 1 shows it

    expect(await migrate(new Store(db, key), key)).toBe(true);

    const got = await everything(db, key);
    expect(got.creds).toEqual(creds);
    expect(got.identities).toHaveLength(1);
    expect(got.identities[0]).toEqual({ ...identity, pushScope: got.identities[0]!.pushScope });
    expect(got.identities[0]!.pushScope).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(got.notice).toBe(true);
    expect(got.lastResortAt).toBe(CREATED - 1000);
    expect(got.device).toEqual(deviceMls);
    expect(got.support).toEqual(new Map([[MAILBOX, supportMls]]));
    expect(got.conversations).toEqual([conv]);
    expect(got.messages).toEqual([message, notice]);
    expect(got.outbox).toEqual([entry]);

    const raw = await dump(db);
    expect(raw.meta!.find(([k]) => k === 'lock')![1]).toEqual(lock);
    expect(raw.meta!.find(([k]) => k === 'layout')![1]).toBe(LAYOUT);
    const text = serialise({ ...raw, meta: raw.meta!.filter(([k]) => k !== 'lock') });
    for (const secret of [MAILBOX, REQUEST, GROUP, HANDLE, SUPPORTER, 'support', 'Support', 'wire-1', 'creds', 'lastResortAt', 'Dana', 'hello', String(CREATED), String(CREATED + 5000), String(CREATED).slice(0, 8)]) {
      expect(text, secret).not.toContain(secret);
    }
    // Only opaque names and sealed values remain (besides the lock and the layout).
    for (const [store, rows] of Object.entries(raw)) {
      for (const [k, v] of rows) {
        if (store === 'meta' && (k === 'lock' || k === 'layout')) continue;
        expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const sealed = store === 'mls' || store === 'meta' ? v : (v as { sealed: unknown }).sealed;
        expect(Object.keys(sealed as object).sort()).toEqual(['ct', 'iv']);
        if (store !== 'mls' && store !== 'meta') expect(Object.keys(v as object).sort()).toEqual([store === 'messages' ? 'key' : 'id', 'sealed'].sort());
      }
    }

    // Run again (the next unlock): nothing to do, nothing changes.
    const before = serialise(await dump(db));
    expect(await migrate(new Store(db, key), key)).toBe(false);
    expect(serialise(await dump(db))).toBe(before);
    db.close();
  });

  it('an interrupted conversion leaves the old layout whole, and the next unlock converts it', async () => {
    const { db, key } = await layoutOne('migrate-interrupted');
    const before = serialise(await dump(db));
    // The write transaction fails part-way: after a few of its puts went through.
    let puts = 0;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      if (++puts > 4) throw new DOMException('disk full', 'QuotaExceededError');
      return realPut.apply(this, args);
    };
    await expect(migrate(new Store(db, key), key)).rejects.toThrow(/disk full/);
    IDBObjectStore.prototype.put = realPut;
    expect(puts).toBeGreaterThan(4);
    expect(serialise(await dump(db))).toBe(before);

    // The transaction aborts after its requests were issued (the page is closed, the disk fails).
    puts = 0;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      const request = realPut.apply(this, args);
      if (++puts === 6) this.transaction.abort();
      return request;
    };
    await expect(migrate(new Store(db, key), key)).rejects.toThrow();
    IDBObjectStore.prototype.put = realPut;
    expect(serialise(await dump(db))).toBe(before);

    expect(await migrate(new Store(db, key), key)).toBe(true);
    const got = await everything(db, key);
    expect(got.conversations).toEqual([conv]);
    expect(got.messages).toEqual([message, notice]);
    expect(got.outbox).toEqual([entry]);
    expect(got.support).toEqual(new Map([[MAILBOX, supportMls]]));
    db.close();
  });
});
