//! Signed REST requests: two identical requests made in the same millisecond (the app asks for the
//! directory from two places when it starts) must not carry the same signature, or the server
//! refuses the second as a replay (401) — which left conversations showing "Someone".

import { afterEach, describe, expect, it, vi } from 'vitest';
import { addPushSubscription, getDirectory, type Signer } from './api';

describe('signed requests', () => {
  afterEach(() => vi.restoreAllMocks());

  it('never sign two requests with the same time, even within one millisecond', async () => {
    const seen: { time: string; signature: string }[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (_url, init) => {
      const h = init!.headers as Record<string, string>;
      seen.push({ time: h['Sallyport-Time']!, signature: h['Sallyport-Signature']! });
      return new Response(JSON.stringify({ people: [] }), { status: 200 });
    });
    vi.spyOn(Date, 'now').mockReturnValue(1_764_700_000_000);
    const keys = { signRequest: (_d: string, _o: string, m: string, p: string, t: number) => `${m} ${p} ${t}` };
    const signer = { device: 'dev', keys, origin: 'http://127.0.0.1' } as unknown as Signer;
    await Promise.all([getDirectory(signer), getDirectory(signer), getDirectory(signer)]);
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((s) => s.signature)).size).toBe(3);
    expect(new Set(seen.map((s) => s.time)).size).toBe(3);
    // Never earlier than the clock, and only as much later as needed.
    for (const s of seen) expect(Number(s.time) - 1_764_700_000_000).toBeLessThan(1_000);
  });

  it('take the 204 of a push subscription as done (it left notifications "unavailable")', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(async () => new Response(null, { status: 204 }));
    const keys = { signRequest: () => 'sig' };
    const signer = { device: 'dev', keys, origin: 'http://127.0.0.1' } as unknown as Signer;
    await expect(addPushSubscription(signer, { endpoint: 'https://fcm.googleapis.com/x', p256dh: 'k', auth: 'a' })).resolves.toBeUndefined();
  });
});
