//! Storage of crisis-response teams (`Store::crisis_teams()`): each team's name and quorum
//! policy, its members (tier, team role) and, through the shared schedule tables, its rotations,
//! overrides and swaps; and each person's switch and "inside the perimeter until". Validation is
//! the caller's; the store keeps references whole (removing a member removes their places,
//! overrides and swaps in that team, by foreign key).

use super::StoreResult;
use crate::domain::teams::{Availability, CrisisTeam, Member, Teams};
use async_trait::async_trait;
use sallyport_protocol::AccountId;

#[async_trait]
pub trait TeamStore: Send + Sync {
    /// Every crisis team with its members (in the team's order), schedule and the members'
    /// availability.
    async fn crisis_teams(&self) -> StoreResult<Teams>;

    /// A person's switch and "inside until" (the default if they never set one).
    async fn availability(&self, account: &AccountId) -> StoreResult<Availability>;

    /// Creates a team (members and schedule are added separately). `Conflict(AlreadyExists)` if
    /// the id is taken.
    async fn create_team(&self, team: &CrisisTeam) -> StoreResult<()>;

    /// Renames a crisis team and sets its policy; `NotFound` without it.
    async fn update_team(&self, team: &CrisisTeam) -> StoreResult<()>;

    /// Deletes a crisis team with its members' places, rotations, overrides and swaps; whether
    /// it existed.
    async fn delete_team(&self, id: &str) -> StoreResult<bool>;

    /// Puts a person on a crisis team or changes their tier and role; `true` when added.
    /// `NotFound` without the team or the account.
    async fn put_member(&self, team: &str, member: &Member) -> StoreResult<bool>;

    /// Takes a person off a crisis team (and off its rotations, overrides and swaps); whether
    /// they were on it.
    async fn remove_member(&self, team: &str, account: &AccountId) -> StoreResult<bool>;
}
