//! Protocol version 1 WebSocket frames. Every frame is one JSON object in one WebSocket text
//! message, tagged by its `type` field.

use crate::{AccountId, DeviceId, ErrorCode, IncidentId, MailboxId, MailboxSecret, MessageId, Nonce, Payload, Signature};
use serde::{Deserialize, Serialize};

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Answer to `challenge`: the device signs [`crate::auth::auth_message`] with its Ed25519 key.
    Auth { device: DeviceId, nonce: Nonce, timestamp: i64, signature: Signature },
    /// Create an unlinked mailbox; the server keeps only a hash of `secret` and no owner.
    CreateMailbox { mailbox: MailboxId, secret: MailboxSecret },
    /// Receive an unlinked mailbox's messages on this connection, proving its secret.
    Subscribe { mailbox: MailboxId, secret: MailboxSecret },
    /// Store and forward an opaque payload to every mailbox in `to`.
    Send { id: MessageId, to: Vec<MailboxId>, payload: Payload },
    /// The client has durably processed the message `seq` of `mailbox`; the server deletes its copy.
    Ack { mailbox: MailboxId, seq: u64 },
    /// Adds one-time MLS KeyPackages for a mailbox this connection reads, and optionally replaces
    /// its last-resort KeyPackage (handed out when the one-time ones are gone).
    PublishKeyPackages {
        mailbox: MailboxId,
        key_packages: Vec<Payload>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_resort: Option<Payload>,
    },
    /// Claims one KeyPackage of `mailbox` (to add its owner to a group).
    ClaimKeyPackage { mailbox: MailboxId },
    /// Like `send`, for an MLS group: `payload` is a [`crate::group::GroupEnvelope`]. The server
    /// reads the MLS framing (group id, epoch, content type) to order commits, never content.
    /// `members`, with a commit only (and then required): every member's mailbox once the commit
    /// takes effect, the sender's own included and removed members excluded. The server binds
    /// the group to it and accepts the group's later messages only from connections that read
    /// one of these mailboxes.
    GroupSend {
        id: MessageId,
        to: Vec<MailboxId>,
        payload: Payload,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<MailboxId>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Challenge { protocol: u16, nonce: Nonce, server_time: i64 },
    /// Authentication succeeded; the device's linked mailbox is subscribed and delivery starts.
    Ready { account: AccountId, device: DeviceId, mailbox: MailboxId },
    /// Answer to `create_mailbox`.
    MailboxCreated { mailbox: MailboxId },
    /// Answer to `subscribe`; queued messages for the mailbox follow.
    Subscribed { mailbox: MailboxId },
    /// The message `id` is durably stored for every recipient under server sequence number `seq`.
    Accepted { id: MessageId, seq: u64 },
    /// A message for a mailbox this connection reads. Delivered at least once until acked.
    Deliver { mailbox: MailboxId, seq: u64, id: MessageId, payload: Payload },
    /// Answer to `publish_key_packages`: one-time KeyPackages now available for the mailbox.
    KeyPackagesPublished { mailbox: MailboxId, available: u32 },
    /// Answer to `claim_key_package`. `last_resort` is true when no one-time KeyPackage was left.
    KeyPackage { mailbox: MailboxId, key_package: Payload, last_resort: bool },
    /// Sent to a mailbox's readers when its one-time KeyPackages run low: publish more.
    KeyPackagesLow { mailbox: MailboxId, available: u32 },
    /// An incident this device's account may see changed (a page, an answer, an escalation, its
    /// resolution): fetch its board (`GET /v1/incidents/{id}`). Sent to the device's linked
    /// mailbox's connections; best effort (a client also refreshes when it reconnects).
    IncidentChanged { incident: IncidentId },
    /// A request failed. `id` or `mailbox` names the frame it answers where there is one.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mailbox: Option<MailboxId>,
    },
}

impl ServerFrame {
    pub fn error(code: ErrorCode) -> Self {
        ServerFrame::Error { code, message: code.default_message().to_owned(), id: None, mailbox: None }
    }

    pub fn error_for_message(code: ErrorCode, id: MessageId) -> Self {
        ServerFrame::Error { code, message: code.default_message().to_owned(), id: Some(id), mailbox: None }
    }

    pub fn error_for_mailbox(code: ErrorCode, mailbox: MailboxId) -> Self {
        ServerFrame::Error { code, message: code.default_message().to_owned(), id: None, mailbox: Some(mailbox) }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialise")
    }
}

impl ClientFrame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client frames always serialise")
    }
}

