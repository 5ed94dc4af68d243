//! Liveness, readiness, metrics, and a plain landing page.

use super::state::AppState;
use crate::metrics::Metrics;
use std::sync::Arc;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};

pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers and the node is not shutting down.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if *state.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state.store.account_count().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

pub async fn metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
}

pub async fn landing() -> Html<&'static str> {
    Html(
        "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Sallyport</title><main><h1>Sallyport</h1><p>This server relays end-to-end encrypted \
         messages for the peer support team. Enrolment links are opened in the Sallyport app.</p>\
         <p>In crisis now? Call or text <a href=\"tel:988\">988</a>.</p></main></html>",
    )
}
