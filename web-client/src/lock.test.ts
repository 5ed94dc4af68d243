//! Unit tests of the app lock: PIN rules, PBKDF2 at the full iteration count, a fresh salt and data
//! key per lock, and sealed records bound to their place (aad) and tamper-evident.

import { describe, expect, it } from 'vitest';
import { createLock, openBytes, openJson, PBKDF2_ITERATIONS, sealBytes, sealJson, unlock, validPin } from './lock';

describe('lock', () => {
  it('accepts 4 to 12 digit PINs only', () => {
    expect(validPin('1234')).toBe(true);
    expect(validPin('123456789012')).toBe(true);
    expect(validPin('123')).toBe(false);
    expect(validPin('1234567890123')).toBe(false);
    expect(validPin('12a4')).toBe(false);
    expect(validPin('')).toBe(false);
  });

  it('unlocks with the right PIN only, at the full iteration count', async () => {
    const { record, key } = await createLock('2468');
    expect(record.iterations).toBeGreaterThanOrEqual(310_000);
    expect(record.iterations).toBe(PBKDF2_ITERATIONS);
    expect(record.salt.length).toBe(16);
    const sealed = await sealJson(key, { body: 'secret text' }, 'msg:1');
    expect(await unlock(record, '1357')).toBeNull();
    const again = await unlock(record, '2468');
    expect(again).not.toBeNull();
    expect(await openJson(again!, sealed, 'msg:1')).toEqual({ body: 'secret text' });
  });

  it('uses a fresh salt and data key for each lock', async () => {
    const a = await createLock('1111', 1000);
    const b = await createLock('1111', 1000);
    expect(a.record.salt).not.toEqual(b.record.salt);
    const sealed = await sealBytes(a.key, new Uint8Array([1, 2, 3]), 'k');
    await expect(openBytes(b.key, sealed, 'k')).rejects.toThrow();
  });

  it('refuses a record moved to another place (aad) or tampered with', async () => {
    const { key } = await createLock('9999', 1000);
    const sealed = await sealBytes(key, new TextEncoder().encode('hello'), 'msg:a');
    expect(new TextDecoder().decode(await openBytes(key, sealed, 'msg:a'))).toBe('hello');
    await expect(openBytes(key, sealed, 'msg:b')).rejects.toThrow();
    const tampered = { iv: sealed.iv, ct: sealed.ct.slice() };
    tampered.ct[0]! ^= 1;
    await expect(openBytes(key, tampered, 'msg:a')).rejects.toThrow();
  });

  it('refuses to create a lock with an invalid PIN', async () => {
    await expect(createLock('12')).rejects.toThrow(/4 to 12 digits/);
  });
});
