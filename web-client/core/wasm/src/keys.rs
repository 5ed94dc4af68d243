//! A device's keys (generate, save, restore) and the identity helpers the enrolment screen needs.

use crate::convert::{js_error, object, parse, whole};
use sallyport_core::identity;
use sallyport_core::protocol::{AccountId, DeviceId, MailboxId, PublicKey, Signature};
use wasm_bindgen::prelude::*;

/// A device's secret keys: its Ed25519 signing key (server authentication and MLS credential) and
/// its X25519 notification key. `toJson()` is the saved form and contains the secrets.
#[wasm_bindgen]
pub struct DeviceKeys {
    pub(crate) inner: identity::DeviceKeys,
}

#[wasm_bindgen]
impl DeviceKeys {
    /// Fresh keys from the browser's random source.
    pub fn generate() -> DeviceKeys {
        DeviceKeys { inner: identity::DeviceKeys::generate() }
    }

    /// Restores keys saved with `toJson()`.
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(json: &str) -> Result<DeviceKeys, JsError> {
        Ok(DeviceKeys { inner: serde_json::from_str(json).map_err(js_error)? })
    }

    /// `{"signing_secret": …, "notification_secret": …}`: secret, store it encrypted or not at all
    /// outside the device.
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.inner).expect("keys always serialise")
    }

    /// The Ed25519 public key (unpadded base64url), sent at enrolment.
    #[wasm_bindgen(getter, js_name = signingPublic)]
    pub fn signing_public(&self) -> String {
        self.inner.signing_public().to_text()
    }

    /// The `Sallyport-Signature` header (unpadded base64url) for a REST request by `device` to the
    /// server at `origin`: `method` upper-case, `pathAndQuery` exactly as sent, `body` the exact bytes
    /// (empty for none). Send it with `Sallyport-Device: device` and `Sallyport-Time: timestampMs`.
    #[wasm_bindgen(js_name = signRequest)]
    pub fn sign_request(
        &self,
        device: &str,
        origin: &str,
        method: &str,
        #[wasm_bindgen(js_name = pathAndQuery)] path_and_query: &str,
        #[wasm_bindgen(js_name = timestampMs)] timestamp_ms: f64,
        body: &[u8],
    ) -> Result<String, JsError> {
        let device = parse("device id", device, sallyport_core::protocol::DeviceId::parse)?;
        let timestamp = whole("timestampMs", timestamp_ms)?;
        Ok(self.inner.sign_request(&device, origin, method, path_and_query, timestamp as i64, body).to_text())
    }

    /// This device's approval (unpadded base64url signature) of a new device of its account, for
    /// `POST /v1/devices/approve`: over the new device's ids and keys as the directory lists them.
    #[wasm_bindgen(js_name = signDeviceApproval)]
    pub fn sign_device_approval(
        &self,
        account: &str,
        device: &str,
        mailbox: &str,
        #[wasm_bindgen(js_name = signingKey)] signing_key: &str,
        #[wasm_bindgen(js_name = notificationKey)] notification_key: &str,
    ) -> Result<String, JsError> {
        let d = ApprovedDevice::parse(account, device, mailbox, signing_key, notification_key)?;
        Ok(self.inner.sign_device_approval(&d.account, &d.device, &d.mailbox, &d.signing_key, &d.notification_key).to_text())
    }

    /// The X25519 notification public key (unpadded base64url), sent at enrolment.
    #[wasm_bindgen(getter, js_name = notificationPublic)]
    pub fn notification_public(&self) -> String {
        self.inner.notification_public().to_text()
    }
}

/// The WebSocket URL (`ws[s]://…/v1/ws`) for a server base URL.
#[wasm_bindgen(js_name = wsUrl)]
pub fn ws_url(#[wasm_bindgen(js_name = serverUrl)] server_url: &str) -> String {
    identity::ws_url(server_url)
}

/// Splits an invitation link or bare code: `{ server: string | undefined, code: string }`.
#[wasm_bindgen(js_name = parseInvitation, unchecked_return_type = "{ server?: string; code: string }")]
pub fn parse_invitation(#[wasm_bindgen(js_name = codeOrLink)] code_or_link: &str) -> JsValue {
    let (server, code) = identity::parse_invitation(code_or_link);
    let server = server.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s));
    object(&[("server", server), ("code", JsValue::from_str(&code))]).into()
}

/// A device's ids and keys as the directory lists them (unpadded base64url).
struct ApprovedDevice {
    account: AccountId,
    device: DeviceId,
    mailbox: MailboxId,
    signing_key: PublicKey,
    notification_key: PublicKey,
}

impl ApprovedDevice {
    fn parse(account: &str, device: &str, mailbox: &str, signing_key: &str, notification_key: &str) -> Result<Self, JsError> {
        Ok(ApprovedDevice {
            account: parse("account id", account, AccountId::parse)?,
            device: parse("device id", device, DeviceId::parse)?,
            mailbox: parse("mailbox", mailbox, MailboxId::parse)?,
            signing_key: parse("signing key", signing_key, PublicKey::parse)?,
            notification_key: parse("notification key", notification_key, PublicKey::parse)?,
        })
    }
}

/// Whether `approval` is the device with signing key `approver`'s approval of this device (all
/// unpadded base64url, as the directory lists them). False for anything malformed.
#[wasm_bindgen(js_name = verifyDeviceApproval)]
#[allow(clippy::too_many_arguments)]
pub fn verify_device_approval(
    approver: &str,
    account: &str,
    device: &str,
    mailbox: &str,
    #[wasm_bindgen(js_name = signingKey)] signing_key: &str,
    #[wasm_bindgen(js_name = notificationKey)] notification_key: &str,
    approval: &str,
) -> bool {
    let (Some(approver), Some(approval)) = (PublicKey::parse(approver), Signature::parse(approval)) else {
        return false;
    };
    let Ok(d) = ApprovedDevice::parse(account, device, mailbox, signing_key, notification_key) else {
        return false;
    };
    identity::verify_device_approval(&approver, &d.account, &d.device, &d.mailbox, &d.signing_key, &d.notification_key, &approval)
}

/// A device's own code (30 digits in six groups of five) from its signing key and mailbox
/// (unpadded base64url): shown on a new device and on the device asked to approve it.
#[wasm_bindgen(js_name = deviceCode)]
pub fn device_code(#[wasm_bindgen(js_name = signingKey)] signing_key: &str, mailbox: &str) -> Result<String, JsError> {
    let key = parse("signing key", signing_key, PublicKey::parse)?;
    let mailbox = parse("mailbox", mailbox, MailboxId::parse)?;
    Ok(sallyport_core::safety::device_code(sallyport_core::safety::Party { signing_key: key.as_bytes(), mailbox: &mailbox }))
}
