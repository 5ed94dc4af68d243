//! Storage of peer support requests: the requests, their escalation timers and the push
//! subscriptions of unlinked mailboxes. Nothing stored here names the requester
//! (docs/privacy.md).

use super::{Hash32, PushSubscription, StoreResult};
pub use crate::domain::support::{MAX_LEVEL, RequestState};
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::support::Urgency;
use sallyport_protocol::{AccountId, MailboxId, RequestId};

/// A request to store, with its unlinked mailbox and pseudonymous KeyPackage, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSupportRequest {
    pub id: RequestId,
    pub urgency: Urgency,
    pub mailbox: MailboxId,
    pub secret_hash: Hash32,
    /// Stored as the mailbox's last-resort KeyPackage: a supporter whose client fails before
    /// sending the Welcome can claim it again.
    pub key_package: Bytes,
    /// Unix ms rounded down to the minute (also the mailbox's day comes from it).
    pub created_at: i64,
    /// When the first escalation (to level 1) is due, rounded up to the minute.
    pub first_due_at: i64,
    /// The escalation delay for this urgency: level 2 is due this long after level 1.
    pub step_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupportRequestRecord {
    pub id: RequestId,
    pub urgency: Urgency,
    pub state: RequestState,
    pub level: u8,
    pub created_at: i64,
    pub mailbox: MailboxId,
    /// The unlinked mailbox's secret hash: the requester proves the secret.
    pub secret_hash: Hash32,
}

/// An escalation that a scheduler claimed: the request now offered at `level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    pub request: RequestId,
    pub urgency: Urgency,
    pub level: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This caller won: the requester's unlinked mailbox.
    Won { mailbox: MailboxId, urgency: Urgency },
    /// Someone accepted it first (or this caller already did).
    AlreadyClaimed,
    /// No such request (never, or closed).
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffOutcome {
    /// `claimed_by` is now the new supporter.
    HandedOff,
    /// The request is still waiting: nobody has accepted it.
    NotClaimed,
    /// It is accepted, but not (any more) by the `from` account: someone else handed it off first.
    NotClaimer,
    /// No such request (never, or closed).
    NotFound,
}

#[async_trait]
pub trait SupportStore: Send + Sync {
    /// Creates the unlinked mailbox, stores its KeyPackage, the request (waiting, level 0) and its
    /// first escalation timer, all or nothing. `Conflict(MailboxExists)` if the mailbox id is
    /// taken, `Conflict(RequestExists)` if the id is.
    async fn create_support_request(&self, request: NewSupportRequest) -> StoreResult<()>;

    async fn support_request(&self, id: &RequestId) -> StoreResult<Option<SupportRequestRecord>>;

    /// Waiting requests, oldest first.
    async fn waiting_support_requests(&self) -> StoreResult<Vec<SupportRequestRecord>>;

    /// Atomically marks a waiting request accepted by `by` (exactly one concurrent caller wins)
    /// and deletes its escalation timer.
    async fn claim_support_request(&self, id: &RequestId, by: &AccountId, now: i64) -> StoreResult<ClaimOutcome>;

    /// Hands an accepted request from `from` to `to`: one conditional update of `claimed_by`,
    /// applied only if the request is accepted and `from` still holds it (a racing second
    /// hand-off gets `NotClaimer`).
    async fn hand_off_support_request(&self, id: &RequestId, from: &AccountId, to: &AccountId) -> StoreResult<HandOffOutcome>;

    /// Deletes the request, its timer, and its unlinked mailbox with the mailbox's KeyPackages,
    /// queued messages and push subscriptions. With `held_by`, only if that account still holds
    /// the request (one conditional delete: a hand-off that lands after the caller's check wins).
    /// Returns whether a request was deleted.
    async fn close_support_request(&self, id: &RequestId, held_by: Option<&AccountId>) -> StoreResult<bool>;

    /// Claims up to `limit` escalation timers due at `now`, in one transaction that also records
    /// each request's new level and advances the timer (or deletes it after the last level), so
    /// each escalation is returned once, whichever node asks.
    async fn claim_due_escalations(&self, now: i64, limit: u32) -> StoreResult<Vec<Escalation>>;

    /// Registers a push subscription for an unlinked mailbox (replacing one with the same
    /// endpoint). `Conflict(PushSubscriptionLimit)` beyond `MAX_MAILBOX_PUSH_SUBSCRIPTIONS`;
    /// `Conflict(EndpointInUse)` if a device already registered this endpoint:
    /// storing it here too would link the mailbox to that device. `NotFound` if no such mailbox.
    async fn add_mailbox_push_subscription(&self, mailbox: &MailboxId, subscription: &PushSubscription) -> StoreResult<()>;

    /// Push subscriptions of these (unlinked) mailboxes, as `(mailbox, subscription)`.
    async fn mailbox_push_subscriptions_for(&self, mailboxes: &[MailboxId]) -> StoreResult<Vec<(MailboxId, PushSubscription)>>;

    /// Deletes an unlinked mailbox's subscription with this endpoint (the push service said it is
    /// gone). Returns whether there was one.
    async fn delete_mailbox_push_subscription(&self, endpoint: &str) -> StoreResult<bool>;
}

/// Most push subscriptions one unlinked mailbox may have.
pub const MAX_MAILBOX_PUSH_SUBSCRIPTIONS: i64 = 5;
