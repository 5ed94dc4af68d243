//! Mailboxes and reading their queues: creating an unlinked mailbox, who may read one, the
//! oldest queued messages of a mailbox, the multi-node catch-up query, and expiry.

use super::queue::QueuedMessage;
use super::{Hash32, StoreResult};
use async_trait::async_trait;
use sallyport_protocol::MailboxId;

/// A group with no message for this long (90 days) is forgotten; its next commit starts afresh.
pub const GROUP_IDLE_MS: i64 = 90 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxAccess {
    /// A device's linked mailbox: read only by that device's authenticated connections.
    Linked,
    /// An unlinked mailbox: read by whoever proves the secret whose hash this is. `read_day` is
    /// the UTC day (Unix ms) it was last read, or created.
    Unlinked { secret_hash: Hash32, read_day: i64 },
}

/// Whether a mailbox last read on `read_day` (an `Unlinked` one's) was last read before the UTC
/// day of `now`, so that reading it now is worth recording.
pub fn read_before_today(read_day: i64, now: i64) -> bool {
    read_day < super::rows::day_of(now)
}

#[async_trait]
pub trait MailboxStore: Send + Sync {
    /// Creates an unlinked mailbox. It has no owner column: nothing ties it to a device. Only
    /// the UTC day of `now` is kept. `Conflict(MailboxExists)` if the id is taken.
    async fn create_mailbox(&self, mailbox: &MailboxId, secret_hash: &Hash32, now: i64) -> StoreResult<()>;

    async fn mailbox_access(&self, mailbox: &MailboxId) -> StoreResult<Option<MailboxAccess>>;

    /// Records that an unlinked mailbox was read on the UTC day of `now` (only the day is kept).
    async fn mark_mailbox_read(&self, mailbox: &MailboxId, now: i64) -> StoreResult<()>;

    /// How many messages a mailbox's queue holds (what its quota counts).
    async fn queued(&self, mailbox: &MailboxId) -> StoreResult<u64>;

    /// The oldest `limit` queued, unexpired messages of a mailbox, in sequence order.
    async fn pending(&self, mailbox: &MailboxId, limit: u32, now: i64) -> StoreResult<Vec<QueuedMessage>>;

    /// Mailboxes that received a message stored at or after `since` (multi-node catch-up).
    async fn mailboxes_with_messages_since(&self, since: i64) -> StoreResult<Vec<MailboxId>>;

    /// Deletes queued copies and idempotency records that expired before `now`, invitations that
    /// expired unused, and the epochs of groups with no message for `GROUP_IDLE_MS`. Returns the
    /// number of queued copies deleted.
    async fn expire(&self, now: i64) -> StoreResult<u64>;

    /// Deletes up to `limit` unlinked mailboxes last read before the day of `read_before` that serve
    /// no open support request, with their queued messages, KeyPackages and push subscriptions.
    /// Returns the number of mailboxes deleted.
    async fn expire_unread_mailboxes(&self, read_before: i64, limit: u32) -> StoreResult<u64>;
}
