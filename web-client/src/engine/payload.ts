//! The app-level plaintext inside MLS: JSON `{v:1, kind:"text"|"receipt"|"timer"|"support"|"name"|"incident"|"debrief"|"rsvp", ...}`,
//! encoded for sending and parsed (strictly: anything unknown or malformed is ignored) on receipt.

import { fromUtf8, utf8 } from '../bytes';
import { parsePlan, type DebriefPlan } from '../debriefs';
import { cleanName } from './names';

export type AppPayload =
  | { v: 1; kind: 'text'; id: string; body: string; sentAt: number }
  | { v: 1; kind: 'receipt'; ids: string[] }
  | { v: 1; kind: 'timer'; id: string; seconds: number; sentAt: number }
  // Hand-off: tells the members just added that this is a support conversation (never synced
  // with the directory, which does not know the requester's unlinked mailbox).
  | { v: 1; kind: 'support'; request: string }
  // The name a support requester chose at reach-out, sent by the requester once the group exists
  // (and again when someone is added): it names its sender, end to end, never the server.
  | { v: 1; kind: 'name'; name: string }
  // An incident conversation: its declarer sends the incident and the conversation's name to the
  // members it adds (new members cannot read what was sent before they joined).
  | { v: 1; kind: 'incident'; id: string; title: string }
  // A debriefing or defusing (protocol §18): its coordinator sends the plan, and each change with a
  // higher `sequence` or its cancellation, to the group of invitees and facilitators.
  | ({ v: 1; kind: 'debrief' } & DebriefPlan)
  // An invitee's answer, sealed (client core `seal`, `rsvpAad`) to each device of the coordinator
  // and the facilitators in the group: the other invitees receive it but cannot open it.
  | { v: 1; kind: 'rsvp'; debrief: string; sealed: SealedTo[] };

export interface SealedTo {
  device: string;
  sealed: string;
}

/** Most devices an RSVP is sealed to; each sealed answer's longest base64. */
const MAX_RSVP_DEVICES = 64;
const MAX_SEALED_CHARS = 512;
const ID = /^[A-Za-z0-9_-]{22}$/;

function parseSealedTo(v: unknown): SealedTo[] | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_RSVP_DEVICES) return null;
  const out: SealedTo[] = [];
  for (const x of v) {
    const o = (x && typeof x === 'object' ? x : {}) as Record<string, unknown>;
    if (typeof o.device !== 'string' || !ID.test(o.device) || typeof o.sealed !== 'string' || o.sealed.length > MAX_SEALED_CHARS || !/^[A-Za-z0-9+/=]+$/.test(o.sealed)) return null;
    out.push({ device: o.device, sealed: o.sealed });
  }
  return out;
}

export const encodePayload = (payload: AppPayload): Uint8Array => utf8.encode(JSON.stringify(payload));

/** Parses a decrypted app payload; null for anything unknown or malformed. */
export function parseAppPayload(bytes: Uint8Array): AppPayload | null {
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (o.v !== 1) return null;
  if (o.kind === 'text' && typeof o.id === 'string' && typeof o.body === 'string' && typeof o.sentAt === 'number')
    return { v: 1, kind: 'text', id: o.id, body: o.body, sentAt: o.sentAt };
  if (o.kind === 'receipt' && Array.isArray(o.ids) && o.ids.every((x) => typeof x === 'string'))
    return { v: 1, kind: 'receipt', ids: o.ids as string[] };
  if (o.kind === 'timer' && typeof o.id === 'string' && typeof o.seconds === 'number' && typeof o.sentAt === 'number')
    return { v: 1, kind: 'timer', id: o.id, seconds: o.seconds, sentAt: o.sentAt };
  if (o.kind === 'support' && typeof o.request === 'string') return { v: 1, kind: 'support', request: o.request };
  if (o.kind === 'name' && typeof o.name === 'string') {
    const name = cleanName(o.name);
    return name ? { v: 1, kind: 'name', name } : null;
  }
  if (o.kind === 'incident' && typeof o.id === 'string' && /^[\w-]{22}$/.test(o.id) && typeof o.title === 'string') {
    const title = cleanName(o.title);
    return title ? { v: 1, kind: 'incident', id: o.id, title } : null;
  }
  if (o.kind === 'debrief') {
    const plan = parsePlan(o);
    return plan ? { v: 1, kind: 'debrief', ...plan } : null;
  }
  if (o.kind === 'rsvp' && typeof o.debrief === 'string' && ID.test(o.debrief)) {
    const sealed = parseSealedTo(o.sealed);
    return sealed ? { v: 1, kind: 'rsvp', debrief: o.debrief, sealed } : null;
  }
  return null;
}
