//! Unit tests of the pages' pure parts: the `aad` bytes (protocol `page_aad`), the page push the
//! service worker parses, what its notification says, the board's plain words, and a preview
//! sealed with the client core opening with the notification secret alone (as the service worker
//! opens it) only for its incident and device.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wasm from '../core/wasm/pkg/sallyport_core_wasm.js';
import { fromBase64, toBase64, toBase64Url } from './bytes';
import {
  GENERIC_PAGE_TITLE,
  answeredNotification,
  incidentTypeLabel,
  outcomeLabel,
  pageAad,
  pageBody,
  pageTitle,
  parsePagePush,
  parsePreview,
  previewBytes,
  shortfall,
  stepLabel,
} from './incidents';
import { READINESS_ACTION, READINESS_TITLE, actionAnswer, pageNotification, pushNotification, readinessNotification } from './sw-notification';

const INCIDENT = toBase64Url(Uint8Array.from({ length: 16 }, (_, i) => i));
const DEVICE = toBase64Url(Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + (i % 16)));
const TOKEN = 'A'.repeat(42) + 'w';

const page = (over: Record<string, unknown> = {}) => ({
  web_push: 8030,
  notification: { title: 'Critical incident', body: 'Open Sallyport', navigate: `https://x/incidents/${INCIDENT}`, tag: `incident-${INCIDENT}` },
  v: 1,
  kind: 'page',
  incident: INCIDENT,
  severity: 1,
  test: false,
  token: TOKEN,
  sealed: 'AQID',
  ...over,
});

describe('the page aad', () => {
  it('is "sallyport-page-v1" NUL, the incident id bytes, the device id bytes', () => {
    const aad = pageAad(INCIDENT, DEVICE);
    const prefix = [...new TextEncoder().encode('sallyport-page-v1'), 0];
    expect([...aad]).toEqual([...prefix, ...Array.from({ length: 16 }, (_, i) => i), ...Array.from({ length: 16 }, (_, i) => 0xf0 + i)]);
    expect(aad.length).toBe(18 + 32);
  });
  it('takes ids starting with "-" and refuses ids that are not 16 bytes', () => {
    expect(pageAad('-' + INCIDENT.slice(1), DEVICE).length).toBe(50);
    expect(() => pageAad('short', DEVICE)).toThrow();
    expect(() => pageAad(INCIDENT, DEVICE + 'A')).toThrow();
  });
});

describe('the page push', () => {
  it('parses the server payload', () => {
    expect(parsePagePush(page())).toEqual({ incident: INCIDENT, severity: 1, test: false, token: TOKEN, sealed: 'AQID' });
    expect(parsePagePush(page({ sealed: null, test: true, severity: 3 }))).toEqual({ incident: INCIDENT, severity: 3, test: true, token: TOKEN, sealed: null });
  });
  it('refuses anything else', () => {
    expect(parsePagePush(page({ kind: 'message' }))).toBeUndefined();
    expect(parsePagePush(page({ v: 2 }))).toBeUndefined();
    expect(parsePagePush(page({ severity: 4 }))).toBeUndefined();
    expect(parsePagePush(page({ incident: 'x' }))).toBeUndefined();
    expect(parsePagePush(page({ token: 'short' }))).toBeUndefined();
    expect(parsePagePush(null)).toBeUndefined();
    expect(parsePagePush(page({ sealed: '<not base64>' }))?.sealed).toBeNull();
  });
  it('shows the opened details with the answer actions, collapsing repeats by tag', () => {
    const n = pageNotification(parsePagePush(page()), { type: 'assault_on_staff', location: 'Unit C', note: 'Stairwell' });
    expect(n.title).toBe('Critical incident · Severity 1');
    expect(n.options.body).toBe('Assault on staff — Unit C\nStairwell');
    expect(n.options).toMatchObject({ tag: `incident-${INCIDENT}`, renotify: true, requireInteraction: true });
    expect(n.options.actions).toEqual([
      { action: 'responding', title: 'Responding' },
      { action: 'unavailable', title: 'Unavailable' },
    ]);
    expect(n.options.data).toMatchObject({ url: `/incidents/${INCIDENT}`, kind: 'page', incident: INCIDENT, token: TOKEN });
  });
  it('falls back to the generic text, still with the actions, when the details do not open', () => {
    const n = pageNotification(parsePagePush(page()), undefined);
    expect(n.title).toBe(GENERIC_PAGE_TITLE);
    expect(n.title).toBe('Critical incident — open Sallyport');
    expect(n.options.actions).toHaveLength(2);
    expect(pageNotification(parsePagePush(page({ test: true })), undefined).title).toBe('Test page — open Sallyport');
    const broken = pageNotification(undefined, undefined);
    expect(broken.title).toBe(GENERIC_PAGE_TITLE);
    expect(broken.options.actions).toBeUndefined();
    expect(broken.options.data.url).toBe('/incidents');
  });
  it('names test pages and reads actions', () => {
    expect(pageTitle({ severity: 2, test: true })).toBe('Test page · Severity 2');
    expect(pageBody({ type: 'other', location: '', note: '' })).toBe('Other incident');
    expect(actionAnswer('responding')).toBe('responding');
    expect(actionAnswer('')).toBeUndefined();
    expect(answeredNotification('responding', true).title).toBe('You answered: responding');
    expect(answeredNotification('unavailable', false).body).toMatch(/Open Sallyport/);
  });
  it('leaves the other pushes as they were', () => {
    expect(pushNotification({ v: 1, kind: 'message' }).title).toBe('New message');
  });
});

