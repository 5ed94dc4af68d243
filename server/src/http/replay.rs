//! Replay protection for signed REST requests: each signature is accepted once within its
//! validity. Kept in memory only (per node): a signature is valid for at most twice the skew
//! window anyway.

use super::auth::MAX_SKEW_MS;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most signatures remembered for replay detection; beyond it, signed requests are refused until
/// old ones age out (a flood of signed requests cannot grow memory without bound).
const MAX_REMEMBERED: usize = 200_000;

/// Signatures seen within the skew window, so a captured request cannot be replayed.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<[u8; 64], i64>>,
}

impl ReplayGuard {
    /// True the first time `signature` is presented within its validity.
    pub fn first_use(&self, signature: &[u8; 64], now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, expires| *expires > now);
            if seen.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        match seen.entry(*signature) {
            std::collections::hash_map::Entry::Occupied(mut e) if *e.get() <= now => {
                e.insert(now + 2 * MAX_SKEW_MS);
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(now + 2 * MAX_SKEW_MS);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once_within_its_window() {
        let guard = ReplayGuard::default();
        assert!(guard.first_use(&[1; 64], 1_000));
        assert!(!guard.first_use(&[1; 64], 2_000));
        assert!(guard.first_use(&[2; 64], 2_000));
        // After the window the timestamp check refuses it anyway; the entry may be reused.
        assert!(guard.first_use(&[1; 64], 1_000 + 2 * MAX_SKEW_MS + 1));
    }
}
