//! Peer support requests on PostgreSQL (`SupportStore`); schema in
//! migrations/postgres/0005_support.sql. A claim is one conditional UPDATE (row lock: exactly
//! one concurrent caller sees `status = 'waiting'`); due escalation timers are claimed with
//! `FOR UPDATE SKIP LOCKED` in the transaction that advances them, so each fires on one node.

use super::PostgresStore;
use crate::store::sqlite::shared::{conflict, day_of, store_error};
use crate::store::support::{
    ClaimOutcome, Escalation, HandOffOutcome, MAX_LEVEL, MAX_MAILBOX_PUSH_SUBSCRIPTIONS, NewSupportRequest, REQUEST_COLUMNS, RequestRow,
    SupportRequestRecord, SupportStore, request_record, urgency_from,
};
use crate::store::{PushSubscription, StoreError, StoreResult};
use async_trait::async_trait;
use sallyport_protocol::{AccountId, MailboxId, RequestId};

#[async_trait]
impl SupportStore for PostgresStore {
    async fn create_support_request(&self, r: NewSupportRequest) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("INSERT INTO mailboxes (id, secret_hash, created_day) VALUES ($1, $2, $3)")
            .bind(r.mailbox.as_bytes().as_slice())
            .bind(r.secret_hash.as_slice())
            .bind(day_of(r.created_at))
            .execute(&mut *tx)
            .await
            .map_err(conflict("mailbox_exists"))?;
        sqlx::query("INSERT INTO key_packages (mailbox_id, data, last_resort) VALUES ($1, $2, true)")
            .bind(r.mailbox.as_bytes().as_slice())
            .bind(r.key_package.as_ref())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO support_requests (id, urgency, status, level, created_at, mailbox_id) \
             VALUES ($1, $2, 'waiting', 0, $3, $4)",
        )
        .bind(r.id.as_bytes().as_slice())
        .bind(r.urgency.as_str())
        .bind(r.created_at)
        .bind(r.mailbox.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(conflict("request_exists"))?;
        sqlx::query("INSERT INTO support_timers (request_id, due_at, level, step_ms) VALUES ($1, $2, 1, $3)")
            .bind(r.id.as_bytes().as_slice())
            .bind(r.first_due_at)
            .bind(r.step_ms)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
    }

    async fn support_request(&self, id: &RequestId) -> StoreResult<Option<SupportRequestRecord>> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id WHERE r.id = $1");
        let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.map(request_record).transpose()
    }

    async fn waiting_support_requests(&self) -> StoreResult<Vec<SupportRequestRecord>> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM support_requests r JOIN mailboxes m ON m.id = r.mailbox_id \
             WHERE r.status = 'waiting' ORDER BY r.created_at, r.id"
        );
        let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(store_error)?;
        rows.into_iter().map(request_record).collect()
    }

    async fn claim_support_request(&self, id: &RequestId, by: &AccountId, now: i64) -> StoreResult<ClaimOutcome> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let won: Option<(Vec<u8>, String)> = sqlx::query_as(
            "UPDATE support_requests SET status = 'accepted', claimed_by = $1, claimed_at = $2 \
             WHERE id = $3 AND status = 'waiting' RETURNING mailbox_id, urgency",
        )
        .bind(by.as_bytes().as_slice())
        .bind(now)
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some((mailbox, urgency)) = won else {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM support_requests WHERE id = $1")
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
        tx.commit().await.map_err(store_error)?;
        Ok(ClaimOutcome::Won {
            mailbox: MailboxId::from_slice(&mailbox).ok_or_else(|| StoreError::Other("unreadable mailbox_id".into()))?,
            urgency: urgency_from(&urgency)?,
        })
    }

    async fn hand_off_support_request(&self, id: &RequestId, from: &AccountId, to: &AccountId) -> StoreResult<HandOffOutcome> {
        let done = sqlx::query(
            "UPDATE support_requests SET claimed_by = $1 WHERE id = $2 AND status = 'accepted' AND claimed_by = $3",
        )
        .bind(to.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .bind(from.as_bytes().as_slice())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if done.rows_affected() == 1 {
            return Ok(HandOffOutcome::HandedOff);
        }
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM support_requests WHERE id = $1")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(match status.as_deref() {
            None => HandOffOutcome::NotFound,
            Some("accepted") => HandOffOutcome::NotClaimer,
            Some(_) => HandOffOutcome::NotClaimed,
        })
    }

    async fn close_support_request(&self, id: &RequestId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let mailbox: Option<Vec<u8>> = sqlx::query_scalar("DELETE FROM support_requests WHERE id = $1 RETURNING mailbox_id")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(mailbox) = mailbox else { return Ok(false) };
        for sql in ["DELETE FROM queue WHERE mailbox_id = $1", "DELETE FROM mailboxes WHERE id = $1 AND secret_hash IS NOT NULL"] {
            sqlx::query(sql).bind(&mailbox).execute(&mut *tx).await.map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn claim_due_escalations(&self, now: i64, limit: u32) -> StoreResult<Vec<Escalation>> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let due: Vec<(Vec<u8>, i32)> = sqlx::query_as(
            "SELECT request_id, level FROM support_timers WHERE due_at <= $1 \
             ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
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
            let next = if level >= i32::from(MAX_LEVEL) {
                "DELETE FROM support_timers WHERE request_id = $1"
            } else {
                "UPDATE support_timers SET level = level + 1, due_at = due_at + step_ms WHERE request_id = $1"
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Lock the mailbox row: concurrent registrations for it count one after the other.
        let unlinked: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM mailboxes WHERE id = $1 AND secret_hash IS NOT NULL FOR UPDATE")
                .bind(mailbox.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        if unlinked.is_none() {
            return Err(StoreError::NotFound);
        }
        let device_endpoint: Option<i32> = sqlx::query_scalar("SELECT 1 FROM push_subscriptions WHERE endpoint = $1")
            .bind(&s.endpoint)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        if device_endpoint.is_some() {
            return Err(StoreError::Conflict("endpoint_in_use"));
        }
        let held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_push_subscriptions WHERE mailbox_id = $1 AND endpoint <> $2")
                .bind(mailbox.as_bytes().as_slice())
                .bind(&s.endpoint)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if held >= MAX_MAILBOX_PUSH_SUBSCRIPTIONS {
            return Err(StoreError::Conflict("push_subscription_limit"));
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
        if mailboxes.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<Vec<u8>> = mailboxes.iter().map(|m| m.as_bytes().to_vec()).collect();
        let rows: Vec<(Vec<u8>, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT mailbox_id, endpoint, p256dh, auth FROM mailbox_push_subscriptions WHERE mailbox_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(mailbox, endpoint, p256dh, auth)| {
                let mailbox = MailboxId::from_slice(&mailbox).ok_or_else(|| StoreError::Other("unreadable mailbox_id".into()))?;
                Ok((mailbox, PushSubscription { endpoint, p256dh, auth }))
            })
            .collect()
    }

    async fn delete_mailbox_push_subscription(&self, endpoint: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM mailbox_push_subscriptions WHERE endpoint = $1")
            .bind(endpoint)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }
}
