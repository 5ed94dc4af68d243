//! `GET /v1/ws`: upgrades to a WebSocket and hands it to a relay session.

use super::state::AppState;
use crate::relay::session::{self, SessionEnd};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use sallyport_protocol::{BINARY_SUBPROTOCOL, MAX_FRAME_BYTES};

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let relay = state.relay.clone();
    // Small buffers keep an idle socket near 10 KiB (tungstenite's defaults cost ~136 KiB).
    // A client that offers the binary subprotocol gets it (protocol §"Binary encoding"); one
    // that offers nothing, or only others, gets JSON and no subprotocol, as before.
    ws.protocols([BINARY_SUBPROTOCOL])
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(|socket| async move {
            match session::run(socket, relay).await {
                SessionEnd::ClientClosed | SessionEnd::Transport => {}
                SessionEnd::Refused(code) => tracing::debug!(%code, "connection closed by the server"),
            }
        })
}
