//! Durable state behind one trait, `Store`, with an SQLite and a PostgreSQL implementation. SQL
//! lives here and nowhere else; `sqlx::Error` is translated into `StoreError` at this boundary.
//! Times are Unix milliseconds, chosen by the caller (so tests can drive the clock).

mod postgres;
pub mod roster;
mod sqlite;
pub mod support;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, MessageId, PublicKey};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Anything else; the message is for the operator's log and never carries user data.
    #[error("storage error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SHA-256 of an invitation code or a mailbox secret; only hashes are stored.
pub type Hash32 = [u8; 32];

/// A group with no message for this long (90 days) is forgotten; its next commit starts afresh.
pub const GROUP_IDLE_MS: i64 = 90 * 86_400_000;

#[derive(Debug, Clone, PartialEq)]
pub struct NewInvitation {
    pub code_hash: Hash32,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// `Some` to add a device to an existing account; `None` creates an account on redemption.
    pub account: Option<AccountId>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The device being enrolled. Ids are chosen by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    pub device: DeviceId,
    pub mailbox: MailboxId,
    /// Used only when the invitation creates a new account.
    pub new_account: AccountId,
    /// The name the person chose at enrolment, replacing the invitation's; only for a new account.
    pub display_name: Option<String>,
    pub signing_key: PublicKey,
    pub notification_key: PublicKey,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    pub account: AccountId,
    pub device: DeviceId,
    pub mailbox: MailboxId,
    pub display_name: String,
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRecord {
    pub device: DeviceId,
    pub account: AccountId,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub signing_key: PublicKey,
    pub notification_key: PublicKey,
    /// The device's linked mailbox.
    pub mailbox: MailboxId,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A message to store for every mailbox in `to`, as one unit: all recipients or none.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub id: MessageId,
    pub to: Vec<MailboxId>,
    pub payload: Bytes,
    pub created_at: i64,
    pub expires_at: i64,
    /// For an MLS group message: the Delivery Service's epoch rule, applied in the same
    /// transaction that stores the message.
    pub group: Option<GroupCheck>,
}

/// The MLS Delivery Service's ordering rule for one group message (RFC 9420 §14): the first
/// commit for the group's current epoch wins and advances it; any other commit is stale. Other
/// messages are accepted for the current epoch and `EPOCH_GRACE` epochs before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCheck {
    /// SHA-256 of the MLS group id: the server needs equality, not the id.
    pub group: Hash32,
    /// The epoch in the message's framing.
    pub epoch: u64,
    /// Whether the message is a commit.
    pub commit: bool,
}

impl GroupCheck {
    /// Applies the rule given the group's recorded epoch (`None`: the server has not seen the
    /// group, or forgot it after inactivity). `Ok(Some(e))`: record `e` as the new epoch.
    pub fn evaluate(&self, current: Option<u64>) -> Result<Option<u64>, u64> {
        // The epoch comes from the client: no arithmetic on it may overflow.
        let next = self.epoch.checked_add(1).filter(|n| *n <= i64::MAX as u64);
        match (self.commit, current) {
            (true, _) if next.is_none() => Err(current.unwrap_or(0)),
            (true, None) => Ok(next),
            (true, Some(c)) if c == self.epoch => Ok(next),
            (true, Some(c)) => Err(c),
            (false, None) => Ok(None),
            (false, Some(c)) if self.epoch <= c && self.epoch.saturating_add(sallyport_protocol::EPOCH_GRACE) >= c => Ok(None),
            (false, Some(c)) => Err(c),
        }
    }
}

/// What `append` did with one `NewMessage`.
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
}

/// A claimed KeyPackage.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedKeyPackage {
    pub key_package: Bytes,
    /// No one-time KeyPackage was left: this is the mailbox's last-resort one (not consumed).
    pub last_resort: bool,
    /// One-time KeyPackages left after this claim.
    pub available: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    pub mailbox: MailboxId,
    pub seq: u64,
    pub id: MessageId,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// Node `node` stored messages for these mailboxes.
    Mailboxes { node: String, mailboxes: Vec<MailboxId> },
    /// Some device was revoked: poll `revocations_since`.
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxAccess {
    /// A device's linked mailbox: read only by that device's authenticated connections.
    Linked,
    /// An unlinked mailbox: read by whoever proves the secret whose hash this is.
    Unlinked { secret_hash: Hash32 },
}

