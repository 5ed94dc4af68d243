//! MLS KeyPackages on SQLite: publishes in multi-row inserts, claims through the one writer (so
//! no two claims interleave).

use super::super::key_packages::{ClaimedKeyPackage, KeyPackageStore};
use super::super::rows::key_packages_after;
use super::super::sql_errors::store_error;
use super::super::{StoreError, StoreResult};
use super::{MAX_VARS, SqliteStore};
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::MailboxId;
use sqlx::{QueryBuilder, Sqlite};

#[async_trait]
impl KeyPackageStore for SqliteStore {
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
        let total = key_packages_after(held, key_packages.len(), max_available)?;
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
                // A support request's unlinked mailbox keeps its last-resort KeyPackage in the
                // request's row.
                let fallback: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT data FROM key_packages WHERE mailbox_id = ?1 AND last_resort = 1 \
                     UNION ALL SELECT key_package FROM support_requests WHERE mailbox_id = ?1 AND key_package IS NOT NULL \
                     LIMIT 1",
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
}
