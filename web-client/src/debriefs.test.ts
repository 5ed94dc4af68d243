//! Unit tests of the debriefings' pure parts (protocol §18): the plan and RSVP payloads parsed
//! strictly, CISM proposals, reminder and follow-up times, the tally, the invitation's words, the
//! `aad`s, and a preview and an RSVP sealed with the client core opening only where they should.

import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as wasm from '../core/wasm/pkg/sallyport_core_wasm.js';
import { fromBase64, toBase64, toBase64Url, utf8 } from './bytes';
import {
  debriefAad,
  followupTimes,
  invitationText,
  parseDebriefPush,
  parseFollowupDays,
  parsePushPreview,
  parseRsvp,
  proposals,
  pushPreviewBytes,
  reminderTimes,
  reminderTitle,
  rsvpAad,
  rsvpBytes,
  latestPerPerson,
  tally,
  tallyLine,
  type DebriefPlan,
} from './debriefs';
import { parseAppPayload } from './engine/payload';
import { debriefActionUrl, debriefNotification } from './sw-notification';

const id = (seed: number) => toBase64Url(Uint8Array.from({ length: 16 }, (_, i) => (seed * 31 + i * 7) % 256));
// An id starting with '-' (0xf8 → '-'), as random ids sometimes do.
const DASH = toBase64Url(Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0xfb : i)));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const plan = (over: Partial<DebriefPlan> = {}): DebriefPlan => ({
  id: DASH,
  session: 'debriefing',
  start: Date.UTC(2026, 11, 8, 14),
  duration: 120,
  place: 'Training room 2',
  coordinator: { account: id(1), name: 'Dana Coordinator' },
  facilitators: [{ account: id(2), name: 'Dr Lee' }],
  incident: { id: id(3), title: 'Unit C, Monday' },
  sequence: 1,
  ...over,
});
const enc = (v: unknown) => utf8.encode(JSON.stringify(v));

describe('the debrief and rsvp payloads', () => {
  it('parse a sound plan and refuse anything malformed', () => {
    expect(DASH.startsWith('-')).toBe(true);
    const p = plan();
    expect(parseAppPayload(enc({ v: 1, kind: 'debrief', ...p }))).toEqual({ v: 1, kind: 'debrief', ...p });
    const { place: _p, incident: _i, ...bare } = p;
    expect(parseAppPayload(enc({ v: 1, kind: 'debrief', ...bare }))).toEqual({ v: 1, kind: 'debrief', ...bare });
    expect(parseAppPayload(enc({ v: 1, kind: 'debrief', ...p, cancelled: true }))).toMatchObject({ cancelled: true });
    for (const bad of [
      { id: 'short' },
      { session: 'followup' },
      { start: -1 },
      { start: 1.5 },
      { duration: 0 },
      { duration: 10_000 },
      { sequence: -1 },
      { place: '' },
      { place: 'x'.repeat(201) },
      { place: 'a\u0000b' },
      { coordinator: { account: 'x', name: 'D' } },
      { facilitators: 'Dr Lee' },
      { facilitators: Array.from({ length: 9 }, () => ({ account: id(2), name: 'F' })) },
      { incident: { id: id(3) } },
      { cancelled: false },
    ])
      expect(parseAppPayload(enc({ v: 1, kind: 'debrief', ...p, ...bad }))).toBeNull();
  });

  it('parse an rsvp with its sealed answers only', () => {
    const r = { v: 1, kind: 'rsvp', debrief: DASH, sealed: [{ device: id(4), sealed: 'AAAA' }] };
    expect(parseAppPayload(enc(r))).toEqual(r);
    expect(parseAppPayload(enc({ ...r, sealed: [] }))).toBeNull();
    expect(parseAppPayload(enc({ ...r, answer: 'attending', sealed: 'x' }))).toBeNull();
    expect(parseAppPayload(enc({ ...r, sealed: [{ device: 'x', sealed: 'AAAA' }] }))).toBeNull();
    expect(parseAppPayload(enc({ ...r, sealed: [{ device: id(4), sealed: 'A'.repeat(513) }] }))).toBeNull();
    expect(parseAppPayload(enc({ ...r, sealed: Array.from({ length: 65 }, () => ({ device: id(4), sealed: 'AAAA' })) }))).toBeNull();
    expect(parseRsvp(rsvpBytes({ answer: 'one_to_one', at: 5 }))).toEqual({ answer: 'one_to_one', at: 5 });
    expect(parseRsvp(enc({ answer: 'maybe', at: 5 }))).toBeUndefined();
  });
});

