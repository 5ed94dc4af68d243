//! The bytes a device signs to authenticate a connection. Binding the server's origin stops a
//! signature made for one server being replayed at another; the nonce makes it single-use.

use crate::{AccountId, DeviceId, MailboxId, Nonce, PublicKey};

const CONTEXT: &[u8] = b"sallyport-auth-v1";

/// `"sallyport-auth-v1" 0x00 device(16) nonce(32) timestamp_ms(i64 BE) origin(UTF-8)`.
pub fn auth_message(device: &DeviceId, nonce: &Nonce, origin: &str, timestamp_ms: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 1 + 16 + 32 + 8 + origin.len());
    m.extend_from_slice(CONTEXT);
    m.push(0);
    m.extend_from_slice(device.as_bytes());
    m.extend_from_slice(nonce.as_bytes());
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m.extend_from_slice(origin.as_bytes());
    m
}

const REQUEST_CONTEXT: &[u8] = b"sallyport-request-v1";

/// What a device signs for a REST request (protocol/README.md §11):
/// `"sallyport-request-v1" 0x00 device(16) timestamp_ms(i64 BE) origin 0x00 METHOD 0x00
/// path_and_query 0x00 SHA-256(body)`.
pub fn request_message(
    device: &DeviceId,
    timestamp_ms: i64,
    origin: &str,
    method: &str,
    path_and_query: &str,
    body_sha256: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(REQUEST_CONTEXT.len() + 60 + origin.len() + method.len() + path_and_query.len());
    m.extend_from_slice(REQUEST_CONTEXT);
    m.push(0);
    m.extend_from_slice(device.as_bytes());
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m.extend_from_slice(origin.as_bytes());
    m.push(0);
    m.extend_from_slice(method.as_bytes());
    m.push(0);
    m.extend_from_slice(path_and_query.as_bytes());
    m.push(0);
    m.extend_from_slice(body_sha256);
    m
}

const APPROVAL_CONTEXT: &[u8] = b"sallyport-device-approval-v1";

/// What an existing device of an account signs to approve a new device of the same account
/// (protocol/README.md §14): `"sallyport-device-approval-v1" 0x00 account(16) device(16)
/// mailbox(16) signing_key(32) notification_key(32)`. Other members' clients verify it with a key
/// they already trust before they add the new device to a conversation; the server cannot make one.
pub fn device_approval_message(
    account: &AccountId,
    device: &DeviceId,
    mailbox: &MailboxId,
    signing_key: &PublicKey,
    notification_key: &PublicKey,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(APPROVAL_CONTEXT.len() + 1 + 16 * 3 + 32 * 2);
    m.extend_from_slice(APPROVAL_CONTEXT);
    m.push(0);
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(device.as_bytes());
    m.extend_from_slice(mailbox.as_bytes());
    m.extend_from_slice(signing_key.as_bytes());
    m.extend_from_slice(notification_key.as_bytes());
    m
}

/// Header names of a signed REST request.
pub const DEVICE_HEADER: &str = "sallyport-device";
pub const TIME_HEADER: &str = "sallyport-time";
pub const SIGNATURE_HEADER: &str = "sallyport-signature";

/// The origin (`scheme://host[:port]`) of a URL, as both sides must write it: lower-case, without
/// a path or trailing slash.
pub fn origin_of(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_drops_path_and_case() {
        assert_eq!(origin_of("HTTPS://Relay.Example.org:8443/v1/ws?x"), "https://relay.example.org:8443");
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
