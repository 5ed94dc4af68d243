//! Sealed notifications: a short payload (a page's incident type and location, a reminder)
//! encrypted to one device's X25519 notification key, to ride inside a Web Push message that the
//! service worker opens. The server and the push service see only ciphertext.
//!
//! This is HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! ChaCha20-Poly1305, from the MLS cipher suite's provider ([`crate::suite`], mls-rs's HPKE): no
//! construction of our own. `info` is the fixed [`INFO`]; put routing data that must not be
//! swapped (the notification id, the recipient device) in `aad`, which is authenticated but not
//! encrypted or carried: the opener supplies the same `aad`.
//!
//! Base mode does not authenticate the sender: anyone who knows the public key can seal to it.
//! Treat an opened payload as a hint to fetch and verify the real (MLS) message, never as proof.
//!
//! Layout: `0x01` · KEM output (the ephemeral X25519 public key, 32 bytes) · AEAD ciphertext
//! (payload + 16-byte tag). Overhead: **49 bytes** ([`OVERHEAD`]). A Web Push payload holds at most
//! 4,096 bytes, of which RFC 8291's aes128gcm encoding takes 86 (header 21 + public key 65, with a
//! 16-byte tag and a 1-byte padding delimiter: 103 in all), so a sealed payload fits when it is at
//! most 3,993 bytes, i.e. a plaintext of at most [`MAX_PAYLOAD`] = 3,944 bytes (less whatever JSON
//! or base64 framing the app adds around it: base64 makes it 4/3 larger).
//!
//! The device's notification key (identity.rs, an x25519-dalek `StaticSecret`) is the HPKE
//! private key as is: both are the raw 32-byte X25519 scalar, and the public key is the raw
//! 32-byte u-coordinate ([`crate::DeviceKeys::notification_public`]).

use mls_rs::crypto::{HpkeCiphertext, HpkePublicKey, HpkeSecretKey};
use mls_rs::CipherSuiteProvider;

use crate::identity::DeviceKeys;
use crate::suite::Suite;

/// The HPKE `info`: fixed and versioned, so a sealed notification cannot be confused with any
/// other use of the same key.
pub const INFO: &[u8] = b"sallyport-seal-v1";

const VERSION: u8 = 1;
const KEM_OUTPUT: usize = 32;
const TAG: usize = 16;

/// Bytes added to the payload: version (1) + KEM output (32) + AEAD tag (16).
pub const OVERHEAD: usize = 1 + KEM_OUTPUT + TAG;

/// Largest payload whose sealed form fits a 4,096-byte Web Push message (see the module docs).
pub const MAX_PAYLOAD: usize = 4096 - 103 - OVERHEAD;

/// Why sealing or opening failed. Opening fails the same way for every tampered, truncated or
/// misaddressed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the payload is larger than {MAX_PAYLOAD} bytes")]
    TooLarge,
    /// The provider's AEAD refuses empty plaintexts; a notification always says something.
    #[error("the payload is empty")]
    Empty,
    #[error("not a valid X25519 public key")]
    BadKey,
    #[error("the sealed notification does not open with this key and aad")]
    Open,
}

/// Seals `payload` to the device whose notification public key is `recipient`.
pub fn seal(recipient: &[u8; 32], aad: &[u8], payload: &[u8]) -> Result<Vec<u8>, SealError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(SealError::TooLarge);
    }
    if payload.is_empty() {
        return Err(SealError::Empty);
    }
    // A low-order point would make the shared secret all zeros (RFC 9180 §7.1.4): any scalar
    // (clamped, so a multiple of the cofactor) sends it to zero, so one probe tells.
    let mut probe = [0u8; 32];
    getrandom::fill(&mut probe).expect("the operating system's random source is unavailable");
    let probe = x25519_dalek::StaticSecret::from(probe);
    if !probe.diffie_hellman(&x25519_dalek::PublicKey::from(*recipient)).was_contributory() {
        return Err(SealError::BadKey);
    }
    let cs = Suite::new();
    let pk = HpkePublicKey::from(recipient.to_vec());
    cs.kem_public_key_validate(&pk).map_err(|_| SealError::BadKey)?;
    let ct = cs.hpke_seal(&pk, INFO, Some(aad), payload).map_err(|_| SealError::BadKey)?;
    debug_assert_eq!(ct.kem_output.len(), KEM_OUTPUT);
    let mut out = Vec::with_capacity(1 + ct.kem_output.len() + ct.ciphertext.len());
    out.push(VERSION);
    out.extend_from_slice(&ct.kem_output);
    out.extend_from_slice(&ct.ciphertext);
    Ok(out)
}

