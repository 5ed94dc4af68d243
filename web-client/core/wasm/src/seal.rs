//! Sealed notifications for the browser: seal a short payload to a device's notification key;
//! the recipient's service worker opens it with its `DeviceKeys`.

use crate::convert::{js_error, parse};
use crate::keys::DeviceKeys;
use sallyport_core::protocol::PublicKey;
use sallyport_core::seal;
use base64::Engine as _;
use wasm_bindgen::prelude::*;

/// Seals `payload` (at most 3,944 bytes) to the device whose notification public key is
/// `recipient` (its text form, as `DeviceKeys.notificationPublic`). `aad` (routing data: the
/// notification id, the recipient device) is authenticated, not carried: the opener passes it.
#[wasm_bindgen]
pub fn seal(recipient: &str, aad: &[u8], payload: &[u8]) -> Result<Vec<u8>, JsError> {
    let recipient = parse("notification key", recipient, PublicKey::parse)?;
    seal::seal(recipient.as_bytes(), aad, payload).map_err(js_error)
}

/// Opens a notification sealed to the notification key whose secret is `notificationSecret` (32
/// bytes in unpadded base64url, the `notification_secret` of `DeviceKeys.toJson()`). For the service
/// worker, which keeps this one secret outside the PIN-sealed store so it can open a page's preview
/// while the app is locked, and never holds the signing key. Throws as `openSealed` does.
#[wasm_bindgen(js_name = openSealedWith)]
pub fn open_sealed_with(
    #[wasm_bindgen(js_name = notificationSecret)] notification_secret: &str,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, JsError> {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(notification_secret)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| JsError::new("notification secret: not 32 bytes of unpadded base64url"))?;
    seal::open(&secret, aad, sealed).map_err(js_error)
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
