//! Critical incidents and their paging: `IncidentStore`.

macro_rules! incidents_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_incidents {
            use super::$store;
            use crate::domain::incidents::{Incident, Plan, step_name};
            use crate::domain::secrets::Hash32;
            use crate::store::incidents::{Decide, IncidentRecord, IncidentStore, NewIncident, OutboxItem, PageResult};
            use crate::domain::report::EventKind;
            use crate::store::report::delay_seconds;
            use crate::store::rows::{self, id_from};
            use crate::store::sql_errors::store_error;
            use crate::store::{StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::{AccountId, DeviceId, IncidentId, MailboxId};

            type Tx<'a> = sqlx::Transaction<'a, $db>;

            const PAGE_COLUMNS: &str = "SELECT account_id, coordinator, paged_at, last_paged_at, pages, waiting_until, answer, \
                 answered_at, eta_at FROM incident_pages WHERE incident_id = $1 \
                 ORDER BY COALESCE(paged_at, answered_at, waiting_until, 0), account_id";

            /// The incident, locked for the transaction when `lock`.
            async fn read(tx: &mut Tx<'_>, id: &IncidentId, lock: bool) -> StoreResult<Option<Incident>> {
                let sql = if lock {
                    concat!(
                        "SELECT id, team_id, severity, test, declared_by, declared_at, step, step_at, first_response_at, \
                         quorum_at, resolved_at, only_account FROM incidents WHERE id = $1",
                        $for_update
                    )
                } else {
                    "SELECT id, team_id, severity, test, declared_by, declared_at, step, step_at, first_response_at, \
                     quorum_at, resolved_at, only_account FROM incidents WHERE id = $1"
                };
                let row: Option<rows::IncidentRow> =
                    sqlx::query_as(sql).bind(id.as_bytes().as_slice()).fetch_optional(&mut **tx).await.map_err(store_error)?;
                let Some(row) = row else { return Ok(None) };
                let pages = sqlx::query_as(PAGE_COLUMNS).bind(id.as_bytes().as_slice()).fetch_all(&mut **tx).await.map_err(store_error)?;
                Ok(Some(rows::incident(row, pages)?))
            }

            async fn record(tx: &mut Tx<'_>, incident: Incident) -> StoreResult<IncidentRecord> {
                let id = incident.id.as_bytes().to_vec();
                let attempts: Vec<(Vec<u8>, i64, String)> =
                    sqlx::query_as("SELECT account_id, at, outcome FROM incident_attempts WHERE incident_id = $1 ORDER BY at")
                        .bind(&id)
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(store_error)?;
                let steps: Vec<(i64, String)> = sqlx::query_as("SELECT at, step FROM incident_steps WHERE incident_id = $1 ORDER BY at")
                    .bind(&id)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(store_error)?;
                let mut out = Vec::with_capacity(attempts.len());
                for (who, at, outcome) in attempts {
                    out.push((id_from(&who, AccountId::from_slice)?, at, outcome));
                }
                Ok(IncidentRecord { incident, attempts: out, steps })
            }

            /// One `report_events` row (protocol §19) for a counted (not test) incident, dated by when
            /// it happened (`at`), in the transaction that makes the change.
            async fn record_event(tx: &mut Tx<'_>, incident: &Incident, at: i64, kind: EventKind, value: Option<i64>) -> StoreResult<()> {
                if incident.test {
                    return Ok(());
                }
                super::shared_report::record_event(tx, at, kind, value).await
            }

            /// Stores what a plan decided about `before`.
            async fn write(tx: &mut Tx<'_>, before: Option<&Incident>, plan: &Plan) -> StoreResult<()> {
                let after = &plan.incident;
                let id = after.id.as_bytes().to_vec();
                sqlx::query("UPDATE incidents SET step = $1, step_at = $2, first_response_at = $3, quorum_at = $4 WHERE id = $5")
                    .bind(step_name(after.step))
                    .bind(after.step_at)
                    .bind(after.first_response_at)
                    .bind(after.quorum_at)
                    .bind(&id)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                // Each time is set once; counted the first time it is (`before` is as stored).
                let firsts = [
                    (before.and_then(|b| b.first_response_at), after.first_response_at, EventKind::FirstResponder),
                    (before.and_then(|b| b.quorum_at), after.quorum_at, EventKind::Quorum),
                ];
                for (was, now, kind) in firsts {
                    if let (None, Some(at)) = (was, now) {
                        record_event(tx, after, at, kind, Some(delay_seconds(after.declared_at, at))).await?;
                    }
                }
                for page in &after.pages {
                    if before.and_then(|b| b.page_of(&page.account)) == Some(page) {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO incident_pages (incident_id, account_id, coordinator, paged_at, last_paged_at, pages, \
                         waiting_until, answer, answered_at, eta_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (incident_id, account_id) DO UPDATE SET coordinator = excluded.coordinator, \
                         paged_at = excluded.paged_at, last_paged_at = excluded.last_paged_at, pages = excluded.pages, \
                         waiting_until = excluded.waiting_until, answer = excluded.answer, answered_at = excluded.answered_at, \
                         eta_at = excluded.eta_at",
                    )
                    .bind(&id)
                    .bind(page.account.as_bytes().as_slice())
                    .bind(i64::from(page.coordinator))
                    .bind(page.paged_at)
                    .bind(page.last_paged_at)
                    .bind(i64::from(page.pages))
                    .bind(page.waiting_until)
                    .bind(page.answer.map(|a| a.as_str()))
                    .bind(page.answered_at)
                    .bind(page.eta_at)
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                }
                for (at, step) in &plan.steps {
                    sqlx::query("INSERT INTO incident_steps (incident_id, at, step) VALUES ($1, $2, $3)")
                        .bind(&id)
                        .bind(at)
                        .bind(step_name(*step))
                        .execute(&mut **tx)
                        .await
                        .map_err(store_error)?;
                }
                match plan.next_due {
                    Some(due) => sqlx::query(
                        "INSERT INTO incident_timers (incident_id, due_at) VALUES ($1, $2) \
                         ON CONFLICT (incident_id) DO UPDATE SET due_at = excluded.due_at",
                    )
                    .bind(&id)
                    .bind(due),
                    None => sqlx::query("DELETE FROM incident_timers WHERE incident_id = $1").bind(&id),
                }
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
                for account in &plan.push {
                    // A send still pending for a device covers this one (the push carries no state).
                    sqlx::query(
                        "INSERT INTO incident_outbox (incident_id, device_id, account_id, claimed_until) \
                         SELECT $1, d.id, d.account_id, 0 FROM devices d \
                         WHERE d.account_id = $2 AND d.revoked_at IS NULL AND d.approved_at IS NOT NULL \
                         ON CONFLICT (incident_id, device_id) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(account.as_bytes().as_slice())
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                }
                Ok(())
            }

            #[async_trait]
            impl IncidentStore for $store {
                async fn create_incident(&self, new: &NewIncident, decide: &Decide) -> StoreResult<Incident> {
                    let i = &new.incident;
                    let mut tx = self.begin_write().await?;
                    let team: Option<String> = sqlx::query_scalar(concat!("SELECT id FROM teams WHERE id = $1 AND kind = 'crisis'", $for_share))
                        .bind(&i.team)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if team.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "INSERT INTO incidents (id, team_id, severity, test, declared_by, declared_at, step, step_at, only_account) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(i.id.as_bytes().as_slice())
                    .bind(&i.team)
                    .bind(i64::from(i.severity))
                    .bind(i64::from(i.test))
                    .bind(i.declared_by.map(|a| a.as_bytes().to_vec()))
                    .bind(i.declared_at)
                    .bind(step_name(i.step))
                    .bind(i.step_at)
                    .bind(i.only.map(|a| a.as_bytes().to_vec()))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    for (device, sealed) in &new.seals {
                        sqlx::query("INSERT INTO incident_seals (incident_id, device_id, sealed) VALUES ($1, $2, $3)")
                            .bind(i.id.as_bytes().as_slice())
                            .bind(device.as_bytes().as_slice())
                            .bind(sealed)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    record_event(&mut tx, i, i.declared_at, EventKind::PageDeclared, None).await?;
                    let plan = decide(i);
                    write(&mut tx, Some(i), &plan).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(plan.incident)
                }

                async fn update_incident(&self, id: &IncidentId, decide: &Decide) -> StoreResult<Incident> {
                    let mut tx = self.begin_write().await?;
                    let before = read(&mut tx, id, true).await?.ok_or(StoreError::NotFound)?;
                    if before.resolved_at.is_some() {
                        return Ok(before);
                    }
                    let plan = decide(&before);
                    write(&mut tx, Some(&before), &plan).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(plan.incident)
                }

                async fn incident(&self, id: &IncidentId) -> StoreResult<Option<IncidentRecord>> {
                    let mut tx = self.begin_snapshot().await?;
                    let found = match read(&mut tx, id, false).await? {
                        Some(incident) => Some(record(&mut tx, incident).await?),
                        None => None,
                    };
                    tx.commit().await.map_err(store_error)?;
                    Ok(found)
                }

                async fn open_incidents(&self) -> StoreResult<Vec<IncidentRecord>> {
                    let mut tx = self.begin_snapshot().await?;
                    let ids: Vec<Vec<u8>> =
                        sqlx::query_scalar("SELECT id FROM incidents WHERE resolved_at IS NULL ORDER BY declared_at, id")
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    let mut out = Vec::with_capacity(ids.len());
                    for id in ids {
                        let id = id_from(&id, IncidentId::from_slice)?;
                        if let Some(incident) = read(&mut tx, &id, false).await? {
                            out.push(record(&mut tx, incident).await?);
                        }
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(out)
                }

                async fn sealed_for(&self, id: &IncidentId, device: &DeviceId) -> StoreResult<Option<Vec<u8>>> {
                    sqlx::query_scalar("SELECT sealed FROM incident_seals WHERE incident_id = $1 AND device_id = $2")
                        .bind(id.as_bytes().as_slice())
                        .bind(device.as_bytes().as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)
                }

                async fn claim_due_incidents(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<IncidentId>> {
                    // Every node asks often: look on a reader first, so an idle pass never writes.
                    let any: Option<Vec<u8>> = sqlx::query_scalar("SELECT incident_id FROM incident_timers WHERE due_at <= $1 LIMIT 1")
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if any.is_none() {
                        return Ok(vec![]);
                    }
                    let mut tx = self.begin_write().await?;
                    let due: Vec<Vec<u8>> = sqlx::query_scalar(concat!(
                        "SELECT incident_id FROM incident_timers WHERE due_at <= $1 ORDER BY due_at LIMIT $2",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let mut out = Vec::with_capacity(due.len());
                    for id in due {
                        sqlx::query("UPDATE incident_timers SET due_at = $1 WHERE incident_id = $2")
                            .bind(now.saturating_add(lease_ms))
                            .bind(&id)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        out.push(id_from(&id, IncidentId::from_slice)?);
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(out)
                }

                async fn claim_outbox(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<OutboxItem>> {
                    let any: Option<Vec<u8>> = sqlx::query_scalar("SELECT incident_id FROM incident_outbox WHERE claimed_until <= $1 LIMIT 1")
                        .bind(now)
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if any.is_none() {
                        return Ok(vec![]);
                    }
                    let mut tx = self.begin_write().await?;
                    let due: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = sqlx::query_as(concat!(
                        "SELECT incident_id, device_id, account_id FROM incident_outbox WHERE claimed_until <= $1 \
                         ORDER BY claimed_until LIMIT $2",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let mut out = Vec::with_capacity(due.len());
                    for (incident, device, account) in due {
                        sqlx::query("UPDATE incident_outbox SET claimed_until = $1 WHERE incident_id = $2 AND device_id = $3")
                            .bind(now.saturating_add(lease_ms))
                            .bind(&incident)
                            .bind(&device)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                        let about: Option<(i64, i64, Option<Vec<u8>>, Option<Vec<u8>>)> = sqlx::query_as(
                            "SELECT i.severity, i.test, d.mailbox_id, s.sealed FROM incidents i \
                             LEFT JOIN devices d ON d.id = $2 \
                             LEFT JOIN incident_seals s ON s.incident_id = i.id AND s.device_id = $2 \
                             WHERE i.id = $1",
                        )
                        .bind(&incident)
                        .bind(&device)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        let Some((severity, test, Some(mailbox), sealed)) = about else { continue };
                        out.push(OutboxItem {
                            incident: id_from(&incident, IncidentId::from_slice)?,
                            device: id_from(&device, DeviceId::from_slice)?,
                            account: id_from(&account, AccountId::from_slice)?,
                            mailbox: id_from(&mailbox, MailboxId::from_slice)?,
                            severity: u8::try_from(severity).map_err(|_| StoreError::Other("unreadable severity".into()))?,
                            test: test != 0,
                            sealed,
                        });
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(out)
                }

                async fn finish_pages(&self, results: &[PageResult]) -> StoreResult<()> {
                    if results.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for r in results {
                        sqlx::query(
                            "INSERT INTO incident_attempts (incident_id, account_id, at, outcome) SELECT id, $2, $3, $4 \
                             FROM incidents WHERE id = $1 AND resolved_at IS NULL",
                        )
                        .bind(r.incident.as_bytes().as_slice())
                        .bind(r.account.as_bytes().as_slice())
                        .bind(r.at)
                        .bind(r.outcome)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                        sqlx::query("DELETE FROM incident_outbox WHERE incident_id = $1 AND device_id = $2")
                            .bind(r.incident.as_bytes().as_slice())
                            .bind(r.device.as_bytes().as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn add_answer_tokens(&self, tokens: &[(Hash32, IncidentId, AccountId)]) -> StoreResult<()> {
                    if tokens.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for (hash, incident, account) in tokens {
                        sqlx::query(
                            "INSERT INTO incident_tokens (hash, incident_id, account_id) SELECT $1, id, $3 FROM incidents \
                             WHERE id = $2 AND resolved_at IS NULL",
                        )
                        .bind(hash.as_slice())
                        .bind(incident.as_bytes().as_slice())
                        .bind(account.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn take_answer_token(&self, hash: &Hash32) -> StoreResult<Option<(IncidentId, AccountId)>> {
                    // Anyone may try a token (the route is unsigned): a wrong one costs a read,
                    // never a write transaction.
                    let known: Option<Vec<u8>> = sqlx::query_scalar("SELECT incident_id FROM incident_tokens WHERE hash = $1")
                        .bind(hash.as_slice())
                        .fetch_optional(self.reader())
                        .await
                        .map_err(store_error)?;
                    if known.is_none() {
                        return Ok(None);
                    }
                    let mut tx = self.begin_write().await?;
                    let found: Option<(Vec<u8>, Vec<u8>)> =
                        sqlx::query_as(concat!("SELECT incident_id, account_id FROM incident_tokens WHERE hash = $1", $for_update))
                            .bind(hash.as_slice())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    let Some((incident, account)) = found else { return Ok(None) };
                    sqlx::query("DELETE FROM incident_tokens WHERE incident_id = $1 AND account_id = $2")
                        .bind(&incident)
                        .bind(&account)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(Some((id_from(&incident, IncidentId::from_slice)?, id_from(&account, AccountId::from_slice)?)))
                }

                async fn resolve_incident(&self, id: &IncidentId, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let n = sqlx::query("UPDATE incidents SET resolved_at = $1, declared_by = NULL WHERE id = $2 AND resolved_at IS NULL")
                        .bind(now)
                        .bind(id.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    if n == 1 {
                        for table in [
                            "DELETE FROM incident_pages WHERE incident_id = $1",
                            "DELETE FROM incident_attempts WHERE incident_id = $1",
                            "DELETE FROM incident_steps WHERE incident_id = $1",
                            "DELETE FROM incident_seals WHERE incident_id = $1",
                            "DELETE FROM incident_tokens WHERE incident_id = $1",
                            "DELETE FROM incident_timers WHERE incident_id = $1",
                            "DELETE FROM incident_outbox WHERE incident_id = $1",
                        ] {
                            sqlx::query(table).bind(id.as_bytes().as_slice()).execute(&mut *tx).await.map_err(store_error)?;
                        }
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(n == 1)
                }
            }
        }
    };
}

pub(crate) use incidents_sql;
