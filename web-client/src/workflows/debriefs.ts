//! Debriefings, defusings and follow-ups (protocol §18), one function per user action: scheduling
//! (the MLS conversation of invitees, facilitators and the coordinator; the plan sent in it; each
//! reminder preview sealed to each recipient's trusted devices; `PUT /v1/debriefs/{id}`, the plan
//! kept on the device until the server has it and sent again with the same id after a network
//! error), changing the time, cancelling, follow-ups, answering (an RSVP sealed to the organisers'
//! devices only), the organisers' tally, and the programme's follow-up days. Only the lazy debrief
//! screens import this module.

import { ApiError, getDirectory, request, requestMaybeEmpty, type DirectoryDevice, type Person, type Signer } from '../api';
import { app } from '../app';
import { fromBase64, randomId, toBase64 } from '../bytes';
import { loadCore } from '../core';
import {
  DEFAULT_FOLLOWUP_DAYS,
  debriefAad,
  debriefName,
  followupTimes,
  parseRsvp,
  pushPreviewBytes,
  reminderTimes,
  rsvpAad,
  rsvpBytes,
  latestPerPerson,
  tally,
  type DebriefPlan,
  type PlanPerson,
  type PushPreview,
  type RsvpAnswer,
  type SessionKind,
  type Tally,
} from '../debriefs';
import type { Conversation } from '../engine/model';
import type { SealedTo } from '../engine/payload';
import { retryable } from './incidents';
import { trustedDevices } from './conversations';

function signer(): Signer {
  const s = app.signer;
  if (!s) throw new ApiError('locked', 'Sallyport is locked.');
  return s;
}
function messenger() {
  const m = app.messenger;
  if (!m) throw new ApiError('locked', 'Sallyport is locked.');
  return m;
}

export const isCoordinator = (): boolean => (app.messenger?.creds.roles ?? []).includes('coordinator');

/** The server's view of a debrief (`GET /v1/debriefs/{id}`). */
export interface ServerDebrief {
  id: string;
  kind: SessionKind | 'followup';
  at: number;
  revision: number;
  cancelled_at?: number;
  pending: number;
}

/** The coordinator's record of a debrief it made (sealed on its device like every record). */
export interface DebriefRecord {
  plan: DebriefPlan;
  /** The MLS conversation (once made). */
  group?: string;
  invitees: PlanPerson[];
  /** Whether the reminders carry the place. */
  placeInReminders: boolean;
  /** The revision the server last answered; undefined while the server does not have this version. */
  revision?: number;
  /** The version the server has not confirmed yet (a network error): sent again with the same id. */
  unsent?: boolean;
  /** The server refused the last try (not a network error): sent again only when the coordinator asks. */
  refused?: boolean;
  /** The follow-ups scheduled for the people involved: their own debrief ids and times. */
  followups?: { id: string; at: number }[];
  /** People left out because none of their devices could be added or sealed to. */
  skipped?: string[];
}

const LIST = 'debriefs';
const RECORD = (id: string) => `debrief:${id}`;
const MY_ANSWER = (id: string) => `rsvp:${id}`;

async function listIds(): Promise<string[]> {
  return (await messenger().record<string[]>(LIST)) ?? [];
}

async function keep(r: DebriefRecord): Promise<void> {
  const m = messenger();
  await m.setRecord(RECORD(r.plan.id), r);
  const ids = await listIds();
  if (!ids.includes(r.plan.id)) await m.setRecord(LIST, [r.plan.id, ...ids].slice(0, 200));
}

export async function debriefRecord(id: string): Promise<DebriefRecord | undefined> {
  return (await messenger().record<DebriefRecord>(RECORD(id))) ?? undefined;
}

/** The debriefs this coordinator's device made, newest start first. */
export async function myDebriefs(): Promise<DebriefRecord[]> {
  const out: DebriefRecord[] = [];
  for (const id of await listIds()) {
    const r = await debriefRecord(id);
    if (r) out.push(r);
  }
  return out.sort((a, b) => b.plan.start - a.plan.start);
}

/** The directory (everyone enrolled, with devices), names learned on the way. */
export async function directory(): Promise<Person[]> {
  const d = await getDirectory(signer());
  void app.messenger?.learnNames(d.people);
  return d.people;
}

interface Reach {
  mailboxes: string[];
  keys: Record<string, string>;
  devices: DirectoryDevice[];
}

