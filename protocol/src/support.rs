//! Peer support requests (protocol/README.md §13.2): REST bodies for reaching out, the
//! requester's status, the supporters' queue and claims. Nothing here names the requester.

use crate::{AccountId, MailboxId, MailboxSecret, RequestId};
use serde::{Deserialize, Serialize};

/// Header carrying an unlinked mailbox's secret (unpadded base64url) where the requester, not a
/// device, is the caller.
pub const MAILBOX_SECRET_HEADER: &str = "Sallyport-Mailbox-Secret";

/// How soon the requester wants to talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Now,
    Today,
    Week,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Now => "now",
            Urgency::Today => "today",
            Urgency::Week => "week",
        }
    }

    pub fn parse(s: &str) -> Option<Urgency> {
        [Urgency::Now, Urgency::Today, Urgency::Week].into_iter().find(|u| u.as_str() == s)
    }
}

/// A request's status as its requester sees it. The server answers `waiting` or `accepted`; a
/// closed request is forgotten (`404 not_found`), which clients show as `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportStatus {
    Waiting,
    Accepted,
    Closed,
}

/// `POST /v1/support/requests` (signed by any enrolled device; nothing about it is stored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSupportRequest {
    pub urgency: Urgency,
    /// A fresh mailbox id, unlinked: the server creates it and records only its secret's hash.
    pub mailbox: MailboxId,
    pub mailbox_secret: MailboxSecret,
    /// A KeyPackage (unpadded base64url) of a fresh pseudonymous MLS identity whose credential
    /// names `mailbox`; the accepting supporter claims it to start the conversation.
    pub key_package: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedSupportRequest {
    pub id: RequestId,
}

/// The requester's view (`GET /v1/support/requests/{id}` with the mailbox secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportRequestStatus {
    pub status: SupportStatus,
    pub urgency: Urgency,
    /// Unix ms, rounded down to the minute.
    pub created_at: i64,
}

/// One waiting request in the supporters' queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedSupportRequest {
    pub id: RequestId,
    pub urgency: Urgency,
    /// Unix ms, rounded down to the minute.
    pub created_at: i64,
    /// 0: offered to the supporters on call; 1: to every peer supporter; 2: also coordinators.
    pub level: u8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportQueue {
    pub requests: Vec<QueuedSupportRequest>,
}

/// Answer to the winning `POST /v1/support/requests/{id}/claim`: the requester's unlinked
/// mailbox, whose KeyPackage the supporter claims (`claim_key_package`) to send the Welcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedSupportRequest {
    pub id: RequestId,
    pub mailbox: MailboxId,
    pub urgency: Urgency,
}

/// `POST /v1/support/mailboxes/{mailbox}/push` with the mailbox secret header: the same body
/// as a device's subscription.
pub type MailboxPushSubscription = crate::rest::PushSubscriptionBody;

/// `POST /v1/support/requests/{id}` with the secret in the body instead of a header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    pub mailbox_secret: MailboxSecret,
}

/// `POST /v1/support/requests/{id}/handoff`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOffRequest {
    pub to: AccountId,
}

/// Answer to a hand-off: who holds the request now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedOff {
    pub claimed_by: AccountId,
}
