//! Critical incidents (protocol §16) as pure data: the incident types and their labels, the sealed
//! preview (`{"type","location","note"}`), the `aad` it is sealed with (`page_aad`), the page push
//! the service worker receives, the board's shapes and the plain words for what it lists. Shared
//! by the service worker and the app (no I/O here).

import { fromBase64, utf8 } from './bytes';
import { INCIDENT_TYPES } from './incidentTypes';

export { INCIDENT_TYPES };

export const incidentTypeLabel = (id: string): string => INCIDENT_TYPES.find((t) => t.id === id)?.label ?? 'Incident';

export const SEVERITIES = [1, 2, 3] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What severity n means, in the words on the buttons. */
export const SEVERITY_HINT: Record<Severity, string> = { 1: 'Most severe', 2: 'Serious', 3: 'Less severe' };

/** What the declarer seals to every recipient device. */
export interface Preview {
  type: string;
  location: string;
  note: string;
}

/** Longest note the form takes: the sealed preview stays under the server's 2,048 bytes. */
export const MAX_NOTE_CHARS = 500;

/** The preview from its opened bytes; undefined unless it is JSON of that shape. */
export function parsePreview(bytes: Uint8Array): Preview | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (!v || typeof v !== 'object' || typeof v.type !== 'string') return undefined;
    return {
      type: v.type,
      location: typeof v.location === 'string' ? v.location : '',
      note: typeof v.note === 'string' ? v.note : '',
    };
  } catch {
    return undefined;
  }
}

export const previewBytes = (p: Preview): Uint8Array => utf8.encode(JSON.stringify({ type: p.type, location: p.location, note: p.note }));

const ID = /^[A-Za-z0-9_-]{22}$/;

/** `"sallyport-page-v1\0" ‖ incident id (16 bytes) ‖ device id (16 bytes)` (protocol `page_aad`). */
export function pageAad(incident: string, device: string): Uint8Array {
  if (!ID.test(incident) || !ID.test(device)) throw new Error('an incident or device id is not 16 bytes of base64url');
  const prefix = utf8.encode('sallyport-page-v1\0');
  const out = new Uint8Array(prefix.length + 32);
  out.set(prefix, 0);
  out.set(fromBase64(incident), prefix.length);
  out.set(fromBase64(device), prefix.length + 16);
  return out;
}

/** The service worker's part of a page push (protocol §16). */
export interface PagePush {
  incident: string;
  severity: Severity;
  test: boolean;
  token: string;
  /** The preview sealed to this device (standard base64), or null. */
  sealed: string | null;
}

/** A page push from its decrypted JSON; undefined unless `kind` is `page` and every field is sound. */
export function parsePagePush(data: unknown): PagePush | undefined {
  const o = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  if (o.v !== 1 || o.kind !== 'page') return undefined;
  const { incident, severity, token, sealed } = o;
  if (typeof incident !== 'string' || !ID.test(incident)) return undefined;
  if (severity !== 1 && severity !== 2 && severity !== 3) return undefined;
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  const s = typeof sealed === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(sealed) ? sealed : null;
  return { incident, severity, test: o.test === true, token, sealed: s };
}

/** The notification's title: "Critical incident · Severity 1" or "Test page · Severity 1". */
export const pageTitle = (p: { severity: number; test: boolean }): string =>
  `${p.test ? 'Test page' : 'Critical incident'} · Severity ${p.severity}`;

/** The notification's body from the opened preview: "Assault on staff — Unit C", then the note. */
export function pageBody(p: Preview): string {
  const head = [incidentTypeLabel(p.type), p.location].filter(Boolean).join(' — ');
  return p.note ? `${head}\n${p.note}` : head;
}

/** What a page shows when its details cannot be opened (no key, no seal, the core failed). */
export const GENERIC_PAGE_TITLE = 'Critical incident — open Sallyport';
export const GENERIC_PAGE_BODY = 'Open Sallyport to see the details and answer.';

export type Answer = 'responding' | 'unavailable';
export const ANSWERS: { id: Answer; label: string }[] = [
  { id: 'responding', label: 'Responding' },
  { id: 'unavailable', label: 'Unavailable' },
];

/** The notification that replaces a page once its action answered it (or failed to). */
export function answeredNotification(answer: Answer, ok: boolean): { title: string; body: string } {
  return ok
    ? { title: `You answered: ${answer}`, body: 'Sallyport has told the team. Open Sallyport to change your answer.' }
    : { title: 'Your answer was not sent', body: 'Open Sallyport to answer.' };
}

// ---- the board (GET /v1/incidents/{id}) ----------------------------------------------------------

export interface PersonRef {
  account: string;
  display_name: string;
}

export interface Attempt {
  at: number;
  outcome: string;
}

export interface Paged {
  person: PersonRef;
  role: string;
  tier: number;
  paged_at?: number;
  pages: number;
  waiting_until?: number;
  attempts: Attempt[];
  answer?: Answer;
  answered_at?: number;
  eta_at?: number;
}

export interface Board {
  id: string;
  team: string;
  team_name: string;
  severity: number;
  test: boolean;
  declared_at: number;
  declared_by?: PersonRef;
  short_by: number;
  short_roles: Record<string, number>;
  quorum_at?: number;
  first_response_at?: number;
  resolved_at?: number;
  paged: Paged[];
  steps: { at: number; step: string }[];
  sealed?: string;
}

const OUTCOMES: Record<string, string> = {
  sent: 'notification sent',
  gone: 'phone no longer signed up for notifications',
  refused: 'refused by the notification service',
  failed: 'notification service did not answer',
  no_subscription: 'notifications are not set up on their phone',
  dropped: 'not sent: the server was too busy',
};

/** A push attempt's outcome in plain words. */
export const outcomeLabel = (outcome: string): string => OUTCOMES[outcome] ?? outcome.replace(/_/g, ' ');

/** "short by 2 (a clinician, a peer)" or undefined once the quorum is met. */
export function shortfall(board: Pick<Board, 'short_by' | 'short_roles'>): string | undefined {
  if (board.short_by <= 0) return undefined;
  const roles = Object.entries(board.short_roles)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([role, n]) => (n === 1 ? `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role.replace(/_/g, ' ')}` : `${n} ${role.replace(/_/g, ' ')}s`));
  return `Short by ${board.short_by}${roles.length ? ` (${roles.join(', ')})` : ''}`;
}

/** An escalation step as the server names it (`tier 1`, `tier 2 (gap)`, `coordinators`), in words. */
export function stepLabel(step: string): string {
  const m = /^tier (\d+)( \(gap\))?$/.exec(step);
  if (m) return m[2] ? `Tier ${m[1]}: as many as the gap needs` : `Tier ${m[1]}: everyone on call`;
  if (step === 'coordinators') return 'Coordinators';
  return step;
}

/** Minutes from `now` to `at`, rounded up, never below 0. */
export const minutesUntil = (at: number, now: number): number => Math.max(0, Math.ceil((at - now) / 60_000));
