//! The embedded SQLite backend: one file, one writer connection, a small pool of readers.
//! Also home to the backend-independent pieces both backends share (`shared`): error
//! translation, row conversion and the planning half of `append`.

mod roster;
mod support;

use super::{
    AppendOutcome, ClaimedKeyPackage, DeviceRecord, Enrolled, GROUP_IDLE_MS, Hash32, MailboxAccess,
    NewDevice, NewInvitation, NewMessage, QueuedMessage, Store, StoreError, StoreResult, Wakeup,
};
use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::{AccountId, DeviceId, MailboxId};
use shared::{
    DeviceRow, conflict, day_of, decode_roles, device_record, encode_roles,
    id_from, store_error,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite};
use std::str::FromStr;
use std::time::Duration;

/// SQLite refuses statements with more than 32,766 bound variables; stay a little under.
const MAX_VARS: usize = 32_000;

const DEVICE_SELECT: &str = "SELECT d.id, d.account_id, a.display_name, a.roles, d.signing_key, \
     d.notification_key, d.mailbox_id, d.created_at, d.revoked_at \
     FROM devices d JOIN accounts a ON a.id = d.account_id";

pub struct SqliteStore {
    /// Exactly one connection: SQLite has one writer anyway, and queuing writers here is cheaper
    /// than letting them fight over the file lock (and `busy_timeout`).
    writer: SqlitePool,
    /// Readers run beside the writer (WAL), so a read never waits behind a group commit.
    reader: SqlitePool,
}

