//! The engine's IndexedDB: every write is ONE transaction of records sealed beforehand (MLS state,
//! conversations, messages, outbox, meta), each sealed with the data key under an aad naming its
//! place; loading opens them again. Support identities' MLS state lives under `s:<mailbox>:<key>`.

import { deleteExpired, type Db, type OutboxEntry, type StoredConversation, type StoredMessage } from '../db';
import { openBytes, openJson, sealBytes, sealJson, type Sealed } from '../lock';
import type { Conversation, Credentials, Message, SupportIdentity } from './model';

/** One atomic write: sealed records prepared beforehand (no awaits inside the transaction). */
export interface Batch {
  mls: [string, Sealed | null][];
  conversations: StoredConversation[];
  messages: StoredMessage[];
  outboxPut: OutboxEntry[];
  outboxDelete: string[];
  meta: [string, unknown][];
}

export const emptyBatch = (): Batch => ({ mls: [], conversations: [], messages: [], outboxPut: [], outboxDelete: [], meta: [] });

export async function writeBatch(db: Db, b: Batch): Promise<void> {
  const tx = db.transaction(['mls', 'conversations', 'messages', 'outbox', 'meta'], 'readwrite');
  // Requests are issued synchronously; a request that fails (or throws) aborts them all.
  const requests: Promise<unknown>[] = [];
  try {
    const mls = tx.objectStore('mls');
    for (const [k, v] of b.mls) requests.push(v === null ? mls.delete(k) : mls.put(v, k));
    for (const c of b.conversations) requests.push(tx.objectStore('conversations').put(c));
    for (const m of b.messages) requests.push(tx.objectStore('messages').put(m));
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
/** Where a support identity's MLS state lives in the `mls` store. */
export const supportPrefix = (mailbox: string) => `s:${mailbox}:`;

export class Store {
  constructor(
    readonly db: Db,
    private readonly key: CryptoKey,
  ) {}

  /** Stores fresh credentials (at enrolment, and when the server's roles or name changed). */
  static async saveCredentials(db: Db, key: CryptoKey, creds: Credentials): Promise<void> {
    await db.put('meta', await sealJson(key, creds, 'meta:creds'), 'creds');
  }

  async credentials(): Promise<Credentials> {
    const sealed = (await this.db.get('meta', 'creds')) as Sealed | undefined;
    if (!sealed) throw new Error('This device is not enrolled.');
    return openJson<Credentials>(this.key, sealed, 'meta:creds');
  }

  write(b: Batch): Promise<void> {
    return writeBatch(this.db, b);
  }

  async sealConversation(c: Conversation): Promise<StoredConversation> {
    const { id, updatedAt, ...data } = c;
    return { id, updatedAt, sealed: await sealJson(this.key, data, 'conv:' + id) };
  }

  async sealMessage(m: Message): Promise<StoredMessage> {
    const data = { from: m.from, body: m.body, mine: m.mine, notice: m.notice };
    const status = m.status === 'failed' ? 'sending' : m.status;
    return { key: m.key, conv: m.conv, id: m.id, at: m.at, expiresAt: m.expiresAt, status, sealed: await sealJson(this.key, data, 'msg:' + m.key) };
  }

  /** An MLS state change for a batch (null: delete). */
  async sealMls(k: string, v: Uint8Array | null): Promise<[string, Sealed | null]> {
    return [k, v === null ? null : await sealBytes(this.key, v, 'mls:' + k)];
  }

  /** The MLS state: the device client's, and each support identity's by mailbox. */
  async mlsState(): Promise<{ device: Map<string, Uint8Array>; support: Map<string, Map<string, Uint8Array>> }> {
    const device = new Map<string, Uint8Array>();
    const support = new Map<string, Map<string, Uint8Array>>();
    const tx = this.db.transaction('mls');
    const [mlsKeys, mlsValues] = await Promise.all([tx.store.getAllKeys(), tx.store.getAll()]);
    for (let i = 0; i < mlsKeys.length; i++) {
      const k = mlsKeys[i]!;
      const v = await openBytes(this.key, mlsValues[i]!, 'mls:' + k);
      if (k.startsWith('s:')) {
        const mb = k.slice(2, k.indexOf(':', 2));
        const inner = support.get(mb) ?? new Map<string, Uint8Array>();
        inner.set(k.slice(supportPrefix(mb).length), v);
        support.set(mb, inner);
      } else device.set(k, v);
    }
    return { device, support };
  }

  async supportIdentities(): Promise<SupportIdentity[]> {
    const out: SupportIdentity[] = [];
    for (const mk of await this.db.getAllKeys('meta')) {
      if (!mk.startsWith(SUPPORT_META)) continue;
      out.push(await openJson<SupportIdentity>(this.key, (await this.db.get('meta', mk)) as Sealed, 'meta:' + mk));
    }
    return out;
  }

  /** A support identity's record, sealed for a batch's `meta`. */
  async sealSupportIdentity(id: SupportIdentity): Promise<[string, Sealed]> {
    const metaKey = SUPPORT_META + id.mailbox;
    return [metaKey, await sealJson(this.key, id, 'meta:' + metaKey)];
  }

  async putSupportIdentity(id: SupportIdentity): Promise<void> {
    const [metaKey, sealed] = await this.sealSupportIdentity(id);
    await this.db.put('meta', sealed, metaKey);
  }

  /** Deletes a support identity's MLS state and its record, in one transaction. */
  async deleteSupportIdentity(mailbox: string): Promise<void> {
    const keys = (await this.db.getAllKeys('mls')).filter((k) => k.startsWith(supportPrefix(mailbox)));
    const tx = this.db.transaction(['mls', 'meta'], 'readwrite');
    await Promise.all([...keys.map((k) => tx.objectStore('mls').delete(k)), tx.objectStore('meta').delete(SUPPORT_META + mailbox), tx.done]);
  }

  async conversations(): Promise<Conversation[]> {
    const out: Conversation[] = [];
    for (const c of await this.db.getAll('conversations')) {
      const data = await openJson<Omit<Conversation, 'id' | 'updatedAt'>>(this.key, c.sealed, 'conv:' + c.id);
      out.push({ ...data, id: c.id, updatedAt: c.updatedAt });
    }
    return out;
  }

  async messages(): Promise<Message[]> {
    const out: Message[] = [];
    for (const s of await this.db.getAll('messages')) {
      const data = await openJson<Pick<Message, 'from' | 'body' | 'mine' | 'notice'>>(this.key, s.sealed, 'msg:' + s.key);
      out.push({ ...data, key: s.key, conv: s.conv, id: s.id, at: s.at, expiresAt: s.expiresAt, status: s.status });
    }
    return out;
  }

  outbox(): Promise<OutboxEntry[]> {
    return this.db.getAll('outbox');
  }

  /** Values in the clear in `meta` (times, flags). */
  getMeta(key: string): Promise<unknown> {
    return this.db.get('meta', key);
  }

  async putMeta(key: string, value: unknown): Promise<void> {
    await this.db.put('meta', value, key);
  }

  /** Deletes every message whose time is up; returns their keys. */
  deleteExpired(now: number): Promise<string[]> {
    return deleteExpired(this.db, now);
  }
}
