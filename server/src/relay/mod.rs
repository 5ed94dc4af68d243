//! The relay: `hub` knows which local connection reads which mailbox, `committer` makes messages
//! durable with group commit, `session` runs one WebSocket, and `watchers` carry revocations,
//! other nodes' wake-ups and expiry. `Relay` is what a session needs, and nothing more.

pub mod committer;
pub mod hub;
pub mod queue;
pub mod session;
pub mod watchers;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;
use committer::Committer;
use hub::Hub;
use std::sync::Arc;

/// Fixed at start: what sessions check and stamp.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `scheme://host[:port]` that devices sign when they authenticate.
    pub origin: String,
    pub message_ttl_ms: i64,
    pub max_frames_per_second: u32,
    /// Most messages one mailbox's queue may hold (the committer refuses beyond it).
    pub queue_quota: u64,
}

/// Everything a WebSocket session uses. Cheap to clone; every clone holds the committer open, so
/// the committer drains and stops once the last one is dropped.
#[derive(Clone)]
pub struct Relay {
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub committer: Committer,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
    pub settings: Arc<RelaySettings>,
    /// What each device may spend (REST requests, mailboxes, sends), shared with the REST API.
    pub budgets: Arc<crate::budgets::Budgets>,
    pub shutdown: Shutdown,
}
