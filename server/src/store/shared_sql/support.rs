//! Support requests, their escalation timers and unlinked mailboxes' push subscriptions:
//! `SupportStore`.

macro_rules! support_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_support {
            use super::$store;
            use crate::store::push::PushSubscription;
            use crate::store::rows::{self, REQUEST_COLUMNS, day_of, id_from};
            use crate::store::sql_errors::{conflict, store_error};
            use crate::store::support::{
                ClaimOutcome, Escalation, HandOffOutcome, MAX_LEVEL, MAX_MAILBOX_PUSH_SUBSCRIPTIONS, NewSupportRequest,
                SupportRequestRecord, SupportStore,
            };
            use crate::domain::report::EventKind;
            use crate::store::report::delay_seconds;
            use crate::store::{Conflict, StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::support::Urgency;
            use sallyport_protocol::{AccountId, MailboxId, RequestId};

            use super::shared_report::record_event;

            // ---- support requests

            #[async_trait]
            impl SupportStore for $store {
                async fn create_support_request(&self, r: NewSupportRequest) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day, read_day) VALUES ($1, $2, $3, $3)")
                        .bind(r.mailbox.as_bytes().as_slice())
                        .bind(r.secret_hash.as_slice())
                        .bind(day_of(r.created_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict(Conflict::MailboxExists))?;
                    // The KeyPackage goes in the request's own row: `key_packages` ids are a global
                    // insertion order (see migration 0006).
                    sqlx::query(
                        "INSERT INTO support_requests (id, urgency, status, level, created_at, mailbox_id, key_package) \
                         VALUES ($1, $2, 'waiting', 0, $3, $4, $5)",
                    )
                    .bind(r.id.as_bytes().as_slice())
                    .bind(r.urgency.as_str())
                    .bind(r.created_at)
                    .bind(r.mailbox.as_bytes().as_slice())
                    .bind(r.key_package.as_ref())
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict(Conflict::RequestExists))?;
                    sqlx::query("INSERT INTO support_timers (request_id, due_at, level, step_ms) VALUES ($1, $2, 1, $3)")
                        .bind(r.id.as_bytes().as_slice())
                        .bind(r.first_due_at)
                        .bind(r.step_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let kind = match r.urgency {
                        Urgency::Now => EventKind::RequestNow,
                        Urgency::Today => EventKind::RequestToday,
                        Urgency::Week => EventKind::RequestWeek,
                    };
                    record_event(&mut tx, r.created_at, kind, None).await?;
                    tx.commit().await.map_err(store_error)
                }

                async fn support_request(&self, id: &RequestId) -> StoreResult<Option<SupportRequestRecord>> {
                    let sql = format!("SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id WHERE r.id = $1");
                    let row: Option<rows::RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(id.as_bytes().as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    row.map(rows::request_record).transpose()
                }

                async fn waiting_support_requests(&self) -> StoreResult<Vec<SupportRequestRecord>> {
                    let sql = format!(
                        "SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id \
                         WHERE r.status = 'waiting' ORDER BY r.created_at, r.id"
                    );
                    let found: Vec<rows::RequestRow> =
                        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(self.reader()).await.map_err(store_error)?;
                    found.into_iter().map(rows::request_record).collect()
                }

                async fn claim_support_request(&self, id: &RequestId, by: &AccountId, now: i64) -> StoreResult<ClaimOutcome> {
                    let mut tx = self.begin_write().await?;
                    // One conditional UPDATE: exactly one concurrent caller sees `waiting`.
                    let won: Option<(Vec<u8>, String, i64)> = sqlx::query_as(
                        "UPDATE support_requests SET status = 'accepted', claimed_by = $1, claimed_at = $2 \
                         WHERE id = $3 AND status = 'waiting' RETURNING mailbox_id, urgency, created_at",
                    )
                    .bind(by.as_bytes().as_slice())
                    .bind(now)
                    .bind(id.as_bytes().as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let Some((mailbox, urgency, created_at)) = won else {
                        let exists: Option<Vec<u8>> = sqlx::query_scalar("SELECT id FROM support_requests WHERE id = $1")
                            .bind(id.as_bytes().as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        return Ok(if exists.is_some() { ClaimOutcome::AlreadyClaimed } else { ClaimOutcome::NotFound });
                    };
                    sqlx::query("DELETE FROM support_timers WHERE request_id = $1")
                        .bind(id.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // Dated by the acceptance, not the request: a reported day never changes later.
                    record_event(&mut tx, now, EventKind::Accepted, Some(delay_seconds(created_at, now))).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(ClaimOutcome::Won { mailbox: id_from(&mailbox, MailboxId::from_slice)?, urgency: rows::urgency_from(&urgency)? })
                }

                async fn hand_off_support_request(&self, id: &RequestId, from: &AccountId, to: &AccountId) -> StoreResult<HandOffOutcome> {
                    let mut tx = self.begin_write().await?;
                    let done = sqlx::query("UPDATE support_requests SET claimed_by = $1 WHERE id = $2 AND status = 'accepted' AND claimed_by = $3")
                        .bind(to.as_bytes().as_slice())
                        .bind(id.as_bytes().as_slice())
                        .bind(from.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if done.rows_affected() == 1 {
                        tx.commit().await.map_err(store_error)?;
                        return Ok(HandOffOutcome::HandedOff);
                    }
                    let status: Option<String> = sqlx::query_scalar("SELECT status FROM support_requests WHERE id = $1")
                        .bind(id.as_bytes().as_slice())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    Ok(match status.as_deref() {
                        None => HandOffOutcome::NotFound,
                        Some("accepted") => HandOffOutcome::NotClaimer,
                        Some(_) => HandOffOutcome::NotClaimed,
                    })
                }

                async fn close_support_request(&self, id: &RequestId, held_by: Option<&AccountId>) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // The timer goes with the request (ON DELETE CASCADE).
                    let mailbox: Option<Vec<u8>> = sqlx::query_scalar(
                        "DELETE FROM support_requests WHERE id = $1 AND ($2 IS NULL OR (status = 'accepted' AND claimed_by = $2)) \
                         RETURNING mailbox_id",
                    )
                        .bind(id.as_bytes().as_slice())
                        .bind(held_by.map(|a| a.as_bytes().to_vec()))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let Some(mailbox) = mailbox else { return Ok(false) };
                    // KeyPackages and push subscriptions go with the mailbox; only an unlinked
                    // mailbox is ever deleted.
                    for sql in ["DELETE FROM queue WHERE mailbox_id = $1", "DELETE FROM mailboxes WHERE id = $1 AND secret_hash IS NOT NULL"] {
                        sqlx::query(sql).bind(&mailbox).execute(&mut *tx).await.map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }

                async fn claim_due_escalations(&self, now: i64, limit: u32) -> StoreResult<Vec<Escalation>> {
                    // Every node asks every second: look on a reader first, so an idle pass never
                    // takes a write transaction (on SQLite: never queues behind a group commit).
                    let any: Option<Vec<u8>> = sqlx::query_scalar("SELECT request_id FROM support_timers WHERE due_at <= $1 LIMIT 1")
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if any.is_none() {
                        return Ok(vec![]);
                    }
                    let mut tx = self.begin_write().await?;
                    // Claimed in the transaction that advances them: each fires on one node.
                    let due: Vec<(Vec<u8>, i32)> = sqlx::query_as(concat!(
                        "SELECT request_id, level FROM support_timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let mut fired = Vec::with_capacity(due.len());
                    for (request, level) in due {
                        let urgency: String = sqlx::query_scalar("UPDATE support_requests SET level = $1 WHERE id = $2 RETURNING urgency")
                            .bind(level)
                            .bind(&request)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        // Dated by when it fires: a reported day never changes later.
                        record_event(&mut tx, now, EventKind::Escalated, None).await?;
                        let next = if level >= i32::from(MAX_LEVEL) {
                            "DELETE FROM support_timers WHERE request_id = $1"
                        } else {
                            "UPDATE support_timers SET level = level + 1, due_at = due_at + step_ms WHERE request_id = $1"
                        };
                        sqlx::query(next).bind(&request).execute(&mut *tx).await.map_err(store_error)?;
                        fired.push(Escalation {
                            request: id_from(&request, RequestId::from_slice)?,
                            urgency: rows::urgency_from(&urgency)?,
                            level: u8::try_from(level).map_err(|_| StoreError::Other("unreadable timer level".into()))?,
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(fired)
                }

                async fn add_mailbox_push_subscription(&self, mailbox: &MailboxId, s: &PushSubscription) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    // Locked: concurrent registrations for one mailbox count one after the other.
                    let unlinked: Option<Vec<u8>> =
                        sqlx::query_scalar(concat!("SELECT id FROM mailboxes WHERE id = $1 AND secret_hash IS NOT NULL", $for_update))
                            .bind(mailbox.as_bytes().as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    if unlinked.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    let device_endpoint: Option<String> = sqlx::query_scalar("SELECT endpoint FROM push_subscriptions WHERE endpoint = $1")
                        .bind(&s.endpoint)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if device_endpoint.is_some() {
                        return Err(StoreError::Conflict(Conflict::EndpointInUse));
                    }
                    let held: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_push_subscriptions WHERE mailbox_id = $1 AND endpoint <> $2")
                            .bind(mailbox.as_bytes().as_slice())
                            .bind(&s.endpoint)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    if held >= MAX_MAILBOX_PUSH_SUBSCRIPTIONS {
                        return Err(StoreError::Conflict(Conflict::PushSubscriptionLimit));
                    }
                    sqlx::query(
                        "INSERT INTO mailbox_push_subscriptions (endpoint, mailbox_id, p256dh, auth) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (endpoint) DO UPDATE SET mailbox_id = excluded.mailbox_id, p256dh = excluded.p256dh, auth = excluded.auth",
                    )
                    .bind(&s.endpoint)
                    .bind(mailbox.as_bytes().as_slice())
                    .bind(&s.p256dh)
                    .bind(&s.auth)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn mailbox_push_subscriptions_for(&self, mailboxes: &[MailboxId]) -> StoreResult<Vec<(MailboxId, PushSubscription)>> {
                    let found: Vec<rows::SubscriptionRow> = self
                        .by_mailboxes("SELECT mailbox_id, endpoint, p256dh, auth FROM mailbox_push_subscriptions WHERE mailbox_id", mailboxes)
                        .await?;
                    found.into_iter().map(rows::subscription).collect()
                }

                async fn delete_mailbox_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
                    let done = sqlx::query("DELETE FROM mailbox_push_subscriptions WHERE endpoint = $1")
                        .bind(endpoint)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(done.rows_affected() > 0)
                }
            }
        }
    };
}

pub(crate) use support_sql;
