//! The engine's records as the rest of the app sees them (credentials, conversations, messages,
//! support identities) and the rules on them: disappearing-message timers and expiry, and the order
//! in which a message's delivery status may move.

import type { Urgency } from '../api';
import type { DebriefPlan } from '../debriefs';
import { NEVER, type MessageStatus } from '../db';

export const DEFAULT_TIMER_SECONDS = 7 * 86400;
export const TIMER_CHOICES: { label: string; seconds: number }[] = [
  { label: 'Off', seconds: 0 },
  { label: '1 day', seconds: 86400 },
  { label: '7 days', seconds: 7 * 86400 },
  { label: '30 days', seconds: 30 * 86400 },
];

/** The saved form of an enrolment, as the wasm Session wants it (secret: stored sealed). */
export interface Credentials {
  server_url: string;
  account: string;
  device: string;
  mailbox: string;
  display_name: string;
  roles: string[];
  keys: unknown;
  /** False while this device waits for another device of the account to approve it (absent:
   *  enrolled before approvals existed, so approved). */
  approved?: boolean;
}

export interface Member {
  handle: string;
  mailbox: string;
}

export interface Conversation {
  id: string;
  updatedAt: number;
  members: Member[]; // the others
  timer: number; // seconds; 0 = messages stay
  lastText?: string;
  lastAt?: number;
  removed?: boolean;
  /** A support conversation: the unlinked mailbox this device speaks from (requester side). */
  identity?: string;
  /** A support conversation: which side this device is on and the request (for closing). */
  support?: { role: 'requester' | 'supporter'; request: string };
  closed?: boolean;
  /** An incident conversation (its declarer opened it; responders are added as they answer): the
   *  incident and the name its declarer gave it, known only on the devices (sent inside MLS). */
  incident?: IncidentTag;
  /** A debriefing's or defusing's conversation: the latest plan its coordinator sent (highest
   *  `sequence`), known only on the devices. */
  debrief?: DebriefPlan;
  /** The mailbox the plan came from (its coordinator's device); changes are taken only from it. */
  debriefFrom?: string;
  /** On an organiser's device: the RSVPs sealed to this device, as received (opened by
   *  workflows/debriefs.ts; kept in the sealed conversation record). At most one per sender. */
  rsvps?: ReceivedRsvp[];
}

export interface ReceivedRsvp {
  /** The sender's mailbox (the `aad` names it) and its name as this device knew it. */
  from: string;
  name: string;
  sealed: string;
  receivedAt: number;
}

export interface IncidentTag {
  id: string;
  title: string;
}

/** A pseudonymous identity with its unlinked mailbox (a support request this device made). */
export interface SupportIdentity {
  mailbox: string;
  secret: string;
  handle: string;
  identity: string; // MlsIdentity secret, base64url
  request: string; // request id ('' until the server answered)
  urgency: Urgency;
  createdAt: number;
  /** The random path (`/<pushScope>/`) of this request's own service-worker registration. */
  pushScope?: string;
}

export interface Message {
  key: string;
  conv: string;
  id: string;
  at: number;
  expiresAt: number;
  status: MessageStatus | 'failed';
  from: string;
  body: string;
  mine: boolean;
  notice?: boolean; // a system line ("Dana set disappearing messages to 1 day")
}

export const timerLabel = (seconds: number): string =>
  TIMER_CHOICES.find((c) => c.seconds === seconds)?.label ?? `${Math.round(seconds / 3600)} hours`;

/** When a message stored at `at` under `timer` seconds disappears. */
export const expiryOf = (at: number, timer: number): number => (timer > 0 ? at + timer * 1000 : NEVER);

/** The status a message moves to on an event, never backwards (delivered stays delivered). */
export function advanceStatus(current: Message['status'], next: 'sent' | 'delivered'): Message['status'] {
  const rank: Record<string, number> = { failed: 0, sending: 1, sent: 2, delivered: 3, received: 3 };
  return rank[next]! > rank[current]! ? next : current;
}
