//! Which nodes serve the database, enforced by PostgreSQL: every serving node holds one advisory
//! lock on a connection of its own for as long as it serves. A node started with `--single-node`
//! holds it exclusively; every other node holds it shared. So a single node never serves beside
//! another, which is what its early delivery needs (it alone knows every reader and every write).
//!
//! The lock lives as long as its connection's session: once the session ends (the database
//! restarted, the connection was cut), a node sees its connection close and loses its place. A
//! single node then stops (it cannot know who started meanwhile); a shared holder takes its lock
//! again at once, and stops if a single node took it first.
//!
//! Not covered: a network partition that closes neither end. The node notices only when its
//! TCP connection gives up; PostgreSQL may end the session before that (its own keepalive) and
//! let another node start. Until then the cut-off node commits nothing (nothing written, nothing
//! accepted that needed writing); it can still deliver early between its own connections.

use super::super::NodePlaceLost;
use futures::FutureExt as _;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The advisory lock's key (one namespace with the revocation lock's).
const NODE_LOCK: i64 = 0x5a11_9047_0002;
const RETRY: Duration = Duration::from_millis(200);

/// Takes the lock on a connection of `pool` held for as long as the node serves, and watches
/// that connection on a task (returned, for `close` to end). The future resolves, with the
/// reason, once the place is lost.
pub async fn take(pool: &PgPool, single: bool, wait: Duration) -> anyhow::Result<(JoinHandle<()>, NodePlaceLost)> {
    let mut listener = locked(pool, single, wait).await?;
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
            // At once or not at all: a single node that could take the lock meanwhile is
            // serving already.
            match locked(&pool, false, Duration::ZERO).await {
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
async fn locked(pool: &PgPool, single: bool, wait: Duration) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    lock(&mut listener, single, wait).await?;
    Ok(listener)
}

/// Takes the lock (exclusive if `single`), waiting up to `wait` for holders that are stopping.
async fn lock(listener: &mut PgListener, single: bool, wait: Duration) -> anyhow::Result<()> {
    let statement = match single {
        true => "SELECT pg_try_advisory_lock($1)",
        false => "SELECT pg_try_advisory_lock_shared($1)",
    };
    let deadline = Instant::now() + wait;
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

#[cfg(test)]
mod tests {
    use super::super::PostgresStore;
    use super::super::tests::test_cluster;
    use crate::store::{NodePlaceLost, QueueStore as _, Store};
    use futures::FutureExt as _;
    use std::time::Duration;

    const SHORT: Duration = Duration::from_millis(300);
    const LONG: Duration = Duration::from_secs(10);

    /// A fresh database on the test cluster (advisory locks are per database), or `None`.
    async fn fresh_database() -> Option<String> {
        let base = test_cluster()?;
        let pool = sqlx::PgPool::connect(&base).await.unwrap();
        let name = format!("node_lock_{}", rand::random::<u64>());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
        let mut url = url::Url::parse(&base).unwrap();
        url.set_path(&name);
        Some(url.to_string())
    }

    /// The backends holding the node lock, granted, in this database.
    async fn holders(store: &PostgresStore) -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND classid::bigint = ($1 >> 32) AND objid::bigint = ($1 & 4294967295) ORDER BY pid",
        )
        .bind(super::NODE_LOCK)
        .fetch_all(&store.pool)
        .await
        .unwrap()
    }

    async fn terminate(store: &PostgresStore, pid: i32) {
        let done: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&store.pool).await.unwrap();
        assert!(done, "backend {pid} was not terminated");
    }

    /// Resolves `lost`, failing after a while (longer than a shared node tries to take its lock
    /// again).
    async fn reason(lost: NodePlaceLost) -> String {
        tokio::time::timeout(3 * LONG, lost).await.expect("the loss was not reported")
    }

    #[tokio::test]
    async fn a_single_node_and_any_other_node_exclude_each_other() {
        let Some(url) = fresh_database().await else { return };
        let single = PostgresStore::connect(&url).await.unwrap();
        let _place = single.take_node_place(true, LONG).await.unwrap();
        assert!(single.fast_path().is_some(), "the single node delivers early");
        let other = PostgresStore::connect(&url).await.unwrap();
        let err = format!("{:#}", other.take_node_place(false, SHORT).await.err().expect("a node started beside a single one"));
        assert!(err.contains("a node started with --single-node serves this database"), "{err}");
        let err = format!("{:#}", other.take_node_place(true, SHORT).await.err().expect("two single nodes"));
        assert!(err.contains("another node serves this database"), "{err}");
        assert!(other.fast_path().is_none());

        // Once the single node stops, shared nodes start side by side, and exclude a single one.
        single.close().await;
        let _place = other.take_node_place(false, LONG).await.unwrap();
        assert!(other.fast_path().is_none(), "a shared node writes before it delivers");
        let third = PostgresStore::connect(&url).await.unwrap();
        let _third_place = third.take_node_place(false, SHORT).await.unwrap();
        let fourth = PostgresStore::connect(&url).await.unwrap();
        let err = format!("{:#}", fourth.take_node_place(true, SHORT).await.err().expect("a single node beside shared ones"));
        assert!(err.contains("another node serves this database"), "{err}");
        assert!(fourth.fast_path().is_none());
        for store in [other, third, fourth] {
            store.close().await;
        }
    }

    #[tokio::test]
    async fn a_starting_node_waits_for_one_that_is_stopping() {
        let Some(url) = fresh_database().await else { return };
        let first = PostgresStore::connect(&url).await.unwrap();
        let _place = first.take_node_place(true, LONG).await.unwrap();
        let second = PostgresStore::connect(&url).await.unwrap();
        let (taken, ()) = tokio::join!(second.take_node_place(true, LONG), async {
            tokio::time::sleep(SHORT).await;
            first.close().await;
        });
        let _place = taken.expect("the lock is taken once the first node lets it go");
        assert!(second.fast_path().is_some());
        second.close().await;
    }

    #[tokio::test]
    async fn a_single_node_that_loses_its_lock_is_told_to_stop() {
        let Some(url) = fresh_database().await else { return };
        let single = PostgresStore::connect(&url).await.unwrap();
        let lost = single.take_node_place(true, LONG).await.unwrap();
        let held = holders(&single).await;
        assert_eq!(held.len(), 1, "{held:?}");
        terminate(&single, held[0]).await;
        let why = reason(lost).await;
        assert!(why.contains("single-node lock"), "{why}");
        // It does not take the lock again: another node may start now.
        let other = PostgresStore::connect(&url).await.unwrap();
        let _place = other.take_node_place(false, LONG).await.unwrap();
        for store in [single, other] {
            store.close().await;
        }
    }

    #[tokio::test]
    async fn a_shared_node_takes_its_lock_again_unless_a_single_node_took_it() {
        let Some(url) = fresh_database().await else { return };
        let shared = PostgresStore::connect(&url).await.unwrap();
        let mut lost = shared.take_node_place(false, LONG).await.unwrap();
        let before = holders(&shared).await;
        assert_eq!(before.len(), 1, "{before:?}");
        terminate(&shared, before[0]).await;
        let deadline = tokio::time::Instant::now() + LONG;
        loop {
            let now = holders(&shared).await;
            if now.len() == 1 && now != before {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the lock was not taken again: {now:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!((&mut lost).now_or_never().is_none(), "the shared node keeps its place");

        // Lost again while a single node is starting: whichever takes the lock first, the two
        // never both hold it — the shared node is told to stop, or the single one cannot start.
        let single = PostgresStore::connect(&url).await.unwrap();
        let held = holders(&shared).await;
        terminate(&shared, held[0]).await;
        match single.take_node_place(true, Duration::from_secs(2)).await {
            Ok(_place) => {
                let why = reason(lost).await;
                assert!(why.contains("could not be taken again"), "{why}");
            }
            Err(err) => {
                assert!(format!("{err:#}").contains("another node serves this database"), "{err:#}");
                assert!(lost.now_or_never().is_none(), "the shared node took its lock again");
            }
        }
        for store in [shared, single] {
            store.close().await;
        }
    }
}
