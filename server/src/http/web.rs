//! Serves the built web app (web-client/dist) on the API's origin. Any GET that is not an API,
//! health or WebSocket path and not a file gets `index.html`, so the app's own routes (`/c/…`,
//! `/enrol#…`) load it. Hashed assets are cached for a year; everything else is revalidated, so a
//! new deployment reaches phones at the service worker's next update check. A file's brotli or
//! gzip sibling (`.br`, `.gz`, written by `npm run build`: web-client/scripts/compress.mjs) is sent
//! instead when the browser accepts that encoding.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

/// The web app's routes, or a plain landing page when no built app is present. Either way an API
/// path without a route is `404` (an old form such as `/v1/support/requests/{id}` must not look
/// served).
pub fn router<S: Clone + Send + Sync + 'static>(web_dir: Option<PathBuf>) -> Router<S> {
    match web_dir {
        Some(dir) => Router::new().fallback(move |request: Request| serve(dir.clone(), request)),
        None => Router::new().fallback(|request: Request| async move {
            let page = request.method() == Method::GET || request.method() == Method::HEAD;
            if page && !is_reserved(request.uri().path()) {
                super::health::landing().await.into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }),
    }
}

/// The directory to serve: `configured` if given, else `web-client/dist` under the working
/// directory when it holds an `index.html`.
pub fn resolve_dir(configured: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    match configured {
        Some(dir) => {
            anyhow::ensure!(dir.join("index.html").is_file(), "--web-dir {}: no index.html there (build the web app: cd web-client && npm run build)", dir.display());
            Ok(Some(dir.to_owned()))
        }
        None => {
            let dir = PathBuf::from("web-client/dist");
            Ok(dir.join("index.html").is_file().then_some(dir))
        }
    }
}

fn is_reserved(path: &str) -> bool {
    path.starts_with("/v1/") || matches!(path, "/healthz" | "/readyz" | "/metrics")
}

async fn serve(dir: PathBuf, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if !(request.method() == Method::GET || request.method() == Method::HEAD) || is_reserved(&path) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let files = ServeDir::new(&dir).append_index_html_on_directories(true).precompressed_br().precompressed_gzip();
    let mut response = if path.starts_with("/assets/") {
        // A missing asset is a 404, not the app shell: the shell under an asset's name would be
        // cached for a year as that script (an old chunk asked for after a deploy, say).
        match files.oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    } else {
        // Any other path is the app's own route: the shell.
        let index = ServeFile::new(dir.join("index.html")).precompressed_br().precompressed_gzip();
        match files.fallback(index).oneshot(request).await {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        }
    };
    let cache = if path.starts_with("/assets/") && response.status() == StatusCode::OK {
        // Vite names these by content hash.
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    // The same URL answers differently by Accept-Encoding (ServeDir does not say so itself), so
    // a shared cache must key on it.
    response.headers_mut().append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if path == "/sw.js" {
        // The worker controls the whole origin.
        response.headers_mut().insert("service-worker-allowed", HeaderValue::from_static("/"));
    } else if is_inert(response.headers()) {
        response.extensions_mut().insert(NotADocument);
    }
    response
}

/// Marks a response that no browser renders as a document nor runs as a worker: the
/// Content-Security-Policy, which browsers read only from documents and workers, is left off it
/// (`security_headers` in mod.rs). Every other response keeps it: HTML (the app, its fallback for
/// any path, error pages), `/sw.js`, the API, health, and anything not listed in [`is_inert`].
#[derive(Clone, Copy, Debug)]
pub struct NotADocument;

/// A web app file whose type a browser only runs as a subresource or shows as text or an image
/// when opened on its own: scripts and stylesheets (`nosniff` everywhere stops them being read as
/// HTML), the wasm, raster images, the manifest. Not SVG (an SVG opened on its own is a document
/// that runs script), not HTML or XML, and not a response without a type (a `304`).
fn is_inert(headers: &axum::http::HeaderMap) -> bool {
    let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = kind.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/javascript" | "application/javascript" | "text/css" | "application/wasm" | "image/png" | "application/manifest+json"
    )
}
