//! REST calls (protocol §11). Signed requests carry Sallyport-Device/-Time/-Signature; every failure
//! becomes an ApiError with the server's stable code (or `network` / `internal`).

import { signRequest, type DeviceKeys } from './core';

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
}

export interface Person {
  account: string;
  display_name: string;
  roles: string[];
  mailboxes: string[];
}

export interface DeviceRow {
  device: string;
  account: string;
  display_name: string;
  roles: string[];
  created_at: number;
  revoked_at?: number;
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

async function request<T>(method: string, path: string, body?: unknown, signer?: Signer): Promise<T> {
  const bytes = body === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(body));
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (signer) {
    const time = Date.now();
    headers['Sallyport-Device'] = signer.device;
    headers['Sallyport-Time'] = String(time);
    headers['Sallyport-Signature'] = signRequest(signer.keys, signer.device, signer.origin, method, path, time, bytes);
  }
  let response: Response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : (bytes as BodyInit), cache: 'no-store' });
  } catch {
    throw new ApiError('network', 'The server cannot be reached. Check the connection and try again.');
  }
  return parse<T>(response);
}

export const getConfig = () => request<ServerConfig>('GET', '/v1/config');

export const enrol = (body: { code: string; signing_key: string; notification_key: string; display_name?: string }) =>
  request<EnrolResponse>('POST', '/v1/enrol', body);

export const getMe = (s: Signer) => request<EnrolResponse>('GET', '/v1/me', undefined, s);
export const getDirectory = (s: Signer) => request<{ people: Person[] }>('GET', '/v1/directory', undefined, s);

export const createInvitation = (s: Signer, body: { display_name: string; roles: string[]; account?: string }) =>
  request<{ link: string; expires_at: number }>('POST', '/v1/admin/invitations', body, s);

export const listDevices = (s: Signer) => request<{ devices: DeviceRow[] }>('GET', '/v1/admin/devices', undefined, s);

export const revokeDevice = (s: Signer, device: string) =>
  request<{ revoked: boolean }>('POST', `/v1/admin/devices/${encodeURIComponent(device)}/revoke`, undefined, s);

export const setEapLine = (s: Signer, body: { name: string; call: string; text?: string; description?: string }) =>
  request<ServerConfig>('PUT', '/v1/admin/eap-line', body, s);

export const addPushSubscription = (s: Signer, body: { endpoint: string; p256dh: string; auth: string }) =>
  request<unknown>('POST', '/v1/push/subscriptions', body, s);

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
      default:
        return `${e.message} (${e.code})`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}
