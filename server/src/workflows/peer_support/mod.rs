//! Peer support: a staff member reaches out without being identified (`requests`), the request
//! goes to the supporters on call and escalates while nobody takes it (`escalation`), and
//! coordinators keep the team, its training and its on-call schedule (`team`, `schedule`).

pub mod bodies;
pub mod escalation;
mod limiter;
pub mod requests;
pub mod schedule;
pub mod team;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::push::Push;
use crate::store::Store;
use limiter::RateLimiter;
use sallyport_protocol::support::Urgency;
use std::sync::Arc;
use std::time::Duration;

/// Peer support's settings (from `sallyport serve`'s options).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an unclaimed request of each urgency waits before it is offered to every trained
    /// supporter, and as long again before the coordinators.
    pub escalate_now_after: Duration,
    pub escalate_today_after: Duration,
    pub escalate_week_after: Duration,
    /// Support requests one device may make per hour (counted in memory only).
    pub requests_per_hour: u32,
    /// How often the escalation scheduler looks for due timers.
    pub scheduler_interval: Duration,
}

impl Settings {
    /// The escalation delay for an urgency, in milliseconds.
    pub fn delay_ms(&self, urgency: Urgency) -> i64 {
        let d = match urgency {
            Urgency::Now => self.escalate_now_after,
            Urgency::Today => self.escalate_today_after,
            Urgency::Week => self.escalate_week_after,
        };
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
    }
}

/// What every peer support workflow uses: the store, push, the clock, metrics, the settings and
/// the in-memory reach-out rate limit.
pub struct PeerSupport {
    pub store: Arc<dyn Store>,
    pub push: Arc<Push>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    limiter: RateLimiter,
}

impl PeerSupport {
    pub fn new(store: Arc<dyn Store>, push: Arc<Push>, clock: Clock, metrics: Arc<Metrics>, settings: Settings) -> PeerSupport {
        let limiter = RateLimiter::new(settings.requests_per_hour);
        PeerSupport { store, push, clock, metrics, settings, limiter }
    }
}
