//! The device's notification key where the service worker can read it with the app locked: its
//! own IndexedDB database (`sallyport-notify`), not sealed under the PIN, holding only the device
//! id and the X25519 notification secret (never the signing key). The app writes it when it is
//! unlocked or enrolled and deletes it when the device is revoked; the service worker opens page
//! previews with it (docs/privacy.md, "A seized phone"). Plain IndexedDB: no library, so the
//! service worker stays small.

export const NOTIFY_DB = 'sallyport-notify';
const STORE = 'keys';
const RECORD = 'device';

export interface NotificationKey {
  /** The device id (unpadded base64url): the page previews' `aad` names it. */
  device: string;
  /** The X25519 notification secret (unpadded base64url), as `DeviceKeys.toJson()` has it. */
  secret: string;
}

function done<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function open(): Promise<IDBDatabase> {
  const r = indexedDB.open(NOTIFY_DB, 1);
  r.onupgradeneeded = () => r.result.createObjectStore(STORE);
  return done(r);
}

async function withStore<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    const tx = db.transaction(STORE, mode);
    const complete = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
    const result = await done(fn(tx.objectStore(STORE)));
    await complete;
    return result;
  } finally {
    db.close();
  }
}

export async function saveNotificationKey(key: NotificationKey): Promise<void> {
  await withStore('readwrite', (s) => s.put({ device: key.device, secret: key.secret }, RECORD));
}

/** The saved key, or undefined (none saved, or IndexedDB unavailable). */
export async function loadNotificationKey(): Promise<NotificationKey | undefined> {
  try {
    const v = (await withStore('readonly', (s) => s.get(RECORD))) as Partial<NotificationKey> | undefined;
    return v && typeof v.device === 'string' && typeof v.secret === 'string' ? { device: v.device, secret: v.secret } : undefined;
  } catch {
    return undefined;
  }
}

export async function deleteNotificationKey(): Promise<void> {
  await withStore('readwrite', (s) => s.delete(RECORD));
}
