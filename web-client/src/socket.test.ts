//! Unit tests of the reconnect back-off (1 s to a 30 s cap, with jitter), of `incident_changed`
//! events reaching the boards, and of the content-free push notification's tag and URL.

import { describe, expect, it } from 'vitest';
import type { Session, SessionEvent } from './core';
import { Connection, backoffMs, incidentListeners } from './socket';
import { notificationFor } from './sw-notification';

describe('reconnect back-off', () => {
  it('grows from 1 s to a 30 s cap, with jitter between half and all of it', () => {
    expect(backoffMs(0, () => 1)).toBe(1000);
    expect(backoffMs(0, () => 0)).toBe(500);
    expect(backoffMs(1, () => 1)).toBe(2000);
    expect(backoffMs(4, () => 1)).toBe(16_000);
    expect(backoffMs(5, () => 1)).toBe(30_000);
    expect(backoffMs(50, () => 1)).toBe(30_000);
    for (let n = 0; n < 20; n++) {
      const d = backoffMs(n);
      expect(d).toBeGreaterThanOrEqual(500);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });
});

describe('push notifications', () => {
  it('carry no content: a tag and a URL from the group id only', () => {
    expect(notificationFor({ v: 1, kind: 'message', group: 'ab12' })).toEqual({ tag: 'msg-ab12', url: '/c/ab12' });
    expect(notificationFor({ v: 1, kind: 'message' })).toEqual({ tag: 'msg', url: '/' });
    expect(notificationFor({ v: 1, kind: 'message', group: '../admin' })).toEqual({ tag: 'msg', url: '/' });
    expect(notificationFor(undefined)).toEqual({ tag: 'msg', url: '/' });
    expect(notificationFor('garbage')).toEqual({ tag: 'msg', url: '/' });
  });
});

describe('incident_changed', () => {
  it('reaches every board listening, and the engine too', () => {
    const events: SessionEvent[] = [{ type: 'incident_changed', incident: 'AAAAAAAAAAAAAAAAAAAAAA' }];
    const session = { drain: () => ({ transmit: [], events: events.splice(0) }) } as unknown as Session;
    const toEngine: SessionEvent[] = [];
    const seen: string[] = [];
    const listener = (id: string) => seen.push(id);
    incidentListeners.add(listener);
    try {
      new Connection(session, 'ws://x', (e) => toEngine.push(...e), () => undefined).flush();
    } finally {
      incidentListeners.delete(listener);
    }
    expect(seen).toEqual(['AAAAAAAAAAAAAAAAAAAAAA']);
    expect(toEngine.map((e) => e.type)).toEqual(['incident_changed']);
  });
});
