//! Storage of the peer supporter roster and on-call schedule (`Store::roster()`): who is a peer
//! supporter, their training and switch, rotations, overrides and swaps. It says nothing about
//! who asked for help. Validation (training current, shifts that exist) is the caller's; the
//! store keeps references whole: removing a supporter removes their rotation places, overrides
//! and swaps in the same transaction.

use super::StoreResult;
use crate::support::roster::{Roster, Switch, Training};
use crate::support::schedule::{Override, Rotation, Swap, SwapStatus};
use async_trait::async_trait;
use sallyport_protocol::AccountId;

#[async_trait]
pub trait RosterStore: Send + Sync {
    /// The whole roster and schedule: supporters (by account id) with their training, rotations
    /// with members in order, overrides and swaps.
    async fn roster(&self) -> StoreResult<Roster>;

    /// Puts an account on the roster (switch `available`) and gives it the `peer_supporter` role.
    /// Returns `false` if it was on the roster already; `NotFound` if there is no such account.
    async fn add_peer_supporter(&self, account: &AccountId, now: i64) -> StoreResult<bool>;

    /// Takes an account off the roster, off every rotation, and deletes its training, overrides
    /// and swaps; removes its `peer_supporter` role. Returns whether it was on the roster.
    async fn remove_peer_supporter(&self, account: &AccountId) -> StoreResult<bool>;

    /// Records (or replaces) one training of a supporter. `NotFound` if not on the roster.
    async fn set_training(&self, account: &AccountId, training: &Training) -> StoreResult<()>;

    /// Sets a supporter's switch. `NotFound` if not on the roster.
    async fn set_switch(&self, account: &AccountId, switch: Switch, now: i64) -> StoreResult<()>;

    /// Creates the rotation, or replaces the one with its id (members too).
    /// `Conflict("not_on_roster")`, storing nothing, if a member is not on the roster.
    async fn put_rotation(&self, rotation: &Rotation) -> StoreResult<()>;

    /// Deletes a rotation with its overrides and swaps; returns whether it existed.
    async fn delete_rotation(&self, id: &str) -> StoreResult<bool>;

    /// `Conflict("not_on_roster")` if the account is not on the roster; `NotFound` if there is no
    /// such rotation.
    async fn add_override(&self, o: &Override) -> StoreResult<()>;

    async fn delete_override(&self, id: &str) -> StoreResult<bool>;

    /// `Conflict("not_on_roster")` if either party is not on the roster; `NotFound` if there is
    /// no such rotation.
    async fn add_swap(&self, swap: &Swap) -> StoreResult<()>;

    /// Moves a swap from `Proposed` to `to` at `now`, atomically; returns `false` if it is not
    /// (or no longer) proposed. `NotFound` if there is no such swap.
    async fn answer_swap(&self, id: &str, to: SwapStatus, now: i64) -> StoreResult<bool>;
}

/// Row conversions both backends share; a malformed stored value is `StoreError::Other`.
pub(super) mod rows {
    use super::super::sqlite::shared::id_from;
    use super::super::{StoreError, StoreResult};
    use crate::support::roster::{Roster, Supporter, Switch, Training, TrainingKind};
    use crate::support::schedule::{Override, Rotation, Swap, SwapStatus};
    use chrono::{NaiveDate, NaiveTime};
    use sallyport_protocol::AccountId;
    use std::collections::HashMap;

    pub type SupporterRow = (Vec<u8>, String, i64, i64);
    pub type TrainingRow = (Vec<u8>, String, String, String);
    pub type RotationRow = (String, String, String, String, i64, String, i64);
    pub type MemberRow = (String, Vec<u8>);
    pub type OverrideRow = (String, String, Vec<u8>, i64, i64, i64);
    pub type SwapRow = (String, String, Vec<u8>, Vec<u8>, i64, i64, String, i64, Option<i64>);

    fn corrupt(what: &str) -> StoreError {
        StoreError::Other(format!("malformed {what} in the roster tables"))
    }

    pub fn date(text: &str) -> StoreResult<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| corrupt("date"))
    }

    pub fn date_text(date: NaiveDate) -> String {
        date.format("%Y-%m-%d").to_string()
    }

    pub fn time_text(time: NaiveTime) -> String {
        time.format("%H:%M").to_string()
    }

    fn account(bytes: &[u8]) -> StoreResult<AccountId> {
        id_from(bytes, AccountId::from_slice)
    }

    /// Adds `peer_supporter` to (or removes it from) a comma-separated role list.
    pub fn with_supporter_role(roles: &str, on: bool) -> String {
        let mut list: Vec<&str> = roles.split(',').filter(|r| !r.is_empty() && *r != "peer_supporter").collect();
        if on {
            list.push("peer_supporter");
        }
        // Keep the canonical order of `Role::ALL`.
        let order = |r: &&str| sallyport_protocol::rest::Role::parse(r).map_or(usize::MAX, |r| r as usize);
        list.sort_by_key(order);
        list.join(",")
    }

    pub fn assemble(
        supporters: Vec<SupporterRow>,
        training: Vec<TrainingRow>,
        rotations: Vec<RotationRow>,
        members: Vec<MemberRow>,
        overrides: Vec<OverrideRow>,
        swaps: Vec<SwapRow>,
    ) -> StoreResult<Roster> {
        let mut by_account: HashMap<AccountId, Vec<Training>> = HashMap::new();
        for (id, kind, completed, expires) in training {
            let kind = TrainingKind::parse(&kind).ok_or_else(|| corrupt("training kind"))?;
            by_account.entry(account(&id)?).or_default().push(Training {
                kind,
                completed_on: date(&completed)?,
                expires_on: date(&expires)?,
            });
        }
        let mut roster = Roster::default();
        for (id, switch, added_at, switch_at) in supporters {
            let account = account(&id)?;
            let mut training = by_account.remove(&account).unwrap_or_default();
            training.sort_by_key(|t| t.kind);
            roster.supporters.push(Supporter {
                account,
                added_at,
                switch: Switch::parse(&switch).ok_or_else(|| corrupt("switch"))?,
                switch_at,
                training,
            });
        }
        let mut member_lists: HashMap<String, Vec<AccountId>> = HashMap::new();
        for (rotation, id) in members {
            member_lists.entry(rotation).or_default().push(account(&id)?);
        }
        for (id, name, handoff, zone, period_days, start_date, created_at) in rotations {
            roster.rotations.push(Rotation {
                members: member_lists.remove(&id).unwrap_or_default(),
                id,
                name,
                handoff: NaiveTime::parse_from_str(&handoff, "%H:%M").map_err(|_| corrupt("hand-off time"))?,
                time_zone: zone.parse().map_err(|_| corrupt("time zone"))?,
                period_days: u32::try_from(period_days).map_err(|_| corrupt("period"))?,
                start_date: date(&start_date)?,
                created_at,
            });
        }
        for (id, rotation, who, start, end, created_at) in overrides {
            roster.overrides.push(Override { id, rotation, account: account(&who)?, start, end, created_at });
        }
        for (id, rotation, proposer, counterpart, proposer_shift, counterpart_shift, status, created_at, answered_at) in swaps {
            roster.swaps.push(Swap {
                id,
                rotation,
                proposer: account(&proposer)?,
                counterpart: account(&counterpart)?,
                proposer_shift,
                counterpart_shift,
                status: SwapStatus::parse(&status).ok_or_else(|| corrupt("swap status"))?,
                created_at,
                answered_at,
            });
        }
        Ok(roster)
    }
}