/// A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys), registered by a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub endpoint: String,
    /// The subscriber's P-256 public key, uncompressed (65 bytes).
    pub p256dh: Vec<u8>,
    /// The subscriber's authentication secret (16 bytes).
    pub auth: Vec<u8>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is ("sqlite" or "postgres"), for logs and metrics.
    fn backend(&self) -> &'static str;

    // ---- enrolment and devices

    async fn create_invitation(&self, invitation: NewInvitation) -> StoreResult<()>;

    /// Atomically marks the invitation used and registers the device (and account, and linked
    /// mailbox). `NotFound` if no such code, or it is used, or it expired before `device.now`.
    async fn redeem_invitation(&self, code_hash: &Hash32, device: NewDevice) -> StoreResult<Enrolled>;

    async fn account_count(&self) -> StoreResult<u64>;

    async fn device(&self, device: &DeviceId) -> StoreResult<Option<DeviceRecord>>;

    /// Every device, newest first (for the administrator).
    async fn list_devices(&self) -> StoreResult<Vec<DeviceRecord>>;

    /// Marks the device revoked and records the revocation in a feed every node polls. Returns
    /// `false` if it was revoked already; `NotFound` if no such device.
    async fn revoke_device(&self, device: &DeviceId, now: i64) -> StoreResult<bool>;

    /// Revocations with a cursor greater than `after`, oldest first, as `(cursor, device)`.
    /// `after = -1` is not special: pass the cursor from `revocation_cursor()` at start.
    async fn revocations_since(&self, after: i64) -> StoreResult<Vec<(i64, DeviceId)>>;

    /// The newest revocation cursor (0 if none).
    async fn revocation_cursor(&self) -> StoreResult<i64>;

    // ---- mailboxes

    /// Creates an unlinked mailbox. It has no owner column: nothing ties it to a device.
    /// `Conflict("mailbox_exists")` if the id is taken.
    async fn create_mailbox(&self, mailbox: &MailboxId, secret_hash: &Hash32, now: i64) -> StoreResult<()>;

    async fn mailbox_access(&self, mailbox: &MailboxId) -> StoreResult<Option<MailboxAccess>>;

    // ---- the durable queue

    /// One group-commit round in one transaction: first deletes the acknowledged copies `acks`
    /// (unknown pairs are ignored; deleting first frees quota for `batch`), then stores `batch`
    /// and returns one outcome per message, in order. Duplicates (by message id, also within the
    /// batch) are not stored again. A message is refused whole if any recipient is unknown or
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

    // ---- MLS KeyPackages

    /// Adds one-time KeyPackages for a mailbox and, if given, replaces its last-resort one.
    /// `Conflict("key_package_limit")` (storing nothing) if the mailbox would then hold more than
    /// `max_available` one-time KeyPackages. Returns how many one-time ones it holds.
    async fn publish_key_packages(
        &self,
        mailbox: &MailboxId,
        key_packages: &[Bytes],
        last_resort: Option<&Bytes>,
        max_available: u32,
    ) -> StoreResult<u32>;

    /// Atomically removes and returns one one-time KeyPackage of the mailbox (oldest first), so
    /// each is handed out at most once, even across nodes; else returns the last-resort one
    /// without removing it; `None` if the mailbox has neither.
    async fn claim_key_package(&self, mailbox: &MailboxId) -> StoreResult<Option<ClaimedKeyPackage>>;

    /// One-time KeyPackages the mailbox holds.
    async fn key_package_count(&self, mailbox: &MailboxId) -> StoreResult<u32>;

    /// Deletes acknowledged copies, in one transaction: `commit_round` without messages.
    /// Unknown pairs are ignored.
    async fn ack(&self, acks: &[(MailboxId, u64)]) -> StoreResult<()> {
        self.commit_round(acks, &[], 0).await.map(|_| ())
    }

    /// The oldest `limit` queued, unexpired messages of a mailbox, in sequence order.
    async fn pending(&self, mailbox: &MailboxId, limit: u32, now: i64) -> StoreResult<Vec<QueuedMessage>>;

    /// Mailboxes that received a message stored at or after `since` (multi-node catch-up).
    async fn mailboxes_with_messages_since(&self, since: i64) -> StoreResult<Vec<MailboxId>>;

    /// Deletes queued copies and idempotency records that expired before `now`, invitations that
    /// expired unused, and the epochs of groups with no message for `GROUP_IDLE_MS`. Returns the
    /// number of queued copies deleted.
    async fn expire(&self, now: i64) -> StoreResult<u64>;

    // ---- multi-node wake-ups (PostgreSQL LISTEN/NOTIFY; no-ops on SQLite)

    /// Tells other nodes that `mailboxes` have new messages (after the commit that stored them).
    /// `node` is the sender's node id, so a node can ignore its own notifications.
    async fn notify_mailboxes(&self, node: &str, mailboxes: &[MailboxId]) -> StoreResult<()>;

    /// Starts listening for wake-ups from other nodes. `None` on a single-node backend. The
    /// receiver may miss notifications (a dropped listener connection is re-established): callers
    /// must also poll. A `Wakeup::Revoked` is also sent after `revoke_device` on any node.
    async fn listen(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Wakeup>>>;

    // ---- settings (server key material and configuration kept in the database)

    async fn setting(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Sets `key` only if it has no value yet; returns the value now stored.
    async fn init_setting(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>>;

    /// Sets `key` to `value`, replacing any value.
    async fn set_setting(&self, key: &str, value: &[u8]) -> StoreResult<()>;

    // ---- Web Push subscriptions (of devices, hence of linked mailboxes only)

    /// Registers a subscription for `device`, replacing any with the same endpoint (even another
    /// device's: a browser has one subscription per endpoint). `NotFound` if the device is unknown
    /// or revoked; `Conflict("push_subscription_limit")`, storing nothing, if the device would
    /// then have more than `max_per_device`; `Conflict("endpoint_in_use")` if an unlinked mailbox
    /// has this endpoint (one endpoint for both would link the device to the mailbox).
    async fn add_push_subscription(
        &self,
        device: &DeviceId,
        subscription: &PushSubscription,
        max_per_device: u32,
        now: i64,
    ) -> StoreResult<()>;

    /// Removes `device`'s subscription with this endpoint; returns whether there was one.
    async fn remove_push_subscription(&self, device: &DeviceId, endpoint: &str) -> StoreResult<bool>;

    /// The subscriptions of unrevoked devices whose linked mailbox is in `mailboxes`, as
    /// `(mailbox, subscription)`.
    async fn push_subscriptions_for(&self, mailboxes: &[MailboxId]) -> StoreResult<Vec<(MailboxId, PushSubscription)>>;

    /// Deletes the subscription with this endpoint, whoever's it is (the push service answered
    /// 404 or 410). Returns whether there was one.
    async fn delete_push_subscription(&self, endpoint: &str) -> StoreResult<bool>;

    /// Deletes every subscription of a device; returns how many. `revoke_device` does this too,
    /// in its own transaction.
    async fn delete_push_subscriptions_of(&self, device: &DeviceId) -> StoreResult<u64>;

    // ---- peer support: roster and on call

    /// The peer supporter roster and on-call schedule (store/roster.rs).
    fn roster(&self) -> &dyn roster::RosterStore;

    // ---- peer support: requests

    /// Support requests, their escalation timers and unlinked mailboxes' push subscriptions
    /// (store/support.rs).
    fn support(&self) -> &dyn support::SupportStore;

    /// Closes pools after in-flight work.
    async fn close(&self);
}

/// Opens the store named by the URL's scheme (`sqlite:` or `postgres:`/`postgresql:`) and applies
/// the embedded migrations.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL scheme (use sqlite://PATH or postgres://…)")
    }
}

