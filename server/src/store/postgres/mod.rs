//! The PostgreSQL backend for production and multi-node deployments. The SQL it shares with
//! SQLite is expanded here from `shared_sql` (with row locks, since several nodes write at once);
//! this module adds what is PostgreSQL's own: the group-commit round over arrays (`queue`),
//! KeyPackage claims with `SKIP LOCKED` (`key_packages`) and LISTEN/NOTIFY (`wakeups`).

mod key_packages;
mod node_lock;
mod nodelay;
mod queue;
mod queue_bounds;
mod wakeups;

use super::shared_sql::shared_sql;
use super::sql_errors::store_error;
use super::{NodePlaceLost, Store, StoreResult};
use anyhow::Context as _;
use async_trait::async_trait;
use sallyport_protocol::MailboxId;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Serialises revocation inserts so their cursors become visible in order (pollers never skip one).
const REVOCATION_LOCK: i64 = 0x5a11_9047_0001;

pub struct PostgresStore {
    pool: PgPool,
    /// Each listener holds one of these connections for as long as it runs.
    listen_pool: PgPool,
    listeners: Mutex<Vec<JoinHandle<()>>>,
    /// What this node knows of queue lengths between its rounds (see `queue_bounds`).
    queue_bounds: queue_bounds::QueueBounds,
    /// Set once this node holds the node lock exclusively (`--single-node`): it then knows every
    /// reader and every write, and delivers early as on SQLite.
    single_node: AtomicBool,
    /// Serialises this node's draws from `message_seq`: a block reservation (two steps) and a
    /// round's `nextval`s must not interleave.
    seq_lock: tokio::sync::Mutex<()>,
}

