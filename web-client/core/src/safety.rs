//! Safety codes: two people compare a number (or scan a QR code) derived from what their MLS
//! credentials hold, the Ed25519 key and the mailbox, to check that no one sits in between. Names
//! play no part: they are not in credentials, and a name shown on screen is not what is checked.
//!
//! Each party's *fingerprint* is SHA-512 iterated [`ITERATIONS`] times (to make grinding a
//! look-alike key expensive): `h₀ = SHA-512(b"sallyport-safety-v2" · mailbox (16 bytes) · key)`,
//! `hᵢ₊₁ = SHA-512(hᵢ · key)`; its first 30 bytes, read as six 5-byte big-endian numbers each taken
//! mod 100,000, give six groups of five digits. The code shows both parties' 30 digits, the
//! numerically smaller first, so both sides see the same 60 digits in 12 groups of five (the
//! layout Signal uses), and any other key or mailbox on either side changes it.
//!
//! The QR payload is `0x02` · the showing side's fingerprint (32 bytes) · the other side's (32
//! bytes); the fingerprints stand for the keys and bind the mailboxes too. The scanning side
//! accepts it when the first is the other party's and the second its own.

use sallyport_protocol::MailboxId;
use sha2::{Digest, Sha512};

/// Hash iterations per fingerprint.
pub const ITERATIONS: usize = 5200;
const CONTEXT: &[u8] = b"sallyport-safety-v2";
const QR_VERSION: u8 = 2;

/// One party, as its MLS credential has it: the Ed25519 key and the mailbox.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub signing_key: &'a [u8; 32],
    pub mailbox: &'a MailboxId,
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

/// One device's half of every safety code it is part of: 30 digits in six groups of five. A new
/// device shows its own, and the device asked to approve it shows the same from the directory's
/// keys: the person compares the two (protocol/README.md §14). Others see it as the "safety code
/// change" a new device brings.
pub fn device_code(party: Party<'_>) -> String {
    let digits = digits30(&fingerprint(party));
    digits.as_bytes().chunks(5).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
}

fn fingerprint(party: Party<'_>) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(CONTEXT);
    h.update(party.mailbox.as_bytes());
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

    fn mailbox(n: u8) -> MailboxId {
        MailboxId::from_slice(&[n; 16]).unwrap()
    }

    fn party<'a>(key: &'a [u8; 32], mailbox: &'a MailboxId) -> Party<'a> {
        Party { signing_key: key, mailbox }
    }

    #[test]
    fn device_code_is_that_devices_half_of_every_safety_code() {
        let (ka, kb) = ([1u8; 32], [2u8; 32]);
        let (ma, mb) = (mailbox(1), mailbox(2));
        let code = device_code(party(&ka, &ma));
        assert_eq!(code.len(), 35);
        let digits: String = code.split(' ').collect();
        assert!(SafetyCode::new(party(&ka, &ma), party(&kb, &mb)).digits().contains(&digits));
        assert_ne!(device_code(party(&ka, &mb)), code, "the mailbox is part of it");
    }

    #[test]
    fn code_is_symmetric_and_well_formed() {
        let (ka, kb, ma, mb) = ([1u8; 32], [2u8; 32], mailbox(1), mailbox(2));
        let a = SafetyCode::new(party(&ka, &ma), party(&kb, &mb));
        let b = SafetyCode::new(party(&kb, &mb), party(&ka, &ma));
        assert_eq!(a.digits(), b.digits());
        assert_eq!(a.digits().len(), 60);
        assert!(a.digits().bytes().all(|c| c.is_ascii_digit()));
        let shown = a.display();
        assert_eq!(shown.split(' ').count(), 12);
        assert!(shown.split(' ').all(|g| g.len() == 5));
    }

    /// The code is a function of keys and mailboxes alone, fixed by this vector (also computed
    /// from the module documentation with Python's hashlib): a change to the derivation changes
    /// every code people may already have compared.
    #[test]
    fn code_is_stable() {
        let (ka, kb, ma, mb) = ([1u8; 32], [2u8; 32], mailbox(1), mailbox(2));
        let code = SafetyCode::new(party(&ka, &ma), party(&kb, &mb));
        assert_eq!(code.display(), STABLE_VECTOR);
        assert_eq!(SafetyCode::new(party(&ka, &ma), party(&kb, &mb)), code);
    }

    const STABLE_VECTOR: &str = "52071 52604 59502 54516 93794 95879 62428 40884 72834 77110 73415 94413";

    #[test]
    fn any_other_key_or_mailbox_changes_the_code() {
        let (ka, kb, kc, ma, mb, mc) = ([1u8; 32], [2u8; 32], [3u8; 32], mailbox(1), mailbox(2), mailbox(3));
        let base = SafetyCode::new(party(&ka, &ma), party(&kb, &mb)).digits();
        for other in [
            SafetyCode::new(party(&ka, &ma), party(&kc, &mb)),
            SafetyCode::new(party(&kc, &ma), party(&kb, &mb)),
            SafetyCode::new(party(&ka, &ma), party(&kb, &mc)),
            SafetyCode::new(party(&ka, &mc), party(&kb, &mb)),
        ] {
            assert_ne!(other.digits(), base);
        }
    }

    #[test]
    fn qr_verifies_only_the_matching_pair_and_direction() {
        let (ka, kb, kc, ma, mb) = ([1u8; 32], [2u8; 32], [3u8; 32], mailbox(1), mailbox(2));
        let a = SafetyCode::new(party(&ka, &ma), party(&kb, &mb));
        let b = SafetyCode::new(party(&kb, &mb), party(&ka, &ma));
        assert!(b.verify_qr(&a.qr_payload()));
        assert!(a.verify_qr(&b.qr_payload()));
        assert!(!a.verify_qr(&a.qr_payload()), "my own code read back must not verify");
        let mitm = SafetyCode::new(party(&kc, &mb), party(&ka, &ma));
        assert!(!a.verify_qr(&mitm.qr_payload()));
        let mut bad = a.qr_payload();
        bad[0] = 1;
        assert!(!b.verify_qr(&bad), "a version-1 payload (which bound handles) is refused");
        assert!(!b.verify_qr(&a.qr_payload()[..64]));
    }
}