/// Opens a sealed notification with the recipient's 32-byte X25519 secret.
pub fn open(recipient_secret: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < OVERHEAD || sealed[0] != VERSION {
        return Err(SealError::Open);
    }
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*recipient_secret)).to_bytes();
    let ct = HpkeCiphertext {
        kem_output: sealed[1..1 + KEM_OUTPUT].to_vec(),
        ciphertext: sealed[1 + KEM_OUTPUT..].to_vec(),
    };
    let plaintext = Suite::new()
        .hpke_open(
            &ct,
            &HpkeSecretKey::from(recipient_secret.to_vec()),
            &HpkePublicKey::from(public.to_vec()),
            INFO,
            Some(aad),
        )
        .map_err(|_| SealError::Open)?;
    Ok(plaintext.to_vec())
}

/// Opens a notification sealed to this device's notification key.
pub fn open_for(keys: &DeviceKeys, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    open(&keys.notification_secret().to_bytes(), aad, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_the_device_notification_key() {
        let keys = DeviceKeys::generate();
        let payload = b"Page: staff assault, Unit B";
        let sealed = seal(&keys.notification_public().0, b"notif-42", payload).unwrap();
        assert_eq!(sealed.len(), payload.len() + OVERHEAD);
        assert_eq!(open_for(&keys, b"notif-42", &sealed).unwrap(), payload);
        // Fresh ephemeral key each time.
        assert_ne!(seal(&keys.notification_public().0, b"notif-42", payload).unwrap(), sealed);
        assert_eq!(open_for(&keys, b"", &seal(&keys.notification_public().0, b"", b"x").unwrap()).unwrap(), b"x");
        assert_eq!(seal(&keys.notification_public().0, b"", b""), Err(SealError::Empty));
        assert_eq!(seal(&[0u8; 32], b"", b"x"), Err(SealError::BadKey), "the all-zero point is refused");
    }

    #[test]
    fn the_provider_and_x25519_dalek_agree_on_key_formats() {
        // A key pair derived by the ciphersuite opens what is sealed to it, and its public key is
        // x25519-dalek's public key of the same 32-byte secret.
        let cs = Suite::new();
        let (sk, pk) = cs.kem_derive(&[9u8; 32]).unwrap();
        let secret: [u8; 32] = sk.as_ref().try_into().unwrap();
        assert_eq!(x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret)).as_bytes(), pk.as_ref());
        let sealed = seal(pk.as_ref().try_into().unwrap(), b"a", b"hello").unwrap();
        assert_eq!(open(&secret, b"a", &sealed).unwrap(), b"hello");
    }

    #[test]
    fn tampering_wrong_key_or_wrong_aad_fail() {
        let keys = DeviceKeys::generate();
        let sealed = seal(&keys.notification_public().0, b"aad", b"payload").unwrap();
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(open_for(&keys, b"aad", &bad), Err(SealError::Open), "flipped byte {i}");
        }
        assert_eq!(open_for(&keys, b"other", &sealed), Err(SealError::Open));
        assert_eq!(open_for(&DeviceKeys::generate(), b"aad", &sealed), Err(SealError::Open));
        assert_eq!(open_for(&keys, b"aad", &sealed[..sealed.len() - 1]), Err(SealError::Open));
        assert_eq!(open_for(&keys, b"aad", &sealed[..10]), Err(SealError::Open));
    }

    #[test]
    fn size_limit_fits_web_push() {
        let keys = DeviceKeys::generate();
        let sealed = seal(&keys.notification_public().0, b"", &vec![0u8; MAX_PAYLOAD]).unwrap();
        assert_eq!(sealed.len() + 103, 4096);
        assert_eq!(seal(&keys.notification_public().0, b"", &vec![0u8; MAX_PAYLOAD + 1]), Err(SealError::TooLarge));
    }
}
