//! Crisis-response teams: `TeamStore`. The schedule tables are shared with the Peer Support
//! Team (`roster.rs`); a crisis team's rows carry its id.

macro_rules! teams_sql {
    ($store:ident, $db:ty, $for_update:literal, $for_share:literal, $skip_locked:literal) => {
        mod shared_teams {
            use super::$store;
            use super::shared_roster::{drop_switch_if_teamless, read_schedule};

            type Tx<'a> = sqlx::Transaction<'a, $db>;

            /// Forgets a person's readiness once they are on no crisis team.
            async fn drop_readiness_if_not_crisis(tx: &mut Tx<'_>, account: &[u8]) -> StoreResult<()> {
                sqlx::query(
                    "DELETE FROM readiness WHERE account_id = $1 AND NOT EXISTS (SELECT 1 FROM team_members m \
                     JOIN teams t ON t.id = m.team_id WHERE m.account_id = $1 AND t.kind = 'crisis')",
                )
                .bind(account)
                .execute(&mut **tx)
                .await
                .map_err(store_error)?;
                Ok(())
            }
            use crate::domain::teams::{Availability, CrisisTeam, Member, Teams};
            use crate::store::rows;
            use crate::store::sql_errors::store_error;
            use crate::store::teams::TeamStore;
            use crate::store::{StoreError, StoreResult};
            use async_trait::async_trait;
            use sallyport_protocol::AccountId;

            #[async_trait]
            impl TeamStore for $store {
                async fn crisis_teams(&self) -> StoreResult<Teams> {
                    let mut tx = self.begin_snapshot().await?;
                    let teams = sqlx::query_as(
                        "SELECT id, name, policy, created_at FROM teams WHERE kind = 'crisis' ORDER BY created_at, id",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let members = sqlx::query_as(
                        "SELECT m.team_id, m.account_id, m.tier, m.role, m.added_at FROM team_members m \
                         JOIN teams t ON t.id = m.team_id WHERE t.kind = 'crisis'",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let switches = sqlx::query_as(
                        "SELECT s.account_id, s.switch, s.switch_at, s.inside_until FROM on_call_switches s WHERE EXISTS \
                         (SELECT 1 FROM team_members m JOIN teams t ON t.id = m.team_id \
                          WHERE m.account_id = s.account_id AND t.kind = 'crisis')",
                    )
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    let schedule = read_schedule(&mut tx, "crisis").await?;
                    tx.commit().await.map_err(store_error)?;
                    rows::assemble_teams(teams, members, switches, rows::assemble_schedule(schedule)?)
                }

                async fn availability(&self, account: &AccountId) -> StoreResult<Availability> {
                    let row: Option<rows::SwitchRow> = sqlx::query_as(
                        "SELECT account_id, switch, switch_at, inside_until FROM on_call_switches WHERE account_id = $1",
                    )
                    .bind(account.as_bytes().as_slice())
                    .fetch_optional(self.reader())
                    .await
                    .map_err(store_error)?;
                    match row {
                        Some(row) => Ok(rows::availability(row)?.1),
                        None => Ok(Availability::default()),
                    }
                }

                async fn create_team(&self, team: &CrisisTeam) -> StoreResult<()> {
                    sqlx::query("INSERT INTO teams (id, kind, name, policy, created_at) VALUES ($1, 'crisis', $2, $3, $4)")
                        .bind(&team.id)
                        .bind(&team.name)
                        .bind(rows::policy_text(&team.policy))
                        .bind(team.created_at)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn update_team(&self, team: &CrisisTeam) -> StoreResult<()> {
                    let n = sqlx::query("UPDATE teams SET name = $1, policy = $2 WHERE id = $3 AND kind = 'crisis'")
                        .bind(&team.name)
                        .bind(rows::policy_text(&team.policy))
                        .bind(&team.id)
                        .execute(self.writer())
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
                }

                async fn delete_team(&self, id: &str) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let members: Vec<Vec<u8>> = sqlx::query_scalar("SELECT account_id FROM team_members WHERE team_id = $1")
                        .bind(id)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    // Members, rotations, overrides and swaps go by ON DELETE CASCADE.
                    let n = sqlx::query("DELETE FROM teams WHERE id = $1 AND kind = 'crisis'")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?
                        .rows_affected();
                    for member in members {
                        if let Some(account) = AccountId::from_slice(&member) {
                            drop_switch_if_teamless(&mut tx, &account).await?;
                        }
                        drop_readiness_if_not_crisis(&mut tx, &member).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(n == 1)
                }

                async fn put_member(&self, team: &str, m: &Member) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let kind: Option<String> = sqlx::query_scalar(concat!("SELECT kind FROM teams WHERE id = $1", $for_share))
                        .bind(team)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    let account: Option<Vec<u8>> = sqlx::query_scalar(concat!("SELECT id FROM accounts WHERE id = $1", $for_share))
                        .bind(m.account.as_bytes().as_slice())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if kind.as_deref() != Some("crisis") || account.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    let existed: Option<i64> = sqlx::query_scalar(concat!(
                        "SELECT tier FROM team_members WHERE team_id = $1 AND account_id = $2",
                        $for_update
                    ))
                    .bind(team)
                    .bind(m.account.as_bytes().as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query(
                        "INSERT INTO team_members (team_id, account_id, tier, role, added_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (team_id, account_id) DO UPDATE SET tier = excluded.tier, role = excluded.role",
                    )
                    .bind(team)
                    .bind(m.account.as_bytes().as_slice())
                    .bind(i64::from(m.tier))
                    .bind(m.role.as_str())
                    .bind(m.added_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    sqlx::query(
                        "INSERT INTO on_call_switches (account_id, switch, switch_at, inside_until) VALUES ($1, 'available', $2, NULL) \
                         ON CONFLICT (account_id) DO NOTHING",
                    )
                    .bind(m.account.as_bytes().as_slice())
                    .bind(m.added_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    // Checked at once, the first time they join a crisis team.
                    sqlx::query("INSERT INTO readiness (account_id, due_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING")
                        .bind(m.account.as_bytes().as_slice())
                        .bind(m.added_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(existed.is_none())
                }

                async fn remove_member(&self, team: &str, account: &AccountId) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let n = sqlx::query(
                        "DELETE FROM team_members WHERE team_id = $1 AND account_id = $2 \
                         AND team_id IN (SELECT id FROM teams WHERE kind = 'crisis')",
                    )
                    .bind(team)
                    .bind(account.as_bytes().as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?
                    .rows_affected();
                    drop_switch_if_teamless(&mut tx, account).await?;
                    drop_readiness_if_not_crisis(&mut tx, account.as_bytes().as_slice()).await?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(n == 1)
                }
            }
        }
    };
}

pub(crate) use teams_sql;
