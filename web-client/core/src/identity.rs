//! A device's identity: its Ed25519 signing key (which authenticates it to the server and will be
//! its MLS credential key) and its X25519 notification key, plus the [`Credentials`] that enrolment
//! returns. Secrets never appear in `Debug` output.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, Nonce, PublicKey, Signature, auth};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;
use x25519_dalek::StaticSecret;

/// The two secret keys a device holds. Serialises as the two 32-byte secrets in unpadded base64url
/// (`{"signing_secret": …, "notification_secret": …}`), so treat any serialised form as a secret.
#[derive(Clone)]
pub struct DeviceKeys {
    signing: SigningKey,
    notification: StaticSecret,
}

impl DeviceKeys {
    /// Fresh keys from the operating system's random source.
    pub fn generate() -> Self {
        Self::from_secret_bytes(random_32(), random_32())
    }

    /// Keys from their 32-byte secrets (the Ed25519 seed and the X25519 scalar).
    pub fn from_secret_bytes(signing: [u8; 32], notification: [u8; 32]) -> Self {
        DeviceKeys { signing: SigningKey::from_bytes(&signing), notification: StaticSecret::from(notification) }
    }

    /// The Ed25519 public key the server verifies `auth` with.
    pub fn signing_public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The X25519 public key senders seal notifications to.
    pub fn notification_public(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.notification).to_bytes())
    }

    /// The signature for an `auth` frame answering `nonce` from the server at `server_url`.
    pub fn sign_auth(&self, device: &DeviceId, nonce: &Nonce, server_url: &str, timestamp_ms: i64) -> Signature {
        let message = auth::auth_message(device, nonce, &auth::origin_of(server_url), timestamp_ms);
        Signature(self.signing.sign(&message).to_bytes())
    }

    /// The `Sallyport-Signature` of a REST request (protocol/README.md §11) to the server at
    /// `server_url`; `path_and_query` is the request target as sent.
    pub fn sign_request(
        &self,
        device: &DeviceId,
        server_url: &str,
        method: &str,
        path_and_query: &str,
        timestamp_ms: i64,
        body: &[u8],
    ) -> Signature {
        use sha2::Digest as _;
        let body_hash: [u8; 32] = sha2::Sha256::digest(body).into();
        let message =
            auth::request_message(device, timestamp_ms, &auth::origin_of(server_url), method, path_and_query, &body_hash);
        Signature(self.signing.sign(&message).to_bytes())
    }

    /// This device's approval of a new device of its account (protocol/README.md §14): a
    /// signature over the new device's ids and keys, which other members' clients check with
    /// [`verify_device_approval`] before they add the new device to a conversation.
    pub fn sign_device_approval(
        &self,
        account: &AccountId,
        device: &DeviceId,
        mailbox: &MailboxId,
        signing_key: &PublicKey,
        notification_key: &PublicKey,
    ) -> Signature {
        let message = auth::device_approval_message(account, device, mailbox, signing_key, notification_key);
        Signature(self.signing.sign(&message).to_bytes())
    }

    /// The Ed25519 key itself, for the MLS layer (its credential key is the same key).
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The X25519 secret, for opening sealed notifications.
    pub fn notification_secret(&self) -> &StaticSecret {
        &self.notification
    }
}

/// Whether `signature` is `approver`'s approval of the device with these ids and keys (strict
/// Ed25519: no small-order keys, canonical signatures only).
pub fn verify_device_approval(
    approver: &PublicKey,
    account: &AccountId,
    device: &DeviceId,
    mailbox: &MailboxId,
    signing_key: &PublicKey,
    notification_key: &PublicKey,
    signature: &Signature,
) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(approver.as_bytes()) else {
        return false;
    };
    if key.is_weak() {
        return false;
    }
    let message = auth::device_approval_message(account, device, mailbox, signing_key, notification_key);
    key.verify_strict(&message, &ed25519_dalek::Signature::from_bytes(signature.as_bytes())).is_ok()
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public halves only: a Debug print of credentials must be safe to log.
        f.debug_struct("DeviceKeys")
            .field("signing_public", &self.signing_public())
            .field("notification_public", &self.notification_public())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysWire {
    signing_secret: String,
    notification_secret: String,
}

impl Serialize for DeviceKeys {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        KeysWire {
            signing_secret: URL_SAFE_NO_PAD.encode(self.signing.to_bytes()),
            notification_secret: URL_SAFE_NO_PAD.encode(self.notification.to_bytes()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DeviceKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = KeysWire::deserialize(d)?;
        let decode = |text: &str, what: &str| -> Result<[u8; 32], D::Error> {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| de::Error::custom(format!("{what} is not 32 bytes of unpadded base64url")))
        };
        Ok(DeviceKeys::from_secret_bytes(
            decode(&wire.signing_secret, "signing_secret")?,
            decode(&wire.notification_secret, "notification_secret")?,
        ))
    }
}

/// Everything a device needs to connect: what enrolment returned plus the device's own keys.
/// Serialisable so tests, the load generator and the command-line client can keep it in a file;
/// the serialised form contains the secret keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// Base URL of the server (`http://host:port`), as enrolment was made against; its origin is
    /// signed into every `auth`.
    pub server_url: String,
    pub account: AccountId,
    pub device: DeviceId,
    /// The device's linked mailbox, subscribed implicitly by `ready`.
    pub mailbox: MailboxId,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub keys: DeviceKeys,
}

impl Credentials {
    /// The WebSocket URL: `ws://` or `wss://` for `http://` or `https://`, ending in `/v1/ws`.
    pub fn ws_url(&self) -> String {
        ws_url(&self.server_url)
    }

