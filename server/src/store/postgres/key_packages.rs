//! MLS KeyPackages on PostgreSQL: a mailbox row lock serialises publishes across nodes; a claim
//! is one statement with `FOR UPDATE SKIP LOCKED`, so two nodes never hand out the same one.

use super::super::key_packages::{ClaimedKeyPackage, KeyPackageStore};
use super::super::rows::key_packages_after;
use super::super::sql_errors::store_error;
use super::super::{StoreError, StoreResult};
use super::PostgresStore;
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::MailboxId;

#[async_trait]
impl KeyPackageStore for PostgresStore {
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
             WHERE k.mailbox_id = $1 AND k.last_resort AND NOT EXISTS (SELECT 1 FROM claimed) \
             UNION ALL \
             SELECT r.key_package, true, h.n FROM support_requests r, held h \
             WHERE r.mailbox_id = $1 AND r.key_package IS NOT NULL AND NOT EXISTS (SELECT 1 FROM claimed)",
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
}
