//! The engine's IndexedDB: every write is ONE transaction of records sealed beforehand (MLS state,
//! conversations, messages, outbox, meta). A record is stored under an opaque name (HMAC of its
//! real name) and sealed whole, real name included, under an aad naming its place; loading opens
//! them again. Support identities' MLS state has the real names `s:<mailbox>:<key>`.

import { fromBase64, toBase64Url } from '../bytes';
import { LAYOUT, type Db, type OutboxEntry, type StoredConversation, type StoredMessage, type StoredOutbox } from '../db';
import { openBytes, openJson, recordName, sealBytes, sealJson, type DataKey, type Sealed } from '../lock';
import type { Conversation, Credentials, Message, SupportIdentity } from './model';

/** One atomic write: sealed records prepared beforehand (no awaits inside the transaction). */
export interface Batch {
  mls: [string, Sealed | null][];
  conversations: StoredConversation[];
  messages: StoredMessage[];
  messagesDelete: string[];
  outboxPut: StoredOutbox[];
  outboxDelete: string[];
  meta: [string, unknown][];
}

export const emptyBatch = (): Batch => ({ mls: [], conversations: [], messages: [], messagesDelete: [], outboxPut: [], outboxDelete: [], meta: [] });

export async function writeBatch(db: Db, b: Batch): Promise<void> {
  const tx = db.transaction(['mls', 'conversations', 'messages', 'outbox', 'meta'], 'readwrite');
  // Requests are issued synchronously; a request that fails (or throws) aborts them all.
  const requests: Promise<unknown>[] = [];
  try {
    const mls = tx.objectStore('mls');
    for (const [k, v] of b.mls) requests.push(v === null ? mls.delete(k) : mls.put(v, k));
    for (const c of b.conversations) requests.push(tx.objectStore('conversations').put(c));
    for (const m of b.messages) requests.push(tx.objectStore('messages').put(m));
    for (const k of b.messagesDelete) requests.push(tx.objectStore('messages').delete(k));
    for (const o of b.outboxPut) requests.push(tx.objectStore('outbox').put(o));
    for (const k of b.outboxDelete) requests.push(tx.objectStore('outbox').delete(k));
    for (const [k, v] of b.meta) requests.push(tx.objectStore('meta').put(v, k));
  } catch (e) {
    tx.abort();
    await Promise.allSettled([tx.done, ...requests]);
    throw e;
  }
  await Promise.all([tx.done, ...requests]);
}

const SUPPORT_META = 'support:';
/** Where a support identity's MLS state lives in the `mls` store (real names). */
export const supportPrefix = (mailbox: string) => `s:${mailbox}:`;
/** `meta` records kept in the clear under these names (everything else is sealed and renamed). */
export const CLEAR_META = new Set(['lock', 'layout']);

/** MLS state sealed with its real name: 4-byte length, the name (UTF-8), the value. */
function frame(name: string, value: Uint8Array): Uint8Array {
  const n = new TextEncoder().encode(name);
  const out = new Uint8Array(4 + n.length + value.length);
  new DataView(out.buffer).setUint32(0, n.length);
  out.set(n, 4);
  out.set(value, 4 + n.length);
  return out;
}
function unframe(bytes: Uint8Array): [string, Uint8Array] {
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  return [new TextDecoder().decode(bytes.subarray(4, 4 + len)), bytes.slice(4 + len)];
}

type SealedOutbox = Omit<OutboxEntry, 'envelope'> & { envelope: string };

export class Store {
  private names = new Map<string, string>();
  /** Real names of the MLS records stored (to delete a support identity's by prefix). */
  private mlsNames = new Set<string>();
  /** Messages stored, by real key: when each expires (to delete them without opening them). */
  private expiry = new Map<string, number>();

  constructor(
    readonly db: Db,
    private readonly key: DataKey,
  ) {}

  /** Stores fresh credentials (at enrolment, and when the server's roles or name changed). */
  static async saveCredentials(db: Db, key: DataKey, creds: Credentials): Promise<void> {
    const s = new Store(db, key);
    await writeBatch(db, { ...emptyBatch(), meta: [await s.sealMeta('creds', creds), ['layout', LAYOUT]] });
  }

  /** The opaque name of record `real` in `store` (memoised while unlocked). */
  async name(store: string, real: string): Promise<string> {
    const k = store + '\u0000' + real;
    let n = this.names.get(k);
    if (!n) {
      n = await recordName(this.key, store, real);
      this.names.set(k, n);
    }
    return n;
  }

  async credentials(): Promise<Credentials> {
    const creds = (await this.getMeta('creds')) as Credentials | undefined;
    if (!creds) throw new Error('This device is not enrolled.');
    return creds;
  }

  write(b: Batch): Promise<void> {
    return writeBatch(this.db, b);
  }

  async sealConversation(c: Conversation): Promise<StoredConversation> {
    const id = await this.name('conversations', c.id);
    return { id, sealed: await sealJson(this.key.seal, c, 'conv:' + id) };
  }

  async sealMessage(m: Message): Promise<StoredMessage> {
    const key = await this.name('messages', m.key);
    const status = m.status === 'failed' ? 'sending' : m.status;
    this.expiry.set(m.key, m.expiresAt);
    return { key, sealed: await sealJson(this.key.seal, { ...m, status }, 'msg:' + key) };
  }

  async sealOutbox(o: OutboxEntry): Promise<StoredOutbox> {
    const id = await this.name('outbox', o.id);
    const data: SealedOutbox = { ...o, envelope: toBase64Url(o.envelope) };
    return { id, sealed: await sealJson(this.key.seal, data, 'outbox:' + id) };
  }

