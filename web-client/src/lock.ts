//! The app lock: a PIN or passphrase → PBKDF2-SHA256 → AES-GCM key that wraps a random 256-bit data
//! key. Every record is sealed with the data key before it reaches IndexedDB, under a record name
//! that is an HMAC of its real name (a key derived from the data key); locking forgets both.
//! The PIN is checked by unwrapping the data key (the AES-GCM tag is the verifier).

import { randomBytes, toBase64Url } from './bytes';

/** OWASP's Password Storage Cheat Sheet (2023–): PBKDF2-HMAC-SHA256 at 600,000 iterations. */
export const PBKDF2_ITERATIONS = 600_000;

/** The data key in use while unlocked: `seal` encrypts records, `names` (HMAC-SHA256) names them. */
export interface DataKey {
  seal: CryptoKey;
  names: CryptoKey;
}

/** What is stored (in the clear) to unlock: salt, iterations and the wrapped data key. A lock made
 *  at fewer iterations than PBKDF2_ITERATIONS still opens and is wrapped again at the full count. */
export interface LockRecord {
  v: 1;
  salt: Uint8Array;
  iterations: number;
  iv: Uint8Array;
  wrapped: Uint8Array;
  /** Not only digits: the lock screen asks with a full keyboard. */
  passphrase?: boolean;
}

/** An AES-GCM sealed value: 12-byte IV and ciphertext with tag. */
export interface Sealed {
  iv: Uint8Array;
  ct: Uint8Array;
}

/** At least 6 digits, or a passphrase of at least 6 characters (at most 128). */
export const validPin = (pin: string): boolean => pin.length >= 6 && pin.length <= 128 && pin.trim() === pin;
export const PIN_RULE = 'The PIN must be at least 6 digits (or a passphrase of at least 6 characters).';

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

const NAMES_INFO = new TextEncoder().encode('sallyport-record-names-v1');

/** The AES-GCM key is the raw data key itself (as before record names were sealed); the HMAC key
 *  for record names is HKDF-SHA256 of it, so neither needs storing. */
async function importDataKey(raw: Uint8Array): Promise<DataKey> {
  const seal = await crypto.subtle.importKey('raw', raw as BufferSource, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
  const hkdf = await crypto.subtle.importKey('raw', raw as BufferSource, 'HKDF', false, ['deriveKey']);
  const names = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: NAMES_INFO },
    hkdf,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  );
  return { seal, names };
}

const WRAP_AAD = new TextEncoder().encode('sallyport-data-key-v1');

/** A fresh data key protected by `pin`: the record to store and the key to use now. */
export async function createLock(pin: string, iterations = PBKDF2_ITERATIONS): Promise<{ record: LockRecord; key: DataKey }> {
  if (!validPin(pin)) throw new Error(PIN_RULE);
  const raw = randomBytes(32);
  const record = await wrap(pin, raw, iterations);
  const key = await importDataKey(raw);
  raw.fill(0);
  return { record, key };
}

async function wrap(pin: string, raw: Uint8Array, iterations: number): Promise<LockRecord> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const wrapping = await pinKey(pin, salt, iterations);
  const wrapped = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: WRAP_AAD }, wrapping, raw as BufferSource),
  );
  return { v: 1, salt, iterations, iv, wrapped, ...(/^[0-9]+$/.test(pin) ? {} : { passphrase: true }) };
}

/**
 * The data key if `pin` is right, otherwise null; `rewrapped` is a new record (fresh salt, full
 * iteration count) when `record` was made at fewer iterations than `iterations`, or wrapped under
 * `newPin` when one is given (a PIN shorter than today's rule is replaced so): store it.
 */
export async function unlock(
  record: LockRecord,
  pin: string,
  iterations = PBKDF2_ITERATIONS,
  newPin?: string,
): Promise<{ key: DataKey; rewrapped?: LockRecord } | null> {
  if (newPin !== undefined && !validPin(newPin)) throw new Error(PIN_RULE);
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
  const rewrapped =
    newPin !== undefined ? await wrap(newPin, raw, iterations) : record.iterations < iterations ? await wrap(pin, raw, iterations) : undefined;
  raw.fill(0);
  return rewrapped ? { key, rewrapped } : { key };
}

/** A record's name in IndexedDB: HMAC-SHA256 of `store` and its real name, base64url (43 chars). */
export async function recordName(key: DataKey, store: string, name: string): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', key.names, new TextEncoder().encode(store + '\u0000' + name));
  return toBase64Url(new Uint8Array(mac));
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
