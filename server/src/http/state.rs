//! What every handler is given: the store, the clock, the relay, push, the peer support
//! workflows, and the settings fixed at start.

use super::replay::ReplayGuard;
use crate::clock::Clock;
use crate::domain::paging::TeamRole;
use crate::metrics::Metrics;
use crate::push::Push;
use crate::relay::Relay;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::workflows::incidents::Paging;
use crate::workflows::peer_support::PeerSupport;
use std::sync::Arc;

/// Settings handlers need, fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `scheme://host[:port]` that devices sign in every REST request.
    pub origin: String,
    pub public_url: String,
    /// The roles a crisis team member may have (`--team-roles`).
    pub team_roles: Vec<TeamRole>,
}

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// What WebSocket sessions run on.
    pub relay: Relay,
    pub push: Arc<Push>,
    pub peer_support: Arc<PeerSupport>,
    pub paging: Arc<Paging>,
    /// Signatures of REST requests seen recently (replay protection).
    pub replay: Arc<ReplayGuard>,
    /// Becomes `true` when the server starts shutting down.
    pub shutdown: Shutdown,
}
