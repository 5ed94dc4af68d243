//! Replay protection for signed REST requests: each signature is accepted once within its
//! validity (5 minutes either side of its signing time).
//!
//! - A state-changing request (POST, PUT, DELETE) claims its signature's hash in the database
//!   ([`crate::store::SettingsStore::claim_signature`]), which every node shares and a restart
//!   keeps: a captured invitation request replayed on another node is refused.
//! - A read (GET) is remembered here, in memory, per device: replaying one on another node gives
//!   the replayer an answer encrypted to the device by TLS, and changes nothing. Each device has
//!   its own bounded set, so one device filling its own refuses no one else.

use super::auth::MAX_SKEW_MS;
use sallyport_protocol::DeviceId;
use std::collections::HashMap;
use std::sync::Mutex;

/// Signatures remembered per device. The signed-request budget (600 a minute by default) keeps an
/// honest device under it within the 10-minute validity; beyond it, that device's reads are
/// refused until old ones age out.
const MAX_PER_DEVICE: usize = 8_192;
/// Devices remembered before those with only expired signatures are first swept.
const SWEEP_AT: usize = 10_000;

/// GET signatures seen within their validity, per device.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    by_device: HashMap<DeviceId, HashMap<[u8; 64], i64>>,
    /// Devices remembered at which the next sweep runs: twice what the last one left (at least
    /// `SWEEP_AT`), so sweeping costs a constant per request however many devices are active.
    sweep_at: usize,
}

impl ReplayGuard {
    /// True the first time `device` presents `signature`, signed at `signed_at`, within its
    /// validity.
    pub fn first_use(&self, device: &DeviceId, signature: &[u8; 64], signed_at: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.by_device.len() >= seen.sweep_at.max(SWEEP_AT) {
            seen.by_device.retain(|_, sigs| sigs.values().any(|expires| *expires > now));
            seen.sweep_at = seen.by_device.len() * 2;
        }
        let mine = seen.by_device.entry(*device).or_default();
        if mine.len() >= MAX_PER_DEVICE {
            mine.retain(|_, expires| *expires > now);
            if mine.len() >= MAX_PER_DEVICE {
                return false;
            }
        }
        let expires = expiry(signed_at);
        match mine.entry(*signature) {
            std::collections::hash_map::Entry::Occupied(mut e) if *e.get() <= now => {
                e.insert(expires);
                true
            }
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(expires);
                true
            }
        }
    }
}

/// When a signature signed at `signed_at` may be forgotten: after the time check refuses it
/// anyway, rounded up to the minute, so a stored row dates its request only to the minute (a
/// support request's row is rounded so too).
pub fn expiry(signed_at: i64) -> i64 {
    const MINUTE_MS: i64 = 60_000;
    (signed_at + MAX_SKEW_MS + 1).div_euclid(MINUTE_MS) * MINUTE_MS + MINUTE_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_kept_past_its_validity_to_the_next_whole_minute() {
        for signed_at in [0, 1, 59_999, 60_000, 1_796_593_538_252] {
            let expires = expiry(signed_at);
            assert!(expires > signed_at + MAX_SKEW_MS, "kept while the time check still accepts it");
            assert!(expires <= signed_at + MAX_SKEW_MS + 61_000);
            assert_eq!(expires % 60_000, 0);
        }
    }

    #[test]
    fn a_signature_is_accepted_once_within_its_window() {
        let guard = ReplayGuard::default();
        let device = DeviceId::random();
        assert!(guard.first_use(&device, &[1; 64], 1_000, 1_000));
        assert!(!guard.first_use(&device, &[1; 64], 1_000, 2_000));
        assert!(guard.first_use(&device, &[2; 64], 2_000, 2_000));
        // After the window the timestamp check refuses it anyway; the entry may be reused.
        assert!(guard.first_use(&device, &[1; 64], 1_000, expiry(1_000)));
    }

    #[test]
    fn a_device_that_fills_its_set_refuses_only_itself() {
        let guard = ReplayGuard::default();
        let (flooder, other) = (DeviceId::random(), DeviceId::random());
        for i in 0..MAX_PER_DEVICE as u32 {
            let mut sig = [0u8; 64];
            sig[..4].copy_from_slice(&i.to_be_bytes());
            assert!(guard.first_use(&flooder, &sig, 1_000, 1_000));
        }
        assert!(!guard.first_use(&flooder, &[0xff; 64], 1_000, 1_000));
        assert!(guard.first_use(&other, &[0xff; 64], 1_000, 1_000), "another device is unaffected");
        // Once the flooder's signatures expire it has room again.
        assert!(guard.first_use(&flooder, &[0xff; 64], expiry(1_000), expiry(1_000)));
    }

    #[test]
    fn devices_with_only_expired_signatures_are_forgotten() {
        let guard = ReplayGuard::default();
        for _ in 0..SWEEP_AT {
            assert!(guard.first_use(&DeviceId::random(), &[1; 64], 1_000, 1_000));
        }
        // Later, one more device: the others' signatures have all expired and they go.
        let later = expiry(1_000);
        assert!(guard.first_use(&DeviceId::random(), &[1; 64], later, later));
        assert_eq!(guard.seen.lock().unwrap().by_device.len(), 1);
    }
}
