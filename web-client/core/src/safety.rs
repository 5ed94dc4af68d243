//! Safety codes: two people compare a number (or scan a QR code) derived from their MLS
//! credential keys and handles, to check that no one sits in between.
//!
//! Each party's *fingerprint* is SHA-512 iterated [`ITERATIONS`] times (to make grinding a
//! look-alike key expensive): `h₀ = SHA-512(b"sallyport-safety-v1" · u16 BE handle length · handle
//! · key)`, `hᵢ₊₁ = SHA-512(hᵢ · key)`; its first 30 bytes, read as six 5-byte big-endian numbers
//! each taken mod 100,000, give six groups of five digits. The code shows both parties' 30 digits,
//! the numerically smaller first, so both sides see the same 60 digits in 12 groups of five (the
//! layout Signal uses), and any other key or handle on either side changes it.
//!
//! The QR payload is `0x01` · the showing side's fingerprint (32 bytes) · the other side's (32
//! bytes); the fingerprints stand for the keys and bind the handles too. The scanning side accepts
//! it when the first is the other party's and the second its own.

use sha2::{Digest, Sha512};

/// Hash iterations per fingerprint.
pub const ITERATIONS: usize = 5200;
const CONTEXT: &[u8] = b"sallyport-safety-v1";
const QR_VERSION: u8 = 1;

/// One party: an Ed25519 credential key and the handle shown for it.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub signing_key: &'a [u8; 32],
    pub handle: &'a str,
}

/// The safety code between "me" and "them", as seen from my side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyCode {
    mine: [u8; 64],
    theirs: [u8; 64],
}

impl SafetyCode {
    pub fn new(me: Party<'_>, them: Party<'_>) -> Self {
        SafetyCode { mine: fingerprint(me), theirs: fingerprint(them) }
    }

    /// The 60 digits, order-independent: identical on both sides.
    pub fn digits(&self) -> String {
        let (a, b) = (digits30(&self.mine), digits30(&self.theirs));
        if a <= b { a + &b } else { b + &a }
    }

    /// The digits in 12 groups of five, separated by spaces.
    pub fn display(&self) -> String {
        let digits = self.digits();
        digits.as_bytes().chunks(5).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
    }

    /// Bytes for a QR code shown on my screen.
    pub fn qr_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(65);
        out.push(QR_VERSION);
        out.extend_from_slice(&self.mine[..32]);
        out.extend_from_slice(&self.theirs[..32]);
        out
    }

    /// Whether a QR payload scanned from the other party's screen matches: it must name them
    /// first and me second.
    pub fn verify_qr(&self, scanned: &[u8]) -> bool {
        scanned.len() == 65
            && scanned[0] == QR_VERSION
            && scanned[1..33] == self.theirs[..32]
            && scanned[33..65] == self.mine[..32]
    }
}

fn fingerprint(party: Party<'_>) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(CONTEXT);
    h.update((party.handle.len() as u16).to_be_bytes());
    h.update(party.handle.as_bytes());
    h.update(party.signing_key);
    let mut out: [u8; 64] = h.finalize().into();
    for _ in 0..ITERATIONS {
        let mut h = Sha512::new();
        h.update(out);
        h.update(party.signing_key);
        out = h.finalize().into();
    }
    out
}

fn digits30(fp: &[u8; 64]) -> String {
    fp[..30]
        .chunks(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", n % 100_000)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party<'a>(key: &'a [u8; 32], handle: &'a str) -> Party<'a> {
        Party { signing_key: key, handle }
    }

    #[test]
    fn code_is_symmetric_and_well_formed() {
        let (ka, kb) = ([1u8; 32], [2u8; 32]);
        let a = SafetyCode::new(party(&ka, "alice"), party(&kb, "bob"));
        let b = SafetyCode::new(party(&kb, "bob"), party(&ka, "alice"));
        assert_eq!(a.digits(), b.digits());
        assert_eq!(a.digits().len(), 60);
        assert!(a.digits().bytes().all(|c| c.is_ascii_digit()));
        let shown = a.display();
        assert_eq!(shown.split(' ').count(), 12);
        assert!(shown.split(' ').all(|g| g.len() == 5));
    }

    #[test]
    fn any_other_key_or_handle_changes_the_code() {
        let (ka, kb, kc) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let base = SafetyCode::new(party(&ka, "alice"), party(&kb, "bob")).digits();
        for other in [
            SafetyCode::new(party(&ka, "alice"), party(&kc, "bob")),
            SafetyCode::new(party(&kc, "alice"), party(&kb, "bob")),
            SafetyCode::new(party(&ka, "alice"), party(&kb, "bobby")),
            SafetyCode::new(party(&ka, "mallory"), party(&kb, "bob")),
        ] {
            assert_ne!(other.digits(), base);
        }
    }

    #[test]
    fn qr_verifies_only_the_matching_pair_and_direction() {
        let (ka, kb, kc) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let a = SafetyCode::new(party(&ka, "alice"), party(&kb, "bob"));
        let b = SafetyCode::new(party(&kb, "bob"), party(&ka, "alice"));
        assert!(b.verify_qr(&a.qr_payload()));
        assert!(a.verify_qr(&b.qr_payload()));
        assert!(!a.verify_qr(&a.qr_payload()), "my own code read back must not verify");
        let mitm = SafetyCode::new(party(&kc, "bob"), party(&ka, "alice"));
        assert!(!a.verify_qr(&mitm.qr_payload()));
        let mut bad = a.qr_payload();
        bad[0] = 2;
        assert!(!b.verify_qr(&bad));
        assert!(!b.verify_qr(&a.qr_payload()[..64]));
    }
}
