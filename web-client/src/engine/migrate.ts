//! From layout 1 (records named by their ids in the clear, with times, group ids and the outbox's
//! recipients beside the sealed part; a few meta values unsealed) to layout 2 (every record sealed
//! whole under an opaque name): at the first unlock after the upgrade, in ONE write transaction,
//! so an interrupted migration leaves the old layout whole and the next unlock runs it again.

import { randomId } from '../bytes';
import { LAYOUT, type Db, type MessageStatus, type OutboxEntry } from '../db';
import { openBytes, openJson, type DataKey, type Sealed } from '../lock';
import type { Conversation, Message, SupportIdentity } from './model';
import { CLEAR_META, emptyBatch, type Batch, type Store } from './store';

/** Layout 1's records (what is beside `sealed` was in the clear). */
interface OldConversation {
  id: string;
  updatedAt: number;
  sealed: Sealed;
}
interface OldMessage {
  key: string;
  conv: string;
  id: string;
  at: number;
  expiresAt: number;
  status: MessageStatus;
  sealed: Sealed;
}

const STORES = ['meta', 'mls', 'conversations', 'messages', 'outbox'] as const;

const isSealed = (v: unknown): v is Sealed =>
  typeof v === 'object' && v !== null && (v as Sealed).iv instanceof Uint8Array && (v as Sealed).ct instanceof Uint8Array;

/** Converts a layout-1 database (no-op once it is layout 2). True if it converted something. */
export async function migrate(store: Store, key: DataKey): Promise<boolean> {
  const db = store.db;
  for (let attempt = 0; ; attempt++) {
    if ((await db.get('meta', 'layout')) === LAYOUT) return false;
    // Read everything, then seal it anew outside any transaction (WebCrypto's awaits would let
    // IndexedDB commit a transaction left waiting on them).
    const snapshot = await read(db);
    const b = await convert(store, key.seal, snapshot);
    if (await replace(db, snapshot, b)) return true;
    if (attempt >= 2) throw new Error('The stored records kept changing during their conversion.');
  }
}

interface Snapshot {
  meta: [string, unknown][];
  mls: [string, Sealed][];
  conversations: OldConversation[];
  messages: OldMessage[];
  outbox: OutboxEntry[];
  counts: number[];
}

async function read(db: Db): Promise<Snapshot> {
  const tx = db.transaction(STORES);
  const all = <S extends (typeof STORES)[number]>(s: S) => Promise.all([tx.objectStore(s).getAllKeys(), tx.objectStore(s).getAll()]);
  const [meta, mls, conversations, messages, outbox] = await Promise.all([all('meta'), all('mls'), all('conversations'), all('messages'), all('outbox')]);
  await tx.done;
  const pairs = <V>([keys, values]: [string[], unknown[]]) => keys.map((k, i) => [k, values[i] as V] as [string, V]);
  return {
    meta: pairs<unknown>(meta),
    mls: pairs<Sealed>(mls),
    conversations: conversations[1] as unknown as OldConversation[],
    messages: messages[1] as unknown as OldMessage[],
    outbox: outbox[1] as unknown as OutboxEntry[],
    counts: [meta, mls, conversations, messages, outbox].map(([keys]) => keys.length),
  };
}

async function convert(store: Store, key: CryptoKey, s: Snapshot): Promise<Batch> {
  const b = emptyBatch();
  for (const [k, v] of s.meta) {
    if (CLEAR_META.has(k)) continue;
    let value = isSealed(v) ? await openJson<unknown>(key, v, 'meta:' + k) : v;
    // The push registration of an open request was scoped `/support/<mailbox>/`: it gets a random
    // scope (workflows/device.ts moves it).
    if (k.startsWith('support:')) value = { ...(value as SupportIdentity), pushScope: (value as SupportIdentity).pushScope ?? randomId() };
    b.meta.push(await store.sealMeta(k, value));
  }
  for (const [k, v] of s.mls) b.mls.push(await store.sealMls(k, await openBytes(key, v, 'mls:' + k)));
  for (const c of s.conversations) {
    const data = await openJson<Omit<Conversation, 'id' | 'updatedAt'>>(key, c.sealed, 'conv:' + c.id);
    b.conversations.push(await store.sealConversation({ ...data, id: c.id, updatedAt: c.updatedAt }));
  }
  for (const m of s.messages) {
    const data = await openJson<Pick<Message, 'from' | 'body' | 'mine' | 'notice'>>(key, m.sealed, 'msg:' + m.key);
    b.messages.push(await store.sealMessage({ ...data, key: m.key, conv: m.conv, id: m.id, at: m.at, expiresAt: m.expiresAt, status: m.status }));
  }
  for (const o of s.outbox) b.outboxPut.push(await store.sealOutbox(o));
  b.meta.push(['layout', LAYOUT]);
  return b;
}

/** One transaction: if nothing changed since `s` was read, every old record goes and `b` comes. */
async function replace(db: Db, s: Snapshot, b: Batch): Promise<boolean> {
  const tx = db.transaction(STORES, 'readwrite');
  const counts = await Promise.all(STORES.map((n) => tx.objectStore(n).count()));
  if ((await tx.objectStore('meta').get('layout')) === LAYOUT || counts.some((c, i) => c !== s.counts[i])) {
    tx.abort();
    await tx.done.catch(() => undefined);
    return false;
  }
  const requests: Promise<unknown>[] = [];
  try {
    for (const [k] of s.meta) if (!CLEAR_META.has(k)) requests.push(tx.objectStore('meta').delete(k));
    for (const n of ['mls', 'conversations', 'messages', 'outbox'] as const) requests.push(tx.objectStore(n).clear());
    for (const [k, v] of b.mls) if (v) requests.push(tx.objectStore('mls').put(v, k));
    for (const c of b.conversations) requests.push(tx.objectStore('conversations').put(c));
    for (const m of b.messages) requests.push(tx.objectStore('messages').put(m));
    for (const o of b.outboxPut) requests.push(tx.objectStore('outbox').put(o));
    for (const [k, v] of b.meta) requests.push(tx.objectStore('meta').put(v, k));
  } catch (e) {
    // A request that cannot even be issued: nothing of this transaction stays.
    try {
      tx.abort();
    } catch {
      /* already aborted */
    }
    await Promise.allSettled([tx.done, ...requests]);
    throw e;
  }
  await Promise.all([tx.done, ...requests]);
  return true;
}
