//! Device signatures: one rule for the socket and REST. Ed25519 is verified strictly
//! (`verify_strict`: no small-order key or `R`, canonical encodings), and a key that is weak (of small
//! order, such as the identity point) is refused at enrolment — with such a key a trivial signature
//! verifies under the lax check for every message.

use ed25519_dalek::{Signature, VerifyingKey};

/// Whether `key` may be a device's signing key: a valid point that is not of small order.
pub fn usable_signing_key(key: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|key| !key.is_weak())
}

/// Whether `signature` is `key`'s strict Ed25519 signature of `message`.
pub fn verifies(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(key)
        .is_ok_and(|key| !key.is_weak() && key.verify_strict(message, &Signature::from_bytes(signature)).is_ok())
}

/// Whether a device's signing time `signed_at` (Unix ms, from the client) is at most `max_skew_ms`
/// from `now`. The distance is taken without overflow: `now - signed_at` overflows for a
/// `signed_at` near `i64::MIN`, and where it wraps its `abs()` is negative and would pass.
pub fn signed_within(signed_at: i64, now: i64, max_skew_ms: u64) -> bool {
    signed_at.abs_diff(now) <= max_skew_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey, Verifier as _};

    /// The identity point: small order, and `R = identity, s = 0` "signs" anything laxly.
    const IDENTITY: [u8; 32] = {
        let mut key = [0u8; 32];
        key[0] = 1;
        key
    };

    fn trivial_signature() -> [u8; 64] {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&IDENTITY);
        signature
    }

    #[test]
    fn a_weak_key_is_refused_and_its_trivial_signature_does_not_verify() {
        assert!(!usable_signing_key(&IDENTITY));
        let lax = VerifyingKey::from_bytes(&IDENTITY).unwrap().verify(b"anything", &Signature::from_bytes(&trivial_signature()));
        assert!(lax.is_ok(), "the lax check accepts it, which is why it is not used");
        assert!(!verifies(&IDENTITY, b"anything", &trivial_signature()));
    }

    #[test]
    fn a_real_key_signs_and_nothing_else_verifies() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = signing.verifying_key().to_bytes();
        assert!(usable_signing_key(&key));
        let signature = signing.sign(b"message").to_bytes();
        assert!(verifies(&key, b"message", &signature));
        assert!(!verifies(&key, b"other", &signature));
        assert!(!verifies(&key, b"message", &trivial_signature()));
        let not_a_point = (0u8..=255).map(|b| [b; 32]).find(|k| VerifyingKey::from_bytes(k).is_err()).unwrap();
        assert!(!usable_signing_key(&not_a_point));
    }

    #[test]
    fn the_signing_time_window_holds_at_the_extremes() {
        let now = 1_796_593_538_252;
        assert!(signed_within(now - 300_000, now, 300_000));
        assert!(signed_within(now + 300_000, now, 300_000));
        assert!(!signed_within(now - 300_001, now, 300_000));
        for signed_at in [i64::MIN, i64::MIN + now, i64::MAX, i64::MAX - now] {
            assert!(!signed_within(signed_at, now, 300_000), "{signed_at}");
            assert!(!signed_within(now, signed_at, 300_000), "{signed_at} as now");
        }
        assert!(signed_within(i64::MIN, i64::MIN, 0));
    }
}
