//! IndexedDB layout (via `idb`). Every record is named by an opaque token (HMAC of its real name,
//! see lock.ts `recordName`) and holds only `sealed` (AES-GCM with the data key): no ids, times or
//! names in the clear. In the clear: the lock (`meta:lock`) and the layout version (`meta:layout`).

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { LockRecord, Sealed } from './lock';

export type MessageStatus = 'sending' | 'sent' | 'delivered' | 'received';

/** A sealed record under its opaque name (the key path of `conversations`, `messages`, `outbox`). */
export interface StoredConversation {
  id: string;
  sealed: Sealed; // Conversation
}
export interface StoredMessage {
  key: string;
  sealed: Sealed; // Message
}
export interface StoredOutbox {
  id: string;
  sealed: Sealed; // OutboxEntry
}

export type OutboxKind = 'text' | 'receipt' | 'timer' | 'commit';

export interface OutboxEntry {
  id: string; // wire message id (group_send id)
  group: string;
  to: string[];
  members?: string[]; // a commit's members once it takes effect (group_send `members`); absent in entries from before
  envelope: Uint8Array; // MLS ciphertext, as sent
  kind: OutboxKind;
  msgKey?: string; // the message this carries
  createdAt: number;
}

export const NEVER = Number.MAX_SAFE_INTEGER;

/** `meta:layout`: 2 once every record is sealed under an opaque name (engine/migrate.ts). */
export const LAYOUT = 2;

export interface SallyportDb extends DBSchema {
  meta: { key: string; value: unknown };
  mls: { key: string; value: Sealed };
  conversations: { key: string; value: StoredConversation };
  messages: { key: string; value: StoredMessage };
  outbox: { key: string; value: StoredOutbox };
}

export type Db = IDBPDatabase<SallyportDb>;

export const DB_NAME = 'sallyport';

export function openDb(name = DB_NAME): Promise<Db> {
  // Databases made before layout 2 also have the indexes byConv, byExpiry (messages) and byCreated
  // (outbox) on fields that records no longer have in the clear: they index nothing.
  return openDB<SallyportDb>(name, 1, {
    upgrade(db) {
      db.createObjectStore('meta');
      db.createObjectStore('mls');
      db.createObjectStore('conversations', { keyPath: 'id' });
      db.createObjectStore('messages', { keyPath: 'key' });
      db.createObjectStore('outbox', { keyPath: 'id' });
    },
  });
}

export const getLockRecord = async (db: Db): Promise<LockRecord | undefined> =>
  (await db.get('meta', 'lock')) as LockRecord | undefined;