describe('the preview and the board in words', () => {
  it('round-trips the preview and reads only its three fields', () => {
    const p = { type: 'disturbance', location: 'Yard 2', note: 'Crowd of 40' };
    expect(parsePreview(previewBytes(p))).toEqual(p);
    expect(parsePreview(new TextEncoder().encode('{"type":"other","extra":1}'))).toEqual({ type: 'other', location: '', note: '' });
    expect(parsePreview(new TextEncoder().encode('not json'))).toBeUndefined();
  });
  it('labels types, outcomes, steps and the shortfall', () => {
    expect(incidentTypeLabel('death_in_custody')).toBe('Death in custody');
    expect(incidentTypeLabel('new_kind')).toBe('Incident');
    expect(outcomeLabel('no_subscription')).toBe('notifications are not set up on their phone');
    expect(outcomeLabel('sent')).toBe('notification sent');
    expect(outcomeLabel('later_kind')).toBe('later kind');
    expect(stepLabel('tier 2 (gap)')).toBe('Tier 2: as many as the gap needs');
    expect(stepLabel('tier 1')).toBe('Tier 1: everyone on call');
    expect(stepLabel('coordinators')).toBe('Coordinators');
    expect(shortfall({ short_by: 1, short_roles: { clinician: 1 } })).toBe('Short by 1 (a clinician)');
    expect(shortfall({ short_by: 3, short_roles: { peer: 2, lead: 0 } })).toBe('Short by 3 (2 peers)');
    expect(shortfall({ short_by: 0, short_roles: {} })).toBeUndefined();
  });
});

describe('a preview sealed with the client core', () => {
  beforeAll(() => {
    wasm.initSync({ module: readFileSync(new URL('../core/wasm/pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });
  });
  it('opens with the notification secret alone, only for its incident and device', () => {
    const keys = wasm.DeviceKeys.generate();
    const secret = (JSON.parse(keys.toJson()) as { notification_secret: string }).notification_secret;
    const preview = { type: 'suicide_or_attempt', location: 'Unit C', note: 'Cell 12' };
    const sealed = wasm.seal(keys.notificationPublic, pageAad(INCIDENT, DEVICE), previewBytes(preview));
    // As the service worker gets it: standard base64 in the push.
    const carried = fromBase64(toBase64(sealed));
    expect(parsePreview(wasm.openSealedWith(secret, pageAad(INCIDENT, DEVICE), carried))).toEqual(preview);
    expect(parsePreview(keys.openSealed(pageAad(INCIDENT, DEVICE), carried))).toEqual(preview);
    const other = toBase64Url(Uint8Array.from({ length: 16 }, () => 7));
    expect(() => wasm.openSealedWith(secret, pageAad(other, DEVICE), carried)).toThrow();
    expect(() => wasm.openSealedWith(secret, pageAad(INCIDENT, other), carried)).toThrow();
    expect(() => wasm.openSealedWith('not a key', pageAad(INCIDENT, DEVICE), carried)).toThrow();
    keys.free();
  });
});

describe('the readiness check push', () => {
  const token = 'A'.repeat(42) + '-';
  it('shows a visible notification whose action confirms with the token', () => {
    const n = readinessNotification({ v: 1, kind: 'readiness', token, web_push: 8030 });
    expect(n?.title).toBe(READINESS_TITLE);
    expect(n?.options.tag).toBe('readiness');
    expect(n?.options.actions).toEqual([{ action: READINESS_ACTION, title: 'I can get pages' }]);
    expect(n?.options.data).toEqual({ url: '/', kind: 'readiness', token });
  });
  it('still shows one without a usable token, and nothing for other pushes', () => {
    const n = readinessNotification({ v: 1, kind: 'readiness', token: '../../x' });
    expect(n?.options.actions).toEqual([]);
    expect(n?.options.data.token).toBeUndefined();
    expect(readinessNotification({ v: 1, kind: 'page' })).toBeUndefined();
    expect(readinessNotification('garbage')).toBeUndefined();
  });
});
