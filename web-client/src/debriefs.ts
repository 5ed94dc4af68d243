//! Debriefings, defusings and follow-ups (protocol §18) as pure data and rules: the plan sent
//! inside MLS and its strict parsing, CISM time proposals, reminder and follow-up times, the RSVP
//! tally, the invitation's words, the sealed push preview and the `aad`s. Shared by the service
//! worker and the app (no I/O here).

import { fromBase64, utf8 } from './bytes';

export type SessionKind = 'defusing' | 'debriefing';
export type RsvpAnswer = 'attending' | 'not_attending' | 'one_to_one';
export const RSVP_ANSWERS: readonly RsvpAnswer[] = ['attending', 'not_attending', 'one_to_one'];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Longest place or call link, person name or incident title carried in a plan. */
export const MAX_TEXT = 200;
/** Most facilitators a plan names. */
export const MAX_FACILITATORS = 8;
/** Longest session, in minutes. */
export const MAX_DURATION = 8 * 60;

export interface PlanPerson {
  account: string;
  name: string;
}

/** A session's plan, as the coordinator's client sends it inside the group (each change with a
 *  higher `sequence`; a cancellation is the plan with `cancelled: true`). */
export interface DebriefPlan {
  id: string;
  session: SessionKind;
  /** Start, ms since the epoch (UTC). */
  start: number;
  /** Minutes. */
  duration: number;
  /** The place or a call link (optional). */
  place?: string;
  coordinator: PlanPerson;
  facilitators: PlanPerson[];
  incident?: { id: string; title: string };
  sequence: number;
  cancelled?: boolean;
}

const ID = /^[A-Za-z0-9_-]{22}$/;

function text(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  // eslint-disable-next-line no-control-regex
  if (!t || [...t].length > MAX_TEXT || /[\u0000-\u001f\u007f-\u009f]/.test(t)) return undefined;
  return t;
}

function person(v: unknown): PlanPerson | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const name = text(o.name);
  return typeof o.account === 'string' && ID.test(o.account) && name ? { account: o.account, name } : undefined;
}

const wholeIn = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** The plan from a payload's fields; undefined unless every field is sound (strict, like every kind). */
export function parsePlan(o: Record<string, unknown>): DebriefPlan | undefined {
  if (typeof o.id !== 'string' || !ID.test(o.id)) return undefined;
  if (o.session !== 'defusing' && o.session !== 'debriefing') return undefined;
  if (!wholeIn(o.start, 0, 8.64e15) || !wholeIn(o.duration, 1, MAX_DURATION) || !wholeIn(o.sequence, 0, 1_000_000)) return undefined;
  const coordinator = person(o.coordinator);
  if (!coordinator || !Array.isArray(o.facilitators) || o.facilitators.length > MAX_FACILITATORS) return undefined;
  const facilitators = o.facilitators.map(person);
  if (facilitators.some((f) => !f)) return undefined;
  let place: string | undefined;
  if (o.place !== undefined) {
    place = text(o.place);
    if (!place) return undefined;
  }
  let incident: DebriefPlan['incident'];
  if (o.incident !== undefined) {
    const i = o.incident as Record<string, unknown> | null;
    const title = i && typeof i === 'object' ? text(i.title) : undefined;
    if (!i || typeof i.id !== 'string' || !ID.test(i.id) || !title) return undefined;
    incident = { id: i.id, title };
  }
  if (o.cancelled !== undefined && o.cancelled !== true) return undefined;
  return {
    id: o.id,
    session: o.session,
    start: o.start,
    duration: o.duration,
    ...(place ? { place } : {}),
    coordinator,
    facilitators: facilitators as PlanPerson[],
    ...(incident ? { incident } : {}),
    sequence: o.sequence,
    ...(o.cancelled ? { cancelled: true } : {}),
  };
}

/** What a person said, once opened: the inner plaintext of an RSVP. */
export interface Rsvp {
  answer: RsvpAnswer;
  at: number;
}