impl SqliteStore {
    /// A write transaction on the single writer connection. `IMMEDIATE` takes the write lock at
    /// once, so a transaction that reads before it writes cannot fail to upgrade its lock later.
    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'_, sqlx::Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)
    }

    /// Opens (creating if missing) the database at `url` (`sqlite:///abs/path.db`,
    /// `sqlite://relative.db`) and applies the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite database URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a committed transaction survives a crash of this process, but the
            // last commits may be lost on power loss or an OS crash. FULL would survive those too,
            // at one fsync per commit (group commit would amortise it); NORMAL is the documented
            // trade-off for the embedded default. Use PostgreSQL for stronger guarantees.
            .synchronous(SqliteSynchronous::Normal)
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
            .pragma("temp_store", "memory");

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
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_invitation(&self, inv: NewInvitation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO invitations (code_hash, display_name, roles, account_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(inv.code_hash.as_slice())
        .bind(&inv.display_name)
        .bind(encode_roles(&inv.roles))
        .bind(inv.account.as_ref().map(|a| a.as_bytes().as_slice()))
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .execute(&self.writer)
        .await
        .map_err(conflict("invitation_exists"))?;
        Ok(())
    }

    async fn redeem_invitation(
        &self,
        code_hash: &Hash32,
        device: NewDevice,
    ) -> StoreResult<Enrolled> {
        let mut tx = self.begin_write().await?;
        let invitation: Option<(String, String, Option<Vec<u8>>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT display_name, roles, account_id, expires_at, used_at FROM invitations WHERE code_hash = ?",
        )
        .bind(code_hash.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some((display_name, roles, account, expires_at, used_at)) = invitation else {
            return Err(StoreError::NotFound);
        };
        if used_at.is_some() || expires_at <= device.now {
            return Err(StoreError::NotFound);
        }
        sqlx::query("UPDATE invitations SET used_at = ? WHERE code_hash = ?")
            .bind(device.now)
            .bind(code_hash.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;

        let (account, display_name, roles) = match account {
            Some(account) => {
                let row: Option<(String, String)> =
                    sqlx::query_as("SELECT display_name, roles FROM accounts WHERE id = ?")
                        .bind(&account)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                let (name, roles) = row.ok_or(StoreError::NotFound)?;
                (id_from(&account, AccountId::from_slice)?, name, roles)
            }
            None => {
                // The person may choose their own display name for a new account.
                let display_name = device.display_name.clone().unwrap_or(display_name);
                sqlx::query("INSERT INTO accounts (id, display_name, roles, created_at) VALUES (?, ?, ?, ?)")
                    .bind(device.new_account.as_bytes().as_slice())
                    .bind(&display_name)
                    .bind(&roles)
                    .bind(device.now)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict("account_exists"))?;
                (device.new_account, display_name, roles)
            }
        };
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES (?, NULL, ?)")
            .bind(device.mailbox.as_bytes().as_slice())
            .bind(day_of(device.now))
            .execute(&mut *tx)
            .await
            .map_err(conflict("mailbox_exists"))?;
        sqlx::query(
            "INSERT INTO devices (id, account_id, signing_key, notification_key, mailbox_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(device.device.as_bytes().as_slice())
        .bind(account.as_bytes().as_slice())
        .bind(device.signing_key.as_bytes().as_slice())
        .bind(device.notification_key.as_bytes().as_slice())
        .bind(device.mailbox.as_bytes().as_slice())
        .bind(device.now)
        .execute(&mut *tx)
        .await
        .map_err(conflict("device_exists"))?;
        tx.commit().await.map_err(store_error)?;
        Ok(Enrolled {
            account,
            device: device.device,
            mailbox: device.mailbox,
            display_name,
            roles: decode_roles(&roles)?,
        })
    }

    async fn account_count(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
            .fetch_one(&self.reader)
            .await
            .map_err(store_error)?;
        Ok(n as u64)
    }

    async fn device(&self, device: &DeviceId) -> StoreResult<Option<DeviceRecord>> {
        let row: Option<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEVICE_SELECT} WHERE d.id = ?"
        )))
        .bind(device.as_bytes().as_slice())
        .fetch_optional(&self.reader)
        .await
        .map_err(store_error)?;
        row.map(device_record).transpose()
    }

    async fn list_devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        let rows: Vec<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEVICE_SELECT} ORDER BY d.created_at DESC, d.id DESC"
        )))
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(device_record).collect()
    }

    async fn revoke_device(&self, device: &DeviceId, now: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(device.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM devices WHERE id = ?")
                .bind(device.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            return match exists {
                Some(_) => Ok(false),
                None => Err(StoreError::NotFound),
            };
        }
        sqlx::query("INSERT INTO revocations (device_id, revoked_at) VALUES (?, ?)")
            .bind(device.as_bytes().as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // A revoked device is woken no more.
        sqlx::query("DELETE FROM push_subscriptions WHERE device_id = ?")
            .bind(device.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn revocations_since(&self, after: i64) -> StoreResult<Vec<(i64, DeviceId)>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT cursor, device_id FROM revocations WHERE cursor > ? ORDER BY cursor",
        )
        .bind(after)
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(cursor, device)| Ok((cursor, id_from(&device, DeviceId::from_slice)?)))
            .collect()
    }

    async fn revocation_cursor(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(cursor), 0) FROM revocations")
            .fetch_one(&self.reader)
            .await
            .map_err(store_error)
    }

    async fn create_mailbox(
        &self,
        mailbox: &MailboxId,
        secret_hash: &Hash32,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES (?, ?, ?)")
            .bind(mailbox.as_bytes().as_slice())
            .bind(secret_hash.as_slice())
            .bind(day_of(now))
            .execute(&self.writer)
            .await
            .map_err(conflict("mailbox_exists"))?;
        Ok(())
    }

    async fn mailbox_access(&self, mailbox: &MailboxId) -> StoreResult<Option<MailboxAccess>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT secret_hash FROM mailboxes WHERE id = ?")
                .bind(mailbox.as_bytes().as_slice())
                .fetch_optional(&self.reader)
                .await
                .map_err(store_error)?;
        row.map(|(hash,)| shared::mailbox_access(hash)).transpose()
    }

    async fn commit_round(
        &self,
        acks: &[(MailboxId, u64)],
        batch: &[NewMessage],
        queue_quota: u64,
    ) -> StoreResult<Vec<AppendOutcome>> {
        if acks.is_empty() && batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.writer.acquire().await.map_err(store_error)?;
        // The transaction is opened and committed inside the batched statements below (each sqlx
        // call is one hand-off to the connection's worker thread: a round makes two). If the
        // round fails or is cancelled mid-way, the transaction must not reach the next user of
        // the connection: roll back, or close the connection.
        let mut guard = RoundGuard { conn: &mut conn, done: false };
        let result = round::commit(&mut guard.conn, acks, batch, queue_quota).await;
        guard.done = true;
        if result.is_err()
            && let Err(err) = sqlx::query("ROLLBACK").execute(&mut **guard.conn).await
            && !err.to_string().contains("no transaction is active")
        {
            guard.conn.close_on_drop();
        }
        result
    }

    async fn publish_key_packages(
        &self,
        mailbox: &MailboxId,
        key_packages: &[Bytes],
        last_resort: Option<&Bytes>,
        max_available: u32,
    ) -> StoreResult<u32> {
        let mut tx = self.begin_write().await?;
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM key_packages k WHERE k.mailbox_id = m.id AND k.last_resort = 0) \
             FROM mailboxes m WHERE m.id = ?",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let held = held.ok_or(StoreError::NotFound)? as u64;
        let total = shared::key_packages_after(held, key_packages.len(), max_available)?;
        for chunk in key_packages.chunks(MAX_VARS / 2) {
            // One multi-row INSERT assigns ids in list order: the first published is claimed first.
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO key_packages (mailbox_id, data, last_resort) ",
            );
            qb.push_values(chunk, |mut row, data| {
                row.push_bind(mailbox.as_bytes().as_slice())
                    .push_bind(data.as_ref())
                    .push_unseparated(", 0");
            });
            qb.build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        if let Some(data) = last_resort {
            sqlx::query(
                "INSERT INTO key_packages (mailbox_id, data, last_resort) VALUES (?, ?, 1) \
                 ON CONFLICT (mailbox_id) WHERE last_resort = 1 DO UPDATE SET data = excluded.data",
            )
            .bind(mailbox.as_bytes().as_slice())
            .bind(data.as_ref())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(total)
    }

    async fn claim_key_package(
        &self,
        mailbox: &MailboxId,
    ) -> StoreResult<Option<ClaimedKeyPackage>> {
        // Through the one writer connection, in one transaction: no two claims interleave.
        let mut tx = self.begin_write().await?;
        let one_time: Option<Vec<u8>> = sqlx::query_scalar(
            "DELETE FROM key_packages WHERE id = (SELECT id FROM key_packages \
             WHERE mailbox_id = ? AND last_resort = 0 ORDER BY id LIMIT 1) RETURNING data",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let (data, last_resort) = match one_time {
            Some(data) => (data, false),
            None => {
                let fallback: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT data FROM key_packages WHERE mailbox_id = ? AND last_resort = 1",
                )
                .bind(mailbox.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
                match fallback {
                    Some(data) => (data, true),
                    None => {
                        tx.commit().await.map_err(store_error)?;
                        return Ok(None);
                    }
                }
            }
        };
        let available: i64 = if last_resort {
            0
        } else {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM key_packages WHERE mailbox_id = ? AND last_resort = 0",
            )
            .bind(mailbox.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?
        };
        tx.commit().await.map_err(store_error)?;
        Ok(Some(ClaimedKeyPackage {
            key_package: data.into(),
            last_resort,
            available: available as u32,
        }))
    }

    async fn key_package_count(&self, mailbox: &MailboxId) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_packages WHERE mailbox_id = ? AND last_resort = 0",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_one(&self.reader)
        .await
        .map_err(store_error)?;
        Ok(n as u32)
    }

    async fn pending(
        &self,
        mailbox: &MailboxId,
        limit: u32,
        now: i64,
    ) -> StoreResult<Vec<QueuedMessage>> {
        let rows: Vec<(Vec<u8>, i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT mailbox_id, seq, message_id, payload FROM queue \
             WHERE mailbox_id = ? AND expires_at > ? ORDER BY seq LIMIT ?",
        )
        .bind(mailbox.as_bytes().as_slice())
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(shared::queued_message).collect()
    }

    async fn mailboxes_with_messages_since(&self, since: i64) -> StoreResult<Vec<MailboxId>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT DISTINCT mailbox_id FROM queue WHERE created_at >= ?")
                .bind(since)
                .fetch_all(&self.reader)
                .await
                .map_err(store_error)?;
        rows.iter()
            .map(|m| id_from(m, MailboxId::from_slice))
            .collect()
    }

    async fn expire(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let copies = sqlx::query("DELETE FROM queue WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        sqlx::query("DELETE FROM sent WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM invitations WHERE used_at IS NULL AND expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM groups WHERE updated_at < ?")
            .bind(now.saturating_sub(GROUP_IDLE_MS))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(copies)
    }

    async fn notify_mailboxes(&self, _node: &str, _mailboxes: &[MailboxId]) -> StoreResult<()> {
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Wakeup>>> {
        Ok(None)
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)
    }

    async fn init_setting(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(stored)
    }

    async fn set_setting(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn add_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &super::PushSubscription,
        max_per_device: u32,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let active: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM devices WHERE id = ? AND revoked_at IS NULL")
                .bind(device.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        if active.is_none() {
            return Err(StoreError::NotFound);
        }
        // One endpoint serving a device and an unlinked mailbox would link the two.
        let unlinked: Option<i64> = sqlx::query_scalar("SELECT 1 FROM mailbox_push_subscriptions WHERE endpoint = ?")
            .bind(&subscription.endpoint)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        if unlinked.is_some() {
            return Err(StoreError::Conflict("endpoint_in_use"));
        }
        sqlx::query(
            "INSERT INTO push_subscriptions (endpoint, device_id, p256dh, auth, created_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint) DO UPDATE SET device_id = excluded.device_id, \
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at",
        )
        .bind(&subscription.endpoint)
        .bind(device.as_bytes().as_slice())
        .bind(&subscription.p256dh)
        .bind(&subscription.auth)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM push_subscriptions WHERE device_id = ?")
            .bind(device.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        if held > i64::from(max_per_device) {
            return Err(StoreError::Conflict("push_subscription_limit"));
        }
        tx.commit().await.map_err(store_error)
    }

    async fn remove_push_subscription(&self, device: &DeviceId, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = ? AND endpoint = ?")
            .bind(device.as_bytes().as_slice())
            .bind(endpoint)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn push_subscriptions_for(
        &self,
        mailboxes: &[MailboxId],
    ) -> StoreResult<Vec<(MailboxId, super::PushSubscription)>> {
        let mut found = Vec::new();
        for chunk in mailboxes.chunks(MAX_VARS) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT d.mailbox_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s \
                 JOIN devices d ON d.id = s.device_id WHERE d.revoked_at IS NULL AND d.mailbox_id IN (",
            );
            let mut list = query.separated(", ");
            for mailbox in chunk {
                list.push_bind(mailbox.as_bytes().as_slice());
            }
            query.push(")");
            let rows: Vec<(Vec<u8>, String, Vec<u8>, Vec<u8>)> =
                query.build_query_as().fetch_all(&self.reader).await.map_err(store_error)?;
            for (mailbox, endpoint, p256dh, auth) in rows {
                found.push((id_from(&mailbox, MailboxId::from_slice)?, super::PushSubscription { endpoint, p256dh, auth }));
            }
        }
        Ok(found)
    }

    async fn delete_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = ?")
            .bind(endpoint)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_push_subscriptions_of(&self, device: &DeviceId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = ?")
            .bind(device.as_bytes().as_slice())
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    fn roster(&self) -> &dyn super::roster::RosterStore {
        self
    }

    fn support(&self) -> &dyn super::support::SupportStore {
        self
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Returns the writer connection to the pool only when a round ended cleanly (or was rolled
/// back): a round dropped mid-way (cancelled) may have left its transaction open.
struct RoundGuard<'c> {
    conn: &'c mut sqlx::pool::PoolConnection<Sqlite>,
    done: bool,
}

impl Drop for RoundGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.close_on_drop();
        }
    }
}

/// One group-commit round on the writer connection in two sqlx calls (each a hand-off to the
/// connection's worker thread, ~80–100 µs here whatever the statement): `BEGIN IMMEDIATE`, the
/// acks' deletes and every lookup `append` needs; then, after deciding in memory, every write
/// and `COMMIT`. sqlx runs a multi-statement string statement by statement and hands the bound
/// arguments out in order, so each statement keeps its own 32,766-variable limit.
mod round {
    use super::shared::{self, AppendPlan, hash32, id_from, store_error};
    use super::{AppendOutcome, MAX_VARS, NewMessage, StoreError, StoreResult};
    use sallyport_protocol::{MailboxId, MessageId};
    use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
    use std::collections::HashMap;

    const SENT: i64 = 0;
    const GROUP: i64 = 1;
    const MAILBOX: i64 = 2;
    const COUNTER: i64 = 3;

    pub(super) async fn commit(
        conn: &mut SqliteConnection,
        acks: &[(MailboxId, u64)],
        batch: &[NewMessage],
        queue_quota: u64,
    ) -> StoreResult<Vec<AppendOutcome>> {
        // ---- call 1: begin, acks (first: they free quota for this round's sends), lookups
        let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
        for chunk in acks.chunks(MAX_VARS / 2) {
            // Through rowid: a row-value `IN (VALUES …)` makes SQLite scan the whole table.
            qb.push("DELETE FROM queue WHERE rowid IN (SELECT q.rowid FROM (");
            qb.push_values(chunk, |mut row, (mailbox, seq)| {
                row.push_bind(mailbox.as_bytes().as_slice())
                    .push_bind(*seq as i64);
            });
            qb.push(") AS a JOIN queue q ON q.mailbox_id = a.column1 AND q.seq = a.column2); ");
        }
        if batch.is_empty() {
            qb.push("COMMIT");
            qb.build()
                .persistent(false)
                .execute(&mut *conn)
                .await
                .map_err(store_error)?;
            return Ok(Vec::new());
        }
        // Ids stored by earlier rounds; the recorded epochs of the batch's MLS groups (this is
        // the only writer: no lock); which recipients exist and how full their queues are (all
        // recipients, duplicates' too: one statement rather than two, and harmless); the counter.
        let ids = shared::distinct_ids(batch);
        let groups = shared::distinct_groups(batch);
        let recipients = all_recipients(batch);
        for chunk in ids.chunks(MAX_VARS) {
            qb.push("SELECT 0, message_id, seq FROM sent WHERE message_id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(id.as_bytes().as_slice());
            }
            qb.push("); ");
        }
        for chunk in groups.chunks(MAX_VARS) {
            qb.push("SELECT 1, id, epoch FROM groups WHERE id IN (");
            let mut list = qb.separated(", ");
            for (group, _) in chunk {
                list.push_bind(group.as_slice());
            }
            qb.push("); ");
        }
        for chunk in recipients.chunks(MAX_VARS) {
            qb.push(
                "SELECT 2, m.id, (SELECT COUNT(*) FROM queue q WHERE q.mailbox_id = m.id) \
                 FROM mailboxes m WHERE m.id IN (",
            );
            let mut list = qb.separated(", ");
            for mailbox in chunk {
                list.push_bind(mailbox.as_bytes().as_slice());
            }
            qb.push("); ");
        }
        qb.push("SELECT 3, NULL, value FROM counters WHERE name = 'message_seq'");
        let rows: Vec<(i64, Option<Vec<u8>>, Option<i64>)> = qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *conn)
            .await
            .map_err(store_error)?;
        let mut existing = HashMap::with_capacity(ids.len());
        let mut epochs = HashMap::with_capacity(groups.len());
        let mut queued = HashMap::with_capacity(recipients.len());
        let mut counter = None;
        let corrupt = || StoreError::Other("unexpected lookup row".into());
        for (tag, key, value) in rows {
            match (tag, key) {
                (SENT, Some(id)) => {
                    existing.insert(
                        id_from(&id, MessageId::from_slice)?,
                        value.ok_or_else(corrupt)? as u64,
                    );
                }
                (GROUP, Some(group)) => {
                    epochs.insert(id_from(&group, hash32)?, shared::epoch_from(value)?);
                }
                (MAILBOX, Some(mailbox)) => {
                    queued.insert(
                        id_from(&mailbox, MailboxId::from_slice)?,
                        value.ok_or_else(corrupt)? as u64,
                    );
                }
                (COUNTER, None) => counter = value,
                _ => return Err(corrupt()),
            }
        }
        let counter = counter.ok_or_else(|| StoreError::Other("the message counter is missing".into()))?;

        // ---- decide, then allocate sequence numbers in batch order
        let mut plan = AppendPlan::new(batch, &existing, &queued, queue_quota, &epochs);

        // ---- call 2: the counter, idempotency records, queue rows, the groups' epochs, commit.
        // `OR ROLLBACK`: a conflict cannot happen (ids were looked up under the write lock,
        // sequence numbers are new) and would fail the round anyway; it spares SQLite the
        // statement journal it otherwise keeps to undo one failed multi-row INSERT (a copy of
        // every page the statement touches).
        let mut qb = QueryBuilder::<Sqlite>::new("");
        if !plan.to_store.is_empty() {
            let n = plan.to_store.len() as i64;
            let seqs: Vec<i64> = (counter + 1..=counter + n).collect();
            plan.assign(&seqs);
            qb.push("UPDATE counters SET value = ");
            qb.push_bind(counter + n);
            qb.push(" WHERE name = 'message_seq'; ");
            for chunk in plan.to_store.chunks(MAX_VARS / 3) {
                qb.push("INSERT OR ROLLBACK INTO sent (message_id, seq, expires_at) ");
                qb.push_values(chunk, |mut row, &(index, seq)| {
                    let m = &batch[index];
                    row.push_bind(m.id.as_bytes().as_slice())
                        .push_bind(seq)
                        .push_bind(m.expires_at);
                });
                qb.push("; ");
            }
            let copies = plan.copies();
            for chunk in copies.chunks(MAX_VARS / 6) {
                qb.push(
                    "INSERT OR ROLLBACK INTO queue \
                     (mailbox_id, seq, message_id, payload, created_at, expires_at) ",
                );
                qb.push_values(chunk, |mut row, &(mailbox, index, seq)| {
                    let m = &batch[index];
                    row.push_bind(mailbox.as_bytes().as_slice())
                        .push_bind(seq)
                        .push_bind(m.id.as_bytes().as_slice())
                        .push_bind(m.payload.as_ref())
                        .push_bind(m.created_at)
                        .push_bind(m.expires_at);
                });
                qb.push("; ");
            }
            let group_writes = plan.group_writes();
            for chunk in group_writes.chunks(MAX_VARS / 3) {
                qb.push("INSERT INTO groups (id, epoch, updated_at) ");
                qb.push_values(chunk, |mut row, (group, epoch, at)| {
                    row.push_bind(group.as_slice())
                        .push_bind(*epoch)
                        .push_bind(*at);
                });
                qb.push(
                    " ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, \
                     updated_at = MAX(groups.updated_at, excluded.updated_at); ",
                );
            }
        }
        qb.push("COMMIT");
        qb.build()
            .persistent(false)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok(plan.finish())
    }

    /// Every recipient in the batch, each once.
    fn all_recipients(batch: &[NewMessage]) -> Vec<MailboxId> {
        shared::distinct_recipients(batch, &HashMap::new())
    }
}


/// Backend-independent helpers used by both `SqliteStore` and `PostgresStore`.
pub(super) mod shared {
    use super::super::{
        AppendOutcome, DeviceRecord, GroupCheck, Hash32, MailboxAccess, NewMessage, QueuedMessage,
        StoreError, StoreResult,
    };
    use sallyport_protocol::rest::Role;
    use sallyport_protocol::{AccountId, DeviceId, MailboxId, MessageId, PublicKey};
    use std::collections::{HashMap, HashSet};

    const DAY_MS: i64 = 86_400_000;

    /// Unix ms rounded down to the start of its UTC day: the only time kept for a mailbox.
    pub fn day_of(ms: i64) -> i64 {
        ms.div_euclid(DAY_MS) * DAY_MS
    }

    /// Translates a driver error. The message names codes and constraints, never bound values.
    pub fn store_error(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict("already_exists")
            }
            other => StoreError::Other(describe(&other)),
        }
    }

    /// Like `store_error`, naming the conflict for a unique violation.
    pub fn conflict(code: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(code),
            other => store_error(other),
        }
    }

    fn describe(e: &sqlx::Error) -> String {
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // PostgreSQL's class 22 (data exception) messages may quote the offending value.
                if code.len() == 5 && code.starts_with("22") {
                    format!("database error {code}")
                } else {
                    format!("database error {code}: {}", db.message())
                }
            }
            sqlx::Error::Io(io) => format!("database I/O error: {}", io.kind()),
            sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
            sqlx::Error::PoolClosed => "the database pool is closed".into(),
            sqlx::Error::WorkerCrashed => "the database worker crashed".into(),
            sqlx::Error::Protocol(msg) => format!("database protocol error: {msg}"),
            sqlx::Error::ColumnDecode { index, .. } => format!("could not decode column {index}"),
            sqlx::Error::ColumnNotFound(name) => format!("no column {name}"),
            sqlx::Error::Encode(_) => "could not encode a bound value".into(),
            sqlx::Error::Decode(_) => "could not decode a value".into(),
            sqlx::Error::Tls(_) => "TLS error talking to the database".into(),
            sqlx::Error::Configuration(_) => "database configuration error".into(),
            sqlx::Error::Migrate(m) => format!("migration error: {m}"),
            _ => "unexpected database driver error".into(),
        }
    }

    fn corrupt(what: &'static str) -> StoreError {
        StoreError::Other(format!("malformed {what} in the database"))
    }

    /// A fixed-size id read back from a BLOB/bytea column.
    pub fn id_from<T>(bytes: &[u8], from: fn(&[u8]) -> Option<T>) -> StoreResult<T> {
        from(bytes).ok_or_else(|| corrupt("id"))
    }

    pub fn encode_roles(roles: &[Role]) -> String {
        roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn decode_roles(text: &str) -> StoreResult<Vec<Role>> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| Role::parse(s).ok_or_else(|| corrupt("role")))
            .collect()
    }

    pub fn mailbox_access(secret_hash: Option<Vec<u8>>) -> StoreResult<MailboxAccess> {
        Ok(match secret_hash {
            None => MailboxAccess::Linked,
            Some(hash) => MailboxAccess::Unlinked {
                secret_hash: hash
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("mailbox secret hash"))?,
            },
        })
    }

    /// (id, account, display_name, roles, signing_key, notification_key, mailbox, created_at, revoked_at)
    pub type DeviceRow = (
        Vec<u8>,
        Vec<u8>,
        String,
        String,
        Vec<u8>,
        Vec<u8>,
        Vec<u8>,
        i64,
        Option<i64>,
    );

    pub fn device_record(row: DeviceRow) -> StoreResult<DeviceRecord> {
        let (
            device,
            account,
            display_name,
            roles,
            signing_key,
            notification_key,
            mailbox,
            created_at,
            revoked_at,
        ) = row;
        Ok(DeviceRecord {
            device: id_from(&device, DeviceId::from_slice)?,
            account: id_from(&account, AccountId::from_slice)?,
            display_name,
            roles: decode_roles(&roles)?,
            signing_key: id_from(&signing_key, PublicKey::from_slice)?,
            notification_key: id_from(&notification_key, PublicKey::from_slice)?,
            mailbox: id_from(&mailbox, MailboxId::from_slice)?,
            created_at,
            revoked_at,
        })
    }

    pub fn queued_message(row: (Vec<u8>, i64, Vec<u8>, Vec<u8>)) -> StoreResult<QueuedMessage> {
        let (mailbox, seq, id, payload) = row;
        Ok(QueuedMessage {
            mailbox: id_from(&mailbox, MailboxId::from_slice)?,
            seq: seq as u64,
            id: id_from(&id, MessageId::from_slice)?,
            payload: payload.into(),
        })
    }

    /// The batch's message ids, each once.
    pub fn distinct_ids(batch: &[NewMessage]) -> Vec<MessageId> {
        let mut seen = HashSet::with_capacity(batch.len());
        batch
            .iter()
            .map(|m| m.id)
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// Every recipient of a message not already stored, each once.
    pub fn distinct_recipients(
        batch: &[NewMessage],
        existing: &HashMap<MessageId, u64>,
    ) -> Vec<MailboxId> {
        let mut seen = HashSet::new();
        batch
            .iter()
            .filter(|m| !existing.contains_key(&m.id))
            .flat_map(|m| m.to.iter().copied())
            .filter(|mb| seen.insert(*mb))
            .collect()
    }

    /// The largest epoch a `GroupCheck` may carry: its successor still fits the BIGINT column, and
    /// `GroupCheck::evaluate` cannot overflow. A real group never gets near it.
    const MAX_EPOCH: u64 = i64::MAX as u64 - 1;

    /// Every group named in the batch, each once, sorted by id (the lock order on PostgreSQL),
    /// with the `created_at` of its first message (for a placeholder row).
    pub fn distinct_groups(batch: &[NewMessage]) -> Vec<(Hash32, i64)> {
        let mut groups: HashMap<Hash32, i64> = HashMap::new();
        for m in batch {
            if let Some(check) = &m.group {
                groups.entry(check.group).or_insert(m.created_at);
            }
        }
        let mut groups: Vec<(Hash32, i64)> = groups.into_iter().collect();
        groups.sort_unstable_by_key(|g| g.0);
        groups
    }

    /// A group's recorded epoch as read from the database (`None`: not known).
    pub fn epoch_from(epoch: Option<i64>) -> StoreResult<Option<u64>> {
        epoch
            .map(|e| u64::try_from(e).map_err(|_| corrupt("group epoch")))
            .transpose()
    }

    /// A SHA-256 read back from a BLOB/bytea column (for `id_from`).
    pub fn hash32(bytes: &[u8]) -> Option<Hash32> {
        bytes.try_into().ok()
    }

    /// How many one-time KeyPackages a mailbox holding `held` holds after publishing `adding`;
    /// `Conflict("key_package_limit")` above `max`. Publishing none (only replacing the
    /// last-resort one) is allowed even when a lowered limit is already exceeded.
    pub fn key_packages_after(held: u64, adding: usize, max: u32) -> StoreResult<u32> {
        let total = held + adding as u64;
        if adding > 0 && total > u64::from(max) {
            return Err(StoreError::Conflict("key_package_limit"));
        }
        Ok(u32::try_from(total).unwrap_or(u32::MAX))
    }

    /// A group row to write back after `append`: (group, epoch to record, newest `created_at`).
    pub type GroupWrite = (Hash32, Option<i64>, i64);

    /// `check.evaluate(current)`, refusing epochs too large to record (so it cannot overflow).
    fn evaluate(check: &GroupCheck, current: Option<u64>) -> Result<Option<u64>, u64> {
        if check.epoch > MAX_EPOCH {
            return Err(current.unwrap_or(0));
        }
        check.evaluate(current)
    }

    /// The decisions of one `append`, made in memory from what the database said: which messages
    /// are duplicates, which are refused, and which get stored (with what sequence numbers).
    pub struct AppendPlan {
        outcomes: Vec<AppendOutcome>,
        /// (batch index, sequence number) of each message to store, in batch order; the sequence
        /// number is 0 until `assign`.
        pub to_store: Vec<(usize, i64)>,
        /// (batch index, batch index of the earlier message with the same id that is being stored).
        repeats: Vec<(usize, usize)>,
        /// Each stored message's recipients without repeats, by batch index.
        recipients: HashMap<usize, Vec<MailboxId>>,
        /// Every group with a stored message: (epoch after the batch, newest `created_at`).
        group_writes: HashMap<Hash32, (Option<u64>, i64)>,
    }

    impl AppendPlan {
        /// `existing`: ids stored before, with their sequence numbers. `queued`: every recipient
        /// that exists, with the number of messages in its queue. `epochs`: the recorded epoch of
        /// the batch's groups (a group missing or `None` is not known).
        ///
        /// Per message, in batch order: a repeated id is a duplicate; then the group check (an
        /// earlier message of the batch may have advanced the epoch); then recipients and quota.
        /// Only a message that passes everything consumes quota, its id and its epoch change.
        pub fn new(
            batch: &[NewMessage],
            existing: &HashMap<MessageId, u64>,
            queued: &HashMap<MailboxId, u64>,
            quota: u64,
            epochs: &HashMap<Hash32, Option<u64>>,
        ) -> Self {
            let mut queued = queued.clone();
            let mut epochs = epochs.clone();
            let mut plan = AppendPlan {
                outcomes: Vec::with_capacity(batch.len()),
                to_store: Vec::new(),
                repeats: Vec::new(),
                recipients: HashMap::new(),
                group_writes: HashMap::new(),
            };
            let mut first_stored: HashMap<MessageId, usize> = HashMap::new();
            for (index, m) in batch.iter().enumerate() {
                if let Some(&seq) = existing.get(&m.id) {
                    plan.outcomes.push(AppendOutcome::Duplicate { seq });
                    continue;
                }
                if let Some(&first) = first_stored.get(&m.id) {
                    plan.outcomes.push(AppendOutcome::Duplicate { seq: 0 });
                    plan.repeats.push((index, first));
                    continue;
                }
                // (group, its epoch once this message is stored)
                let mut group_epoch = None;
                if let Some(check) = &m.group {
                    let current = epochs.get(&check.group).copied().flatten();
                    match evaluate(check, current) {
                        Ok(next) => group_epoch = Some((check.group, next.or(current))),
                        Err(current) => {
                            plan.outcomes.push(AppendOutcome::StaleEpoch { current });
                            continue;
                        }
                    }
                }
                let mut seen = HashSet::new();
                let to: Vec<MailboxId> =
                    m.to.iter().copied().filter(|mb| seen.insert(*mb)).collect();
                if let Some(&mailbox) = to.iter().find(|mb| !queued.contains_key(mb)) {
                    plan.outcomes
                        .push(AppendOutcome::UnknownMailbox { mailbox });
                    continue;
                }
                if let Some(&mailbox) = to.iter().find(|mb| queued[*mb] >= quota) {
                    plan.outcomes.push(AppendOutcome::QuotaExceeded { mailbox });
                    continue;
                }
                for mb in &to {
                    *queued.get_mut(mb).expect("checked above") += 1;
                }
                if let Some((group, epoch)) = group_epoch {
                    epochs.insert(group, epoch);
                    let write = plan
                        .group_writes
                        .entry(group)
                        .or_insert((epoch, m.created_at));
                    write.0 = epoch;
                    write.1 = write.1.max(m.created_at);
                }
                first_stored.insert(m.id, index);
                plan.outcomes.push(AppendOutcome::Stored { seq: 0 });
                plan.to_store.push((index, 0));
                plan.recipients.insert(index, to);
            }
            plan
        }

        /// Gives the messages to store these sequence numbers, in batch order.
        pub fn assign(&mut self, seqs: &[i64]) {
            assert_eq!(seqs.len(), self.to_store.len());
            for (entry, &seq) in self.to_store.iter_mut().zip(seqs) {
                entry.1 = seq;
                self.outcomes[entry.0] = AppendOutcome::Stored { seq: seq as u64 };
            }
        }

        /// The group rows to write back, sorted by group id: every group with a stored message,
        /// with its epoch after the batch and the newest `created_at` of its stored messages.
        pub fn group_writes(&self) -> Vec<GroupWrite> {
            let mut writes: Vec<GroupWrite> = self
                .group_writes
                .iter()
                .map(|(group, &(epoch, at))| (*group, epoch.map(|e| e as i64), at))
                .collect();
            writes.sort_unstable_by_key(|w| w.0);
            writes
        }

        /// (recipient, batch index, sequence number) for every queue row to insert.
        pub fn copies(&self) -> Vec<(MailboxId, usize, i64)> {
            self.to_store
                .iter()
                .flat_map(|&(index, seq)| {
                    self.recipients[&index]
                        .iter()
                        .map(move |&mb| (mb, index, seq))
                })
                .collect()
        }

        pub fn finish(mut self) -> Vec<AppendOutcome> {
            for &(index, first) in &self.repeats {
                let seq = match self.outcomes[first] {
                    AppendOutcome::Stored { seq } | AppendOutcome::Duplicate { seq } => seq,
                    _ => unreachable!("a repeat follows a stored message"),
                };
                self.outcomes[index] = AppendOutcome::Duplicate { seq };
            }
            self.outcomes
        }
    }
}
