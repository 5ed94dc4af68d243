//! Sealed notifications for the browser: seal a short payload to a device's notification key;
//! the recipient's service worker opens it with its `DeviceKeys`.

use crate::convert::{js_error, parse};
use crate::keys::DeviceKeys;
use sallyport_core::protocol::PublicKey;
use sallyport_core::seal;
use wasm_bindgen::prelude::*;

/// Seals `payload` (at most 3,944 bytes) to the device whose notification public key is
/// `recipient` (its text form, as `DeviceKeys.notificationPublic`). `aad` (routing data: the
/// notification id, the recipient device) is authenticated, not carried: the opener passes it.
#[wasm_bindgen]
pub fn seal(recipient: &str, aad: &[u8], payload: &[u8]) -> Result<Vec<u8>, JsError> {
    let recipient = parse("notification key", recipient, PublicKey::parse)?;
    seal::seal(recipient.as_bytes(), aad, payload).map_err(js_error)
}

#[wasm_bindgen]
impl DeviceKeys {
    /// Opens a notification sealed to this device. Throws if it was tampered with, truncated,
    /// sealed to another key or with another `aad`.
    #[wasm_bindgen(js_name = openSealed)]
    pub fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JsError> {
        seal::open_for(&self.inner, aad, sealed).map_err(js_error)
    }
}
