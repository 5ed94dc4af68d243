//! MLS KeyPackages per mailbox: one-time ones, each handed out at most once even across nodes,
//! and a last-resort one that is never consumed.

use super::StoreResult;
use async_trait::async_trait;
use bytes::Bytes;
use sallyport_protocol::MailboxId;

/// A claimed KeyPackage.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedKeyPackage {
    pub key_package: Bytes,
    /// No one-time KeyPackage was left: this is the mailbox's last-resort one (not consumed).
    pub last_resort: bool,
    /// One-time KeyPackages left after this claim.
    pub available: u32,
}

#[async_trait]
pub trait KeyPackageStore: Send + Sync {
    /// Adds one-time KeyPackages for a mailbox and, if given, replaces its last-resort one.
    /// `Conflict(KeyPackageLimit)` (storing nothing) if the mailbox would then hold more than
    /// `max_available` one-time KeyPackages; `NotFound` if there is no such mailbox. Returns how
    /// many one-time ones it holds.
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
}