  /** The stored name of outbox entry `id` (to delete it in a batch). */
  outboxName(id: string): Promise<string> {
    return this.name('outbox', id);
  }

  /** An MLS state change for a batch (null: delete). */
  async sealMls(k: string, v: Uint8Array | null): Promise<[string, Sealed | null]> {
    const name = await this.name('mls', k);
    if (v === null) {
      this.mlsNames.delete(k);
      return [name, null];
    }
    this.mlsNames.add(k);
    return [name, await sealBytes(this.key.seal, frame(k, v), 'mls:' + name)];
  }

  /** A `meta` value for a batch, sealed with its real name. */
  async sealMeta(k: string, v: unknown): Promise<[string, Sealed]> {
    const name = await this.name('meta', k);
    return [name, await sealJson(this.key.seal, { k, v }, 'meta:' + name)];
  }

  /** The MLS state: the device client's, and each support identity's by mailbox. */
  async mlsState(): Promise<{ device: Map<string, Uint8Array>; support: Map<string, Map<string, Uint8Array>> }> {
    const device = new Map<string, Uint8Array>();
    const support = new Map<string, Map<string, Uint8Array>>();
    const tx = this.db.transaction('mls');
    const [mlsKeys, mlsValues] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
    for (let i = 0; i < mlsKeys.length; i++) {
      const name = mlsKeys[i]!;
      const [k, v] = unframe(await openBytes(this.key.seal, mlsValues[i]!, 'mls:' + name));
      this.names.set('mls\u0000' + k, name);
      this.mlsNames.add(k);
      if (k.startsWith('s:')) {
        const mb = k.slice(2, k.indexOf(':', 2));
        const inner = support.get(mb) ?? new Map<string, Uint8Array>();
        inner.set(k.slice(supportPrefix(mb).length), v);
        support.set(mb, inner);
      } else device.set(k, v);
    }
    return { device, support };
  }

  /** Every sealed `meta` record, by real name. */
  private async allMeta(): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    const tx = this.db.transaction('meta');
    const [keys, values] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
    for (let i = 0; i < keys.length; i++) {
      if (CLEAR_META.has(keys[i]!)) continue;
      const { k, v } = await openJson<{ k: string; v: unknown }>(this.key.seal, values[i] as Sealed, 'meta:' + keys[i]);
      out.set(k, v);
    }
    return out;
  }

  async supportIdentities(): Promise<SupportIdentity[]> {
    const out: SupportIdentity[] = [];
    for (const [k, v] of await this.allMeta()) if (k.startsWith(SUPPORT_META)) out.push(v as SupportIdentity);
    return out;
  }

  /** A support identity's record, sealed for a batch's `meta`. */
  sealSupportIdentity(id: SupportIdentity): Promise<[string, Sealed]> {
    return this.sealMeta(SUPPORT_META + id.mailbox, id);
  }

  async putSupportIdentity(id: SupportIdentity): Promise<void> {
    await this.write({ ...emptyBatch(), meta: [await this.sealSupportIdentity(id)] });
  }

  /** Deletes a support identity's MLS state and its record, in one transaction. */
  async deleteSupportIdentity(mailbox: string): Promise<void> {
    const mls = [...this.mlsNames].filter((k) => k.startsWith(supportPrefix(mailbox)));
    const names = await Promise.all(mls.map((k) => this.name('mls', k)));
    const meta = await this.name('meta', SUPPORT_META + mailbox);
    const tx = this.db.transaction(['mls', 'meta'], 'readwrite');
    await Promise.all([...names.map((k) => tx.objectStore('mls').delete(k)), tx.objectStore('meta').delete(meta), tx.done]);
    for (const k of mls) this.mlsNames.delete(k);
  }

  async conversations(): Promise<Conversation[]> {
    const out: Conversation[] = [];
    for (const c of await this.db.getAll('conversations')) {
      const conv = await openJson<Conversation>(this.key.seal, c.sealed, 'conv:' + c.id);
      this.names.set('conversations\u0000' + conv.id, c.id);
      out.push(conv);
    }
    return out;
  }

  async messages(): Promise<Message[]> {
    const out: Message[] = [];
    for (const s of await this.db.getAll('messages')) {
      const m = await openJson<Message>(this.key.seal, s.sealed, 'msg:' + s.key);
      this.names.set('messages\u0000' + m.key, s.key);
      this.expiry.set(m.key, m.expiresAt);
      out.push(m);
    }
    return out;
  }

  async outbox(): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for (const s of await this.db.getAll('outbox')) {
      const o = await openJson<SealedOutbox>(this.key.seal, s.sealed, 'outbox:' + s.id);
      this.names.set('outbox\u0000' + o.id, s.id);
      out.push({ ...o, envelope: fromBase64(o.envelope) });
    }
    return out;
  }

  /** A sealed `meta` value (flags, times), undefined if there is none. */
  async getMeta(key: string): Promise<unknown> {
    const name = await this.name('meta', key);
    const sealed = (await this.db.get('meta', name)) as Sealed | undefined;
    return sealed ? (await openJson<{ k: string; v: unknown }>(this.key.seal, sealed, 'meta:' + name)).v : undefined;
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    await this.write({ ...emptyBatch(), meta: [await this.sealMeta(key, value)] });
  }

  /** Deletes every stored message whose time is up, in one transaction; returns their keys. */
  async deleteExpired(now: number): Promise<string[]> {
    const gone = [...this.expiry].filter(([, at]) => at <= now).map(([k]) => k);
    if (gone.length === 0) return [];
    const b = emptyBatch();
    for (const k of gone) b.messagesDelete.push(await this.name('messages', k));
    await this.write(b);
    for (const k of gone) this.expiry.delete(k);
    return gone;
  }
}
