//! Identifiers, keys and opaque byte strings, each with the one text form it has on the wire:
//! fixed-size values as unpadded base64url, payloads as standard padded base64.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::fmt;

macro_rules! fixed_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// A fresh value from the operating system's random source.
            pub fn random() -> Self {
                let mut bytes = [0u8; $len];
                getrandom_fill(&mut bytes);
                Self(bytes)
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }

            /// The unpadded base64url text form used on the wire, in links and in logs.
            pub fn to_text(&self) -> String {
                URL_SAFE_NO_PAD.encode(self.0)
            }

            pub fn parse(text: &str) -> Option<Self> {
                let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
                Self::from_slice(&bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_text())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_text())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s).ok_or_else(|| format!("not a {}-byte base64url value", $len))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_text())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| {
                    de::Error::custom(concat!("expected ", stringify!($len), " bytes in unpadded base64url"))
                })
            }
        }
    };
}

fixed_bytes!(
    /// An account: one enrolled person.
    AccountId, 16);
fixed_bytes!(
    /// A device enrolled to an account.
    DeviceId, 16);
fixed_bytes!(
    /// A mailbox: the unit of routing and durable delivery.
    MailboxId, 16);
fixed_bytes!(
    /// The secret that proves a device may read an unlinked mailbox. The server stores only its
    /// SHA-256 hash.
    MailboxSecret, 32);
fixed_bytes!(
    /// A message id chosen by the sending client (random); re-sending the same id is idempotent.
    MessageId, 16);
fixed_bytes!(
    /// A peer support request (random; names no one).
    RequestId, 16);
fixed_bytes!(
    /// A critical incident (random; says nothing about what happened).
    IncidentId, 16);
fixed_bytes!(
    /// A defusing, debriefing or follow-up check-in (random, chosen by the coordinator's client;
    /// says nothing about what it is about).
    DebriefId, 16);
fixed_bytes!(
    /// A single-use token that answers one page from the notification, without the app. The
    /// server stores only its SHA-256 hash.
    AnswerToken, 32);
fixed_bytes!(
    /// A single-use authentication challenge.
    Nonce, 32);
fixed_bytes!(
    /// An Ed25519 or X25519 public key.
    PublicKey, 32);
fixed_bytes!(
    /// An Ed25519 signature.
    Signature, 64);

fn getrandom_fill(bytes: &mut [u8]) {
    getrandom::fill(bytes).expect("the operating system's random source is unavailable");
}

/// An opaque payload (ciphertext). Base64 on the wire; at most [`crate::MAX_PAYLOAD_BYTES`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Payload(pub bytes::Bytes);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print contents, even ciphertext: logs carry sizes only.
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        // Refuse before decoding anything that cannot fit.
        if text.len() > crate::MAX_PAYLOAD_BYTES.div_ceil(3) * 4 {
            return Err(de::Error::custom(PAYLOAD_TOO_LARGE));
        }
        let bytes = STANDARD.decode(text.as_bytes()).map_err(|_| de::Error::custom("payload is not base64"))?;
        if bytes.len() > crate::MAX_PAYLOAD_BYTES {
            return Err(de::Error::custom(PAYLOAD_TOO_LARGE));
        }
        Ok(Payload(bytes.into()))
    }
}

/// Marker in the serde error that `decode_client_frame` turns into `payload_too_large`.
pub(crate) const PAYLOAD_TOO_LARGE: &str = "payload exceeds 65536 bytes";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_round_trip_through_text() {
        let id = MailboxId::random();
        assert_eq!(MailboxId::parse(&id.to_text()), Some(id));
        assert_eq!(id.to_text().len(), 22);
        assert!(MailboxId::parse("too-short").is_none());
        assert_ne!(MailboxId::random(), MailboxId::random());
    }

    #[test]
    fn payload_debug_never_shows_contents() {
        let p = Payload(bytes::Bytes::from_static(b"secret words"));
        assert_eq!(format!("{p:?}"), "Payload(12 bytes)");
    }
}
