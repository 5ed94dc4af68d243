//! Secrets the server only ever holds hashed (invitation codes, unlinked mailboxes' secrets), and
//! the one constant-time comparison used to check them.

/// SHA-256 of an invitation code or a mailbox secret; only hashes are stored.
pub type Hash32 = [u8; 32];

pub fn sha256(bytes: &[u8]) -> Hash32 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Whether `secret` hashes to `hash`, in time that does not depend on where they differ.
pub fn secret_matches(secret: &[u8], hash: &Hash32) -> bool {
    let given = sha256(secret);
    given.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_its_own_hash() {
        let hash = sha256(b"open sesame");
        assert!(secret_matches(b"open sesame", &hash));
        assert!(!secret_matches(b"open sesame!", &hash));
        assert!(!secret_matches(b"", &hash));
    }
}
