//! Multi-node wake-ups: a node that stored messages tells the others which mailboxes to re-read
//! (PostgreSQL LISTEN/NOTIFY; a single SQLite node has nobody to tell).

use super::StoreResult;
use async_trait::async_trait;
use sallyport_protocol::{IncidentId, MailboxId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wakeup {
    /// Node `node` stored messages for these mailboxes.
    Mailboxes { node: String, mailboxes: Vec<MailboxId> },
    /// Some device was revoked: poll `revocations_since`.
    Revoked,
    /// Node `node` changed an incident these (devices' linked) mailboxes' readers may see.
    IncidentChanged { node: String, incident: IncidentId, mailboxes: Vec<MailboxId> },
}

#[async_trait]
pub trait WakeupStore: Send + Sync {
    /// Tells other nodes that `mailboxes` have new messages (after the commit that stored them).
    /// `node` is the sender's node id, so a node can ignore its own notifications.
    async fn notify_mailboxes(&self, node: &str, mailboxes: &[MailboxId]) -> StoreResult<()>;

    /// Tells other nodes that `incident` changed, for the readers of `mailboxes`.
    async fn notify_incident(&self, node: &str, incident: &IncidentId, mailboxes: &[MailboxId]) -> StoreResult<()>;

    /// Starts listening for wake-ups from other nodes. `None` on a single-node backend. The
    /// receiver may miss notifications (a dropped listener connection is re-established): callers
    /// must also poll. A `Wakeup::Revoked` is also sent after `revoke_device` on any node.
    async fn listen(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<Wakeup>>>;
}
