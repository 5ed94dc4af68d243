//! Readiness checks: `ReadinessStore`.

macro_rules! readiness_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_readiness {
            use super::$store;
            use crate::domain::readiness::Record;
            use crate::domain::secrets::Hash32;
            use crate::store::readiness::{NextCheck, ReadinessStore};
            use crate::store::rows::id_from;
            use crate::store::sql_errors::store_error;
            use crate::store::StoreResult;
            use async_trait::async_trait;
            use sallyport_protocol::AccountId;
            use std::collections::HashMap;

            #[async_trait]
            impl ReadinessStore for $store {
                async fn readiness(&self) -> StoreResult<(HashMap<AccountId, Record>, HashMap<AccountId, bool>)> {
                    let mut tx = self.begin_snapshot().await?;
                    let rows: Vec<(Vec<u8>, i64, Option<i64>, Option<String>, Option<i64>)> =
                        sqlx::query_as("SELECT account_id, due_at, sent_at, outcome, confirmed_at FROM readiness")
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    let subscribed: Vec<Vec<u8>> = sqlx::query_scalar(
                        "SELECT DISTINCT d.account_id FROM push_subscriptions p JOIN devices d ON d.id = p.device_id \
                         WHERE d.revoked_at IS NULL AND d.approved_at IS NOT NULL",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    let mut records = HashMap::new();
                    for (account, due_at, sent_at, outcome, confirmed_at) in rows {
                        records.insert(id_from(&account, AccountId::from_slice)?, Record { due_at, sent_at, outcome, confirmed_at });
                    }
                    let mut subs = HashMap::new();
                    for account in subscribed {
                        subs.insert(id_from(&account, AccountId::from_slice)?, true);
                    }
                    Ok((records, subs))
                }

                async fn checks_due(&self, now: i64) -> StoreResult<bool> {
                    let any: Option<Vec<u8>> = sqlx::query_scalar("SELECT account_id FROM readiness WHERE due_at <= $1 LIMIT 1")
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    Ok(any.is_some())
                }

                async fn claim_due_checks(
                    &self,
                    now: i64,
                    limit: u32,
                    next: &NextCheck<'_>,
                ) -> StoreResult<Vec<AccountId>> {
                    if !self.checks_due(now).await? {
                        return Ok(vec![]);
                    }
                    let mut tx = self.begin_write().await?;
                    let due: Vec<Vec<u8>> = sqlx::query_scalar(concat!(
                        "SELECT account_id FROM readiness WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let mut out = Vec::with_capacity(due.len());
                    for id in due {
                        let account = id_from(&id, AccountId::from_slice)?;
                        let (next_due, hash) = next(&account);
                        sqlx::query(
                            "UPDATE readiness SET sent_at = $1, outcome = NULL, token_hash = $2, due_at = $3 WHERE account_id = $4",
                        )
                        .bind(now)
                        .bind(hash.as_slice())
                        .bind(next_due.max(now + 1))
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        out.push(account);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(out)
                }

                async fn record_check_outcome(&self, account: &AccountId, sent_at: i64, outcome: &str) -> StoreResult<()> {
                    sqlx::query("UPDATE readiness SET outcome = $1 WHERE account_id = $2 AND sent_at = $3")
                        .bind(outcome)
                        .bind(account.as_bytes().as_slice())
                        .bind(sent_at)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn confirm_check(&self, hash: &Hash32, now: i64) -> StoreResult<Option<AccountId>> {
                    // Unsigned route: a wrong token costs a read, never a write transaction.
                    let known: Option<Vec<u8>> = sqlx::query_scalar("SELECT account_id FROM readiness WHERE token_hash = $1")
                        .bind(hash.as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if known.is_none() {
                        return Ok(None);
                    }
                    let mut tx = self.begin_write().await?;
                    let found: Option<Vec<u8>> =
                        sqlx::query_scalar(concat!("SELECT account_id FROM readiness WHERE token_hash = $1", $for_update))
                            .bind(hash.as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    let Some(account) = found else { return Ok(None) };
                    sqlx::query("UPDATE readiness SET confirmed_at = $1, token_hash = NULL WHERE account_id = $2")
                        .bind(now)
                        .bind(&account)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some(id_from(&account, AccountId::from_slice)?))
                }

                async fn confirm_ready(&self, account: &AccountId, now: i64) -> StoreResult<bool> {
                    let n = sqlx::query("UPDATE readiness SET confirmed_at = $1, token_hash = NULL WHERE account_id = $2")
                        .bind(now)
                        .bind(account.as_bytes().as_slice())
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(n == 1)
                }

                async fn check_now(&self, account: &AccountId, due_at: i64) -> StoreResult<bool> {
                    let n = sqlx::query("UPDATE readiness SET due_at = $1 WHERE account_id = $2")
                        .bind(due_at)
                        .bind(account.as_bytes().as_slice())
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    Ok(n == 1)
                }
            }
        }
    };
}

pub(crate) use readiness_sql;
