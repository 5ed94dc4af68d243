//! REST bodies (JSON over HTTP on the same port as the WebSocket).

use crate::{AccountId, DeviceId, ErrorCode, MailboxId, PublicKey, Signature};
use serde::{Deserialize, Serialize};

/// A person's roles. Stored and sent as these snake_case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Staff,
    PeerSupporter,
    Coordinator,
    Admin,
    /// An EAP clinician: can be brought into a support conversation by a peer supporter (hand-off).
    Clinician,
    /// A shift supervisor: may declare a critical incident, which pages a crisis-response team.
    Supervisor,
}

impl Role {
    pub const ALL: [Role; 6] = [Role::Staff, Role::PeerSupporter, Role::Coordinator, Role::Admin, Role::Clinician, Role::Supervisor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::PeerSupporter => "peer_supporter",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::parse(s).ok_or_else(|| format!("unknown role `{s}` (staff, peer_supporter, coordinator, admin, clinician, supervisor)"))
    }
}

/// `POST /v1/enrol`: redeem an invitation code and register this device's public keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The invitation code from the enrolment link.
    pub code: String,
    /// The device's Ed25519 signature public key (also its MLS credential key).
    pub signing_key: PublicKey,
    /// The device's X25519 key for sealed notifications.
    pub notification_key: PublicKey,
}

/// Answer to a successful `POST /v1/enrol`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub account: AccountId,
    pub device: DeviceId,
    /// The device's linked mailbox.
    pub mailbox: MailboxId,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// False when the account already has a device: this one waits for its approval.
    pub approved: bool,
}

/// The body of every REST error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// With `stale_revision`: the debrief's current revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// One line to call or text in a crisis, shown on every screen of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisLine {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A number for a `tel:` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// A number for an `sms:` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `GET /v1/config` (public): what the app needs before anyone signs in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigBody {
    pub crisis_lines: Vec<CrisisLine>,
    /// The VAPID public key (uncompressed P-256 point, unpadded base64url).
    pub vapid_public_key: String,
    pub confidentiality_notice: String,
}

/// `GET /v1/me`: the signing device and its account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeBody {
    pub account: AccountId,
    pub device: DeviceId,
    pub mailbox: MailboxId,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// False while this device waits for an existing device of the account to approve it.
    pub approved: bool,
}

/// One person in `GET /v1/directory`: an account with its active devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub account: AccountId,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// The linked mailboxes of the account's approved active devices.
    pub mailboxes: Vec<MailboxId>,
    /// Every active device, approved or waiting, with what clients need to decide whether to
    /// trust it (protocol/README.md §14).
    pub devices: Vec<DirectoryDevice>,
}

/// A device in the directory. `approved_by`/`approval` are absent for an account's first device
/// (and for the first device after all others were revoked: a new identity) and for a device that
/// waits for approval (`approved` false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryDevice {
    pub device: DeviceId,
    pub mailbox: MailboxId,
    pub signing_key: PublicKey,
    pub notification_key: PublicKey,
    pub approved: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<PublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Signature>,
}

/// `POST /v1/devices/approve`: an approved device of the account signs the new device's keys
/// (`auth::device_approval_message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveDeviceRequest {
    pub device: DeviceId,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryBody {
    pub people: Vec<Person>,
}

/// `POST /v1/admin/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    pub display_name: String,
    pub roles: Vec<Role>,
    /// Adds a device to this account instead of creating one.
    #[serde(default)]
    pub account: Option<AccountId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationBody {
    /// The one-time enrolment link; its code is in the fragment.
    pub link: String,
    pub expires_at: i64,
}

/// One device in `GET /v1/admin/devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceBody {
    pub device: DeviceId,
    pub account: AccountId,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// False while it waits for a device of its account to approve it.
    #[serde(default)]
    pub approved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevicesBody {
    pub devices: Vec<DeviceBody>,
}

/// `POST /v1/admin/devices/revoke`: the device, in the body rather than the path (§11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeDeviceRequest {
    pub device: DeviceId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevokedBody {
    pub revoked: bool,
}

/// `POST /v1/push/subscriptions`: a browser's push subscription (RFC 8030 endpoint, RFC 8291 keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSubscriptionBody {
    pub endpoint: String,
    /// The subscriber's P-256 key: base64url of an uncompressed point.
    pub p256dh: String,
    /// The subscriber's authentication secret: base64url of 16 bytes.
    pub auth: String,
}

/// `DELETE /v1/push/subscriptions`: the endpoint; the keys may be sent too and are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeBody {
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p256dh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}
