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

/// The requester's view (answer to `POST /v1/support/requests/status`).
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

/// Answer to the winning `POST /v1/support/requests/claim`: the requester's unlinked
/// mailbox, whose KeyPackage the supporter claims (`claim_key_package`) to send the Welcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimedSupportRequest {
    pub id: RequestId,
    pub mailbox: MailboxId,
    pub urgency: Urgency,
}

/// `POST /v1/support/requests/status` (unsigned): the requester proves the mailbox secret. Ids
/// travel in bodies, never in paths, so an access log in front of the server holds none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestStatusQuery {
    pub id: RequestId,
    pub mailbox_secret: MailboxSecret,
}

/// `POST /v1/support/requests/claim` (signed) and `POST /v1/support/requests/close` (signed, or
/// with the mailbox secret header): which request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestRef {
    pub id: RequestId,
}

/// `POST /v1/support/requests/handoff` (signed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandOffRequest {
    pub id: RequestId,
    pub to: AccountId,
}

/// `POST /v1/support/mailboxes/push` with the mailbox secret header: the unlinked mailbox and a
/// browser push subscription for it (the fields of a device's subscription, §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxPushSubscription {
    pub mailbox: MailboxId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl MailboxPushSubscription {
    /// The subscription itself, as a device would register it.
    pub fn subscription(&self) -> crate::rest::PushSubscriptionBody {
        crate::rest::PushSubscriptionBody { endpoint: self.endpoint.clone(), p256dh: self.p256dh.clone(), auth: self.auth.clone() }
    }
}

/// Answer to a hand-off: who holds the request now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandedOff {
    pub claimed_by: AccountId,
}