shared_sql!(
    store: PostgresStore,
    db: sqlx::Postgres,
    for_update: " FOR UPDATE",
    for_share: " FOR SHARE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
);

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies the embedded migrations (sqlx takes an
    /// advisory lock, so nodes starting together migrate once). With `sslmode=require`,
    /// `verify-ca` or `verify-full` every connection is TLS or the server does not start.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        // synchronous_commit=on whatever the server's default: a commit returns only once its WAL
        // is flushed to disk, so nothing the server acknowledged is lost on power loss.
        let options = PgConnectOptions::from_str(url)
            .context("parsing the PostgreSQL database URL")?
            .options([("synchronous_commit", "on")]);
        let tls = tls_mode(url, options.get_ssl_mode())?;
        // Over TCP, every new connection's socket gets TCP_NODELAY (see `nodelay`).
        let port = options.get_port();
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |_, _| {
                Box::pin(async move {
                    nodelay::on_sockets_to(port);
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| match tls {
                Some(mode) => format!("connecting to PostgreSQL over TLS (sslmode={mode})"),
                None => "connecting to PostgreSQL".to_owned(),
            })?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .context("applying the PostgreSQL migrations")?;
        let listen_pool = PgPoolOptions::new()
            .max_connections(8)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(move |_, _| {
                Box::pin(async move {
                    nodelay::on_sockets_to(port);
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            listen_pool,
            listeners: Mutex::new(Vec::new()),
            queue_bounds: Default::default(),
            single_node: AtomicBool::new(false),
            seq_lock: Default::default(),
        })
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'_, Postgres>> {
        self.pool.begin().await.map_err(store_error)
    }

    /// One snapshot across the tables.
    async fn begin_snapshot(&self) -> StoreResult<sqlx::Transaction<'_, Postgres>> {
        self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(store_error)
    }

    /// Takes the revocation lock (without it, a cursor taken earlier could commit after a later
    /// one, and a poller that already moved past the later cursor would never see it) and
    /// notifies every node, this one included, on commit.
    async fn announce_revocation(&self, tx: &mut sqlx::Transaction<'_, Postgres>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(REVOCATION_LOCK).execute(&mut **tx).await.map_err(store_error)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(wakeups::CHANNEL)
            .bind(wakeups::REVOKED)
            .execute(&mut **tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// `select` (ending in `WHERE … <column>`) for a list of mailboxes, as one array parameter.
    async fn by_mailboxes<T>(&self, select: &'static str, mailboxes: &[MailboxId]) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        if mailboxes.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<&[u8]> = mailboxes.iter().map(|m| m.as_bytes().as_slice()).collect();
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{select} = ANY($1::bytea[])")))
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn take_node_place(&self, single: bool, wait: Duration) -> anyhow::Result<NodePlaceLost> {
        let (watch, lost) = node_lock::take(&self.listen_pool, single, wait).await.context("taking the node lock")?;
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).push(watch);
        self.single_node.store(single, Relaxed);
        Ok(lost)
    }

    async fn close(&self) {
        for task in self.listeners.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
        self.listen_pool.close().await;
        self.pool.close().await;
    }
}

/// The `sslmode` that makes every connection TLS, or `None` when the link may be plaintext
/// (`disable`, `allow`, `prefer`). Refuses a root certificate with a mode that would not check the
/// server's certificate against it: libpq reads `sslmode=require` plus `sslrootcert` as
/// `verify-ca`, sqlx accepts any certificate then, and an operator who names a CA means it checked.
fn tls_mode(url: &str, mode: PgSslMode) -> anyhow::Result<Option<&'static str>> {
    let tls = match mode {
        PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer => None,
        PgSslMode::Require => Some("require"),
        PgSslMode::VerifyCa => Some("verify-ca"),
        PgSslMode::VerifyFull => Some("verify-full"),
    };
    // The names sqlx reads a root certificate from (URL parameters, then PGSSLROOTCERT).
    let root_cert_in_url = url::Url::parse(url)
        .map(|u| u.query_pairs().any(|(k, _)| matches!(&*k, "sslrootcert" | "ssl-root-cert" | "ssl-ca")))
        .unwrap_or(false);
    let root_cert = root_cert_in_url || std::env::var_os("PGSSLROOTCERT").is_some();
    if root_cert && !matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) {
        anyhow::bail!(
            "the PostgreSQL database URL names a root certificate (sslrootcert) but sslmode={} does not \
             check the server's certificate against it: use sslmode=verify-full (or verify-ca)",
            tls.unwrap_or("prefer (the default), disable or allow")
        );
    }
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_certificate_needs_a_mode_that_checks_it() {
        let url = "postgres://u@db.internal/sallyport?sslmode=verify-full&sslrootcert=/etc/ca.pem";
        assert_eq!(tls_mode(url, PgSslMode::VerifyFull).unwrap(), Some("verify-full"));
        assert_eq!(tls_mode(url, PgSslMode::VerifyCa).unwrap(), Some("verify-ca"));
        for mode in [PgSslMode::Require, PgSslMode::Prefer, PgSslMode::Disable, PgSslMode::Allow] {
            let err = tls_mode(url, mode).unwrap_err().to_string();
            assert!(err.contains("sslrootcert") && err.contains("verify-full"), "{err}");
        }
    }

    #[test]
    fn only_require_and_verify_modes_insist_on_tls() {
        if std::env::var_os("PGSSLROOTCERT").is_some() {
            eprintln!("skipped: PGSSLROOTCERT is set");
            return;
        }
        let url = "postgres://u@db.internal/sallyport";
        assert_eq!(tls_mode(url, PgSslMode::Require).unwrap(), Some("require"));
        for mode in [PgSslMode::Prefer, PgSslMode::Disable, PgSslMode::Allow] {
            assert_eq!(tls_mode(url, mode).unwrap(), None);
        }
    }

    /// The test cluster's URL, or `None` (the test is skipped) unless PostgreSQL is required.
    pub(super) fn test_cluster() -> Option<String> {
        let url = std::env::var("SALLYPORT_TEST_POSTGRES_URL").ok();
        if url.is_none() {
            assert!(
                std::env::var("SALLYPORT_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "SALLYPORT_REQUIRE_POSTGRES=1 but SALLYPORT_TEST_POSTGRES_URL is not set"
            );
            eprintln!("skipped: set SALLYPORT_TEST_POSTGRES_URL to run the PostgreSQL tests");
        }
        url
    }

    #[tokio::test]
    async fn commits_wait_for_the_wal_flush_whatever_the_server_default() {
        let Some(base) = test_cluster() else { return };
        // A server whose default is off: the connection must still commit synchronously.
        let mut url = url::Url::parse(&base).unwrap();
        url.query_pairs_mut().append_pair("options", "-c synchronous_commit=off");
        let store = PostgresStore::connect(url.as_str()).await.unwrap();
        for pool in [&store.pool, &store.listen_pool] {
            let level: String = sqlx::query_scalar("SHOW synchronous_commit").fetch_one(pool).await.unwrap();
            assert_eq!(level, "on");
        }
    }

    /// Without TCP_NODELAY a round's statements each waited ~40 ms for a delayed ACK.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn every_tcp_connection_to_the_database_has_nodelay() {
        let Some(base) = test_cluster() else { return };
        let options = PgConnectOptions::from_str(&base).unwrap();
        if options.get_socket().is_some() {
            eprintln!("skipped: the test cluster is reached over a Unix socket");
            return;
        }
        let store = PostgresStore::connect(&base).await.unwrap();
        // Several connections at once in both pools, so more than the first are opened; each is
        // found by the client port the server sees (other tests may hold sockets to it too).
        let mut held = Vec::new();
        for pool in [&store.pool, &store.listen_pool] {
            for _ in 0..3 {
                held.push(pool.acquire().await.unwrap());
            }
        }
        for conn in &mut held {
            let local: i32 = sqlx::query_scalar("SELECT inet_client_port()").fetch_one(&mut **conn).await.unwrap();
            let fd = nodelay::socket_between(local as u16, options.get_port())
                .unwrap_or_else(|| panic!("no socket from port {local} to the database"));
            assert_eq!(nodelay::is_set(fd), Some(true), "the connection from port {local} has Nagle on");
        }
        drop(held);
        store.close().await;
    }
}
