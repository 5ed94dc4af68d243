//! Shared state handed to every handler and session.

use crate::metrics::Metrics;
use crate::relay::committer::Committer;
use crate::relay::hub::Hub;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;

/// Settings sessions and handlers need, fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `scheme://host[:port]` that devices sign when they authenticate.
    pub origin: String,
    pub public_url: String,
    pub message_ttl_ms: i64,
    pub queue_quota: u64,
    pub max_frames_per_second: u32,
    /// The VAPID public key (uncompressed P-256 point, unpadded base64url) for `/v1/config`.
    pub vapid_public_key: String,
}

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub committer: Committer,
    pub metrics: Arc<Metrics>,
    pub push: Arc<crate::push::Push>,
    /// Peer support requests: escalation delays, the support clock, the in-memory rate limit.
    pub support: Arc<crate::support::requests::Support>,
    /// Signatures of REST requests seen recently (replay protection).
    pub replay: Arc<crate::http::auth::ReplayGuard>,
    /// Becomes `true` when the server starts shutting down.
    pub shutdown: watch::Receiver<bool>,
}

/// Resolves once the server starts shutting down (or the signal's sender is gone).
pub async fn shutting_down(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}
