//! The durable queue's write path: one group-commit round stores a batch of messages (with the
//! MLS Delivery Service's epoch rule, quotas and de-duplication by id) and deletes acknowledged
//! copies, in one transaction. Reads are in `mailboxes`.

use super::{GroupMessage, StoreResult};
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::{MailboxId, MessageId};

/// A message to store for every mailbox in `to`, as one unit: all recipients or none.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: MessageId,
    pub to: Vec<MailboxId>,
    pub payload: Bytes,
    pub created_at: i64,
    pub expires_at: i64,
    /// For an MLS group message: the Delivery Service's member binding and epoch rule, applied
    /// in the same transaction that stores the message.
    pub group: Option<GroupMessage>,
}

/// What `commit_round` did with one `NewMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored (committed) under this sequence number.
    Stored { seq: u64 },
    /// A message with this id was stored before; nothing new was stored.
    Duplicate { seq: u64 },
    /// This recipient's queue already holds `queue_quota` messages; nothing was stored.
    QuotaExceeded { mailbox: MailboxId },
    /// This recipient does not exist; nothing was stored.
    UnknownMailbox { mailbox: MailboxId },
    /// The group message failed its `GroupCheck`; `current` is the group's epoch. Nothing stored.
    StaleEpoch { current: u64 },
    /// The group is bound to its members' mailboxes and the sending connection reads none of
    /// them. Nothing stored.
    NotAMember,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    pub mailbox: MailboxId,
    pub seq: u64,
    pub id: MessageId,
    pub payload: Bytes,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    /// One group-commit round in one transaction: first deletes the acknowledged copies `acks`
    /// (unknown pairs are ignored; deleting first frees quota for `batch`), then stores `batch`
    /// and returns one outcome per message, in order. Duplicates (by message id, also within the
    /// batch) are not stored again. A group message is refused whole if the group is bound to
    /// members whose mailboxes its sender does not read, or fails the epoch rule; a stored commit
    /// binds the group to its `members`. A message is refused whole if any recipient is unknown or
    /// has `queue_quota` messages queued, counting those earlier in the same batch. When this
    /// returns `Ok`, the acks and every `Stored` message are committed; on `Err`, neither is.
    async fn commit_round(
        &self,
        acks: &[(MailboxId, u64)],
        batch: &[NewMessage],
        queue_quota: u64,
    ) -> StoreResult<Vec<AppendOutcome>>;

    /// Stores a batch of messages in one transaction: `commit_round` without acks.
    async fn append(&self, batch: &[NewMessage], queue_quota: u64) -> StoreResult<Vec<AppendOutcome>> {
        self.commit_round(&[], batch, queue_quota).await
    }

    /// Deletes acknowledged copies, in one transaction: `commit_round` without messages.
    /// Unknown pairs are ignored.
    async fn ack(&self, acks: &[(MailboxId, u64)]) -> StoreResult<()> {
        self.commit_round(acks, &[], 0).await.map(|_| ())
    }
}
