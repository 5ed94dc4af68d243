//! The client core for the browser: `#[wasm_bindgen]` exports over `sallyport-core`. This crate only
//! converts between JS values and the core's types; every decision stays in the core. Bytes cross
//! as `Uint8Array`, ids and keys as their protocol text forms (group ids as hex), structured results
//! as plain objects (typed in the generated `.d.ts`).

mod convert;
mod keys;
mod mls;
mod safety;
mod seal;
mod session;

pub use keys::{DeviceKeys, device_code, parse_invitation, verify_device_approval, ws_url};
pub use mls::{MlsClient, MlsIdentity};
pub use safety::SafetyCode;
pub use seal::seal;
pub use session::{Session, new_mailbox};
