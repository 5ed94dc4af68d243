//! `GET /v1/ws`: upgrades to a WebSocket and hands it to a relay session.

use super::state::AppState;
use crate::relay::session::{self, SessionEnd};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use futures::FutureExt;
use sallyport_protocol::{BINARY_SUBPROTOCOL, MAX_FRAME_BYTES};

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let relay = state.relay.clone();
    // Small buffers keep an idle socket under 10 KiB (tungstenite's defaults cost ~136 KiB). The
    // read buffer is allocated for the connection's life: 2 KiB instead of 4 saved 1.65 KiB per
    // idle socket with no measurable CPU cost per message (bench/README.md, "Idle sockets");
    // 1 KiB cost ~20 % more CPU per message (more reads). Larger frames grow it while they last.
    // A client that offers the binary subprotocol gets it (protocol §"Binary encoding"); one
    // that offers nothing, or only others, gets JSON and no subprotocol, as before.
    ws.protocols([BINARY_SUBPROTOCOL])
        .read_buffer_size(2048)
        .write_buffer_size(4096)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(|socket| session::run(socket, relay).map(log_end))
}

fn log_end(end: SessionEnd) {
    match end {
        SessionEnd::ClientClosed | SessionEnd::Transport => {}
        SessionEnd::Refused(code) => tracing::debug!(%code, "connection closed by the server"),
    }
}
