//! Loads the client core (Rust, compiled to wasm) once and hands out its module and types; the
//! engine and api.ts call its API (signRequest, groupSendWithId, MLS, Session) directly.

import init, * as wasm from '../core/wasm/pkg/sallyport_core_wasm.js';
import wasmUrl from '../core/wasm/pkg/sallyport_core_wasm_bg.wasm?url';

export type Core = typeof wasm;
export type { DeviceKeys, MlsClient, MlsEvent, MlsMember, MlsOutgoing, Session, SessionEvent } from '../core/wasm/pkg/sallyport_core_wasm.js';

let loading: Promise<Core> | undefined;

export function loadCore(): Promise<Core> {
  loading ??= init({ module_or_path: wasmUrl }).then(() => wasm);
  return loading;
}
