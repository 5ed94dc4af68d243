//! REST bodies (JSON over HTTP on the same port as the WebSocket).

use crate::{AccountId, DeviceId, ErrorCode, MailboxId, PublicKey};
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
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Staff, Role::PeerSupporter, Role::Coordinator, Role::Admin, Role::Clinician];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::PeerSupporter => "peer_supporter",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
            Role::Clinician => "clinician",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::parse(s).ok_or_else(|| format!("unknown role `{s}` (staff, peer_supporter, coordinator, admin, clinician)"))
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
    /// The name the person chooses (1–100 characters), replacing the one on the invitation; ignored
    /// when the invitation adds a device to an existing account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
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
}

/// The body of every REST error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub code: ErrorCode,
    pub message: String,
}
