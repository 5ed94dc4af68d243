//! The reach-out rate limit: at most N support requests per device per hour. Kept in memory only
//! — a stored count would name who asked — so it is lost on restart, by design.

use crate::domain::HOUR_MS;
use sallyport_protocol::DeviceId;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Devices remembered before stale entries are swept.
const MAX_LIMITED_DEVICES: usize = 100_000;

pub struct RateLimiter {
    per_hour: u32,
    /// Creation times of each device's recent requests.
    recent: Mutex<HashMap<DeviceId, VecDeque<i64>>>,
}

impl RateLimiter {
    pub fn new(per_hour: u32) -> RateLimiter {
        RateLimiter { per_hour, recent: Mutex::default() }
    }

    /// Records a request by `device` at `now` unless it made the hourly maximum already.
    pub fn admit(&self, device: &DeviceId, now: i64) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= MAX_LIMITED_DEVICES {
            recent.retain(|_, times| times.back().is_some_and(|t| now - t < HOUR_MS));
        }
        let times = recent.entry(*device).or_default();
        while times.front().is_some_and(|t| now - t >= HOUR_MS) {
            times.pop_front();
        }
        if times.len() >= self.per_hour as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_an_hour_per_device() {
        let limiter = RateLimiter::new(2);
        let (a, b) = (DeviceId::random(), DeviceId::random());
        assert!(limiter.admit(&a, 0));
        assert!(limiter.admit(&a, 1_000));
        assert!(!limiter.admit(&a, 2_000));
        assert!(limiter.admit(&b, 2_000), "another device has its own budget");
        assert!(limiter.admit(&a, HOUR_MS), "the first one has aged out");
    }
}
