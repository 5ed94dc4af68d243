//! Which nodes serve the database, enforced by PostgreSQL: every serving node holds one advisory
//! lock on a connection of its own for as long as it serves. A node started with `--single-node`
//! holds it exclusively; every other node holds it shared. So a single node never serves beside
//! another, which is what its early delivery needs (it alone knows every reader and every write).
//!
//! The lock lives as long as its connection: if the connection is lost (the database restarted,
//! the network failed), so is the lock. A single node then stops (it cannot know who started
//! meanwhile); a shared holder takes its lock again, and stops only if a single node took it
//! first.

use super::super::NodePlaceLost;
use futures::FutureExt as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The advisory lock's key (one namespace with the revocation lock's).
const NODE_LOCK: i64 = 0x5a11_9047_0002;
/// How long a starting node waits for the lock: a node that was just stopped or killed holds it
/// until PostgreSQL sees its connection close.
const WAIT: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_millis(200);

/// Takes the lock on a connection of `pool` held for as long as the node serves, and watches
/// that connection on a task (returned, for `close` to end). The future resolves, with the
/// reason, once the place is lost.
pub async fn take(pool: &PgPool, single: bool) -> anyhow::Result<(JoinHandle<()>, NodePlaceLost)> {
    let mut listener = locked(pool, single).await?;
    let pool = pool.clone();
    let (lost_tx, lost) = oneshot::channel();
    let watch = tokio::spawn(async move {
        let reason = loop {
            // Nothing is listened to: this returns only once the connection is lost or fails.
            let failure = match listener.try_recv().await {
                Ok(Some(_)) => continue,
                Ok(None) => "it was lost".to_owned(),
                Err(err) => err.to_string(),
            };
            if single {
                break format!("the connection holding the single-node lock failed: {failure}");
            }
            match locked(&pool, false).await {
                Ok(again) => {
                    tracing::warn!(failure, "the connection holding the node lock failed; the lock is taken again");
                    listener = again;
                }
                Err(err) => break format!("the node lock was lost ({failure}) and could not be taken again: {err:#}"),
            }
        };
        let _ = lost_tx.send(reason);
    });
    Ok((watch, lost.map(|reason| reason.unwrap_or_else(|_| "the node lock's watch stopped".to_owned())).boxed()))
}

/// A connection of its own (a listener, which reports a lost connection at once) holding the
/// lock.
async fn locked(pool: &PgPool, single: bool) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    lock(&mut listener, single).await?;
    Ok(listener)
}

/// Takes the lock (exclusive if `single`), waiting up to `WAIT` for holders that are stopping.
async fn lock(listener: &mut PgListener, single: bool) -> anyhow::Result<()> {
    let statement = match single {
        true => "SELECT pg_try_advisory_lock($1)",
        false => "SELECT pg_try_advisory_lock_shared($1)",
    };
    let deadline = Instant::now() + WAIT;
    let mut warned = false;
    loop {
        let taken: bool = sqlx::query_scalar(statement).bind(NODE_LOCK).fetch_one(&mut *listener).await?;
        if taken {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(match single {
                true => "another node serves this database: a node started with --single-node must be the only one \
                         (stop the other nodes, or start this one without --single-node)",
                false => "a node started with --single-node serves this database: no other node may serve beside it \
                          (stop it, or restart it without --single-node, first)",
            });
        }
        if !warned {
            warned = true;
            tracing::warn!(single, "waiting for the node lock (another node holds it; it may be stopping)");
        }
        tokio::time::sleep(RETRY).await;
    }
}