describe('the rules', () => {
  it('propose a defusing within 8 hours and a debriefing 24–72 h after, in the daytime', () => {
    const incident = new Date(2026, 11, 7, 15, 20).getTime();
    const now = incident + HOUR;
    const { defusing, debriefing } = proposals(incident, now);
    expect(defusing.start).toBeGreaterThanOrEqual(now + 30 * 60_000);
    expect(defusing.start).toBeLessThanOrEqual(incident + 8 * HOUR);
    expect(debriefing.start - incident).toBeGreaterThanOrEqual(DAY);
    expect(debriefing.start - incident).toBeLessThanOrEqual(3 * DAY);
    expect(new Date(debriefing.start).getHours()).toBe(10);
    // An incident late at night: still 24 h at least, still 10:00.
    const late = new Date(2026, 11, 7, 23, 50).getTime();
    const d2 = proposals(late, late + 60_000).debriefing;
    expect(d2.start - late).toBeGreaterThanOrEqual(DAY);
    expect(new Date(d2.start).getHours()).toBe(10);
    // Scheduled late (two days after): never in the past.
    const d3 = proposals(incident, incident + 2.5 * DAY).debriefing;
    expect(d3.start).toBeGreaterThan(incident + 2.5 * DAY);
  });

  it('time reminders 24 h and 1 h before, and follow-ups at the programme days, dropping past ones', () => {
    const start = 10 * DAY;
    expect(reminderTimes(start, 0)).toEqual([start - DAY, start - HOUR]);
    expect(reminderTimes(start, start - 2 * HOUR)).toEqual([start - HOUR]);
    expect(reminderTimes(start, start)).toEqual([]);
    const incident = new Date(2026, 11, 7, 15).getTime();
    const f = followupTimes(incident, [1, 7, 14, 28], incident);
    expect(f).toHaveLength(4);
    expect(f.every((t, i) => new Date(t).getHours() === 10 && (i === 0 || t > f[i - 1]!))).toBe(true);
    expect(followupTimes(incident, [1, 7, 14, 28], incident + 8 * DAY)).toHaveLength(2);
    expect(parseFollowupDays('28, 1 7,14 7')).toEqual([1, 7, 14, 28]);
    expect(parseFollowupDays('0, 7')).toBeUndefined();
    expect(parseFollowupDays('1,2,3,4,5,6,7,8,9')).toBeUndefined();
    expect(parseFollowupDays('')).toBeUndefined();
  });

  it('count the latest answer of each person', () => {
    const t = tally(
      [
        { who: 'a', answer: 'not_attending', at: 1 },
        { who: 'a', answer: 'attending', at: 2 },
        { who: 'b', answer: 'one_to_one', at: 1 },
      ],
      4,
    );
    expect(t).toEqual({ attending: 1, not_attending: 0, one_to_one: 1, waiting: 2 });
    expect(tallyLine(t)).toBe("1 attending, 0 can't attend, 1 one-to-one, 2 not answered");
    // A facilitator's device does not know who was invited: no "not answered".
    expect(tallyLine(tally([{ who: 'a', answer: 'attending', at: 1 }]))).toBe("1 attending, 0 can't attend, 0 one-to-one");
  });

  it('count one answer per person: several devices once, two people with one name twice', () => {
    const owner: Record<string, string> = { mb1: 'dana', mb2: 'dana', mb3: 'sam', mb4: 'sam-other' };
    const opened = [
      { who: 'mb1', name: 'Dana', answer: 'not_attending' as const, at: 1 },
      { who: 'mb2', name: 'Dana', answer: 'attending' as const, at: 2 },
      { who: 'mb3', name: 'Sam Lee', answer: 'attending' as const, at: 1 },
      { who: 'mb4', name: 'Sam Lee', answer: 'one_to_one' as const, at: 1 },
      { who: 'unknown', name: 'Someone', answer: 'attending' as const, at: 1 },
    ];
    const latest = latestPerPerson(opened, (mb) => owner[mb]);
    expect(latest.map((a) => a.who).sort()).toEqual(['mb2', 'mb3', 'mb4', 'unknown']);
    expect(tally(latest.map((a) => ({ who: owner[a.who] ?? a.who, answer: a.answer, at: a.at })))).toEqual({ attending: 3, not_attending: 0, one_to_one: 1 });
  });

  it('word the invitation: attendance may be expected, speaking never, and what stays confidential', () => {
    const words = invitationText(plan()).join(' ');
    expect(words).toContain('Dana Coordinator');
    expect(words).toContain('Training room 2');
    expect(words).toMatch(/attendance may be expected/i);
    expect(words).toMatch(/never have to speak/i);
    expect(words).toMatch(/stays there/i);
    expect(words).toMatch(/not written down or reported to management/i);
    // and its honest limits, as the reach-out notice says them
    expect(words).toMatch(/in danger of harming themselves or others, or if the law requires it/i);
  });
});

