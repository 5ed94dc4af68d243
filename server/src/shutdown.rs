//! The shutdown signal every background task and session watches: `true` once the node starts
//! shutting down (SIGTERM, Ctrl-C, or the end of a test).

use tokio::sync::watch;

pub type Shutdown = watch::Receiver<bool>;

/// Resolves once the server starts shutting down (or the signal's sender is gone).
pub async fn shutting_down(rx: &mut Shutdown) {
    let _ = rx.wait_for(|s| *s).await;
}
