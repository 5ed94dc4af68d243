//! REST calls (protocol §11). Signed requests carry Sallyport-Device/-Time/-Signature; every failure
//! becomes an ApiError with the server's stable code (or `network` / `internal`).

import type { DeviceKeys } from './core';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Who signs: the device id, its keys and the server origin it enrolled with. */
export interface Signer {
  device: string;
  keys: DeviceKeys;
  origin: string;
}

export interface CrisisLine {
  name: string;
  description?: string;
  call?: string;
  text?: string;
}

export interface ServerConfig {
  crisis_lines: CrisisLine[];
  vapid_public_key?: string;
  confidentiality_notice?: string;
}

export interface EnrolResponse {
  account: string;
  device: string;
  mailbox: string;
  display_name: string;
  roles: string[];
  /** False while this device waits for approval by another device of the account. */
  approved: boolean;
}

/** A device in `GET /v1/directory` (protocol/README.md §14). */
export interface DirectoryDevice {
  device: string;
  mailbox: string;
  signing_key: string;
  notification_key: string;
  approved: boolean;
  approved_by?: string;
  approval?: string;
}

export interface Person {
  account: string;
  display_name: string;
  roles: string[];
  /** The approved devices' mailboxes (which of them this device trusts: engine/trust.ts). */
  mailboxes: string[];
  devices: DirectoryDevice[];
}

