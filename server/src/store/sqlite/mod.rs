//! The embedded SQLite backend: one file, one writer connection, a small pool of readers (WAL).
//! The SQL it shares with PostgreSQL is expanded here from `shared_sql`; this module adds what
//! is SQLite's own: the group-commit round (`queue`) and KeyPackages (`key_packages`).

mod key_packages;
mod queue;

use super::shared_sql::shared_sql;
use super::sql_errors::store_error;
use super::wakeups::{Wakeup, WakeupStore};
use super::{Store, StoreResult};
use anyhow::Context as _;
use async_trait::async_trait;
use sallyport_protocol::MailboxId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};
use std::str::FromStr;
use std::time::Duration;

/// SQLite refuses statements with more than 32,766 bound variables; stay a little under.
const MAX_VARS: usize = 32_000;

pub struct SqliteStore {
    /// Exactly one connection: SQLite has one writer anyway, and queuing writers here is cheaper
    /// than letting them fight over the file lock (and `busy_timeout`).
    writer: SqlitePool,
    /// Readers run beside the writer (WAL), so a read never waits behind a group commit.
    reader: SqlitePool,
}

shared_sql!(store: SqliteStore, db: sqlx::Sqlite, for_update: "", for_share: "", skip_locked: "");

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite:///abs/path.db`,
    /// `sqlite://relative.db`) and applies the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite database URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: every commit is fsynced before it returns, so whatever the server acknowledged
            // survives power loss and an OS crash too (NORMAL in WAL mode survives only a crash of
            // this process). The group commit amortises the fsync over a whole round.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // 64 MiB page cache per connection (default 2 MiB): the idempotency table `sent` is
            // keyed by random message ids, so its pages are touched at random; once it outgrows
            // the cache every round re-reads them. Pages are allocated as needed, not up front.
            .pragma("cache_size", "-65536")
            // Checkpoint after ~40 MiB of WAL (default 1,000 pages, 4 MiB): a page dirtied by
            // several rounds is then copied back once, and checkpoints (with their fsyncs) run
            // every few seconds at saturation instead of nearly every round. The WAL file keeps
            // its largest size; a checkpoint resets it for reuse.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("temp_store", "memory")
            // Deleted rows (closed support requests, delivered messages, used KeyPackages) are
            // overwritten with zeros, not left in free pages for someone who copies the file.
            .pragma("secure_delete", "ON");

        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if let Some(parent) = options.get_filename().parent()
            && !in_memory
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database directory {}", parent.display()))?;
        }

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .context("opening the SQLite database")?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&writer)
            .await
            .context("applying the SQLite migrations")?;

        // An in-memory database exists only on its own connection: read through the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .context("opening SQLite reader connections")?
        };
        Ok(Self { writer, reader })
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// A write transaction on the single writer connection. `IMMEDIATE` takes the write lock at
    /// once, so a transaction that reads before it writes cannot fail to upgrade its lock later;
    /// and since there is one writer, every write transaction is serialised (no row locks needed).
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'_, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)
    }

    /// A read transaction: one snapshot of every table (WAL).
    async fn begin_snapshot(&self) -> StoreResult<sqlx::Transaction<'_, Sqlite>> {
        self.reader.begin().await.map_err(store_error)
    }

    /// Nothing to do: the single writer records revocations in order, and other nodes (none on
    /// SQLite; the admin command is another process) poll the feed.
    async fn announce_revocation(&self, _tx: &mut sqlx::Transaction<'_, Sqlite>) -> StoreResult<()> {
        Ok(())
    }

    /// `select` (ending in `WHERE … <column>`) for a list of mailboxes, in `IN (…)` chunks.
    async fn by_mailboxes<T>(&self, select: &'static str, mailboxes: &[MailboxId]) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut found = Vec::new();
        for chunk in mailboxes.chunks(MAX_VARS) {
            let mut query = QueryBuilder::<Sqlite>::new(select);
            query.push(" IN (");
            let mut list = query.separated(", ");
            for mailbox in chunk {
                list.push_bind(mailbox.as_bytes().as_slice());
            }
            query.push(")");
            found.extend(query.build_query_as::<T>().persistent(false).fetch_all(&self.reader).await.map_err(store_error)?);
        }
        Ok(found)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// An SQLite database serves one node (one process; several nodes need PostgreSQL), so the
    /// place is always the only one and is never lost.
    async fn take_node_place(&self, _single: bool, _wait: std::time::Duration) -> anyhow::Result<super::NodePlaceLost> {
        Ok(Box::pin(std::future::pending()))
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// One node: every message is committed by this process, so there is nobody to wake.
#[async_trait]
impl WakeupStore for SqliteStore {
    async fn notify_mailboxes(&self, _node: &str, _mailboxes: &[MailboxId]) -> StoreResult<()> {
        Ok(())
    }

    async fn notify_incident(&self, _node: &str, _incident: &sallyport_protocol::IncidentId, _mailboxes: &[MailboxId]) -> StoreResult<()> {
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Wakeup>>> {
        Ok(None)
    }
}

/// For tests elsewhere in the crate: another connection holding the database's write lock, so
/// that the store's next write waits (up to its busy timeout) until [`WriteLock::release`].
#[cfg(test)]
pub(crate) struct WriteLock(sqlx::SqliteConnection);

#[cfg(test)]
impl WriteLock {
    pub(crate) async fn take(url: &str) -> WriteLock {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
        WriteLock(conn)
    }

    pub(crate) async fn release(mut self) {
        sqlx::raw_sql("COMMIT").execute(&mut self.0).await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deleted_rows_leave_no_bytes_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        let marker = "deleted-marker-7Qx";
        sqlx::query("CREATE TABLE t (v TEXT)").execute(&store.writer).await.unwrap();
        for _ in 0..50 {
            sqlx::query("INSERT INTO t VALUES ($1)").bind(marker.repeat(20)).execute(&store.writer).await.unwrap();
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&store.writer).await.unwrap();
        sqlx::query("DELETE FROM t").execute(&store.writer).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&store.writer).await.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let hits = bytes.windows(marker.len()).filter(|w| *w == marker.as_bytes()).count();
        assert_eq!(hits, 0, "a deleted row's bytes stay in the file");
        for pool in [&store.writer, &store.reader] {
            let on: i64 = sqlx::query_scalar("PRAGMA secure_delete").fetch_one(pool).await.unwrap();
            assert_eq!(on, 1, "secure_delete on every connection");
        }
        store.close().await;
    }

    #[tokio::test]
    async fn every_connection_commits_with_a_full_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        // 2 is FULL (0 OFF, 1 NORMAL, 3 EXTRA).
        for pool in [&store.writer, &store.reader] {
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
            assert_eq!(level, 2, "synchronous=FULL: acknowledged commits survive power loss");
        }
        store.close().await;
    }

    /// Migration 0011 rebuilds the roster's tables around `teams`: a database made before it
    /// keeps every supporter, switch, training record, rotation, override and swap, and the
    /// rebuilt foreign keys still cascade.
    #[tokio::test]
    async fn the_teams_migration_keeps_the_roster_and_schedule() {
        use crate::domain::roster::Switch;
        use crate::store::RosterStore;
        use sallyport_protocol::AccountId;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let options = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true).foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("../migrations/sqlite");
        before.migrations = before.migrations.iter().filter(|m| m.version <= 10).cloned().collect::<Vec<_>>().into();
        before.run(&pool).await.unwrap();
        let (a, b) = (AccountId::random(), AccountId::random());
        let (a_id, b_id) = (a.as_bytes().to_vec(), b.as_bytes().to_vec());
        for (id, name) in [(&a_id, "Ana"), (&b_id, "Ben")] {
            sqlx::query("INSERT INTO accounts (id, display_name, roles, created_at) VALUES ($1, $2, 'peer_supporter', 1)")
                .bind(id)
                .bind(name)
                .execute(&pool)
                .await
                .unwrap();
        }
        let statements: [(&str, Vec<&Vec<u8>>); 8] = [
            ("INSERT INTO peer_supporters VALUES ($1, 'busy', 10, 11)", vec![&a_id]),
            ("INSERT INTO peer_supporters VALUES ($1, 'available', 12, 12)", vec![&b_id]),
            ("INSERT INTO supporter_training VALUES ($1, 'de_escalation', '2026-01-01', '2028-01-01')", vec![&a_id]),
            ("INSERT INTO rotations VALUES ('r', 'Primary', '08:00', 'UTC', 7, '2026-01-05', 20)", vec![]),
            ("INSERT INTO rotation_members VALUES ('r', 0, $1)", vec![&a_id]),
            ("INSERT INTO rotation_members VALUES ('r', 1, $1)", vec![&b_id]),
            ("INSERT INTO rotation_overrides VALUES ('o', 'r', $1, 100, 200, 21)", vec![&b_id]),
            ("INSERT INTO shift_swaps VALUES ('s', 'r', $1, $2, 1, 2, 'accepted', 22, 23)", vec![&a_id, &b_id]),
        ];
        for (sql, binds) in statements {
            let mut q = sqlx::query(sql);
            for bind in binds {
                q = q.bind(bind);
            }
            q.execute(&pool).await.unwrap();
        }
        pool.close().await;

        let store = SqliteStore::connect(&url).await.unwrap();
        let roster = store.roster().await.unwrap();
        let mut accounts = vec![a, b];
        accounts.sort();
        assert_eq!(roster.supporters.iter().map(|s| s.account).collect::<Vec<_>>(), accounts);
        let ana = roster.supporter(&a).unwrap();
        assert_eq!((ana.switch, ana.switch_at, ana.added_at, ana.training.len()), (Switch::Busy, 11, 10, 1));
        let r = roster.rotation("r").unwrap();
        assert_eq!((r.team.as_str(), r.members.clone(), r.created_at), ("peer-support", vec![a, b], 20));
        assert_eq!(roster.schedule.overrides.len(), 1);
        assert_eq!(roster.schedule.swaps.len(), 1);
        let problems: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check").fetch_all(&store.writer).await.unwrap();
        assert!(problems.is_empty(), "{problems:?}");

        // The rebuilt keys cascade: Ben leaves his rota place, override and swap behind him.
        assert!(store.remove_peer_supporter(&b).await.unwrap());
        let roster = store.roster().await.unwrap();
        assert_eq!(roster.rotation("r").unwrap().members, vec![a]);
        assert!(roster.schedule.overrides.is_empty() && roster.schedule.swaps.is_empty());
        store.close().await;
    }
    /// Migration 0015 counts each mailbox's queue once; from then on the triggers keep the count.
    #[tokio::test]
    async fn the_queue_count_migration_counts_what_is_already_queued() {
        use crate::store::{MailboxStore, QueueStore};
        use sallyport_protocol::MailboxId;

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let options = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        let mut before = sqlx::migrate!("../migrations/sqlite");
        before.migrations = before.migrations.iter().filter(|m| m.version <= 14).cloned().collect::<Vec<_>>().into();
        before.run(&pool).await.unwrap();
        let (full, empty) = (MailboxId::random(), MailboxId::random());
        for mailbox in [full, empty] {
            sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES ($1, NULL, 0)")
                .bind(mailbox.as_bytes().as_slice())
                .execute(&pool)
                .await
                .unwrap();
        }
        for seq in 1..=3_i64 {
            sqlx::query("INSERT INTO queue VALUES ($1, $2, randomblob(16), x'00', 0, 9999999999999)")
                .bind(full.as_bytes().as_slice())
                .bind(seq)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;

        let store = SqliteStore::connect(&url).await.unwrap();
        assert_eq!(store.queued(&full).await.unwrap(), 3);
        assert_eq!(store.queued(&empty).await.unwrap(), 0);
        let counted: Vec<(Vec<u8>, i64)> = sqlx::query_as("SELECT id, queued FROM mailboxes ORDER BY queued").fetch_all(&store.writer).await.unwrap();
        assert_eq!(counted, vec![(empty.as_bytes().to_vec(), 0), (full.as_bytes().to_vec(), 3)]);
        store.ack(&[(full, 2)]).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT queued FROM mailboxes WHERE id = $1").bind(full.as_bytes().as_slice()).fetch_one(&store.writer).await.unwrap();
        assert_eq!(left, 2, "an ack after the migration is counted by the trigger");
        store.close().await;
    }
}
