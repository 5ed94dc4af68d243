//! The app lock: a PIN → PBKDF2-SHA256 → AES-GCM key that wraps a random 256-bit data key. Every
//! sensitive record is sealed with the data key before it reaches IndexedDB; locking forgets it.
//! The PIN is checked by unwrapping the data key (the AES-GCM tag is the verifier).

import { randomBytes } from './bytes';

export const PBKDF2_ITERATIONS = 310_000;

/** What is stored (in the clear) to unlock: salt, iterations and the wrapped data key. */
export interface LockRecord {
  v: 1;
  salt: Uint8Array;
  iterations: number;
  iv: Uint8Array;
  wrapped: Uint8Array;
}

/** An AES-GCM sealed value: 12-byte IV and ciphertext with tag. */
export interface Sealed {
  iv: Uint8Array;
  ct: Uint8Array;
}

export const validPin = (pin: string): boolean => /^[0-9]{4,12}$/.test(pin);

async function pinKey(pin: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

const importDataKey = (raw: Uint8Array): Promise<CryptoKey> =>
  crypto.subtle.importKey('raw', raw as BufferSource, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);

const WRAP_AAD = new TextEncoder().encode('sallyport-data-key-v1');

/** A fresh data key protected by `pin`: the record to store and the key to use now. */
export async function createLock(pin: string, iterations = PBKDF2_ITERATIONS): Promise<{ record: LockRecord; key: CryptoKey }> {
  if (!validPin(pin)) throw new Error('The PIN must be 4 to 12 digits.');
  const salt = randomBytes(16);
  const raw = randomBytes(32);
  const iv = randomBytes(12);
  const wrapping = await pinKey(pin, salt, iterations);
  const wrapped = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: WRAP_AAD }, wrapping, raw as BufferSource),
  );
  const key = await importDataKey(raw);
  raw.fill(0);
  return { record: { v: 1, salt, iterations, iv, wrapped }, key };
}

/** The data key if `pin` is right, otherwise null. */
export async function unlock(record: LockRecord, pin: string): Promise<CryptoKey | null> {
  const wrapping = await pinKey(pin, record.salt, record.iterations);
  let raw: Uint8Array;
  try {
    raw = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: record.iv as BufferSource, additionalData: WRAP_AAD },
        wrapping,
        record.wrapped as BufferSource,
      ),
    );
  } catch {
    return null;
  }
  const key = await importDataKey(raw);
  raw.fill(0);
  return key;
}

/** Seals `bytes` with the data key; `aad` binds the record to its place (store and key). */
export async function sealBytes(key: CryptoKey, bytes: Uint8Array, aad: string): Promise<Sealed> {
  const iv = randomBytes(12);
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv: iv as BufferSource, additionalData: new TextEncoder().encode(aad) },
    key,
    bytes as BufferSource,
  );
  return { iv, ct: new Uint8Array(ct) };
}

export async function openBytes(key: CryptoKey, sealed: Sealed, aad: string): Promise<Uint8Array> {
  const pt = await crypto.subtle.decrypt(
    { name: 'AES-GCM', iv: sealed.iv as BufferSource, additionalData: new TextEncoder().encode(aad) },
    key,
    sealed.ct as BufferSource,
  );
  return new Uint8Array(pt);
}

export const sealJson = (key: CryptoKey, value: unknown, aad: string): Promise<Sealed> =>
  sealBytes(key, new TextEncoder().encode(JSON.stringify(value)), aad);

export async function openJson<T>(key: CryptoKey, sealed: Sealed, aad: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await openBytes(key, sealed, aad))) as T;
}