/** The trusted devices of `accounts` (from the directory); people with none are listed apart. */
async function reach(people: Person[], accounts: string[]): Promise<{ reach: Reach; skipped: string[] }> {
  const out: Reach = { mailboxes: [], keys: {}, devices: [] };
  const skipped: string[] = [];
  for (const account of new Set(accounts)) {
    const p = people.find((x) => x.account === account);
    if (!p) {
      skipped.push(account);
      continue;
    }
    const { decision } = await trustedDevices(p);
    if (decision.trusted.length === 0) {
      skipped.push(p.display_name);
      continue;
    }
    for (const d of decision.trusted) {
      out.mailboxes.push(d.mailbox);
      out.keys[d.mailbox] = d.signing_key;
      out.devices.push(d);
    }
  }
  return { reach: out, skipped };
}

type Notice = { at: number; sealed: SealedTo[] };

/** Sealed previews one PUT may carry in all its notices together (protocol §18, `MAX_SEALS_PER_PUT`). */
const MAX_SEALS_PER_PUT = 512;

/** The notices at `times`, each sealed to every device; when that is more than one PUT takes, the
 *  latest times only (the 1-hour reminder before the 24-hour one). */
async function sealNotices(id: string, times: number[], preview: (at: number) => PushPreview, devices: DirectoryDevice[]): Promise<Notice[]> {
  const core = await loadCore();
  const seen = new Set<string>();
  const unique = devices.filter((d) => !seen.has(d.device) && seen.add(d.device));
  if (unique.length > MAX_SEALS_PER_PUT) throw new Error(`Reminders reach at most ${MAX_SEALS_PER_PUT} devices: invite fewer people.`);
  if (unique.length) times = times.slice(-Math.floor(MAX_SEALS_PER_PUT / unique.length));
  return times.map((at) => ({
    at,
    sealed: unique.map((d) => ({ device: d.device, sealed: toBase64(core.seal(d.notification_key, debriefAad(id, d.device), pushPreviewBytes(preview(at)))) })),
  }));
}

/** PUT with the revision last seen; a create whose answer was lost (409) takes the server's revision. */
async function put(id: string, body: { kind: string; at: number; revision: number; notices: Notice[] }): Promise<ServerDebrief> {
  const s = signer();
  try {
    return await request<ServerDebrief>('PUT', `/v1/debriefs/${encodeURIComponent(id)}`, body, s);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409)) throw e;
    // Stale: an earlier try of this same change reached the server. Send it again on its revision.
    const now = await request<ServerDebrief>('GET', `/v1/debriefs/${encodeURIComponent(id)}`, undefined, s);
    return request<ServerDebrief>('PUT', `/v1/debriefs/${encodeURIComponent(id)}`, { ...body, revision: now.revision }, s);
  }
}

export interface ScheduleInput {
  session: SessionKind;
  start: number;
  duration: number;
  place?: string;
  placeInReminders: boolean;
  invitees: PlanPerson[];
  facilitators: PlanPerson[];
  incident?: { id: string; title: string };
}

/** A new plan (its id chosen once: a retry cannot make a second debrief). */
export function newPlan(input: ScheduleInput): DebriefRecord {
  const m = messenger();
  const plan: DebriefPlan = {
    id: randomId(),
    session: input.session,
    start: input.start,
    duration: input.duration,
    ...(input.place ? { place: input.place } : {}),
    coordinator: { account: m.creds.account, name: m.creds.display_name },
    facilitators: input.facilitators,
    ...(input.incident ? { incident: input.incident } : {}),
    sequence: 0,
  };
  return { plan, invitees: input.invitees, placeInReminders: input.placeInReminders, unsent: true };
}

/**
 * Schedules (or sends again) a plan: kept on the device first; the conversation made once with
 * the trusted devices of the invitees and facilitators; the plan sent in it; the reminders sealed
 * to each of those devices; and the server told. A network error keeps it `unsent` (call again);
 * any other refusal throws with the record kept, so the coordinator sees it.
 */
export async function schedule(r: DebriefRecord): Promise<DebriefRecord> {
  const m = messenger();
  await keep(r);
  const people = await directory();
  const others = [...r.invitees, ...r.plan.facilitators].map((p) => p.account).filter((a) => a !== m.creds.account);
  const { reach: to, skipped } = await reach(people, others);
  if (!r.group || !m.conversations.has(r.group)) {
    if (to.mailboxes.length === 0) throw new Error('None of these people has a device Sallyport can add yet.');
    const group = await m.createConversation(debriefName(r.plan), to.mailboxes, { debrief: r.plan }, to.keys);
    r = { ...r, group, skipped };
    await keep(r);
  }
  return sendVersion(r, to.devices);
}