const CLIENT_FRAME_TYPES: &[&str] =
    &["auth", "create_mailbox", "subscribe", "send", "ack", "publish_key_packages", "claim_key_package", "group_send"];

/// Decodes one client frame, telling apart the stable error cases: `unknown_frame_type`,
/// `payload_too_large` and `malformed_frame` (anything else that does not parse). On error, the
/// message id of a `send` is returned where it could be read, so the error can name it.
pub fn decode_client_frame(text: &[u8]) -> Result<ClientFrame, (ErrorCode, Option<MessageId>)> {
    match serde_json::from_slice::<ClientFrame>(text) {
        Ok(frame) => Ok(frame),
        Err(err) => {
            #[derive(Deserialize)]
            struct Peek<'a> {
                #[serde(rename = "type", borrow)]
                ty: Option<std::borrow::Cow<'a, str>>,
                #[serde(default)]
                id: Option<MessageId>,
            }
            let peek = serde_json::from_slice::<Peek>(text).ok();
            let id = peek.as_ref().and_then(|p| p.id);
            let code = match peek.and_then(|p| p.ty) {
                Some(ty) if !CLIENT_FRAME_TYPES.contains(&ty.as_ref()) => ErrorCode::UnknownFrameType,
                _ if err.to_string().contains(crate::ids::PAYLOAD_TOO_LARGE) => ErrorCode::PayloadTooLarge,
                _ => ErrorCode::MalformedFrame,
            };
            Err((code, id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_round_trips_with_base64_payload() {
        let frame = ClientFrame::Send {
            id: MessageId([7; 16]),
            to: vec![MailboxId([1; 16])],
            payload: Payload(bytes::Bytes::from_static(b"\x00\x01ciphertext")),
        };
        let json = frame.to_json();
        assert!(json.starts_with(r#"{"type":"send","id":"BwcHBwcHBwcHBwcHBwcHBw","#), "{json}");
        assert_eq!(decode_client_frame(json.as_bytes()).unwrap(), frame);
    }

    #[test]
    fn group_send_names_members_only_when_it_has_some() {
        let app = ClientFrame::GroupSend {
            id: MessageId([7; 16]),
            to: vec![MailboxId([1; 16])],
            payload: Payload(bytes::Bytes::from_static(b"SPG1")),
            members: Vec::new(),
        };
        let json = app.to_json();
        assert!(!json.contains("members"), "{json}");
        assert_eq!(decode_client_frame(json.as_bytes()).unwrap(), app);
        let commit = match app {
            ClientFrame::GroupSend { id, to, payload, .. } => {
                ClientFrame::GroupSend { id, to, payload, members: vec![MailboxId([1; 16]), MailboxId([2; 16])] }
            }
            _ => unreachable!(),
        };
        let json = commit.to_json();
        assert!(json.ends_with(r#""members":["AQEBAQEBAQEBAQEBAQEBAQ","AgICAgICAgICAgICAgICAg"]}"#), "{json}");
        assert_eq!(decode_client_frame(json.as_bytes()).unwrap(), commit);
    }

    #[test]
    fn decode_errors_are_classified() {
        assert_eq!(decode_client_frame(b"not json").unwrap_err().0, ErrorCode::MalformedFrame);
        assert_eq!(decode_client_frame(br#"{"type":"teleport"}"#).unwrap_err().0, ErrorCode::UnknownFrameType);
        assert_eq!(decode_client_frame(br#"{"type":"ack","mailbox":"x"}"#).unwrap_err().0, ErrorCode::MalformedFrame);
        assert_eq!(decode_client_frame(br#"{"no_type":1}"#).unwrap_err().0, ErrorCode::MalformedFrame);
        let big = "A".repeat(crate::MAX_PAYLOAD_BYTES / 3 * 4 + 8);
        let json = format!(r#"{{"type":"send","id":"BwcHBwcHBwcHBwcHBwcHBw","to":["AQEBAQEBAQEBAQEBAQEBAQ"],"payload":"{big}"}}"#);
        assert_eq!(
            decode_client_frame(json.as_bytes()).unwrap_err(),
            (ErrorCode::PayloadTooLarge, Some(MessageId([7; 16])))
        );
    }

    #[test]
    fn error_frame_omits_absent_references() {
        assert_eq!(
            ServerFrame::error(ErrorCode::RateLimited).to_json(),
            r#"{"type":"error","code":"rate_limited","message":"too many frames; slow down"}"#
        );
    }
}