describe('pushes', () => {
  it('parse only sound debrief pushes and show neutral words', () => {
    expect(parseDebriefPush({ v: 1, kind: 'debrief', debrief: DASH, sealed: 'AAAA' })).toEqual({ debrief: DASH, sealed: 'AAAA' });
    expect(parseDebriefPush({ v: 1, kind: 'debrief', debrief: 'x', sealed: 'AAAA' })).toBeUndefined();
    expect(parseDebriefPush({ v: 1, kind: 'page', debrief: DASH, sealed: 'AAAA' })).toBeUndefined();
    const now = new Date(2026, 11, 7, 14).getTime();
    const start = new Date(2026, 11, 8, 14).getTime();
    expect(reminderTitle(start, now)).toBe('Appointment at 14:00 tomorrow');
    expect(reminderTitle(start, start - HOUR)).toBe('Appointment at 14:00 today');
    const r = debriefNotification({ debrief: DASH }, { t: 'reminder', start, place: 'Room 2' }, now);
    expect(r.title).toBe('Appointment at 14:00 tomorrow');
    expect(r.options.body).toContain('Room 2');
    const f = debriefNotification({ debrief: DASH }, { t: 'followup' }, now);
    expect(f.title).toBe('How are you doing?');
    expect(f.options.actions?.map((a) => a.title)).toEqual(['Talk to a peer', 'Crisis lines']);
    expect(debriefActionUrl('talk', '/x')).toBe('/reach-out');
    expect(debriefActionUrl('crisis', '/x')).toBe('/?crisis=1');
    expect(debriefActionUrl('', '/x')).toBe('/x');
    const g = debriefNotification(undefined, undefined, now);
    expect(g.title).toBe('Sallyport');
    expect(g.options.body).toBe('You have a reminder. Open Sallyport to see it.');
  });
});

describe('sealed with the client core', () => {
  beforeAll(() => {
    wasm.initSync({ module: readFileSync(new URL('../core/wasm/pkg/sallyport_core_wasm_bg.wasm', import.meta.url)) });
  });
  it('a preview opens with the notification secret only for its debrief and device', () => {
    const keys = wasm.DeviceKeys.generate();
    const secret = (JSON.parse(keys.toJson()) as { notification_secret: string }).notification_secret;
    const device = id(9);
    const preview = { t: 'reminder' as const, start: 1_800_000_000_000, place: 'Room 2' };
    const sealed = fromBase64(toBase64(wasm.seal(keys.notificationPublic, debriefAad(DASH, device), pushPreviewBytes(preview))));
    expect(parsePushPreview(wasm.openSealedWith(secret, debriefAad(DASH, device), sealed))).toEqual(preview);
    expect(() => wasm.openSealedWith(secret, debriefAad(id(5), device), sealed)).toThrow();
    expect(() => wasm.openSealedWith(secret, debriefAad(DASH, id(5)), sealed)).toThrow();
    keys.free();
  });
  it('an rsvp opens only on its device, for its debrief and sender', () => {
    const keys = wasm.DeviceKeys.generate();
    const device = id(10);
    const sender = id(11);
    const sealed = wasm.seal(keys.notificationPublic, rsvpAad(DASH, device, sender), rsvpBytes({ answer: 'attending', at: 7 }));
    expect(parseRsvp(keys.openSealed(rsvpAad(DASH, device, sender), sealed))).toEqual({ answer: 'attending', at: 7 });
    expect(() => keys.openSealed(rsvpAad(DASH, device, id(12)), sealed)).toThrow();
    const other = wasm.DeviceKeys.generate();
    expect(() => other.openSealed(rsvpAad(DASH, device, sender), sealed)).toThrow();
    keys.free();
    other.free();
  });
});
