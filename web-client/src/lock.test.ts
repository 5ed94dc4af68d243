//! Unit tests of the app lock: PIN rules, PBKDF2 at the full iteration count (old locks open and are
//! wrapped again), a fresh salt and data key per lock, opaque record names, and sealed records bound
//! to their place (aad) and tamper-evident.

import { describe, expect, it } from 'vitest';
import { createLock, openBytes, openJson, PBKDF2_ITERATIONS, recordName, sealBytes, sealJson, unlock, validPin } from './lock';

describe('lock', () => {
  it('accepts PINs of at least 6 digits, and passphrases of at least 6 characters', () => {
    expect(validPin('123456')).toBe(true);
    expect(validPin('123456789012')).toBe(true);
    expect(validPin('correct horse battery')).toBe(true);
    expect(validPin('1234')).toBe(false);
    expect(validPin('12345')).toBe(false);
    expect(validPin('12a4')).toBe(false);
    expect(validPin('')).toBe(false);
    expect(validPin('x'.repeat(129))).toBe(false);
  });

  it('unlocks with the right PIN only, at the full iteration count', async () => {
    const { record, key } = await createLock('246801');
    expect(record.iterations).toBeGreaterThanOrEqual(600_000);
    expect(record.iterations).toBe(PBKDF2_ITERATIONS);
    expect(record.salt.length).toBe(16);
    expect(record.passphrase).toBeUndefined();
    const sealed = await sealJson(key.seal, { body: 'secret text' }, 'msg:1');
    expect(await unlock(record, '135790')).toBeNull();
    const again = await unlock(record, '246801');
    expect(again).not.toBeNull();
    expect(again!.rewrapped).toBeUndefined();
    expect(await openJson(again!.key.seal, sealed, 'msg:1')).toEqual({ body: 'secret text' });
  });

  it('opens a lock made at the old 310,000 iterations and wraps the same data key again at 600,000', async () => {
    const { record, key } = await createLock('246801', 310_000);
    expect(record.iterations).toBe(310_000);
    const sealed = await sealJson(key.seal, { body: 'before' }, 'msg:1');
    expect(await unlock(record, '000000')).toBeNull();
    const opened = await unlock(record, '246801');
    expect(opened!.rewrapped!.iterations).toBe(600_000);
    expect(opened!.rewrapped!.salt).not.toEqual(record.salt);
    expect(await openJson(opened!.key.seal, sealed, 'msg:1')).toEqual({ body: 'before' });
    const next = await unlock(opened!.rewrapped!, '246801');
    expect(next!.rewrapped).toBeUndefined();
    expect(await openJson(next!.key.seal, sealed, 'msg:1')).toEqual({ body: 'before' });
    expect(await recordName(next!.key, 'meta', 'creds')).toBe(await recordName(key, 'meta', 'creds'));
    expect(await unlock(opened!.rewrapped!, '246802')).toBeNull();
  });

  it('names records by an HMAC under the data key: stable, per store, and nothing of the name shows', async () => {
    const a = await createLock('111111', 1000);
    const b = await createLock('111111', 1000);
    const n = await recordName(a.key, 'meta', 'support:mailbox-1');
    expect(n).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await recordName(a.key, 'meta', 'support:mailbox-1')).toBe(n);
    expect(await recordName(a.key, 'mls', 'support:mailbox-1')).not.toBe(n);
    expect(await recordName(b.key, 'meta', 'support:mailbox-1')).not.toBe(n);
  });

  it('marks a passphrase lock so the lock screen offers letters', async () => {
    const { record } = await createLock('correct horse', 1000);
    expect(record.passphrase).toBe(true);
  });

  it('uses a fresh salt and data key for each lock', async () => {
    const a = await createLock('111111', 1000);
    const b = await createLock('111111', 1000);
    expect(a.record.salt).not.toEqual(b.record.salt);
    const sealed = await sealBytes(a.key.seal, new Uint8Array([1, 2, 3]), 'k');
    await expect(openBytes(b.key.seal, sealed, 'k')).rejects.toThrow();
  });

  it('refuses a record moved to another place (aad) or tampered with', async () => {
    const { key: both } = await createLock('999999', 1000);
    const key = both.seal;
    const sealed = await sealBytes(key, new TextEncoder().encode('hello'), 'msg:a');
    expect(new TextDecoder().decode(await openBytes(key, sealed, 'msg:a'))).toBe('hello');
    await expect(openBytes(key, sealed, 'msg:b')).rejects.toThrow();
    const tampered = { iv: sealed.iv, ct: sealed.ct.slice() };
    tampered.ct[0]! ^= 1;
    await expect(openBytes(key, tampered, 'msg:a')).rejects.toThrow();
  });

  it('a lock an older app made under a 4-digit PIN opens, and is wrapped again under the new PIN chosen', async () => {
    // Made as the app made locks before 6 digits were required (no validation then).
    const raw = crypto.getRandomValues(new Uint8Array(32));
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const base = await crypto.subtle.importKey('raw', new TextEncoder().encode('4821'), 'PBKDF2', false, ['deriveKey']);
    const wrapping = await crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: 310_000 }, base, { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
    const aad = new TextEncoder().encode('sallyport-data-key-v1');
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, wrapping, raw));
    const old = { v: 1 as const, salt, iterations: 310_000, iv, wrapped };

    expect(validPin('4821')).toBe(false); // so the lock screen asks for a new PIN before starting
    const opened = await unlock(old, '4821');
    expect(opened).not.toBeNull();
    const sealed = await sealJson(opened!.key.seal, { body: 'kept' }, 'msg:1');
    await expect(unlock(old, '4821', PBKDF2_ITERATIONS, '12345')).rejects.toThrow(/at least 6 digits/);
    const changed = await unlock(old, '4821', PBKDF2_ITERATIONS, '48213579');
    const record = changed!.rewrapped!;
    expect(record.iterations).toBe(PBKDF2_ITERATIONS);
    expect(await unlock(record, '4821')).toBeNull();
    const again = await unlock(record, '48213579');
    expect(again!.rewrapped).toBeUndefined();
    expect(await openJson(again!.key.seal, sealed, 'msg:1')).toEqual({ body: 'kept' });
  });

  it('refuses to create a lock with an invalid PIN', async () => {
    await expect(createLock('12345')).rejects.toThrow(/at least 6 digits/);
  });
});
