//! Peer support's REST endpoints (protocol/README.md §13): support requests, and the team's
//! roster and schedule.

mod requests;
mod roster;

use super::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().merge(requests::router()).merge(roster::router())
}
