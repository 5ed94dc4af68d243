//! Peer support requests on SQLite (`SupportStore`); schema in migrations/sqlite/0005_support.sql.
//! Every write runs in the single writer's IMMEDIATE transaction, which is what makes a claim
//! (of a request or of an escalation timer) happen once.

use super::SqliteStore;
use super::shared::{conflict, day_of, store_error};
use crate::store::support::{
    ClaimOutcome, Escalation, HandOffOutcome, MAX_LEVEL, MAX_MAILBOX_PUSH_SUBSCRIPTIONS, NewSupportRequest, REQUEST_COLUMNS, RequestRow,
    SupportRequestRecord, SupportStore, request_record, urgency_from,
};
use crate::store::{PushSubscription, StoreError, StoreResult};
use async_trait::async_trait;
use sallyport_protocol::{AccountId, MailboxId, RequestId};
use sqlx::{QueryBuilder, Sqlite};

#[async_trait]
impl SupportStore for SqliteStore {
    async fn create_support_request(&self, r: NewSupportRequest) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES (?, ?, ?)")
            .bind(r.mailbox.as_bytes().as_slice())
            .bind(r.secret_hash.as_slice())
            .bind(day_of(r.created_at))
            .execute(&mut *tx)
            .await
            .map_err(conflict("mailbox_exists"))?;
        sqlx::query("INSERT INTO key_packages (mailbox_id, data, last_resort) VALUES (?, ?, 1)")
            .bind(r.mailbox.as_bytes().as_slice())
            .bind(r.key_package.as_ref())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO support_requests (id, urgency, status, level, created_at, mailbox_id) VALUES (?, ?, 'waiting', 0, ?, ?)",
        )
        .bind(r.id.as_bytes().as_slice())
        .bind(r.urgency.as_str())
        .bind(r.created_at)
        .bind(r.mailbox.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(conflict("request_exists"))?;
        sqlx::query("INSERT INTO support_timers (request_id, due_at, level, step_ms) VALUES (?, ?, 1, ?)")
            .bind(r.id.as_bytes().as_slice())
            .bind(r.first_due_at)
            .bind(r.step_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn support_request(&self, id: &RequestId) -> StoreResult<Option<SupportRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id WHERE r.id = ?");
        let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)?;
        row.map(request_record).transpose()
    }

    async fn waiting_support_requests(&self) -> StoreResult<Vec<SupportRequestRecord>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id \
             WHERE r.status = 'waiting' ORDER BY r.created_at, r.id"
        );
        let rows: Vec<RequestRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.reader).await.map_err(store_error)?;
        rows.into_iter().map(request_record).collect()
    }

    async fn claim_support_request(&self, id: &RequestId, by: &AccountId, now: i64) -> StoreResult<ClaimOutcome> {
        let mut tx = self.begin_write().await?;
        let won: Option<(Vec<u8>, String)> = sqlx::query_as(
            "UPDATE support_requests SET status = 'accepted', claimed_by = ?, claimed_at = ? \
             WHERE id = ? AND status = 'waiting' RETURNING mailbox_id, urgency",
        )
        .bind(by.as_bytes().as_slice())
        .bind(now)
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some((mailbox, urgency)) = won else {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM support_requests WHERE id = ?")
                .bind(id.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
            return Ok(if exists.is_some() { ClaimOutcome::AlreadyClaimed } else { ClaimOutcome::NotFound });
        };
        sqlx::query("DELETE FROM support_timers WHERE request_id = ?")
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(ClaimOutcome::Won {
            mailbox: MailboxId::from_slice(&mailbox).ok_or_else(|| StoreError::Other("unreadable mailbox_id".into()))?,
            urgency: urgency_from(&urgency)?,
        })
    }

    async fn hand_off_support_request(&self, id: &RequestId, from: &AccountId, to: &AccountId) -> StoreResult<HandOffOutcome> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE support_requests SET claimed_by = ? WHERE id = ? AND status = 'accepted' AND claimed_by = ?",
        )
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
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM support_requests WHERE id = ?")
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

    async fn close_support_request(&self, id: &RequestId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let mailbox: Option<Vec<u8>> = sqlx::query_scalar("SELECT mailbox_id FROM support_requests WHERE id = ?")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(mailbox) = mailbox else { return Ok(false) };
        // The timer goes with the request (ON DELETE CASCADE); KeyPackages and push
        // subscriptions with the mailbox. Only an unlinked mailbox is ever deleted.
        for sql in [
            "DELETE FROM support_requests WHERE id = ?",
            "DELETE FROM queue WHERE mailbox_id = ?",
            "DELETE FROM mailboxes WHERE id = ? AND secret_hash IS NOT NULL",
        ] {
            let key: &[u8] = if sql.contains("support_requests") { id.as_bytes() } else { &mailbox };
            sqlx::query(sql).bind(key).execute(&mut *tx).await.map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn claim_due_escalations(&self, now: i64, limit: u32) -> StoreResult<Vec<Escalation>> {
        // Every node asks every second: look on a reader first, so an idle pass never queues for
        // the single writer behind a group commit.
        let any: Option<i64> = sqlx::query_scalar("SELECT 1 FROM support_timers WHERE due_at <= ? LIMIT 1")
            .bind(now)
            .fetch_optional(&self.reader)
            .await
            .map_err(store_error)?;
        if any.is_none() {
            return Ok(vec![]);
        }
        let mut tx = self.begin_write().await?;
        let due: Vec<(Vec<u8>, i64, String)> = sqlx::query_as(
            "SELECT t.request_id, t.level, r.urgency FROM support_timers t \
             JOIN support_requests r ON r.id = t.request_id \
             WHERE t.due_at <= ? ORDER BY t.due_at LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let mut fired = Vec::with_capacity(due.len());
        for (request, level, urgency) in due {
            sqlx::query("UPDATE support_requests SET level = ? WHERE id = ?")
                .bind(level)
                .bind(&request)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            let next = if level >= i64::from(MAX_LEVEL) {
                "DELETE FROM support_timers WHERE request_id = ?"
            } else {
                "UPDATE support_timers SET level = level + 1, due_at = due_at + step_ms WHERE request_id = ?"
            };
            sqlx::query(next).bind(&request).execute(&mut *tx).await.map_err(store_error)?;
            fired.push(Escalation {
                request: RequestId::from_slice(&request).ok_or_else(|| StoreError::Other("unreadable request_id".into()))?,
                urgency: urgency_from(&urgency)?,
                level: u8::try_from(level).map_err(|_| StoreError::Other("unreadable timer level".into()))?,
            });
        }
        tx.commit().await.map_err(store_error)?;
        Ok(fired)
    }

    async fn add_mailbox_push_subscription(&self, mailbox: &MailboxId, s: &PushSubscription) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let device_endpoint: Option<i64> = sqlx::query_scalar("SELECT 1 FROM push_subscriptions WHERE endpoint = ?")
            .bind(&s.endpoint)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        if device_endpoint.is_some() {
            return Err(StoreError::Conflict("endpoint_in_use"));
        }
        let unlinked: Option<i64> = sqlx::query_scalar("SELECT 1 FROM mailboxes WHERE id = ? AND secret_hash IS NOT NULL")
            .bind(mailbox.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        if unlinked.is_none() {
            return Err(StoreError::NotFound);
        }
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_push_subscriptions WHERE mailbox_id = ? AND endpoint <> ?")
                .bind(mailbox.as_bytes().as_slice())
                .bind(&s.endpoint)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if held >= MAX_MAILBOX_PUSH_SUBSCRIPTIONS {
            return Err(StoreError::Conflict("push_subscription_limit"));
        }
        sqlx::query(
            "INSERT INTO mailbox_push_subscriptions (endpoint, mailbox_id, p256dh, auth) VALUES (?, ?, ?, ?) \
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
        let mut out = Vec::new();
        for chunk in mailboxes.chunks(10_000) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT mailbox_id, endpoint, p256dh, auth FROM mailbox_push_subscriptions WHERE mailbox_id IN (",
            );
            let mut list = qb.separated(", ");
            for m in chunk {
                list.push_bind(m.as_bytes().as_slice());
            }
            qb.push(")");
            let rows: Vec<(Vec<u8>, String, Vec<u8>, Vec<u8>)> =
                qb.build_query_as().persistent(false).fetch_all(&self.reader).await.map_err(store_error)?;
            for (mailbox, endpoint, p256dh, auth) in rows {
                let mailbox = MailboxId::from_slice(&mailbox).ok_or_else(|| StoreError::Other("unreadable mailbox_id".into()))?;
                out.push((mailbox, PushSubscription { endpoint, p256dh, auth }));
            }
        }
        Ok(out)
    }

    async fn delete_mailbox_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mailbox_push_subscriptions WHERE endpoint = ?")
            .bind(endpoint)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }
}