async function sendVersion(r: DebriefRecord, devices: DirectoryDevice[]): Promise<DebriefRecord> {
  const m = messenger();
  const group = r.group!;
  if (m.conversations.get(group)?.debrief?.sequence !== r.plan.sequence || r.unsent) await m.sendDebriefPlan(group, r.plan);
  const now = Date.now();
  const place = r.placeInReminders ? r.plan.place : undefined;
  const notices = r.plan.cancelled ? [] : await sealNotices(r.plan.id, reminderTimes(r.plan.start, now), () => ({ t: 'reminder', start: r.plan.start, ...(place ? { place } : {}) }), devices);
  try {
    if (r.plan.cancelled) {
      await requestMaybeEmpty('DELETE', `/v1/debriefs/${encodeURIComponent(r.plan.id)}`, undefined, signer());
      r = { ...r, unsent: false, refused: false };
    } else {
      const d = await put(r.plan.id, { kind: r.plan.session, at: r.plan.start, revision: r.revision ?? 0, notices });
      r = { ...r, revision: d.revision, unsent: false, refused: false };
    }
  } catch (e) {
    r = { ...r, unsent: true, refused: !retryable(e) };
    await keep(r);
    if (retryable(e)) throw new ApiError('network', 'Saved on this device and sent to the group; the reminders are not set yet. Try again when online.');
    throw e;
  }
  await keep(r);
  return r;
}

async function recipientDevices(r: DebriefRecord): Promise<DirectoryDevice[]> {
  const people = await directory();
  return (await reach(people, [...r.invitees, ...r.plan.facilitators].map((p) => p.account).filter((a) => a !== messenger().creds.account))).reach.devices;
}

/** "Change time": a new sequence in the group; the server moves the reminders. */
export async function changeTime(id: string, start: number, duration: number): Promise<DebriefRecord> {
  const r = await debriefRecord(id);
  if (!r?.group) throw new Error('This debrief was not made on this device.');
  const next: DebriefRecord = { ...r, plan: { ...r.plan, start, duration, sequence: r.plan.sequence + 1 }, unsent: true };
  await keep(next);
  return sendVersion(next, await recipientDevices(next));
}

/** "Cancel": the cancellation in the group; the server deletes the reminders not yet sent. */
export async function cancel(id: string): Promise<DebriefRecord> {
  const r = await debriefRecord(id);
  if (!r?.group) throw new Error('This debrief was not made on this device.');
  const next: DebriefRecord = { ...r, plan: { ...r.plan, cancelled: true, sequence: r.plan.sequence + 1 }, unsent: true };
  await keep(next);
  return sendVersion(next, []);
}

/** Sends a version the server did not confirm again (same id, same sequence). */
export async function resend(id: string): Promise<DebriefRecord> {
  const r = await debriefRecord(id);
  if (!r) throw new Error('Nothing to send.');
  if (!r.group) return schedule(r);
  return sendVersion(r, r.plan.cancelled ? [] : await recipientDevices(r));
}

/**
 * Follow-ups for the people involved: one debrief of kind `followup` per programme day still
 * ahead, each with one notice at its time, "How are you doing?" sealed to each of their trusted
 * devices. Resolves with the follow-ups set.
 */
export async function scheduleFollowups(id: string, incidentAt: number): Promise<{ id: string; at: number }[]> {
  const r = await debriefRecord(id);
  if (!r) throw new Error('This debrief was not made on this device.');
  if (r.followups?.length) return r.followups;
  const days = await followupDays();
  const { reach: to } = await reach(await directory(), r.invitees.map((p) => p.account));
  const out: { id: string; at: number }[] = [];
  for (const at of followupTimes(incidentAt, days, Date.now())) {
    const fid = randomId();
    const notices = await sealNotices(fid, [at], () => ({ t: 'followup' }), to.devices);
    await put(fid, { kind: 'followup', at, revision: 0, notices });
    out.push({ id: fid, at });
    await keep({ ...r, followups: out });
  }
  return out;
}

// ---- invitees ------------------------------------------------------------------------------------

/** The conversation of a debrief on this device (an invitee's, a facilitator's or the coordinator's). */
export function debriefConversation(id: string): Conversation | undefined {
  for (const c of app.messenger?.conversations.values() ?? []) if (c.debrief?.id === id && !c.removed) return c;
  return undefined;
}

