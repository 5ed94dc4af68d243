//! Loads the client core (Rust, compiled to wasm) once and hands out its module.

import init, * as wasm from '../core/wasm/pkg/sallyport_core_wasm.js';
import wasmUrl from '../core/wasm/pkg/sallyport_core_wasm_bg.wasm?url';

export type Core = typeof wasm;
export type { DeviceKeys, MlsClient, MlsEvent, MlsMember, MlsOutgoing, Session, SessionEvent } from '../core/wasm/pkg/sallyport_core_wasm.js';

let loading: Promise<Core> | undefined;

export function loadCore(): Promise<Core> {
  loading ??= init({ module_or_path: wasmUrl }).then(() => wasm);
  return loading;
}

/** Signs a REST request (protocol §11). Older wasm builds lack it: then signed requests fail. */
export function signRequest(
  keys: wasm.DeviceKeys,
  device: string,
  origin: string,
  method: string,
  pathAndQuery: string,
  timestampMs: number,
  body: Uint8Array,
): string {
  const sign = (keys as unknown as { signRequest?: (...a: unknown[]) => string }).signRequest;
  if (typeof sign !== 'function') throw new Error('This build of the client core cannot sign requests.');
  // signRequest(device, origin, method, pathAndQuery, timestampMs, body); an early draft had no device.
  return sign.length === 5
    ? sign.call(keys, origin, method, pathAndQuery, timestampMs, body)
    : sign.call(keys, device, origin, method, pathAndQuery, timestampMs, body);
}

/** `group_send` under a chosen id (to re-send after a reload); falls back to a fresh id. */
export function groupSendWithId(session: wasm.Session, id: string | undefined, to: string[], envelope: Uint8Array): string {
  const withId = (session as unknown as { groupSendWithId?: (id: string, to: string[], env: Uint8Array) => void }).groupSendWithId;
  if (id && typeof withId === 'function') {
    withId.call(session, id, to, envelope);
    return id;
  }
  return session.groupSend(to, envelope);
}

export const hasGroupSendWithId = (session: wasm.Session): boolean =>
  typeof (session as unknown as { groupSendWithId?: unknown }).groupSendWithId === 'function';