export const rsvpBytes = (r: Rsvp): Uint8Array => utf8.encode(JSON.stringify({ answer: r.answer, at: r.at }));

export function parseRsvp(bytes: Uint8Array): Rsvp | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (!v || typeof v !== 'object' || !RSVP_ANSWERS.includes(v.answer as RsvpAnswer) || !wholeIn(v.at, 0, 8.64e15)) return undefined;
    return { answer: v.answer as RsvpAnswer, at: v.at };
  } catch {
    return undefined;
  }
}

function concat(prefix: string, ...ids: string[]): Uint8Array {
  for (const id of ids) if (!ID.test(id)) throw new Error('an id is not 16 bytes of base64url');
  const p = utf8.encode(prefix);
  const out = new Uint8Array(p.length + 16 * ids.length);
  out.set(p, 0);
  ids.forEach((id, i) => out.set(fromBase64(id), p.length + 16 * i));
  return out;
}

/** `"sallyport-debrief-v1\0" ‖ debrief id ‖ device id` (protocol §18, `debriefs::debrief_aad`). */
export const debriefAad = (debrief: string, device: string): Uint8Array => concat('sallyport-debrief-v1\0', debrief, device);

/** `"sallyport-rsvp-v1\0" ‖ debrief id ‖ recipient device id ‖ sender mailbox id` (16 bytes each):
 *  an RSVP opens only for its debrief, on its device, as sent from its sender's mailbox. */
export const rsvpAad = (debrief: string, device: string, senderMailbox: string): Uint8Array =>
  concat('sallyport-rsvp-v1\0', debrief, device, senderMailbox);

// ---- proposals -----------------------------------------------------------------------------------

/** The first whole quarter hour at or after `t`. */
const quarter = (t: number): number => Math.ceil(t / (15 * 60_000)) * 15 * 60_000;

/** A local time `hour`:00 on the day of `t` (the device's time zone). */
function atHour(t: number, hour: number): number {
  const d = new Date(t);
  d.setHours(hour, 0, 0, 0);
  return d.getTime();
}

export interface Proposal {
  session: SessionKind;
  start: number;
  duration: number;
  /** The window CISM gives this session, for the form to warn outside it. */
  earliest: number;
  latest: number;
}

/**
 * CISM's proposals from an incident's time: a defusing as soon as it can be gathered (the next
 * quarter hour at least 30 minutes from now), within 8 hours of the incident; a debriefing 24–72
 * hours after, at 10:00 local on the first day at least 24 h after the incident (or, if that
 * falls before now, the next 10:00 still in the window).
 */
export function proposals(incidentAt: number, now: number): { defusing: Proposal; debriefing: Proposal } {
  const defEarliest = Math.max(incidentAt, now);
  const defusingStart = quarter(defEarliest + 30 * 60_000);
  const earliest = incidentAt + DAY;
  const latest = incidentAt + 3 * DAY;
  // 10:00 local on each day from the incident's: the first not before the window nor now.
  let start: number | undefined;
  for (let d = 0; d <= 4 && start === undefined; d++) {
    const t = atHour(incidentAt + d * DAY, 10);
    if (t >= earliest && t >= now && t <= latest) start = t;
  }
  start ??= quarter(Math.max(now, earliest) + HOUR);
  return {
    defusing: { session: 'defusing', start: defusingStart, duration: 60, earliest: incidentAt, latest: incidentAt + 8 * HOUR },
    debriefing: { session: 'debriefing', start, duration: 120, earliest, latest },
  };
}

/** When a session's reminders go: 24 h and 1 h before, dropping those already past. */
export function reminderTimes(start: number, now: number): number[] {
  return [start - DAY, start - HOUR].filter((t) => t > now);
}

/** The follow-ups' times: `days` after the incident (the programme's offsets), dropping past ones;
 *  each at 10:00 local that day. */
