//! The PostgreSQL backend for production and multi-node deployments: batched statements over
//! arrays (`UNNEST`), a SEQUENCE for message numbers, and LISTEN/NOTIFY on one channel to wake
//! the node that holds a recipient's socket.

mod roster;
mod support;

use super::sqlite::shared::{
    AppendPlan, DeviceRow, conflict, day_of, decode_roles, device_record, distinct_groups,
    distinct_ids, distinct_recipients, encode_roles, epoch_from, hash32, id_from,
    key_packages_after, mailbox_access, queued_message, store_error,
};
use super::{
    AppendOutcome, ClaimedKeyPackage, DeviceRecord, Enrolled, GROUP_IDLE_MS, Hash32, MailboxAccess,
    NewDevice, NewInvitation, NewMessage, QueuedMessage, Store, StoreError, StoreResult, Wakeup,
};
use anyhow::Context as _;
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, MessageId};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The one notification channel. Payloads: `revoked`, or `NODE SP MAILBOX,MAILBOX,…` with
/// mailboxes in their base64url text form.
const CHANNEL: &str = "sallyport_wakeup";
const REVOKED: &str = "revoked";
/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more.
const MAX_NOTIFY_PAYLOAD: usize = 7_900;
/// How many undelivered wake-ups a listener buffers before dropping new ones (callers also poll).
const WAKEUP_BUFFER: usize = 1_024;
/// Serialises revocation inserts so their cursors become visible in order (pollers never skip one).
const REVOCATION_LOCK: i64 = 0x5a11_9047_0001;

const DEVICE_SELECT: &str = "SELECT d.id, d.account_id, a.display_name, a.roles, d.signing_key, \
     d.notification_key, d.mailbox_id, d.created_at, d.revoked_at \
     FROM devices d JOIN accounts a ON a.id = d.account_id";

pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// Each listener holds one of these connections for as long as it runs.
    listen_pool: PgPool,
    listeners: Mutex<Vec<JoinHandle<()>>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies the embedded migrations (sqlx takes an
    /// advisory lock, so nodes starting together migrate once).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options =
            PgConnectOptions::from_str(url).context("parsing the PostgreSQL database URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::migrate!("../migrations/postgres")
            .run(&pool)
            .await
            .context("applying the PostgreSQL migrations")?;
        let listen_pool = PgPoolOptions::new()
            .max_connections(8)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            listen_pool,
            listeners: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_invitation(&self, inv: NewInvitation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO invitations (code_hash, display_name, roles, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(inv.code_hash.as_slice())
        .bind(&inv.display_name)
        .bind(encode_roles(&inv.roles))
        .bind(inv.account.as_ref().map(|a| a.as_bytes().as_slice()))
        .bind(inv.created_at)
        .bind(inv.expires_at)
        .execute(&self.pool)
        .await
        .map_err(conflict("invitation_exists"))?;
        Ok(())
    }

    async fn redeem_invitation(
        &self,
        code_hash: &Hash32,
        device: NewDevice,
    ) -> StoreResult<Enrolled> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // FOR UPDATE: two nodes redeeming the same code at once — the second waits, then sees it used.
        let invitation: Option<(String, String, Option<Vec<u8>>, i64, Option<i64>)> =
            sqlx::query_as(
                "SELECT display_name, roles, account_id, expires_at, used_at FROM invitations \
             WHERE code_hash = $1 FOR UPDATE",
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
        sqlx::query("UPDATE invitations SET used_at = $1 WHERE code_hash = $2")
            .bind(device.now)
            .bind(code_hash.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;

        let (account, display_name, roles) = match account {
            Some(account) => {
                let row: Option<(String, String)> =
                    sqlx::query_as("SELECT display_name, roles FROM accounts WHERE id = $1")
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
                sqlx::query("INSERT INTO accounts (id, display_name, roles, created_at) VALUES ($1, $2, $3, $4)")
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
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES ($1, NULL, $2)")
            .bind(device.mailbox.as_bytes().as_slice())
            .bind(day_of(device.now))
            .execute(&mut *tx)
            .await
            .map_err(conflict("mailbox_exists"))?;
        sqlx::query(
            "INSERT INTO devices (id, account_id, signing_key, notification_key, mailbox_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
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
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(n as u64)
    }

    async fn device(&self, device: &DeviceId) -> StoreResult<Option<DeviceRecord>> {
        let row: Option<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEVICE_SELECT} WHERE d.id = $1"
        )))
        .bind(device.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(device_record).transpose()
    }

    async fn list_devices(&self) -> StoreResult<Vec<DeviceRecord>> {
        let rows: Vec<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{DEVICE_SELECT} ORDER BY d.created_at DESC, d.id DESC"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(device_record).collect()
    }

    async fn revoke_device(&self, device: &DeviceId, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let done =
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(device.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM devices WHERE id = $1")
                .bind(device.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            return match exists {
                Some(_) => Ok(false),
                None => Err(StoreError::NotFound),
            };
        }
        // Without the lock, a cursor taken earlier could commit after a later one and a poller
        // that already moved past the later cursor would never see it.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(REVOCATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("INSERT INTO revocations (device_id, revoked_at) VALUES ($1, $2)")
            .bind(device.as_bytes().as_slice())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // A revoked device is woken no more.
        sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
            .bind(device.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // Delivered on commit, to every node (this one included).
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(REVOKED)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn revocations_since(&self, after: i64) -> StoreResult<Vec<(i64, DeviceId)>> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT cursor, device_id FROM revocations WHERE cursor > $1 ORDER BY cursor",
        )
        .bind(after)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(cursor, device)| Ok((cursor, id_from(&device, DeviceId::from_slice)?)))
            .collect()
    }

    async fn revocation_cursor(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(cursor), 0)::bigint FROM revocations")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn create_mailbox(
        &self,
        mailbox: &MailboxId,
        secret_hash: &Hash32,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES ($1, $2, $3)")
            .bind(mailbox.as_bytes().as_slice())
            .bind(secret_hash.as_slice())
            .bind(day_of(now))
            .execute(&self.pool)
            .await
            .map_err(conflict("mailbox_exists"))?;
        Ok(())
    }

    async fn mailbox_access(&self, mailbox: &MailboxId) -> StoreResult<Option<MailboxAccess>> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT secret_hash FROM mailboxes WHERE id = $1")
                .bind(mailbox.as_bytes().as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        row.map(|(hash,)| mailbox_access(hash)).transpose()
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;

        // 0. The acknowledged copies, first: they free quota for this batch.
        if !acks.is_empty() {
            sqlx::query(
                "DELETE FROM queue q USING UNNEST($1::bytea[], $2::bigint[]) AS a(mailbox_id, seq) \
                 WHERE q.mailbox_id = a.mailbox_id AND q.seq = a.seq",
            )
            .bind(
                acks.iter()
                    .map(|a| a.0.as_bytes().as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(acks.iter().map(|a| a.1 as i64).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        if batch.is_empty() {
            tx.commit().await.map_err(store_error)?;
            return Ok(Vec::new());
        }

        // 1. Lock the rows of the batch's MLS groups and read their epochs, in one statement.
        // Missing rows are inserted as placeholders (epoch NULL), so a group the server has not
        // seen is locked too; ON CONFLICT DO UPDATE (a no-op update) locks an existing row and
        // returns its latest committed epoch, atomically even if `expire` deletes it meanwhile.
        // Rows go in id order, so two nodes' batches take the locks in the same order. Another
        // node's competing commit for the same group waits here until this transaction ends, then
        // sees the epoch it recorded: exactly one commit per epoch wins. Taken before the
        // duplicate check, so a message re-sent through another node meanwhile is seen as a
        // duplicate (each statement sees what committed before it started).
        let groups = distinct_groups(batch);
        let mut epochs = HashMap::with_capacity(groups.len());
        if !groups.is_empty() {
            let rows: Vec<(Vec<u8>, Option<i64>)> = sqlx::query_as(
                "INSERT INTO groups (id, epoch, updated_at) \
                 SELECT g, NULL, t FROM UNNEST($1::bytea[], $2::bigint[]) AS u(g, t) ORDER BY g \
                 ON CONFLICT (id) DO UPDATE SET epoch = groups.epoch RETURNING id, epoch",
            )
            .bind(groups.iter().map(|g| g.0.as_slice()).collect::<Vec<_>>())
            .bind(groups.iter().map(|g| g.1).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            for (group, epoch) in rows {
                epochs.insert(id_from(&group, hash32)?, epoch_from(epoch)?);
            }
        }

        // 2. Ids stored by earlier batches.
        let ids = distinct_ids(batch);
        let rows: Vec<(Vec<u8>, i64)> =
            sqlx::query_as("SELECT message_id, seq FROM sent WHERE message_id = ANY($1::bytea[])")
                .bind(
                    ids.iter()
                        .map(|id| id.as_bytes().as_slice())
                        .collect::<Vec<_>>(),
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        let mut existing = HashMap::with_capacity(rows.len());
        for (id, seq) in rows {
            existing.insert(id_from(&id, MessageId::from_slice)?, seq as u64);
        }

        // 3. Which recipients exist, and how full their queues are. Across nodes the quota is
        // approximate: two nodes appending to one mailbox at once may both see room.
        let recipients = distinct_recipients(batch, &existing);
        let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "SELECT m.id, (SELECT COUNT(*) FROM queue q WHERE q.mailbox_id = m.id) \
             FROM mailboxes m WHERE m.id = ANY($1::bytea[])",
        )
        .bind(
            recipients
                .iter()
                .map(|m| m.as_bytes().as_slice())
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut queued = HashMap::with_capacity(rows.len());
        for (mailbox, count) in rows {
            queued.insert(id_from(&mailbox, MailboxId::from_slice)?, count as u64);
        }

        let plan = loop {
            // 4. Decide, then allocate sequence numbers in batch order.
            let mut plan = AppendPlan::new(batch, &existing, &queued, queue_quota, &epochs);
            if plan.to_store.is_empty() {
                tx.commit().await.map_err(store_error)?;
                return Ok(plan.finish());
            }
            let mut seqs: Vec<i64> =
                sqlx::query_scalar("SELECT nextval('message_seq') FROM generate_series(1, $1)")
                    .bind(plan.to_store.len() as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
            seqs.sort_unstable();
            plan.assign(&seqs);

            // 5. Idempotency records. Another node may be storing one of these ids right now: ON
            // CONFLICT waits for it and skips the row, and ours becomes a duplicate of its. Rows
            // go in id order so two nodes' batches always take the index locks in the same order.
            let mut sent: Vec<(&[u8], i64, i64)> = plan
                .to_store
                .iter()
                .map(|&(index, seq)| {
                    (
                        batch[index].id.as_bytes().as_slice(),
                        seq,
                        batch[index].expires_at,
                    )
                })
                .collect();
            sent.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let inserted: Vec<Vec<u8>> = sqlx::query_scalar(
                "INSERT INTO sent (message_id, seq, expires_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[]) \
                 ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            )
            .bind(sent.iter().map(|r| r.0).collect::<Vec<_>>())
            .bind(sent.iter().map(|r| r.1).collect::<Vec<_>>())
            .bind(sent.iter().map(|r| r.2).collect::<Vec<_>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            if inserted.len() == sent.len() {
                break plan;
            }

            // Rare: some ids lost that race. Each is a duplicate of the winner's message, which
            // changes the decisions after it in the batch (quota it no longer takes, the epoch
            // it no longer advances): take back this attempt's records and decide again. Each
            // round turns at least one more id into a duplicate, so this ends.
            let inserted: HashSet<Vec<u8>> = inserted.into_iter().collect();
            let lost: Vec<&[u8]> = sent
                .iter()
                .map(|r| r.0)
                .filter(|id| !inserted.contains(*id))
                .collect();
            let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT message_id, seq FROM sent WHERE message_id = ANY($1::bytea[])",
            )
            .bind(&lost)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            if rows.len() < lost.len() {
                return Err(StoreError::Other(
                    "a message id conflicted but its record vanished; retry".into(),
                ));
            }
            for (id, seq) in rows {
                existing.insert(id_from(&id, MessageId::from_slice)?, seq as u64);
            }
            sqlx::query("DELETE FROM sent WHERE message_id = ANY($1::bytea[])")
                .bind(inserted.iter().map(Vec::as_slice).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        };

        // 6. One queue row per recipient.
        let copies = plan.copies();
        if !copies.is_empty() {
            sqlx::query(
                "INSERT INTO queue (mailbox_id, seq, message_id, payload, created_at, expires_at) \
                 SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[], $6::bigint[])",
            )
            .bind(copies.iter().map(|c| c.0.as_bytes().as_slice()).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| c.2).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].id.as_bytes().as_slice()).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].payload.as_ref()).collect::<Vec<&[u8]>>())
            .bind(copies.iter().map(|c| batch[c.1].created_at).collect::<Vec<_>>())
            .bind(copies.iter().map(|c| batch[c.1].expires_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }

        // 7. The groups' new epochs. Every row is locked (step 1), so a plain UPDATE does.
        let group_writes = plan.group_writes();
        if !group_writes.is_empty() {
            sqlx::query(
                "UPDATE groups g SET epoch = u.epoch, updated_at = GREATEST(g.updated_at, u.at) \
                 FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[]) AS u(id, epoch, at) \
                 WHERE g.id = u.id",
            )
            .bind(
                group_writes
                    .iter()
                    .map(|w| w.0.as_slice())
                    .collect::<Vec<_>>(),
            )
            .bind(group_writes.iter().map(|w| w.1).collect::<Vec<_>>())
            .bind(group_writes.iter().map(|w| w.2).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(plan.finish())
    }

    async fn publish_key_packages(
        &self,
        mailbox: &MailboxId,
        key_packages: &[Bytes],
        last_resort: Option<&Bytes>,
        max_available: u32,
    ) -> StoreResult<u32> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // The mailbox row lock serialises publishes to one mailbox across nodes, so two cannot
        // both pass the limit check. NO KEY UPDATE: it does not block the foreign-key checks of
        // inserts into key_packages. Concurrent claims only lower the count.
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM key_packages k WHERE k.mailbox_id = m.id AND NOT k.last_resort) \
             FROM mailboxes m WHERE m.id = $1 FOR NO KEY UPDATE OF m",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let held = held.ok_or(StoreError::NotFound)? as u64;
        let total = key_packages_after(held, key_packages.len(), max_available)?;
        if !key_packages.is_empty() {
            // Ids follow list order: the first published is claimed first.
            sqlx::query(
                "INSERT INTO key_packages (mailbox_id, data, last_resort) \
                 SELECT $1, d, false FROM UNNEST($2::bytea[]) WITH ORDINALITY AS u(d, i) ORDER BY i",
            )
            .bind(mailbox.as_bytes().as_slice())
            .bind(key_packages.iter().map(|k| k.as_ref()).collect::<Vec<&[u8]>>())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        if let Some(data) = last_resort {
            sqlx::query(
                "INSERT INTO key_packages (mailbox_id, data, last_resort) VALUES ($1, $2, true) \
                 ON CONFLICT (mailbox_id) WHERE last_resort DO UPDATE SET data = excluded.data",
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
        // One statement (its own transaction). The oldest one-time KeyPackage that no other
        // transaction has locked is deleted and returned: two nodes never both get one.
        // Caveat of SKIP LOCKED: if every remaining one-time row is locked by concurrent claims
        // that have not committed yet, this returns the last-resort KeyPackage although a
        // one-time row may still be left if one of those claims fails. The client gets a valid
        // (reusable) KeyPackage either way; it never waits behind another claim. `available`
        // comes from the statement's snapshot, so under concurrent claims it may be a bit high.
        let row: Option<(Vec<u8>, bool, i64)> = sqlx::query_as(
            "WITH claimed AS ( \
                 DELETE FROM key_packages WHERE id = ( \
                     SELECT id FROM key_packages WHERE mailbox_id = $1 AND NOT last_resort \
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING data), \
             held AS ( \
                 SELECT COUNT(*) AS n FROM key_packages WHERE mailbox_id = $1 AND NOT last_resort) \
             SELECT c.data, false, GREATEST(h.n - 1, 0) FROM claimed c, held h \
             UNION ALL \
             SELECT k.data, true, h.n FROM key_packages k, held h \
             WHERE k.mailbox_id = $1 AND k.last_resort AND NOT EXISTS (SELECT 1 FROM claimed)",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(row.map(|(data, last_resort, available)| ClaimedKeyPackage {
            key_package: data.into(),
            last_resort,
            available: available.clamp(0, i64::from(u32::MAX)) as u32,
        }))
    }

    async fn key_package_count(&self, mailbox: &MailboxId) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_packages WHERE mailbox_id = $1 AND NOT last_resort",
        )
        .bind(mailbox.as_bytes().as_slice())
        .fetch_one(&self.pool)
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
             WHERE mailbox_id = $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
        )
        .bind(mailbox.as_bytes().as_slice())
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(queued_message).collect()
    }

    async fn mailboxes_with_messages_since(&self, since: i64) -> StoreResult<Vec<MailboxId>> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT DISTINCT mailbox_id FROM queue WHERE created_at >= $1")
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        rows.iter()
            .map(|m| id_from(m, MailboxId::from_slice))
            .collect()
    }

    async fn expire(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let copies = sqlx::query("DELETE FROM queue WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        sqlx::query("DELETE FROM sent WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("DELETE FROM invitations WHERE used_at IS NULL AND expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // A group being appended to right now holds its row lock: this waits for it, then skips
        // the row if that append made it recent again.
        sqlx::query("DELETE FROM groups WHERE updated_at < $1")
            .bind(now.saturating_sub(GROUP_IDLE_MS))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(copies)
    }

    async fn notify_mailboxes(&self, node: &str, mailboxes: &[MailboxId]) -> StoreResult<()> {
        if mailboxes.is_empty() {
            return Ok(());
        }
        let payloads = wakeup_payloads(node, mailboxes)?;
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(payloads)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn listen(&self) -> StoreResult<Option<mpsc::Receiver<Wakeup>>> {
        // LISTEN is in place before this returns: every notification committed afterwards arrives
        // unless the connection drops.
        let mut listener = PgListener::connect_with(&self.listen_pool)
            .await
            .map_err(store_error)?;
        listener.listen(CHANNEL).await.map_err(store_error)?;
        let (tx, rx) = mpsc::channel(WAKEUP_BUFFER);
        let task = tokio::spawn(run_listener(listener, tx));
        let mut listeners = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        listeners.retain(|t| !t.is_finished());
        listeners.push(task);
        Ok(Some(rx))
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn init_setting(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        // ON CONFLICT waits for a concurrent insert of the same key; the SELECT (a new snapshot)
        // then sees whichever value won.
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn set_setting(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Locks the device row: a concurrent revocation waits, or this sees it revoked, and two
        // concurrent registrations of one device count each other.
        let active: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM devices WHERE id = $1 AND revoked_at IS NULL FOR UPDATE")
                .bind(device.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        if active.is_none() {
            return Err(StoreError::NotFound);
        }
        // One endpoint serving a device and an unlinked mailbox would link the two.
        let unlinked: Option<i32> = sqlx::query_scalar("SELECT 1 FROM mailbox_push_subscriptions WHERE endpoint = $1")
            .bind(&subscription.endpoint)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        if unlinked.is_some() {
            return Err(StoreError::Conflict("endpoint_in_use"));
        }
        sqlx::query(
            "INSERT INTO push_subscriptions (endpoint, device_id, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET device_id = excluded.device_id, \
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
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM push_subscriptions WHERE device_id = $1")
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
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1 AND endpoint = $2")
            .bind(device.as_bytes().as_slice())
            .bind(endpoint)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn push_subscriptions_for(
        &self,
        mailboxes: &[MailboxId],
    ) -> StoreResult<Vec<(MailboxId, super::PushSubscription)>> {
        let ids: Vec<&[u8]> = mailboxes.iter().map(|m| m.as_bytes().as_slice()).collect();
        let rows: Vec<(Vec<u8>, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT d.mailbox_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s \
             JOIN devices d ON d.id = s.device_id WHERE d.revoked_at IS NULL AND d.mailbox_id = ANY($1::bytea[])",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(mailbox, endpoint, p256dh, auth)| {
                Ok((id_from(&mailbox, MailboxId::from_slice)?, super::PushSubscription { endpoint, p256dh, auth }))
            })
            .collect()
    }

    async fn delete_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1")
            .bind(endpoint)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_push_subscriptions_of(&self, device: &DeviceId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
            .bind(device.as_bytes().as_slice())
            .execute(&self.pool)
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
        for task in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.listen_pool.close().await;
        self.pool.close().await;
    }
}

/// Forwards notifications until the receiver is dropped or the store closes. A lost connection
/// is re-established (notifications sent meanwhile are lost: callers poll as well).
async fn run_listener(mut listener: PgListener, tx: mpsc::Sender<Wakeup>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let received = tokio::select! {
            _ = tx.closed() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => {
                backoff = Duration::from_millis(100);
                let Some(wakeup) = parse_wakeup(notification.payload()) else {
                    tracing::warn!("ignoring a malformed wake-up notification");
                    continue;
                };
                match tx.try_send(wakeup) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Ok(None) => tracing::warn!("wake-up listener lost its connection; reconnected"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %store_error(e), retry_in_ms = backoff.as_millis() as u64, "wake-up listener failed");
                tokio::select! {
                    _ = tx.closed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// `NODE SP MAILBOX,MAILBOX,…`, split into payloads under PostgreSQL's limit.
fn wakeup_payloads(node: &str, mailboxes: &[MailboxId]) -> StoreResult<Vec<String>> {
    const MAILBOX_TEXT: usize = 22; // 16 bytes in unpadded base64url
    if node.is_empty()
        || node.len() + 1 + MAILBOX_TEXT > MAX_NOTIFY_PAYLOAD
        || node.chars().any(char::is_whitespace)
    {
        return Err(StoreError::Other(
            "a node id must be non-empty, short, and without spaces".into(),
        ));
    }
    let mut payloads = Vec::new();
    let mut current = String::new();
    for mailbox in mailboxes {
        if !current.is_empty() && current.len() + 1 + MAILBOX_TEXT > MAX_NOTIFY_PAYLOAD {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(node);
            current.push(' ');
        } else {
            current.push(',');
        }
        current.push_str(&mailbox.to_text());
    }
    payloads.push(current);
    Ok(payloads)
}

fn parse_wakeup(payload: &str) -> Option<Wakeup> {
    if payload == REVOKED {
        return Some(Wakeup::Revoked);
    }
    let (node, list) = payload.split_once(' ')?;
    let mailboxes = list
        .split(',')
        .map(MailboxId::parse)
        .collect::<Option<Vec<_>>>()?;
    Some(Wakeup::Mailboxes {
        node: node.to_owned(),
        mailboxes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeup_payloads_are_chunked_under_the_limit_and_round_trip() {
        let mailboxes: Vec<MailboxId> = (0..1_000).map(|_| MailboxId::random()).collect();
        let payloads = wakeup_payloads("node-a", &mailboxes).unwrap();
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for p in &payloads {
            assert!(p.len() < MAX_NOTIFY_PAYLOAD);
            match parse_wakeup(p).unwrap() {
                Wakeup::Mailboxes { node, mailboxes } => {
                    assert_eq!(node, "node-a");
                    back.extend(mailboxes);
                }
                Wakeup::Revoked => panic!("not a revocation"),
            }
        }
        assert_eq!(back, mailboxes);
        assert_eq!(parse_wakeup(REVOKED), Some(Wakeup::Revoked));
        assert!(wakeup_payloads("has space", &mailboxes).is_err());
    }
}