export async function myAnswer(id: string): Promise<RsvpAnswer | undefined> {
  return (await messenger().record<RsvpAnswer>(MY_ANSWER(id))) ?? undefined;
}

/** Whether this device is an organiser of the plan (coordinator or facilitator). */
export function isOrganiser(plan: DebriefPlan): boolean {
  const me = app.messenger?.creds.account;
  return !!me && (plan.coordinator.account === me || plan.facilitators.some((f) => f.account === me));
}

/**
 * Answers an invitation: `{answer, at}` sealed to each device of the coordinator and the
 * facilitators that is in the group (their notification keys from the directory), sent in the
 * group. Other invitees receive it and cannot open it; the server sees neither.
 */
export async function answer(group: string, response: RsvpAnswer): Promise<void> {
  const m = messenger();
  const plan = m.conversations.get(group)?.debrief;
  if (!plan) throw new Error('No invitation here.');
  const organisers = new Set([plan.coordinator.account, ...plan.facilitators.map((f) => f.account)]);
  const inGroup = new Set(m.membersOf(group).map((x) => x.mailbox));
  // Their devices this device trusts (engine/trust.ts: the directory cannot swap in a key) that are in the group.
  const devices: DirectoryDevice[] = [];
  for (const p of (await directory()).filter((x) => organisers.has(x.account))) {
    const { decision } = await trustedDevices(p);
    devices.push(...decision.trusted.filter((d) => inGroup.has(d.mailbox)));
  }
  if (devices.length === 0) throw new Error('The organisers cannot be reached right now. Try again later.');
  const core = await loadCore();
  const bytes = rsvpBytes({ answer: response, at: Date.now() });
  const sealed = devices.map((d) => ({ device: d.device, sealed: toBase64(core.seal(d.notification_key, rsvpAad(plan.id, d.device, m.creds.mailbox), bytes)) }));
  await m.sendRsvp(group, plan.id, sealed);
  await m.setRecord(MY_ANSWER(plan.id), response);
}

export interface Answers {
  tally: Tally;
  people: { name: string; answer: RsvpAnswer }[];
}

/** An organiser's view of the answers: the RSVPs sealed to this device, opened; the latest per person. */
export async function answers(group: string): Promise<Answers | undefined> {
  const m = messenger();
  const c = m.conversations.get(group);
  if (!c?.debrief) return undefined;
  const plan = c.debrief;
  const opened: { who: string; name: string; answer: RsvpAnswer; at: number }[] = [];
  for (const r of c.rsvps ?? []) {
    try {
      const a = parseRsvp(m.keys.openSealed(rsvpAad(plan.id, m.creds.device, r.from), fromBase64(r.sealed)));
      if (a) opened.push({ who: r.from, name: c.members.find((x) => x.mailbox === r.from)?.handle ?? r.name, ...a });
    } catch {
      // sealed to another key of this device (enrolled again): not counted
    }
  }
  const record = await debriefRecord(plan.id);
  // One person with several devices answers from each: the latest answer per account (the
  // directory says whose mailbox it is; offline, each mailbox counts on its own).
  const owner = new Map<string, string>();
  if (opened.length > 0) {
    try {
      for (const p of await directory()) for (const mb of p.mailboxes) owner.set(mb, p.account);
    } catch {
      // offline: counted per mailbox
    }
  }
  const latest = latestPerPerson(opened, (mb) => owner.get(mb));
  const invited = record?.invitees.length;
  return { tally: tally(latest.map((a) => ({ who: owner.get(a.who) ?? a.who, answer: a.answer, at: a.at })), invited), people: latest.map((a) => ({ name: a.name, answer: a.answer })) };
}

// ---- the programme -------------------------------------------------------------------------------

/** `GET /v1/programme`: the follow-up days (the defaults on a server without them). */
export async function followupDays(): Promise<number[]> {
  try {
    const r = await request<{ followup_days: number[] }>('GET', '/v1/programme', undefined, signer());
    return r.followup_days;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return DEFAULT_FOLLOWUP_DAYS;
    throw e;
  }
}

/** `PUT /v1/programme` (coordinators). */
export async function setFollowupDays(days: number[]): Promise<number[]> {
  return (await request<{ followup_days: number[] }>('PUT', '/v1/programme', { followup_days: days }, signer())).followup_days;
}