export interface DeviceRow {
  device: string;
  account: string;
  display_name: string;
  roles: string[];
  created_at: number;
  revoked_at?: number;
  approved: boolean;
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const err = body as { code?: unknown; message?: unknown } | undefined;
    const code = typeof err?.code === 'string' ? err.code : response.status >= 500 ? 'internal' : 'bad_request';
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${response.status}`;
    throw new ApiError(code, message, response.status);
  }
  if (body === undefined || body === null || typeof body !== 'object') {
    throw new ApiError('internal', 'The server gave an unexpected answer. Try again later.', response.status);
  }
  return body as T;
}

/** The last signing time used. The server refuses a signature it has seen (a replay), and two
 *  identical requests signed in the same millisecond (the app asks for the directory from two
 *  places at start) have the same signature: each request gets a later time than the one before. */
let lastSigned = 0;

/** A signing time: now, or 1 ms after the previous one if that is not earlier. */
export function signingTime(now = Date.now()): number {
  lastSigned = Math.max(now, lastSigned + 1);
  return lastSigned;
}

/** Sends a request (signed when `signer` is given, with the mailbox secret when `secret` is). */
async function call(method: string, path: string, body: unknown, signer: Signer | undefined, secret: string | undefined): Promise<Response> {
  const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (secret) headers['Sallyport-Mailbox-Secret'] = secret;
  if (signer) {
    const time = signingTime();
    headers['Sallyport-Device'] = signer.device;
    headers['Sallyport-Time'] = String(time);
    headers['Sallyport-Signature'] = signer.keys.signRequest(signer.device, signer.origin, method, path, time, bytes);
  }
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : (bytes as BodyInit), cache: 'no-store' });
  } catch {
    throw new ApiError('network', 'The server cannot be reached. Check the connection and try again.');
  }
}

export async function request<T>(method: string, path: string, body?: unknown, signer?: Signer, secret?: string): Promise<T> {
  return parse<T>(await call(method, path, body, signer, secret));
}

/** A signed GET answered with text rather than JSON (a CSV download); refusals as `request`'s. */
export async function requestText(path: string, signer: Signer): Promise<string> {
  const response = await call('GET', path, undefined, signer, undefined);
  if (!response.ok) await parse(response);
  return response.text();
}

export const getConfig = () => request<ServerConfig>('GET', '/v1/config');

export const enrol = (body: { code: string; signing_key: string; notification_key: string }) =>
  request<EnrolResponse>('POST', '/v1/enrol', body);

export const getMe = (s: Signer) => request<EnrolResponse>('GET', '/v1/me', undefined, s);
/** An approved device of the account signs a new one (`signature` from `signDeviceApproval`). */
export const approveDevice = (s: Signer, device: string, signature: string) =>
  requestMaybeEmpty<unknown>('POST', '/v1/devices/approve', { device, signature }, s);
export const getDirectory = (s: Signer) => request<{ people: Person[] }>('GET', '/v1/directory', undefined, s);

export const createInvitation = (s: Signer, body: { display_name: string; roles: string[]; account?: string }) =>
  request<{ link: string; expires_at: number }>('POST', '/v1/admin/invitations', body, s);

export const listDevices = (s: Signer) => request<{ devices: DeviceRow[] }>('GET', '/v1/admin/devices', undefined, s);

// Ids go in bodies, never in paths or query strings: a reverse proxy's access log would tie them
// to a client address and a time (protocol §11).
export const revokeDevice = (s: Signer, device: string) => request<{ revoked: boolean }>('POST', '/v1/admin/devices/revoke', { device }, s);

export const setEapLine = (s: Signer, body: { name: string; call: string; text?: string; description?: string }) =>
  request<ServerConfig>('PUT', '/v1/admin/eap-line', body, s);

// Answers 204 (protocol §12): `request` would take the empty body for an error.
export const addPushSubscription = (s: Signer, body: { endpoint: string; p256dh: string; auth: string }) =>
  requestMaybeEmpty<unknown>('POST', '/v1/push/subscriptions', body, s);

/** A human sentence for an error code shown in the UI. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    switch (e.code) {
      case 'invalid_invitation':
        return 'This invitation is invalid, used or expired.';
      case 'network':
        return e.message;
      case 'forbidden':
        return 'You are not allowed to do this.';
      case 'unauthorized':
        return 'The server did not accept this device’s signature. Check the device clock.';
      case 'device_revoked':
        return 'This device has been revoked.';
      case 'already_claimed':
        return 'Another supporter has taken this request.';
      case 'rate_limited':
        return 'Too many requests from this device. Try again later, or use the crisis lines.';
      case 'training_not_current':
        return `Training is not current: ${e.message}`;
      default:
        return `${e.message} (${e.code})`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

// ---- peer support (protocol §13) ---------------------------------------------------------------

export type Urgency = 'now' | 'today' | 'week';
export type SwitchState = 'available' | 'busy' | 'off';
export const TRAINING_KINDS: { kind: string; label: string }[] = [
  { kind: 'active_listening', label: 'Active listening' },
  { kind: 'crisis_intervention', label: 'Crisis intervention' },
  { kind: 'confidentiality_ethics', label: 'Confidentiality and ethics' },
  { kind: 'trauma_informed_care', label: 'Trauma-informed care' },
  { kind: 'de_escalation', label: 'De-escalation' },
];

export interface TrainingRecord {
  kind: string;
  completed_at: string;
  expires_at: string;
  current: boolean;
}

export interface SupporterRecord {
  account: string;
  display_name: string;
  added_at: number;
  switch: SwitchState;
  switch_at: number;
  training: TrainingRecord[];
  training_current: boolean;
  training_missing: string[];
}

export interface Stretch {
  start: number;
  end: number;
  account: string;
  display_name: string;
  source: string;
}

export interface Rotation {
  id: string;
  name: string;
  members: { account: string; display_name: string }[];
  handoff: string;
  time_zone: string;
  period_days: number;
  start_date: string;
  upcoming: Stretch[];
}

export interface Override {
  id: string;
  rotation: string;
  account: string;
  display_name: string;
  start: number;
  end: number;
}

export interface Swap {
  id: string;
  rotation: string;
  proposer: { account: string; display_name: string };
  counterpart: { account: string; display_name: string };
  proposer_shift_start: number;
  counterpart_shift_start: number;
  status: 'proposed' | 'accepted' | 'declined' | 'cancelled';
}

export interface Shift {
  rotation: string;
  rotation_name: string;
  start: number;
  end: number;
  source: string;
}

export interface QueuedRequest {
  id: string;
  urgency: Urgency;
  created_at: number;
  level: number;
}

/** A call that may answer 204 (no body): resolves to undefined then. */
export async function requestMaybeEmpty<T>(method: string, path: string, body: unknown, signer: Signer | undefined, secret?: string): Promise<T | undefined> {
  const response = await call(method, path, body, signer, secret);
  if (response.status === 204) return undefined;
  return parse<T>(response);
}

const enc = encodeURIComponent;

export const getRoster = (s: Signer) => request<{ supporters: SupporterRecord[] }>('GET', '/v1/support/roster', undefined, s);
export const getMyRecord = (s: Signer) => request<SupporterRecord>('GET', '/v1/support/roster/me', undefined, s);
export const addSupporter = (s: Signer, account: string) => requestMaybeEmpty<SupporterRecord>('PUT', `/v1/support/roster/${enc(account)}`, undefined, s);
export const removeSupporter = (s: Signer, account: string) => request<{ removed: boolean }>('DELETE', `/v1/support/roster/${enc(account)}`, undefined, s);
export const recordTraining = (s: Signer, account: string, kind: string, body: { completed_at: string; expires_at: string }) =>
  request<SupporterRecord>('PUT', `/v1/support/roster/${enc(account)}/training/${enc(kind)}`, body, s);
export const setSwitch = (s: Signer, state: SwitchState) => request<SupporterRecord>('PUT', '/v1/support/switch', { switch: state }, s);
export const getRotations = (s: Signer) => request<{ rotations: Rotation[]; overrides: Override[] }>('GET', '/v1/support/rotations', undefined, s);
export interface RotationBody {
  name: string;
  members: string[];
  handoff: string;
  time_zone: string;
  period_days?: number;
  start_date: string;
}
export const createRotation = (s: Signer, body: RotationBody) => request<Rotation>('POST', '/v1/support/rotations', body, s);
export const deleteRotation = (s: Signer, id: string) => request<{ deleted: boolean }>('DELETE', `/v1/support/rotations/${enc(id)}`, undefined, s);
export const createOverride = (s: Signer, body: { rotation: string; account: string; start: number; end: number }) =>
  request<Override>('POST', '/v1/support/overrides', body, s);
export const deleteOverride = (s: Signer, id: string) => request<{ deleted: boolean }>('DELETE', `/v1/support/overrides/${enc(id)}`, undefined, s);
export const getSwaps = (s: Signer) => request<{ swaps: Swap[] }>('GET', '/v1/support/swaps', undefined, s);
export const proposeSwap = (s: Signer, body: { rotation: string; counterpart: string; my_shift_start: number; their_shift_start: number }) =>
  request<Swap>('POST', '/v1/support/swaps', body, s);
export const answerSwap = (s: Signer, id: string, answer: 'accept' | 'decline' | 'cancel') =>
  request<Swap>('POST', `/v1/support/swaps/${enc(id)}/${answer}`, undefined, s);
export const getOnCall = (s: Signer) => request<{ on_call: { account: string; display_name: string }[] }>('GET', '/v1/support/oncall', undefined, s);
export const getMyShifts = (s: Signer, limit = 10) => request<{ shifts: Shift[] }>('GET', `/v1/support/shifts/me?limit=${limit}`, undefined, s);

export const createSupportRequest = (s: Signer, body: { urgency: Urgency; mailbox: string; mailbox_secret: string; key_package: string }) =>
  request<{ id: string }>('POST', '/v1/support/requests', body, s);
export const getRequestStatus = (id: string, secret: string) =>
  request<{ status: 'waiting' | 'accepted'; urgency: Urgency; created_at: number }>('POST', '/v1/support/requests/status', { id, mailbox_secret: secret });
export const getQueue = (s: Signer) => request<{ requests: QueuedRequest[] }>('GET', '/v1/support/queue', undefined, s);
export const claimRequest = (s: Signer, id: string) => request<{ id: string; mailbox: string; urgency: Urgency }>('POST', '/v1/support/requests/claim', { id }, s);
/** Tells the server the request is now held by `to` (after adding them to the conversation and before leaving). */
export const handOffRequest = (s: Signer, id: string, to: string) =>
  request<{ claimed_by: string }>('POST', '/v1/support/requests/handoff', { id, to }, s);
export const closeRequestAsSupporter = (s: Signer, id: string) => requestMaybeEmpty<unknown>('POST', '/v1/support/requests/close', { id }, s);
export const closeRequestAsRequester = (id: string, secret: string) => requestMaybeEmpty<unknown>('POST', '/v1/support/requests/close', { id }, undefined, secret);
export const addSupportPush = (mailbox: string, secret: string, body: { endpoint: string; p256dh: string; auth: string }) =>
  requestMaybeEmpty<unknown>('POST', '/v1/support/mailboxes/push', { mailbox, ...body }, undefined, secret);
