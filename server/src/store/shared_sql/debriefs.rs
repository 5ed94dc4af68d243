//! Debriefs and their pushes: `DebriefStore`.

macro_rules! debriefs_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_debriefs {
            use super::$store;
            use crate::store::debriefs::{DebriefRecord, DebriefStore, DuePush, PutDebrief, PutOutcome};
            use crate::store::rows::id_from;
            use crate::store::sql_errors::store_error;
            use crate::store::{StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::debriefs::DebriefKind;
            use sallyport_protocol::{DebriefId, DeviceId};
            use std::collections::HashMap;

            type Row = (String, i64, i64, i64, Option<i64>, i64);

            const SELECT: &str = "SELECT kind, at, revision, created_at, cancelled_at, \
                 (SELECT COUNT(*) FROM debrief_pushes p WHERE p.debrief_id = debriefs.id) FROM debriefs WHERE id = $1";

            fn record(id: &DebriefId, row: Row) -> StoreResult<DebriefRecord> {
                let (kind, at, revision, created_at, cancelled_at, pending) = row;
                Ok(DebriefRecord {
                    id: *id,
                    kind: DebriefKind::parse(&kind).ok_or_else(|| StoreError::Other("unreadable debrief kind".into()))?,
                    at,
                    revision: u64::try_from(revision).unwrap_or(0),
                    created_at,
                    cancelled_at,
                    pending: u64::try_from(pending).unwrap_or(0),
                })
            }

            async fn read(conn: &mut <$db as sqlx::Database>::Connection, id: &DebriefId) -> StoreResult<Option<DebriefRecord>> {
                let row: Option<Row> =
                    sqlx::query_as(SELECT).bind(id.as_bytes().as_slice()).fetch_optional(&mut *conn).await.map_err(store_error)?;
                row.map(|r| record(id, r)).transpose()
            }

            #[async_trait]
            impl DebriefStore for $store {
                async fn put_debrief(&self, put: PutDebrief<'_>) -> StoreResult<PutOutcome> {
                    let id = put.id.as_bytes().as_slice();
                    let mut tx = self.begin_write().await?;
                    let current: Option<(i64, Option<i64>)> =
                        sqlx::query_as(concat!("SELECT revision, cancelled_at FROM debriefs WHERE id = $1", $for_update))
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    match current {
                        None if put.revision != 0 => return Ok(PutOutcome::Unknown),
                        None => {
                            let n = sqlx::query(
                                "INSERT INTO debriefs (id, kind, at, revision, created_at) VALUES ($1, $2, $3, 1, $4) \
                                 ON CONFLICT (id) DO NOTHING",
                            )
                            .bind(id)
                            .bind(put.kind.as_str())
                            .bind(put.at)
                            .bind(put.now)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?
                            .rows_affected();
                            if n == 0 {
                                // Another node created it first.
                                drop(tx);
                                return match self.debrief(&put.id).await? {
                                    Some(current) => Ok(PutOutcome::Stale(current)),
                                    None => Ok(PutOutcome::Unknown),
                                };
                            }
                        }
                        Some((_, Some(_))) => {
                            let current = read(&mut tx, &put.id).await?.ok_or(StoreError::NotFound)?;
                            return Ok(PutOutcome::Cancelled(current));
                        }
                        Some((revision, None)) if u64::try_from(revision).ok() != Some(put.revision) => {
                            let current = read(&mut tx, &put.id).await?.ok_or(StoreError::NotFound)?;
                            return Ok(PutOutcome::Stale(current));
                        }
                        Some(_) => {
                            sqlx::query("UPDATE debriefs SET kind = $1, at = $2, revision = revision + 1 WHERE id = $3")
                                .bind(put.kind.as_str())
                                .bind(put.at)
                                .bind(id)
                                .execute(&mut *tx)
                                .await
                                .map_err(store_error)?;
                        }
                    }
                    // Who was already counted for a follow-up notice stays counted.
                    let counted: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                        "SELECT DISTINCT p.notice, d.account_id FROM debrief_pushes p JOIN devices d ON d.id = p.device_id \
                         WHERE p.debrief_id = $1 AND p.counted = 1",
                    )
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query("DELETE FROM debrief_pushes WHERE debrief_id = $1").bind(id).execute(&mut *tx).await.map_err(store_error)?;
                    for push in put.pushes {
                        sqlx::query(
                            "INSERT INTO debrief_pushes (debrief_id, notice, device_id, due_at, sealed) VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id)
                        .bind(i64::from(push.notice))
                        .bind(push.device.as_bytes().as_slice())
                        .bind(push.due_at)
                        .bind(push.sealed.as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    for (notice, account) in counted {
                        sqlx::query(
                            "UPDATE debrief_pushes SET counted = 1 WHERE debrief_id = $1 AND notice = $2 \
                             AND device_id IN (SELECT id FROM devices WHERE account_id = $3)",
                        )
                        .bind(id)
                        .bind(notice)
                        .bind(account)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    let saved = read(&mut tx, &put.id).await?.ok_or(StoreError::NotFound)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(PutOutcome::Saved(saved))
                }

                async fn debrief(&self, id: &DebriefId) -> StoreResult<Option<DebriefRecord>> {
                    let row: Option<Row> = sqlx::query_as(SELECT)
                        .bind(id.as_bytes().as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    row.map(|r| record(id, r)).transpose()
                }

                async fn cancel_debrief(&self, id: &DebriefId, now: i64) -> StoreResult<Option<DebriefRecord>> {
                    let key = id.as_bytes().as_slice();
                    let mut tx = self.begin_write().await?;
                    let found: Option<i64> = sqlx::query_scalar(concat!("SELECT revision FROM debriefs WHERE id = $1", $for_update))
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if found.is_none() {
                        return Ok(None);
                    }
                    sqlx::query("DELETE FROM debrief_pushes WHERE debrief_id = $1").bind(key).execute(&mut *tx).await.map_err(store_error)?;
                    sqlx::query("UPDATE debriefs SET cancelled_at = COALESCE(cancelled_at, $1) WHERE id = $2")
                        .bind(now)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let record = read(&mut tx, id).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(record)
                }

                async fn claim_debrief_pushes(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<DuePush>> {
                    // Every scheduler pass asks: a read, not a write transaction, when nothing is due.
                    let any: Option<i64> = sqlx::query_scalar("SELECT notice FROM debrief_pushes WHERE due_at <= $1 LIMIT 1")
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if any.is_none() {
                        return Ok(vec![]);
                    }
                    let leased_until = now.saturating_add(lease_ms.max(1));
                    let mut tx = self.begin_write().await?;
                    let due: Vec<(Vec<u8>, i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(concat!(
                        "SELECT debrief_id, notice, device_id, sealed FROM debrief_pushes WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let mut kinds: HashMap<Vec<u8>, DebriefKind> = HashMap::new();
                    let mut out = Vec::with_capacity(due.len());
                    for (debrief, notice, device, sealed) in due {
                        sqlx::query("UPDATE debrief_pushes SET due_at = $1 WHERE debrief_id = $2 AND notice = $3 AND device_id = $4")
                            .bind(leased_until)
                            .bind(&debrief)
                            .bind(notice)
                            .bind(&device)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        let kind = match kinds.get(&debrief) {
                            Some(kind) => *kind,
                            None => {
                                let kind: String = sqlx::query_scalar("SELECT kind FROM debriefs WHERE id = $1")
                                    .bind(&debrief)
                                    .fetch_one(&mut *tx)
                                    .await
                                    .map_err(store_error)?;
                                let kind = DebriefKind::parse(&kind).ok_or_else(|| StoreError::Other("unreadable debrief kind".into()))?;
                                kinds.insert(debrief.clone(), kind);
                                kind
                            }
                        };
                        out.push(DuePush {
                            debrief: id_from(&debrief, DebriefId::from_slice)?,
                            kind,
                            notice: u32::try_from(notice).map_err(|_| StoreError::Other("unreadable notice".into()))?,
                            device: id_from(&device, DeviceId::from_slice)?,
                            sealed,
                            leased_until,
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(out)
                }

                async fn finish_debrief_push(&self, push: &DuePush, sent: bool, now: i64) -> StoreResult<()> {
                    let (debrief, device) = (push.debrief.as_bytes().as_slice(), push.device.as_bytes().as_slice());
                    let notice = i64::from(push.notice);
                    let mut tx = self.begin_write().await?;
                    // The debrief first, shared (a PUT or a cancel takes it exclusively before
                    // its pushes): the two never wait for each other's rows in opposite orders.
                    sqlx::query(concat!("SELECT id FROM debriefs WHERE id = $1", $for_share))
                        .bind(debrief)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // The person's rows of this notice, locked: two of their devices finishing at
                    // once on two nodes count them once.
                    let _person: Vec<Vec<u8>> = sqlx::query_scalar(concat!(
                        "SELECT device_id FROM debrief_pushes WHERE debrief_id = $1 AND notice = $2 \
                         AND device_id IN (SELECT id FROM devices WHERE account_id = (SELECT account_id FROM devices WHERE id = $3)) \
                         ORDER BY device_id",
                        $for_update
                    ))
                    .bind(debrief)
                    .bind(notice)
                    .bind(device)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let counted: Option<i64> = sqlx::query_scalar(
                        "DELETE FROM debrief_pushes WHERE debrief_id = $1 AND notice = $2 AND device_id = $3 AND due_at = $4 \
                         RETURNING counted",
                    )
                    .bind(debrief)
                    .bind(notice)
                    .bind(device)
                    .bind(push.leased_until)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if sent && push.kind == DebriefKind::Followup && counted == Some(0) {
                        super::shared_report::record_event(&mut tx, now, crate::domain::report::EventKind::FollowupSent, None).await?;
                        sqlx::query(
                            "UPDATE debrief_pushes SET counted = 1 WHERE debrief_id = $1 AND notice = $2 \
                             AND device_id IN (SELECT id FROM devices WHERE account_id = (SELECT account_id FROM devices WHERE id = $3))",
                        )
                        .bind(debrief)
                        .bind(notice)
                        .bind(device)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use debriefs_sql;
