//! Accounts, devices and invitations: enrolment from a one-time invitation, the device list, and
//! revocation with the feed every node polls to close a revoked device's connections.

use super::{Hash32, StoreResult};
use async_trait::async_trait;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, PublicKey, Signature};

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
    /// False when the account had an approved device: this one waits for its approval.
    pub approved: bool,
}

/// Whether other devices may trust a device (protocol/README.md §14).
#[derive(Debug, Clone, PartialEq)]
pub enum Approval {
    /// Waits for an approved device of its account to sign its keys.
    Pending,
    /// The account's first device, or the first after all its devices were revoked: approved at
    /// enrolment, a new identity to everyone who knew the account.
    First,
    /// Approved by the device with signing key `by`.
    Signed { by: PublicKey, signature: Signature },
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
    pub approval: Approval,
}

impl DeviceRecord {
    pub fn is_pending(&self) -> bool {
        self.approval == Approval::Pending
    }
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// `Conflict(InvitationExists)` if the code hash is taken.
    async fn create_invitation(&self, invitation: NewInvitation) -> StoreResult<()>;

    /// Atomically marks the invitation used and registers the device (and account, and linked
    /// mailbox). `NotFound` if no such code, or it is used, or it expired before `device.now`.
    /// The device is approved at once unless its account has an active approved device; then it
    /// is pending until `approve_device`.
    async fn redeem_invitation(&self, code_hash: &Hash32, device: NewDevice) -> StoreResult<Enrolled>;

    async fn account_count(&self) -> StoreResult<u64>;

    /// Records `approver`'s signature on the pending `device`, only if `device` is still pending
    /// and active and `approver` is still an active approved device of the same account (checked
    /// in the same statement). False if any of that no longer holds.
    async fn approve_device(&self, device: &DeviceId, approver: &DeviceId, signature: &Signature, now: i64) -> StoreResult<bool>;

    async fn device(&self, device: &DeviceId) -> StoreResult<Option<DeviceRecord>>;

    /// Every device, newest first (for the administrator).
    async fn list_devices(&self) -> StoreResult<Vec<DeviceRecord>>;

    /// Marks the device revoked, deletes its push subscriptions and records the revocation in a
    /// feed every node polls. Returns `false` if it was revoked already; `NotFound` if no such
    /// device.
    async fn revoke_device(&self, device: &DeviceId, now: i64) -> StoreResult<bool>;

    /// Revocations with a cursor greater than `after`, oldest first, as `(cursor, device)`.
    /// `after = -1` is not special: pass the cursor from `revocation_cursor()` at start.
    async fn revocations_since(&self, after: i64) -> StoreResult<Vec<(i64, DeviceId)>>;

    /// The newest revocation cursor (0 if none).
    async fn revocation_cursor(&self) -> StoreResult<i64>;
}
