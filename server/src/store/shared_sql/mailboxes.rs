//! Mailboxes, reading their queues, expiry, and devices' push subscriptions: `MailboxStore` and
//! `PushStore`.

macro_rules! mailboxes_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_mailboxes {
            use super::$store;
            use crate::store::mailboxes::{GROUP_IDLE_MS, MailboxAccess, MailboxStore};
            use crate::store::push::{PushStore, PushSubscription};
            use crate::store::queue::QueuedMessage;
            use crate::store::rows::{self, day_of, id_from};
            use crate::store::sql_errors::{conflict, store_error};
            use crate::store::{Conflict, Hash32, StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::{DeviceId, MailboxId};

            // ---- mailboxes and reading queues

            #[async_trait]
            impl MailboxStore for $store {
                async fn create_mailbox(&self, mailbox: &MailboxId, secret_hash: &Hash32, now: i64) -> StoreResult<()> {
                    sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day, read_day) VALUES ($1, $2, $3, $3)")
                        .bind(mailbox.as_bytes().as_slice())
                        .bind(secret_hash.as_slice())
                        .bind(day_of(now))
                        .execute(self.writer())
                        .await
                        .map_err(conflict(Conflict::MailboxExists))?;
                    Ok(())
                }

                async fn mailbox_access(&self, mailbox: &MailboxId) -> StoreResult<Option<MailboxAccess>> {
                    let row: Option<(Option<Vec<u8>>, i64)> =
                        sqlx::query_as("SELECT secret_hash, COALESCE(read_day, created_day) FROM mailboxes WHERE id = $1")
                            .bind(mailbox.as_bytes().as_slice())
                            .fetch_optional(self.reader())
                            .await
                            .map_err(store_error)?;
                    row.map(|(hash, read_day)| rows::mailbox_access(hash, read_day)).transpose()
                }

                async fn mark_mailbox_read(&self, mailbox: &MailboxId, now: i64) -> StoreResult<()> {
                    sqlx::query(
                        "UPDATE mailboxes SET read_day = $2 \
                         WHERE id = $1 AND secret_hash IS NOT NULL AND (read_day IS NULL OR read_day < $2)",
                    )
                    .bind(mailbox.as_bytes().as_slice())
                    .bind(day_of(now))
                    .execute(self.writer())
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn queued(&self, mailbox: &MailboxId) -> StoreResult<u64> {
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue WHERE mailbox_id = $1")
                        .bind(mailbox.as_bytes().as_slice())
                        .fetch_one(self.reader())
                        .await
                        .map_err(store_error)?;
                    Ok(count.max(0) as u64)
                }

                async fn pending(&self, mailbox: &MailboxId, limit: u32, now: i64) -> StoreResult<Vec<QueuedMessage>> {
                    let found: Vec<rows::QueueRow> = sqlx::query_as(
                        "SELECT mailbox_id, seq, message_id, payload FROM queue \
                         WHERE mailbox_id = $1 AND expires_at > $2 ORDER BY seq LIMIT $3",
                    )
                    .bind(mailbox.as_bytes().as_slice())
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(self.reader())
                    .await
                    .map_err(store_error)?;
                    found.into_iter().map(rows::queued_message).collect()
                }

                async fn mailboxes_with_messages_since(&self, since: i64) -> StoreResult<Vec<MailboxId>> {
                    let found: Vec<Vec<u8>> = sqlx::query_scalar("SELECT DISTINCT mailbox_id FROM queue WHERE created_at >= $1")
                        .bind(since)
                        .fetch_all(self.reader())
                        .await
                        .map_err(store_error)?;
                    found.iter().map(|m| id_from(m, MailboxId::from_slice)).collect()
                }

                async fn expire(&self, now: i64) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    let copies = sqlx::query("DELETE FROM queue WHERE expires_at <= $1")
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    for sql in ["DELETE FROM sent WHERE expires_at <= $1", "DELETE FROM invitations WHERE used_at IS NULL AND expires_at <= $1"] {
                        sqlx::query(sql).bind(now).execute(&mut *tx).await.map_err(store_error)?;
                    }
                    // On PostgreSQL a group being appended to right now holds its row lock: this
                    // waits for it, then skips the row if that append made it recent again.
                    sqlx::query("DELETE FROM groups WHERE updated_at < $1")
                        .bind(now.saturating_sub(GROUP_IDLE_MS))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(copies)
                }

                async fn expire_unread_mailboxes(&self, read_before: i64, limit: u32) -> StoreResult<u64> {
                    let mut tx = self.begin_write().await?;
                    // The mailboxes first, re-checked under their row locks on PostgreSQL: one read
                    // (or given a support request) meanwhile stays, and so do its messages.
                    // KeyPackages and push subscriptions go with them (ON DELETE CASCADE).
                    let gone: Vec<Vec<u8>> = sqlx::query_scalar(
                        "DELETE FROM mailboxes WHERE id IN (\
                           SELECT m.id FROM mailboxes m WHERE m.secret_hash IS NOT NULL AND m.read_day < $1 \
                           AND NOT EXISTS (SELECT 1 FROM support_requests s WHERE s.mailbox_id = m.id) LIMIT $2) \
                         AND secret_hash IS NOT NULL AND read_day < $1 RETURNING id",
                    )
                    .bind(day_of(read_before))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    for mailbox in &gone {
                        sqlx::query("DELETE FROM queue WHERE mailbox_id = $1")
                            .bind(mailbox.as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(gone.len() as u64)
                }
            }

            // ---- devices' push subscriptions

            #[async_trait]
            impl PushStore for $store {
                async fn add_push_subscription(
                    &self,
                    device: &DeviceId,
                    subscription: &PushSubscription,
                    max_per_device: u32,
                    now: i64,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    // Locked: a concurrent revocation waits, or this sees it revoked, and two
                    // concurrent registrations of one device count each other.
                    let active: Option<Vec<u8>> =
                        sqlx::query_scalar(concat!("SELECT id FROM devices WHERE id = $1 AND revoked_at IS NULL", $for_update))
                            .bind(device.as_bytes().as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    if active.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    // One endpoint serving a device and an unlinked mailbox would link the two.
                    let unlinked: Option<String> = sqlx::query_scalar("SELECT endpoint FROM mailbox_push_subscriptions WHERE endpoint = $1")
                        .bind(&subscription.endpoint)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if unlinked.is_some() {
                        return Err(StoreError::Conflict(Conflict::EndpointInUse));
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
                        return Err(StoreError::Conflict(Conflict::PushSubscriptionLimit));
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn remove_push_subscription(&self, device: &DeviceId, endpoint: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1 AND endpoint = $2")
                        .bind(device.as_bytes().as_slice())
                        .bind(endpoint)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn push_subscriptions_for(&self, mailboxes: &[MailboxId]) -> StoreResult<Vec<(MailboxId, PushSubscription)>> {
                    let found: Vec<rows::SubscriptionRow> = self
                        .by_mailboxes(
                            "SELECT d.mailbox_id, s.endpoint, s.p256dh, s.auth FROM push_subscriptions s \
                             JOIN devices d ON d.id = s.device_id WHERE d.revoked_at IS NULL AND d.mailbox_id",
                            mailboxes,
                        )
                        .await?;
                    found.into_iter().map(rows::subscription).collect()
                }

                async fn delete_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM push_subscriptions WHERE endpoint = $1")
                        .bind(endpoint)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }

                async fn delete_push_subscriptions_of(&self, device: &DeviceId) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
                        .bind(device.as_bytes().as_slice())
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected())
                }
            }

        }
    };
}

pub(crate) use mailboxes_sql;
