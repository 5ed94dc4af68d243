//! The HTTP surface, axum only: each handler extracts, calls a workflow and answers JSON. One
//! router serves the WebSocket endpoint, the REST API, health and metrics, and the web app.

mod admin;
mod app;
mod debriefs;
pub mod auth;
mod enrol;
pub mod error;
mod health;
mod incidents;
pub mod listener;
mod push;
pub mod replay;
mod reports;
pub mod state;
mod support;
mod teams;
pub mod web;
mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post, put};
use state::AppState;
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;

/// The metrics listener's router: `GET /metrics` only. It is served on its own address
/// (`--metrics-listen`), never on the public port: counters are for the operator, and a public
/// scrape every second would time what happens on the server.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(health::metrics)).with_state(metrics)
}

/// The largest REST request body, for every route but those below (protocol/README.md §3).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The largest body of a declaration (`POST /v1/incidents`), which carries a preview sealed to
/// every recipient device: 2 MiB (a team of 500 with a short preview takes about 150 KiB).
pub const MAX_DECLARE_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The largest body of a debrief's schedule (`PUT /v1/debriefs/{id}`), which carries up to 512
/// previews of at most 2,048 bytes (about 1.4 MiB as JSON): 2 MiB, like a declaration.
pub const MAX_DEBRIEF_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The body limit of a signed route. The large ones are read only for a supervisor's or a
/// coordinator's device (`auth::Signed`).
pub fn body_limit(method: &axum::http::Method, path: &str) -> usize {
    if method == axum::http::Method::POST && path == "/v1/incidents" {
        MAX_DECLARE_BODY_BYTES
    } else if method == axum::http::Method::PUT && path.starts_with("/v1/debriefs/") {
        MAX_DEBRIEF_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// The public router. `body_timeout` bounds how long a request body may take to arrive.
pub fn router(state: AppState, web_dir: Option<PathBuf>, body_timeout: std::time::Duration) -> Router {
    let api = Router::new()
        .route("/v1/enrol", post(enrol::enrol))
        .route("/v1/config", get(app::config))
        .route("/v1/me", get(app::me))
        .route("/v1/directory", get(app::directory))
        .route("/v1/devices/approve", post(app::approve_device))
        .route("/v1/admin/invitations", post(admin::create_invitation))
        .route("/v1/admin/devices", get(admin::devices))
        .route("/v1/admin/devices/revoke", post(admin::revoke_device))
        .route("/v1/admin/eap-line", put(admin::set_eap_line).delete(admin::delete_eap_line))
        .route("/v1/push/subscriptions", post(push::subscribe).delete(push::unsubscribe))
        .merge(support::router())
        .merge(teams::router())
        .merge(incidents::router())
        .merge(debriefs::router())
        .merge(reports::router());
    // The WebSocket upgrade and the health probes stay outside the API's compression; the web
    // app's files come precompressed (web.rs).
    Router::new()
        .route(sallyport_protocol::WS_PATH, get(ws::upgrade))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(compressed_reads(api))
        .merge(web::router(web_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// REST answers of at least this many bytes are compressed when the client accepts it; below it,
/// compression saves less than the few hundred bytes of headers and TCP framing around it.
pub const API_COMPRESSION_MIN_BYTES: u16 = 1024;

/// Compresses the answers to `GET` requests of `api` (brotli or gzip, as the client accepts; JSON
/// or CSV of at least [`API_COMPRESSION_MIN_BYTES`]). Only reads: an answer to a write can carry a
/// fresh secret (an invitation's link) and text the request chose, the mix that lets an observer
/// of compressed lengths guess the secret (BREACH). No read answers a secret, and a read is public
/// or signed per request with the device's key, which another site cannot make a browser use (there
/// is no cookie), so it cannot have reads repeated to measure them. Level 4: answers are made afresh
/// each time, and brotli 11 costs about 70 times the CPU for a quarter fewer bytes (bench/README.md).
fn compressed_reads<S: Clone + Send + Sync + 'static>(api: Router<S>) -> Router<S> {
    use tower_http::compression::predicate::{Predicate as _, SizeAbove};
    use tower_http::compression::{CompressionLayer, CompressionLevel};
    let text = |_: axum::http::StatusCode, _: axum::http::Version, headers: &axum::http::HeaderMap, _: &axum::http::Extensions| {
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json") || value.starts_with("text/csv"))
    };
    let compression = CompressionLayer::new()
        .quality(CompressionLevel::Precise(4))
        .compress_when(SizeAbove::new(API_COMPRESSION_MIN_BYTES).and(text));
    api.layer(compression).layer(axum::middleware::map_request(reads_only))
}

/// A write's answer is never compressed (see [`compressed_reads`]): the compression layer inside
/// sees no `Accept-Encoding`.
async fn reads_only(mut request: axum::extract::Request) -> axum::extract::Request {
    if request.method() != axum::http::Method::GET {
        request.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    request
}

async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The web app's files set their own caching; API answers are never cached.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // Browsers read the policy only from documents and workers; the web app's scripts, styles,
    // wasm, images and manifest (marked by web.rs) go without its 300 bytes. Everything else keeps it.
    if response.extensions().get::<web::NotADocument>().is_none() {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    response
}

/// No inline script or style, no third-party origin, wasm compilation allowed (`wasm-unsafe-eval`
/// and nothing broader); `connect-src 'self'` covers the same-origin WebSocket.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