export function followupTimes(incidentAt: number, days: number[], now: number): number[] {
  return days.map((d) => atHour(incidentAt + d * DAY, 10)).filter((t) => t > now);
}

/** The programme's default follow-up days (protocol §18). */
export const DEFAULT_FOLLOWUP_DAYS = [1, 7, 14, 28];

/** Whether `days` is a valid set of follow-up days: 1–8 distinct whole days from 1 to 365, ascending. */
export function validFollowupDays(days: number[]): boolean {
  return days.length >= 1 && days.length <= 8 && days.every((d, i) => wholeIn(d, 1, 365) && (i === 0 || d > days[i - 1]!));
}

/** "1, 7, 14, 28" → [1, 7, 14, 28] (sorted, duplicates dropped); undefined if not valid. */
export function parseFollowupDays(s: string): number[] | undefined {
  const parts = s.split(/[\s,]+/).filter(Boolean);
  if (!parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const days = [...new Set(parts.map(Number))].sort((a, b) => a - b);
  return validFollowupDays(days) ? days : undefined;
}

// ---- the tally -----------------------------------------------------------------------------------

export interface Tally {
  attending: number;
  not_attending: number;
  one_to_one: number;
  /** Invitees who have not answered (known only where the invitees are: the coordinator's device). */
  waiting?: number;
}

/** The latest answer per person (by `at`) counted; `invited` is how many invitees there are, if known. */
export function tally(answers: { who: string; answer: RsvpAnswer; at: number }[], invited?: number): Tally {
  const latest = new Map<string, { answer: RsvpAnswer; at: number }>();
  for (const a of answers) {
    const had = latest.get(a.who);
    if (!had || a.at >= had.at) latest.set(a.who, a);
  }
  const t: Tally = { attending: 0, not_attending: 0, one_to_one: 0 };
  for (const a of latest.values()) t[a.answer]++;
  if (invited !== undefined) t.waiting = Math.max(0, invited - latest.size);
  return t;
}

/**
 * The latest answer of each person from the RSVPs opened on an organiser's device: answers from a
 * person's several devices (their mailboxes, mapped by `ownerOf` to their account) count once, and
 * two people with the same name count twice. A mailbox `ownerOf` does not know counts on its own.
 */
export function latestPerPerson<A extends { who: string; at: number }>(opened: A[], ownerOf: (mailbox: string) => string | undefined): A[] {
  const latest = new Map<string, A>();
  for (const a of opened) {
    const key = ownerOf(a.who) ?? `mailbox:${a.who}`;
    const had = latest.get(key);
    if (!had || had.at <= a.at) latest.set(key, a);
  }
  return [...latest.values()];
}

export const tallyLine = (t: Tally): string =>
  `${t.attending} attending, ${t.not_attending} can't attend, ${t.one_to_one} one-to-one` + (t.waiting === undefined ? '' : `, ${t.waiting} not answered`);

export const ANSWER_LABEL: Record<RsvpAnswer, string> = {
  attending: 'Attending',
  not_attending: "Can't attend",
  one_to_one: "I'd rather talk one-to-one",
};

// ---- words ---------------------------------------------------------------------------------------

export const sessionLabel = (s: SessionKind): string => (s === 'defusing' ? 'Defusing' : 'Debriefing');

/** The conversation's name on the devices: "Debriefing: <incident>" (or the kind alone). */
export const debriefName = (p: DebriefPlan): string => (p.incident ? `${sessionLabel(p.session)}: ${p.incident.title}` : sessionLabel(p.session));

/** "Tuesday 8 December, 14:00–16:00" in the device's time zone. */
export function whenText(start: number, duration: number, locale?: string): string {
  const s = new Date(start);
  const e = new Date(start + duration * 60_000);
  const day = s.toLocaleDateString(locale, { weekday: 'long', day: 'numeric', month: 'long' });
  const hm = (d: Date) => d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  return `${day}, ${hm(s)}–${hm(e)}`;
}

/** The invitation's words: what, when, where, who leads it; that attendance may be expected but
 *  speaking never is; and what stays confidential. */
export function invitationText(p: DebriefPlan, locale?: string): string[] {
  const what = p.session === 'defusing' ? 'a short defusing' : 'a group debriefing';
  const about = p.incident ? ` after “${p.incident.title}”` : '';
  const lines = [
    `${p.coordinator.name} invites you to ${what}${about}.`,
    `When: ${whenText(p.start, p.duration, locale)}.`,
  ];
  if (p.place) lines.push(`Where: ${p.place}.`);
  if (p.facilitators.length) lines.push(`Led by ${p.facilitators.map((f) => f.name).join(', ')}.`);
  lines.push(
    'Your attendance may be expected, but you never have to speak: you can listen, and say only what you choose.',
    'What is said there stays there: it is not written down or reported to management. Like a peer supporter, a facilitator may have to act if someone is in danger of harming themselves or others, or if the law requires it. Only the facilitators and the coordinator see your answer to this invitation.',
  );
  return lines;
}

// ---- the sealed push preview (what the service worker shows) ------------------------------------

/** What the coordinator seals to each device for a push: a reminder (start, and the place only if
 *  the coordinator included it) or a follow-up. Neutral words only: it shows on a lock screen. */
export type PushPreview = { t: 'reminder'; start: number; place?: string } | { t: 'followup' };

export const pushPreviewBytes = (p: PushPreview): Uint8Array => utf8.encode(JSON.stringify(p));

export function parsePushPreview(bytes: Uint8Array): PushPreview | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (v?.t === 'followup') return { t: 'followup' };
    if (v?.t === 'reminder' && wholeIn(v.start, 0, 8.64e15)) {
      const place = text(v.place);
      return place ? { t: 'reminder', start: v.start, place } : { t: 'reminder', start: v.start };
    }
  } catch {
    // not a preview
  }
  return undefined;
}

