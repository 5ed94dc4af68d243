//! Background tasks of a node: the revocation watcher (closes a revoked device's connections on
//! every node within a second), the multi-node wake-up listener with its catch-up poll, and the
//! expiry sweep.

use super::hub::Hub;
use crate::clock::Clock;
use crate::domain::DAY_MS;
use crate::metrics::Metrics;
use crate::store::{Store, Wakeup};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use crate::shutdown::Shutdown;
use tokio::sync::Notify;

/// How often every node reads the revocation feed. Revocations made by the admin command (another
/// process) reach running nodes this way, on SQLite and PostgreSQL alike.
const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// How often a node of a multi-node deployment looks for messages it was not notified about.
const CATCH_UP_POLL: Duration = Duration::from_secs(2);
/// The catch-up poll looks back this far, to cover transactions that commit late.
const CATCH_UP_OVERLAP_MS: i64 = 10_000;
/// Unlinked mailboxes deleted by one expiry sweep at most, so one sweep's transaction stays short.
const UNREAD_MAILBOXES_PER_SWEEP: u32 = 500;

pub struct WatcherConfig {
    pub node_id: String,
    /// Drop other nodes' wake-ups (tests of the catch-up poll).
    pub ignore_notifications: bool,
}

pub struct ExpiryConfig {
    /// How often the sweep runs.
    pub every: Duration,
    /// Days an unlinked mailbox serving no open support request may go unread.
    pub unlinked_mailbox_idle_days: u32,
}

pub fn spawn_all(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    clock: Clock,
    config: WatcherConfig,
    expiry_config: ExpiryConfig,
    shutdown: Shutdown,
) {
    let revoked = Arc::new(Notify::new());
    tokio::spawn(revocations(store.clone(), hub.clone(), revoked.clone(), shutdown.clone()));
    tokio::spawn(wakeups(store.clone(), hub, revoked, clock.clone(), config, shutdown.clone()));
    tokio::spawn(expiry(store, metrics, clock, expiry_config, shutdown));
}

async fn revocations(store: Arc<dyn Store>, hub: Arc<Hub>, revoked: Arc<Notify>, mut shutdown: Shutdown) {
    let mut cursor = loop {
        match store.revocation_cursor().await {
            Ok(c) => break c,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the revocation feed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REVOCATION_POLL) => {}
            _ = revoked.notified() => {}
            _ = crate::shutdown::shutting_down(&mut shutdown) => return,
        }
        match store.revocations_since(cursor).await {
            Ok(list) => {
                for (c, device) in list {
                    cursor = cursor.max(c);
                    let closed = hub.kill_device(&device);
                    if closed > 0 {
                        tracing::info!(connections = closed, "closed the connections of a revoked device");
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "reading the revocation feed failed"),
        }
    }
}

async fn wakeups(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    revoked: Arc<Notify>,
    clock: Clock,
    config: WatcherConfig,
    mut shutdown: Shutdown,
) {
    let mut rx = match store.listen().await {
        Ok(Some(rx)) => rx,
        Ok(None) => return, // single node: every message is committed by this process
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for other nodes; relying on polling");
            let (_tx, rx) = tokio::sync::mpsc::channel(1);
            rx
        }
    };
    let mut poll = tokio::time::interval(CATCH_UP_POLL);
    let mut last_poll = clock.now();
    loop {
        tokio::select! {
            wakeup = rx.recv(), if !rx.is_closed() => match wakeup {
                Some(Wakeup::Mailboxes { node, mailboxes }) if node != config.node_id && !config.ignore_notifications => {
                    hub.wake(&mailboxes)
                }
                Some(Wakeup::Mailboxes { .. }) => {}
                Some(Wakeup::Revoked) => revoked.notify_one(),
                Some(Wakeup::IncidentChanged { node, incident, mailboxes }) if node != config.node_id => {
                    hub.incident_changed(&mailboxes, incident)
                }
                Some(Wakeup::IncidentChanged { .. }) => {}
                None => {}
            },
            _ = poll.tick() => {
                let now = clock.now();
                match store.mailboxes_with_messages_since(last_poll - CATCH_UP_OVERLAP_MS).await {
                    Ok(mailboxes) => {
                        let here: Vec<_> = mailboxes.into_iter().filter(|m| hub.is_read_here(m)).collect();
                        hub.wake(&here);
                        last_poll = now;
                    }
                    Err(err) => tracing::warn!(error = %err, "catch-up poll failed"),
                }
            }
            _ = crate::shutdown::shutting_down(&mut shutdown) => return,
        }
    }
}

async fn expiry(store: Arc<dyn Store>, metrics: Arc<Metrics>, clock: Clock, config: ExpiryConfig, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(config.every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::shutdown::shutting_down(&mut shutdown) => return,
        }
        match store.expire(clock.now()).await {
            Ok(n) => {
                metrics.expired.fetch_add(n, Relaxed);
                if n > 0 {
                    tracing::info!(copies = n, "expired undelivered messages");
                }
            }
            Err(err) => tracing::warn!(error = %err, "expiry sweep failed"),
        }
        let read_before = clock.now().saturating_sub(i64::from(config.unlinked_mailbox_idle_days) * DAY_MS);
        match store.expire_unread_mailboxes(read_before, UNREAD_MAILBOXES_PER_SWEEP).await {
            Ok(n) => {
                metrics.unread_mailboxes_expired.fetch_add(n, Relaxed);
                if n > 0 {
                    tracing::info!(mailboxes = n, "expired unread unlinked mailboxes");
                }
            }
            Err(err) => tracing::warn!(error = %err, "expiring unread mailboxes failed"),
        }
        // Used request signatures are timed by the real clock, as they were checked.
        if let Err(err) = store.forget_signatures(clock.wall()).await {
            tracing::warn!(error = %err, "sweeping used signatures failed");
        }
    }
}
