//! The HTTP surface: one router for the WebSocket endpoint, the REST API, health and metrics.

mod api;
pub mod auth;
mod enrol;
mod health;
pub mod web;
mod ws;

pub use api::{CONFIDENTIALITY_NOTICE_SETTING, CrisisLine, DEFAULT_CONFIDENTIALITY_NOTICE, default_crisis_lines};

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post, put};
use std::path::PathBuf;

pub fn router(state: AppState, web_dir: Option<PathBuf>) -> Router {
    Router::new()
        .route(sallyport_protocol::WS_PATH, get(ws::upgrade))
        .route("/v1/enrol", post(enrol::enrol))
        .route("/v1/config", get(api::config))
        .route("/v1/me", get(api::me))
        .route("/v1/directory", get(api::directory))
        .route("/v1/admin/invitations", post(api::create_invitation))
        .route("/v1/admin/devices", get(api::devices))
        .route("/v1/admin/devices/{device}/revoke", post(api::revoke_device))
        .route("/v1/admin/eap-line", put(api::set_eap_line).delete(api::delete_eap_line))
        .route("/v1/push/subscriptions", post(crate::push::routes::subscribe).delete(crate::push::routes::unsubscribe))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::support::oncall_routes::router())
        .merge(crate::support::requests::router())
        .merge(web::router(web_dir))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The web app's files set their own caching; API answers are never cached.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}

/// No inline script or style, no third-party origin, wasm compilation allowed (`wasm-unsafe-eval`
/// and nothing broader); `connect-src 'self'` covers the same-origin WebSocket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