pub fn sha256(bytes: &[u8]) -> Hash32 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_commit_for_the_current_epoch_wins() {
        let commit = |epoch| GroupCheck { group: [0; 32], epoch, commit: true };
        assert_eq!(commit(0).evaluate(None), Ok(Some(1)));
        assert_eq!(commit(4).evaluate(Some(4)), Ok(Some(5)));
        assert_eq!(commit(4).evaluate(Some(5)), Err(5), "a competing commit for an old epoch is stale");
        assert_eq!(commit(6).evaluate(Some(5)), Err(5), "a commit from the future is stale too");
    }

    #[test]
    fn application_messages_are_accepted_for_recent_epochs() {
        let app = |epoch| GroupCheck { group: [0; 32], epoch, commit: false };
        assert_eq!(app(9).evaluate(None), Ok(None));
        assert_eq!(app(10).evaluate(Some(10)), Ok(None));
        assert_eq!(app(7).evaluate(Some(10)), Ok(None));
        assert_eq!(app(6).evaluate(Some(10)), Err(10));
        assert_eq!(app(11).evaluate(Some(10)), Err(10));
    }

    #[test]
    fn absurd_epochs_are_refused_without_overflow() {
        let commit = GroupCheck { group: [0; 32], epoch: u64::MAX, commit: true };
        assert_eq!(commit.evaluate(None), Err(0));
        assert_eq!(commit.evaluate(Some(3)), Err(3));
        let app = GroupCheck { group: [0; 32], epoch: u64::MAX, commit: false };
        assert_eq!(app.evaluate(Some(3)), Err(3));
    }
}
