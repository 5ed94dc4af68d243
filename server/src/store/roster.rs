//! Storage of the peer supporter roster and of every team's on-call schedule (`Store::roster()`):
//! who is a peer supporter, their training and switch, rotations, overrides and swaps. It says nothing about
//! who asked for help. Validation (training current, shifts that exist) is the caller's; the
//! store keeps references whole: removing a supporter removes their rotation places, overrides
//! and swaps in the same transaction.

use super::StoreResult;
use crate::domain::roster::{Roster, Switch, Training};
use crate::domain::schedule::{Override, Rotation, Swap, SwapStatus};
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

    /// Sets a person's switch (theirs across teams). `NotFound` if they are on no team.
    async fn set_switch(&self, account: &AccountId, switch: Switch, now: i64) -> StoreResult<()>;

    /// Says a person is inside the perimeter (without their phone) until `until`, or not (`None`).
    /// `NotFound` if they are on no team.
    async fn set_inside_until(&self, account: &AccountId, until: Option<i64>, now: i64) -> StoreResult<()>;

    /// Creates the rotation, or replaces the one with its id (members too), in its team.
    /// `Conflict(NotOnRoster)`, storing nothing, if a member is not on that team; `NotFound` if
    /// the id belongs to another team's rotation.
    async fn put_rotation(&self, rotation: &Rotation) -> StoreResult<()>;

    /// Deletes a rotation with its overrides and swaps; returns whether it existed.
    async fn delete_rotation(&self, id: &str) -> StoreResult<bool>;

    /// `Conflict(NotOnRoster)` if the account is not on the rotation's team; `NotFound` if there
    /// is no such rotation.
    async fn add_override(&self, o: &Override) -> StoreResult<()>;

    async fn delete_override(&self, id: &str) -> StoreResult<bool>;

    /// `Conflict(NotOnRoster)` if either party is not on the rotation's team; `NotFound` if
    /// there is no such rotation.
    async fn add_swap(&self, swap: &Swap) -> StoreResult<()>;

    /// Moves a swap from `Proposed` to `to` at `now`, atomically; returns `false` if it is not
    /// (or no longer) proposed. `NotFound` if there is no such swap.
    async fn answer_swap(&self, id: &str, to: SwapStatus, now: i64) -> StoreResult<bool>;
}
