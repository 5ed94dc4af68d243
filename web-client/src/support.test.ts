//! Unit tests of the peer support helpers (pseudonyms, request ages, urgency labels), the hand-off
//! marker payload, and the support request push notification.

import { describe, expect, it } from 'vitest';
import { parseAppPayload } from './engine/payload';
import { ageText, randomPseudonym, urgencyLabel } from './support';

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('peer support helpers', () => {
  it('suggest a two-word pseudonym', () => {
    for (let i = 0; i < 20; i++) expect(randomPseudonym()).toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/);
  });

  it('say how long a request has waited, without seconds', () => {
    const now = 1_767_600_000_000;
    expect(ageText(now - 10_000, now)).toBe('less than a minute');
    expect(ageText(now - 60_000, now)).toBe('1 minute');
    expect(ageText(now - 5 * 60_000, now)).toBe('5 minutes');
    expect(ageText(now - 3 * 3600_000, now)).toBe('3 hours');
    expect(ageText(now - 72 * 3600_000, now)).toBe('3 days');
    expect(ageText(now + 60_000, now)).toBe('less than a minute');
  });

  it('name the urgencies', () => {
    expect(urgencyLabel('now')).toBe('Now');
    expect(urgencyLabel('week')).toBe('This week');
  });

  it('parse the hand-off marker and refuse a malformed one', () => {
    expect(parseAppPayload(enc({ v: 1, kind: 'support', request: 'abc' }))).toEqual({ v: 1, kind: 'support', request: 'abc' });
    expect(parseAppPayload(enc({ v: 1, kind: 'support' }))).toBeNull();
    expect(parseAppPayload(enc({ v: 2, kind: 'support', request: 'abc' }))).toBeNull();
  });
});

describe('support request push', () => {
  it('opens the queue and says only how soon', async () => {
    const { pushNotification } = await import('./sw-notification');
    expect(pushNotification({ v: 1, kind: 'support_request', urgency: 'now' })).toEqual({
      title: 'Support request',
      body: 'Someone wants to talk now. Open Sallyport to answer.',
      tag: 'support',
      url: '/requests',
      support: true,
    });
    expect(pushNotification({ v: 1, kind: 'support_request', urgency: '<b>x</b>' }).body).toBe('Someone wants to talk. Open Sallyport to answer.');
    expect(pushNotification({ v: 1, kind: 'message', group: 'ab' })).toMatchObject({ title: 'New message', tag: 'msg-ab', url: '/c/ab', support: false });
  });
});