/** "Appointment at 14:00 tomorrow" (or "today", or on a weekday and date). */
export function reminderTitle(start: number, now: number, locale?: string): string {
  const s = new Date(start);
  const hm = s.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const dayOf = (t: number) => new Date(t).toDateString();
  if (dayOf(start) === dayOf(now)) return `Appointment at ${hm} today`;
  if (dayOf(start) === dayOf(now + DAY)) return `Appointment at ${hm} tomorrow`;
  return `Appointment at ${hm} on ${s.toLocaleDateString(locale, { weekday: 'long', day: 'numeric', month: 'long' })}`;
}

export const FOLLOWUP_TITLE = 'How are you doing?';
export const FOLLOWUP_BODY = 'A peer supporter is there if you want to talk.';
export const GENERIC_DEBRIEF_TITLE = 'Sallyport';
export const GENERIC_DEBRIEF_BODY = 'You have a reminder. Open Sallyport to see it.';

/** The push's service-worker fields `{"v":1,"kind":"debrief","debrief","sealed"}`; undefined unless sound. */
export function parseDebriefPush(data: unknown): { debrief: string; sealed: string } | undefined {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (o.v !== 1 || o.kind !== 'debrief' || typeof o.debrief !== 'string' || !ID.test(o.debrief)) return undefined;
  if (typeof o.sealed !== 'string' || o.sealed.length > 4096 || !/^[A-Za-z0-9+/=_-]+$/.test(o.sealed)) return undefined;
  return { debrief: o.debrief, sealed: o.sealed };
}

/** `YYYY-MM-DDTHH:MM` in the device's time zone, for an `<input type="datetime-local">`. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The time a `datetime-local` value means on this device; undefined if it is not one. */
export function fromLocalInput(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(s);
  if (!m) return undefined;
  const t = new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!).getTime();
  return Number.isFinite(t) ? t : undefined;
}
