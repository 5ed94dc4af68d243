//! The peer supporter roster and every team's on-call schedule: `RosterStore`. The Peer Support
//! Team is the `teams` row `peer-support`; its roster is that team's members with their training
//! and switch. Rotations, overrides and swaps carry their team, and name only its members.

macro_rules! roster_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_roster {
            use super::$store;
            use crate::domain::roster::{PEER_SUPPORT_TEAM, Roster, Switch, Training};
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

            /// Whether `account` is a member of `team`.
            async fn in_team(tx: &mut Tx<'_>, team: &str, account: &AccountId) -> StoreResult<bool> {
                let found: Option<Vec<u8>> = sqlx::query_scalar(concat!(
                    "SELECT account_id FROM team_members WHERE team_id = $1 AND account_id = $2",
                    $for_share
                ))
                .bind(team)
                .bind(account.as_bytes().as_slice())
                .fetch_optional(&mut **tx)
                .await
                .map_err(store_error)?;
                Ok(found.is_some())
            }

            /// The team of a rotation, if there is one.
            async fn rotation_team(tx: &mut Tx<'_>, id: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar(concat!("SELECT team_id FROM rotations WHERE id = $1", $for_share))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(store_error)
            }

            /// The rotation's team. `NotFound` without the rotation; `Conflict(NotOnRoster)` unless
            /// every account is a member of that team.
            async fn rotation_and_members(tx: &mut Tx<'_>, rotation: &str, accounts: &[&AccountId]) -> StoreResult<String> {
                let team = rotation_team(tx, rotation).await?.ok_or(StoreError::NotFound)?;
                for account in accounts {
                    if !in_team(tx, &team, account).await? {
                        return Err(StoreError::Conflict(Conflict::NotOnRoster));
                    }
                }
                Ok(team)
            }

            /// Every rotation, override and swap of the teams of `kind` (`peer_support`, `crisis`).
            pub(crate) async fn read_schedule(tx: &mut Tx<'_>, kind: &str) -> StoreResult<rows::ScheduleRows> {
                let rotations = sqlx::query_as(
                    "SELECT r.id, r.team_id, r.name, r.handoff, r.time_zone, r.period_days, r.start_date, r.created_at \
                     FROM rotations r JOIN teams t ON t.id = r.team_id WHERE t.kind = $1 ORDER BY r.created_at, r.id",
                )
                .bind(kind)
                .fetch_all(&mut **tx)
                .await
                .map_err(store_error)?;
                let members = sqlx::query_as(
                    "SELECT m.rotation_id, m.account_id FROM rotation_members m JOIN teams t ON t.id = m.team_id \
                     WHERE t.kind = $1 ORDER BY m.rotation_id, m.position",
                )
                .bind(kind)
                .fetch_all(&mut **tx)
                .await
                .map_err(store_error)?;
                let overrides = sqlx::query_as(
                    "SELECT o.id, o.rotation_id, o.account_id, o.starts_at, o.ends_at, o.created_at FROM rotation_overrides o \
                     JOIN teams t ON t.id = o.team_id WHERE t.kind = $1 ORDER BY o.starts_at, o.id",
                )
                .bind(kind)
                .fetch_all(&mut **tx)
                .await
                .map_err(store_error)?;
                let swaps = sqlx::query_as(
                    "SELECT s.id, s.rotation_id, s.proposer_id, s.counterpart_id, s.proposer_shift, s.counterpart_shift, s.status, \
                     s.created_at, s.answered_at FROM shift_swaps s JOIN teams t ON t.id = s.team_id WHERE t.kind = $1 \
                     ORDER BY s.created_at, s.id",
                )
                .bind(kind)
                .fetch_all(&mut **tx)
                .await
                .map_err(store_error)?;
                Ok(rows::ScheduleRows { rotations, members, overrides, swaps })
            }

            /// Forgets a person's switch once they are on no team.
            pub(crate) async fn drop_switch_if_teamless(tx: &mut Tx<'_>, account: &AccountId) -> StoreResult<()> {
                sqlx::query(
                    "DELETE FROM on_call_switches WHERE account_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM team_members WHERE account_id = $1)",
                )
                .bind(account.as_bytes().as_slice())
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
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
                    let supporters = sqlx::query_as(
                        "SELECT m.account_id, COALESCE(s.switch, 'available'), m.added_at, COALESCE(s.switch_at, m.added_at) \
                         FROM team_members m LEFT JOIN on_call_switches s ON s.account_id = m.account_id \
                         WHERE m.team_id = 'peer-support' ORDER BY m.account_id",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let training = sqlx::query_as("SELECT account_id, kind, completed_on, expires_on FROM supporter_training")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let schedule = read_schedule(&mut tx, "peer_support").await?;
                    tx.commit().await.map_err(store_error)?;
                    rows::assemble_roster(rows::RosterRows { supporters, training, schedule })
                }

                async fn add_peer_supporter(&self, account: &AccountId, now: i64) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    if !set_role(&mut tx, account, true).await? {
                        return Err(StoreError::NotFound);
                    }
                    let added = sqlx::query(
                        "INSERT INTO team_members (team_id, account_id, tier, role, added_at) VALUES ('peer-support', $1, 1, 'peer', $2) \
                         ON CONFLICT (team_id, account_id) DO NOTHING",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    sqlx::query(
                        "INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until) VALUES ($1, 'available', $2, NULL) \
                         ON CONFLICT (account_id) DO NOTHING",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(added == 1)
                }

                async fn remove_peer_supporter(&self, account: &AccountId) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    // Training, rotation places, overrides and swaps go by ON DELETE CASCADE.
                    let removed = sqlx::query("DELETE FROM team_members WHERE team_id = 'peer-support' AND account_id = $1")
                        .bind(account.as_bytes().as_slice())
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    drop_switch_if_teamless(&mut tx, account).await?;
                    set_role(&mut tx, account, false).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(removed == 1)
                }

                async fn set_training(&self, account: &AccountId, training: &Training) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    if !in_team(&mut tx, PEER_SUPPORT_TEAM, account).await? {
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
                    let n = sqlx::query(
                        "INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until) \
                         SELECT $1, $2, $3, NULL WHERE EXISTS (SELECT 1 FROM team_members WHERE account_id = $1) \
                         ON CONFLICT (account_id) DO UPDATE SET switch = excluded.switch, switch_at = excluded.switch_at",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(switch.as_str())
                    .bind(now)
                    .execute(self.writer())
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
                }

                async fn set_inside_until(&self, account: &AccountId, until: Option<i64>, now: i64) -> StoreResult<()> {
                    let n = sqlx::query(
                        "INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until) \
                         SELECT $1, 'available', $2, $3 WHERE EXISTS (SELECT 1 FROM team_members WHERE account_id = $1) \
                         ON CONFLICT (account_id) DO UPDATE SET inside_until = excluded.inside_until",
                    )
                    .bind(account.as_bytes().as_slice())
                    .bind(now)
                    .bind(until)
                    .execute(self.writer())
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
                }

                async fn put_rotation(&self, r: &Rotation) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    match rotation_team(&mut tx, &r.id).await? {
                        Some(team) if team != r.team => return Err(StoreError::NotFound),
                        _ => {}
                    }
                    for member in &r.members {
                        if !in_team(&mut tx, &r.team, member).await? {
                            return Err(StoreError::Conflict(Conflict::NotOnRoster));
                        }
                    }
                    sqlx::query(
                        "INSERT INTO rotations (id, name, handoff, time_zone, period_days, start_date, created_at, team_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
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
                    .bind(&r.team)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query("DELETE FROM rotation_members WHERE rotation_id = $1")
                        .bind(&r.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    for (position, member) in r.members.iter().enumerate() {
                        sqlx::query("INSERT INTO rotation_members (rotation_id, team_id, position, account_id) VALUES ($1, $2, $3, $4)")
                            .bind(&r.id)
                            .bind(&r.team)
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
                    let team = rotation_and_members(&mut tx, &o.rotation, &[&o.account]).await?;
                    sqlx::query(
                        "INSERT INTO rotation_overrides (id, rotation_id, team_id, account_id, starts_at, ends_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&o.id)
                    .bind(&o.rotation)
                    .bind(&team)
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
                    let team = rotation_and_members(&mut tx, &s.rotation, &[&s.proposer, &s.counterpart]).await?;
                    sqlx::query(
                        "INSERT INTO shift_swaps (id, rotation_id, team_id, proposer_id, counterpart_id, proposer_shift, \
                         counterpart_shift, status, created_at, answered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&s.id)
                    .bind(&s.rotation)
                    .bind(&team)
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