    /// The JSON form, for saving to a file (contains the secret keys).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("credentials always serialise")
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// `{server}/v1/ws` with the scheme switched to `ws`/`wss`.
pub fn ws_url(server_url: &str) -> String {
    let base = server_url.trim().trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if base.contains("://") {
        base.to_owned()
    } else {
        format!("ws://{base}")
    };
    format!("{base}{}", sallyport_protocol::WS_PATH)
}

/// Splits an invitation into the server's base URL (when given a full link) and the code: accepts
/// `http://host:port/enrol#CODE` or a bare `CODE`.
pub fn parse_invitation(code_or_link: &str) -> (Option<String>, String) {
    let text = code_or_link.trim();
    match text.split_once('#') {
        Some((link, code)) if link.contains("://") => (Some(auth::origin_of(link)), code.trim().to_owned()),
        Some((_, code)) => (None, code.trim().to_owned()),
        None => (None, text.to_owned()),
    }
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Verifier as _, VerifyingKey};

    #[test]
    fn auth_signature_verifies_over_the_protocol_message() {
        let keys = DeviceKeys::generate();
        let (device, nonce) = (DeviceId::random(), Nonce::random());
        let sig = keys.sign_auth(&device, &nonce, "http://127.0.0.1:8080/anything", 1_700_000_000_000);
        let vk = VerifyingKey::from_bytes(keys.signing_public().as_bytes()).unwrap();
        let msg = auth::auth_message(&device, &nonce, "http://127.0.0.1:8080", 1_700_000_000_000);
        vk.verify(&msg, &ed25519_dalek::Signature::from_bytes(&sig.0)).unwrap();
        let other = auth::auth_message(&device, &nonce, "http://evil.example", 1_700_000_000_000);
        assert!(vk.verify(&other, &ed25519_dalek::Signature::from_bytes(&sig.0)).is_err());
    }

    #[test]
    fn a_device_approval_verifies_only_for_the_device_and_approver_it_names() {
        let (approver, new) = (DeviceKeys::generate(), DeviceKeys::generate());
        let (account, device, mailbox) = (AccountId::random(), DeviceId::random(), MailboxId::random());
        let (sk, nk) = (new.signing_public(), new.notification_public());
        let sig = approver.sign_device_approval(&account, &device, &mailbox, &sk, &nk);
        let by = approver.signing_public();
        assert!(verify_device_approval(&by, &account, &device, &mailbox, &sk, &nk, &sig));
        // Another approver key, another device, another key for it, another account: refused.
        assert!(!verify_device_approval(&sk, &account, &device, &mailbox, &sk, &nk, &sig));
        assert!(!verify_device_approval(&by, &account, &DeviceId::random(), &mailbox, &sk, &nk, &sig));
        let other = DeviceKeys::generate().signing_public();
        assert!(!verify_device_approval(&by, &account, &device, &mailbox, &other, &nk, &sig));
        assert!(!verify_device_approval(&by, &AccountId::random(), &device, &mailbox, &sk, &nk, &sig));
        // A small-order approver key with an all-zero signature: refused by the strict check.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert!(!verify_device_approval(&PublicKey(weak), &account, &device, &mailbox, &sk, &nk, &Signature([0; 64])));
    }

    #[test]
    fn keys_round_trip_through_json_and_debug_hides_secrets() {
        let creds = Credentials {
            server_url: "http://127.0.0.1:8080".into(),
            account: AccountId::random(),
            device: DeviceId::random(),
            mailbox: MailboxId::random(),
            display_name: "Officer A".into(),
            roles: vec![Role::Staff, Role::PeerSupporter],
            keys: DeviceKeys::generate(),
        };
        let back = Credentials::from_json(&creds.to_json()).unwrap();
        assert_eq!(back.keys.signing_public(), creds.keys.signing_public());
        assert_eq!(back.keys.notification_public(), creds.keys.notification_public());
        assert_eq!(back.roles, creds.roles);

        let debug = format!("{creds:?}");
        let secret = URL_SAFE_NO_PAD.encode(creds.keys.signing.to_bytes());
        let notif = URL_SAFE_NO_PAD.encode(creds.keys.notification.to_bytes());
        assert!(!debug.contains(&secret) && !debug.contains(&notif), "{debug}");
        assert!(debug.contains(&creds.keys.signing_public().to_text()));
    }

    #[test]
    fn notification_key_is_x25519_public_of_the_secret() {
        let keys = DeviceKeys::from_secret_bytes([1; 32], [2; 32]);
        let other = StaticSecret::from([3u8; 32]);
        let shared_a = keys.notification_secret().diffie_hellman(&x25519_dalek::PublicKey::from(&other));
        let shared_b = other.diffie_hellman(&x25519_dalek::PublicKey::from(keys.notification_public().0));
        assert_eq!(shared_a.as_bytes(), shared_b.as_bytes());
    }

    #[test]
    fn invitation_links_and_bare_codes_are_both_accepted() {
        assert_eq!(
            parse_invitation(" http://127.0.0.1:8080/enrol#AbC-12_x \n"),
            (Some("http://127.0.0.1:8080".to_owned()), "AbC-12_x".to_owned())
        );
        assert_eq!(parse_invitation("AbC-12_x"), (None, "AbC-12_x".to_owned()));
        assert_eq!(parse_invitation("#AbC"), (None, "AbC".to_owned()));
    }

    #[test]
    fn ws_url_switches_scheme_and_appends_path() {
        assert_eq!(ws_url("http://127.0.0.1:8080/"), "ws://127.0.0.1:8080/v1/ws");
        assert_eq!(ws_url("https://relay.example.org"), "wss://relay.example.org/v1/ws");
    }
}
