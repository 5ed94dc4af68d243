//! The peer supporter roster and on-call schedule: `RosterStore`.

macro_rules! roster_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_roster {
            use super::$store;
            use crate::domain::roster::{Roster, Switch, Training};
            use crate::domain::schedule::{Override, Rotation, Swap, SwapStatus};
            use crate::store::roster::RosterStore;
            use crate::store::rows;
            use crate::store::sql_errors::store_error;
            use crate::store::{Conflict, StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::AccountId;
            use sallyport_protocol::rest::Role;

            type Tx<'a> = sqlx::Transaction<'a, $db>;

            // ---- the roster

            async fn on_roster(tx: &mut Tx<'_>, account: &AccountId) -> StoreResult<bool> {
                let found: Option<Vec<u8>> =
                    sqlx::query_scalar(concat!("SELECT account_id FROM peer_supporters WHERE account_id = $1", $for_share))
                        .bind(account.as_bytes().as_slice())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(store_error)?;
                Ok(found.is_some())
            }

            async fn rotation_exists(tx: &mut Tx<'_>, id: &str) -> StoreResult<bool> {
                let found: Option<String> = sqlx::query_scalar(concat!("SELECT id FROM rotations WHERE id = $1", $for_share))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_error)?;
                Ok(found.is_some())
            }

            /// `NotFound` without the rotation; `Conflict(NotOnRoster)` unless every account is on
            /// the roster.
            async fn rotation_and_supporters(tx: &mut Tx<'_>, rotation: &str, accounts: &[&AccountId]) -> StoreResult<()> {
                if !rotation_exists(tx, rotation).await? {
                    return Err(StoreError::NotFound);
                }
                for account in accounts {
                    if !on_roster(tx, account).await? {
                        return Err(StoreError::Conflict(Conflict::NotOnRoster));
                    }
                }
                Ok(())
            }

            /// Deletes the row `sql` names by id; whether there was one.
            async fn delete_by_id(pool: &sqlx::Pool<$db>, sql: &'static str, id: &str) -> StoreResult<bool> {
                let n = sqlx::query(sql).bind(id).execute(pool).await.map_err(store_error)?.rows_affected();
                Ok(n == 1)
            }

            /// Gives or takes the `peer_supporter` role; `false` if there is no such account.
            async fn set_role(tx: &mut Tx<'_>, account: &AccountId, on: bool) -> StoreResult<bool> {
                let roles: Option<String> = sqlx::query_scalar(concat!("SELECT roles FROM accounts WHERE id = $1", $for_update))
                    .bind(account.as_bytes().as_slice())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_error)?;
                let Some(roles) = roles else { return Ok(false) };
                sqlx::query("UPDATE accounts SET roles = $1 WHERE id = $2")
                    .bind(rows::roles_with(&roles, Role::PeerSupporter, on)?)
                    .bind(account.as_bytes().as_slice())
                    .execute(&mut **tx)
                    .await
                    .map_err(store_error)?;
                Ok(true)
            }

            #[async_trait]
            impl RosterStore for $store {
                async fn roster(&self) -> StoreResult<Roster> {
                    let mut tx = self.begin_snapshot().await?;
                    let supporters = sqlx::query_as("SELECT account_id, switch, added_at, switch_at FROM peer_supporters ORDER BY account_id")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let training = sqlx::query_as("SELECT account_id, kind, completed_on, expires_on FROM supporter_training")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let rotations = sqlx::query_as(
                        "SELECT id, name, handoff, time_zone, period_days, start_date, created_at FROM rotations ORDER BY created_at, id",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let members = sqlx::query_as("SELECT rotation_id, account_id FROM rotation_members ORDER BY rotation_id, position")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let overrides = sqlx::query_as(
                        "SELECT id, rotation_id, account_id, starts_at, ends_at, created_at FROM rotation_overrides ORDER BY starts_at, id",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let swaps = sqlx::query_as(
                        "SELECT id, rotation_id, proposer_id, counterpart_id, proposer_shift, counterpart_shift, status, created_at, \
                         answered_at FROM shift_swaps ORDER BY created_at, id",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    rows::assemble_roster(rows::RosterRows { supporters, training, rotations, members, overrides, swaps })
                }

                async fn add_peer_supporter(&self, account: &AccountId, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    if !set_role(&mut tx, account, true).await? {
                        return Err(StoreError::NotFound);
                    }
                    let added = sqlx::query(
                        "INSERT INTO peer_supporters (account_id, switch, added_at, switch_at) VALUES ($1, 'available', $2, $3) \
                         ON CONFLICT (account_id) DO NOTHING",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    tx.commit().await.map_err(store_error)?;
                    Ok(added == 1)
                }

                async fn remove_peer_supporter(&self, account: &AccountId) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // Training, rotation places, overrides and swaps go by ON DELETE CASCADE.
                    let removed = sqlx::query("DELETE FROM peer_supporters WHERE account_id = $1")
                        .bind(account.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    set_role(&mut tx, account, false).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(removed == 1)
                }

                async fn set_training(&self, account: &AccountId, training: &Training) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    if !on_roster(&mut tx, account).await? {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "INSERT INTO supporter_training (account_id, kind, completed_on, expires_on) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account_id, kind) DO UPDATE SET completed_on = excluded.completed_on, expires_on = excluded.expires_on",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(training.kind.as_str())
                    .bind(rows::date_text(training.completed_on))
                    .bind(rows::date_text(training.expires_on))
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn set_switch(&self, account: &AccountId, switch: Switch, now: i64) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE peer_supporters SET switch = $1, switch_at = $2 WHERE account_id = $3")
                        .bind(switch.as_str())
                        .bind(now)
                        .bind(account.as_bytes().as_slice())
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
                }

                async fn put_rotation(&self, r: &Rotation) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    for member in &r.members {
                        if !on_roster(&mut tx, member).await? {
                            return Err(StoreError::Conflict(Conflict::NotOnRoster));
                        }
                    }
                    sqlx::query(
                        "INSERT INTO rotations (id, name, handoff, time_zone, period_days, start_date, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                         handoff = excluded.handoff, time_zone = excluded.time_zone, period_days = excluded.period_days, \
                         start_date = excluded.start_date",
                    )
                    .bind(&r.id)
                    .bind(&r.name)
                    .bind(rows::time_text(r.handoff))
                    .bind(r.time_zone.name())
                    .bind(i64::from(r.period_days))
                    .bind(rows::date_text(r.start_date))
                    .bind(r.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query("DELETE FROM rotation_members WHERE rotation_id = $1")
                        .bind(&r.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    for (position, member) in r.members.iter().enumerate() {
                        sqlx::query("INSERT INTO rotation_members (rotation_id, position, account_id) VALUES ($1, $2, $3)")
                            .bind(&r.id)
                            .bind(position as i64)
                            .bind(member.as_bytes().as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn delete_rotation(&self, id: &str) -> StoreResult<bool> {
                    delete_by_id(self.writer(), "DELETE FROM rotations WHERE id = $1", id).await
                }

                async fn add_override(&self, o: &Override) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    rotation_and_supporters(&mut tx, &o.rotation, &[&o.account]).await?;
                    sqlx::query(
                        "INSERT INTO rotation_overrides (id, rotation_id, account_id, starts_at, ends_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&o.id)
                    .bind(&o.rotation)
                    .bind(o.account.as_bytes().as_slice())
                    .bind(o.start)
                    .bind(o.end)
                    .bind(o.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn delete_override(&self, id: &str) -> StoreResult<bool> {
                    delete_by_id(self.writer(), "DELETE FROM rotation_overrides WHERE id = $1", id).await
                }

                async fn add_swap(&self, s: &Swap) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    rotation_and_supporters(&mut tx, &s.rotation, &[&s.proposer, &s.counterpart]).await?;
                    sqlx::query(
                        "INSERT INTO shift_swaps (id, rotation_id, proposer_id, counterpart_id, proposer_shift, counterpart_shift, \
                         status, created_at, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&s.id)
                    .bind(&s.rotation)
                    .bind(s.proposer.as_bytes().as_slice())
                    .bind(s.counterpart.as_bytes().as_slice())
                    .bind(s.proposer_shift)
                    .bind(s.counterpart_shift)
                    .bind(s.status.as_str())
                    .bind(s.created_at)
                    .bind(s.answered_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)
                }

                async fn answer_swap(&self, id: &str, to: SwapStatus, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let status: Option<String> = sqlx::query_scalar(concat!("SELECT status FROM shift_swaps WHERE id = $1", $for_update))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    match status.as_deref() {
                        None => return Err(StoreError::NotFound),
                        Some("proposed") => {}
                        Some(_) => return Ok(false),
                    }
                    sqlx::query("UPDATE shift_swaps SET status = $1, answered_at = $2 WHERE id = $3 AND status = 'proposed'")
                        .bind(to.as_str())
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(true)
                }
            }

        }
    };
}

pub(crate) use roster_sql;
