//! IndexedDB layout (via `idb`). Sensitive fields live in `sealed` (AES-GCM with the data key, see
//! lock.ts); only what indexes and queues need stays in the clear (ids, times, delivery status).

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { LockRecord, Sealed } from './lock';

export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'received';

export interface StoredConversation {
  id: string; // MLS group id (hex)
  updatedAt: number;
  sealed: Sealed; // ConversationData
}

export interface StoredMessage {
  key: string; // `${conv}:${id}`
  conv: string;
  id: string; // app-level message id (inside the MLS plaintext)
  at: number; // sentAt (ms)
  expiresAt: number; // ms; NEVER for no expiry
  status: MessageStatus;
  sealed: Sealed; // MessageData
}

export type OutboxKind = 'text' | 'receipt' | 'timer' | 'commit';

export interface OutboxEntry {
  id: string; // wire message id (group_send id)
  group: string;
  to: string[];
  envelope: Uint8Array; // MLS ciphertext, as sent
  kind: OutboxKind;
  msgKey?: string; // the message this carries
  createdAt: number;
}

export const NEVER = Number.MAX_SAFE_INTEGER;

export interface SallyportDb extends DBSchema {
  meta: { key: string; value: unknown };
  mls: { key: string; value: Sealed };
  conversations: { key: string; value: StoredConversation };
  messages: {
    key: string;
    value: StoredMessage;
    indexes: { byConv: [string, number]; byExpiry: number };
  };
  outbox: { key: string; value: OutboxEntry; indexes: { byCreated: number } };
}

export type Db = IDBPDatabase<SallyportDb>;

export const DB_NAME = 'sallyport';

export function openDb(name = DB_NAME): Promise<Db> {
  return openDB<SallyportDb>(name, 1, {
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
}

export const getLockRecord = async (db: Db): Promise<LockRecord | undefined> =>
  (await db.get('meta', 'lock')) as LockRecord | undefined;

/** Deletes every message whose time is up; returns their keys. */
export async function deleteExpired(db: Db, now: number): Promise<string[]> {
  const tx = db.transaction('messages', 'readwrite');
  const deleted: string[] = [];
  let cursor = await tx.store.index('byExpiry').openCursor(IDBKeyRange.upperBound(now));
  while (cursor) {
    deleted.push(cursor.value.key);
    await cursor.delete();
    cursor = await cursor.continue();
  }
  await tx.done;
  return deleted;
}
