//! The durable queue's write path: one group-commit round stores a batch of messages (with the
//! MLS Delivery Service's epoch rule, quotas and de-duplication by id) and deletes acknowledged
//! copies, in one transaction. Reads are in `mailboxes`.

use super::rows::{epoch_from, hash32, id_from, members_from};
use super::{GroupMessage, Hash32, StoreError, StoreResult};
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::{MailboxId, MessageId};
use std::collections::{HashMap, HashSet};

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
    /// The sequence number to store it under, from a block `FastPathStore::reserve_seqs` handed
    /// out; `None`: the store numbers it.
    pub seq: Option<u64>,
}

/// What `commit_round` did with one `NewMessage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored (committed) under this sequence number.
    Stored { seq: u64 },
    /// Delivered under this sequence number before any commit, and acknowledged by every
    /// recipient before it was due to be written: accepted, and never stored. (The committer's
    /// fast path; `commit_round` never returns it.)
    Delivered { seq: u64 },
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

    /// What the relay's fast path (delivering before the commit) needs, on a backend where one
    /// node serves every connection and so knows every reader of a mailbox. `None` where several
    /// nodes may share the database (PostgreSQL, unless this node took its place as the single
    /// node): a message one node acknowledged in memory would never reach a reader on another,
    /// and a lookup could miss another node's concurrent write.
    fn fast_path(&self) -> Option<&dyn FastPathStore> {
        None
    }
}

/// What is recorded of an MLS group, read outside a commit round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownGroup {
    pub epoch: Option<u64>,
    pub members: Option<Vec<MailboxId>>,
    /// `created_at` of the group's newest stored message.
    pub updated_at: i64,
}

/// Reads a batch's fast-path candidates need before they are delivered uncommitted.
#[derive(Debug, Default)]
pub struct FastLookup {
    /// Ids among those asked that were stored before, with their sequence numbers.
    pub stored: HashMap<MessageId, u64>,
    /// The groups asked for that have a row.
    pub groups: HashMap<Hash32, KnownGroup>,
    /// The mailboxes asked for that exist (a closed support request's mailbox is deleted while
    /// a connection may still read it).
    pub mailboxes: HashSet<MailboxId>,
}

/// One row of a backend's fast-path lookup: (tag, key, value, members, updated_at), where tag 0 is
/// a stored id (value: its seq), 1 a group (value: its epoch) and 2 an existing mailbox.
pub(crate) type FastLookupRow = (i64, Vec<u8>, Option<i64>, Option<Vec<u8>>, Option<i64>);

impl FastLookup {
    pub(crate) fn from_rows(rows: Vec<FastLookupRow>) -> StoreResult<FastLookup> {
        let mut found = FastLookup::default();
        let corrupt = || StoreError::Other("unexpected lookup row".into());
        for (tag, key, value, members, updated_at) in rows {
            match tag {
                0 => {
                    found.stored.insert(id_from(&key, MessageId::from_slice)?, value.ok_or_else(corrupt)? as u64);
                }
                1 => {
                    let known = KnownGroup {
                        epoch: epoch_from(value)?,
                        members: members_from(members)?,
                        updated_at: updated_at.ok_or_else(corrupt)?,
                    };
                    found.groups.insert(id_from(&key, hash32)?, known);
                }
                2 => {
                    found.mailboxes.insert(id_from(&key, MailboxId::from_slice)?);
                }
                _ => return Err(corrupt()),
            }
        }
        Ok(found)
    }
}

/// The side of the fast path of a backend serving one node (SQLite; PostgreSQL with the node lock
/// held exclusively). Only that node's one committer writes messages, so a read between two
/// rounds sees everything committed.
#[async_trait]
pub trait FastPathStore: Send + Sync {
    /// Reserves `n` sequence numbers above every number handed out before (also across
    /// restarts: the reservation is committed) and returns the first. The committer numbers
    /// messages from the block itself, so that numbers given to deliveries before their commit
    /// and numbers of commits interleave in the order the messages reach readers.
    async fn reserve_seqs(&self, n: u64) -> StoreResult<u64>;

    /// Which of `ids` were stored before, the recorded state of `groups`, and which of
    /// `mailboxes` exist.
    async fn fast_lookup(&self, ids: &[MessageId], groups: &[Hash32], mailboxes: &[MailboxId]) -> StoreResult<FastLookup>;
}
