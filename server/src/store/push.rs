//! Web Push subscriptions of devices (hence of linked mailboxes only). Unlinked mailboxes'
//! subscriptions are kept apart, with support requests (`support`).

use super::StoreResult;
use async_trait::async_trait;
use sallyport_protocol::{DeviceId, MailboxId};

/// A browser's Web Push subscription (RFC 8030 endpoint, RFC 8291 keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub endpoint: String,
    /// The subscriber's P-256 public key, uncompressed (65 bytes).
    pub p256dh: Vec<u8>,
    /// The subscriber's authentication secret (16 bytes).
    pub auth: Vec<u8>,
}

#[async_trait]
pub trait PushStore: Send + Sync {
    /// Registers a subscription for `device`, replacing any with the same endpoint (even another
    /// device's: a browser has one subscription per endpoint). `NotFound` if the device is unknown
    /// or revoked; `Conflict(PushSubscriptionLimit)`, storing nothing, if the device would then
    /// have more than `max_per_device`; `Conflict(EndpointInUse)` if an unlinked mailbox has this
    /// endpoint (one endpoint for both would link the device to the mailbox).
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
}
