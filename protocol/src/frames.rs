//! Protocol version 1 WebSocket frames. Every frame is one JSON object in one WebSocket text
//! message, tagged by its `type` field.

use crate::{AccountId, DeviceId, ErrorCode, IncidentId, MailboxId, MailboxSecret, MessageId, Nonce, Payload, Signature};
use serde::{Deserialize, Deserializer, Serialize};

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

/// Frames the server sends. Deserialised through [`ServerFrameFields`] (below), not derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// A server frame's `type`.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Debug, PartialEq, Eq, Hash))]
#[serde(rename_all = "snake_case")]
enum ServerFrameType {
    Challenge,
    Ready,
    MailboxCreated,
    Subscribed,
    Accepted,
    Deliver,
    KeyPackagesPublished,
    KeyPackage,
    KeyPackagesLow,
    IncidentChanged,
    Error,
}

/// Every field any server frame has, each once (a name has the same type in every frame that uses
/// it). serde's derived internally tagged enum buffers the frame and then reads it with one
/// visitor per variant: 30 KB of the client core's wasm module for this enum alone. This reads a
/// frame in one pass with one visitor, then picks the variant. The same frames are accepted: a
/// missing field is "missing field", an unknown `type` "unknown variant" (the client core's
/// session.rs tells new frame types apart by it), other fields are ignored, unless they carry
/// another frame's field name with a value of the wrong type. A new frame goes in
/// `ServerFrameType`, here and in `deserialize` (the tests' `frame_type` does not compile without).
#[derive(Deserialize)]
struct ServerFrameFields {
    #[serde(rename = "type")]
    ty: ServerFrameType,
    protocol: Option<u16>,
    nonce: Option<Nonce>,
    server_time: Option<i64>,
    account: Option<AccountId>,
    device: Option<DeviceId>,
    mailbox: Option<MailboxId>,
    id: Option<MessageId>,
    seq: Option<u64>,
    payload: Option<Payload>,
    available: Option<u32>,
    key_package: Option<Payload>,
    last_resort: Option<bool>,
    code: Option<ErrorCode>,
    message: Option<String>,
    incident: Option<IncidentId>,
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fn need<T, E: serde::de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
            value.ok_or_else(|| E::missing_field(field))
        }
        let f = ServerFrameFields::deserialize(deserializer)?;
        Ok(match f.ty {
            ServerFrameType::Challenge => ServerFrame::Challenge {
                protocol: need(f.protocol, "protocol")?,
                nonce: need(f.nonce, "nonce")?,
                server_time: need(f.server_time, "server_time")?,
            },
            ServerFrameType::Ready => ServerFrame::Ready {
                account: need(f.account, "account")?,
                device: need(f.device, "device")?,
                mailbox: need(f.mailbox, "mailbox")?,
            },
            ServerFrameType::MailboxCreated => ServerFrame::MailboxCreated { mailbox: need(f.mailbox, "mailbox")? },
            ServerFrameType::Subscribed => ServerFrame::Subscribed { mailbox: need(f.mailbox, "mailbox")? },
            ServerFrameType::Accepted => ServerFrame::Accepted { id: need(f.id, "id")?, seq: need(f.seq, "seq")? },
            ServerFrameType::Deliver => ServerFrame::Deliver {
                mailbox: need(f.mailbox, "mailbox")?,
                seq: need(f.seq, "seq")?,
                id: need(f.id, "id")?,
                payload: need(f.payload, "payload")?,
            },
            ServerFrameType::KeyPackagesPublished => ServerFrame::KeyPackagesPublished {
                mailbox: need(f.mailbox, "mailbox")?,
                available: need(f.available, "available")?,
            },
            ServerFrameType::KeyPackage => ServerFrame::KeyPackage {
                mailbox: need(f.mailbox, "mailbox")?,
                key_package: need(f.key_package, "key_package")?,
                last_resort: need(f.last_resort, "last_resort")?,
            },
            ServerFrameType::KeyPackagesLow => ServerFrame::KeyPackagesLow {
                mailbox: need(f.mailbox, "mailbox")?,
                available: need(f.available, "available")?,
            },
            ServerFrameType::IncidentChanged => ServerFrame::IncidentChanged { incident: need(f.incident, "incident")? },
            ServerFrameType::Error => ServerFrame::Error {
                code: need(f.code, "code")?,
                message: need(f.message, "message")?,
                id: f.id,
                mailbox: f.mailbox,
            },
        })
    }
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
        match self {
            ServerFrame::Deliver { mailbox, seq, id, payload } => deliver_json(mailbox, *seq, id, payload),
            _ => serde_json::to_string(self).expect("server frames always serialise"),
        }
    }
}

/// A `deliver` frame's JSON, byte for byte what serde writes, in one pass into a buffer of its
/// exact size: serde grows its buffer by doubling and escapes the base64 text character by
/// character, so a 64 KiB payload cost a second copy and a buffer of twice the frame's 87 KiB,
/// held for as long as the frame waits for a slow reader (up to 128 frames per connection).
fn deliver_json(mailbox: &MailboxId, seq: u64, id: &MessageId, payload: &Payload) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use std::fmt::Write as _;
    const FIXED: &str = r#"{"type":"deliver","mailbox":"","seq":,"id":"","payload":""}"#;
    let capacity = FIXED.len() + 2 * 22 + 20 + payload.0.len().div_ceil(3) * 4;
    let mut json = String::with_capacity(capacity);
    json.push_str(r#"{"type":"deliver","mailbox":""#);
    URL_SAFE_NO_PAD.encode_string(mailbox.0, &mut json);
    let _ = write!(json, r#"","seq":{seq},"id":""#);
    URL_SAFE_NO_PAD.encode_string(id.0, &mut json);
    json.push_str(r#"","payload":""#);
    STANDARD.encode_string(&payload.0, &mut json);
    json.push_str(r#""}"#);
    json
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

    /// `ServerFrame` with serde's derived deserialiser, as it was: the oracle for the one above.
    #[derive(Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum DerivedServerFrame {
        Challenge { protocol: u16, nonce: Nonce, server_time: i64 },
        Ready { account: AccountId, device: DeviceId, mailbox: MailboxId },
        MailboxCreated { mailbox: MailboxId },
        Subscribed { mailbox: MailboxId },
        Accepted { id: MessageId, seq: u64 },
        Deliver { mailbox: MailboxId, seq: u64, id: MessageId, payload: Payload },
        KeyPackagesPublished { mailbox: MailboxId, available: u32 },
        KeyPackage { mailbox: MailboxId, key_package: Payload, last_resort: bool },
        KeyPackagesLow { mailbox: MailboxId, available: u32 },
        IncidentChanged { incident: IncidentId },
        Error {
            code: ErrorCode,
            message: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            id: Option<MessageId>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            mailbox: Option<MailboxId>,
        },
    }

    /// Exhaustive: a new `ServerFrame` does not compile here until it has a `ServerFrameType`.
    fn frame_type(frame: &ServerFrame) -> ServerFrameType {
        match frame {
            ServerFrame::Challenge { .. } => ServerFrameType::Challenge,
            ServerFrame::Ready { .. } => ServerFrameType::Ready,
            ServerFrame::MailboxCreated { .. } => ServerFrameType::MailboxCreated,
            ServerFrame::Subscribed { .. } => ServerFrameType::Subscribed,
            ServerFrame::Accepted { .. } => ServerFrameType::Accepted,
            ServerFrame::Deliver { .. } => ServerFrameType::Deliver,
            ServerFrame::KeyPackagesPublished { .. } => ServerFrameType::KeyPackagesPublished,
            ServerFrame::KeyPackage { .. } => ServerFrameType::KeyPackage,
            ServerFrame::KeyPackagesLow { .. } => ServerFrameType::KeyPackagesLow,
            ServerFrame::IncidentChanged { .. } => ServerFrameType::IncidentChanged,
            ServerFrame::Error { .. } => ServerFrameType::Error,
        }
    }

    #[test]
    fn server_frames_read_as_with_the_derived_deserialiser() {
        let (mailbox, id) = (MailboxId([3; 16]), MessageId([4; 16]));
        let frames = [
            ServerFrame::Challenge { protocol: 1, nonce: Nonce([5; 32]), server_time: 1_700_000_000_000 },
            ServerFrame::Ready { account: AccountId([1; 16]), device: DeviceId([2; 16]), mailbox },
            ServerFrame::MailboxCreated { mailbox },
            ServerFrame::Subscribed { mailbox },
            ServerFrame::Accepted { id, seq: 7 },
            ServerFrame::Deliver { mailbox, seq: 8, id, payload: Payload(bytes::Bytes::from_static(b"hi")) },
            ServerFrame::KeyPackagesPublished { mailbox, available: 9 },
            ServerFrame::KeyPackage { mailbox, key_package: Payload(bytes::Bytes::from_static(b"kp")), last_resort: true },
            ServerFrame::KeyPackagesLow { mailbox, available: 2 },
            ServerFrame::IncidentChanged { incident: IncidentId([6; 16]) },
            ServerFrame::error(ErrorCode::RateLimited),
            ServerFrame::error_for_message(ErrorCode::StaleEpoch, id),
            ServerFrame::error_for_mailbox(ErrorCode::IncidentResolved, mailbox),
        ];
        let mut texts = vec![
            "not json".to_owned(),
            "[]".to_owned(),
            "{}".to_owned(),
            r#"{"type":"teleport"}"#.to_owned(),
            r#"{"type":7}"#.to_owned(),
            r#"{"type":"error","code":"no_such_code","message":"m"}"#.to_owned(),
            r#"{"type":"accepted","id":"BAQEBAQEBAQEBAQEBAQEBA","seq":1,"seq":2}"#.to_owned(),
        ];
        for frame in &frames {
            let serde_json::Value::Object(object) = serde_json::to_value(frame).unwrap() else { unreachable!() };
            texts.push(serde_json::to_string(&object).unwrap());
            let mut extra = object.clone();
            extra.insert("from_a_newer_server".into(), serde_json::json!({"x": [1, 2]}));
            texts.push(serde_json::to_string(&extra).unwrap());
            for field in object.keys() {
                let mut missing = object.clone();
                missing.remove(field);
                texts.push(serde_json::to_string(&missing).unwrap());
                let mut null = object.clone();
                null.insert(field.clone(), serde_json::Value::Null);
                texts.push(serde_json::to_string(&null).unwrap());
                let mut wrong = object.clone();
                wrong.insert(field.clone(), serde_json::json!([]));
                texts.push(serde_json::to_string(&wrong).unwrap());
            }
        }
        for text in &texts {
            let ours = serde_json::from_str::<ServerFrame>(text);
            let derived = serde_json::from_str::<DerivedServerFrame>(text);
            assert_eq!(
                ours.as_ref().ok().map(|f| serde_json::to_value(f).unwrap()),
                derived.as_ref().ok().map(|f| serde_json::to_value(f).unwrap()),
                "{text}"
            );
            if let (Err(ours), Err(derived)) = (&ours, &derived) {
                let unknown = |e: &serde_json::Error| e.to_string().contains("unknown variant");
                assert_eq!(unknown(ours), unknown(derived), "{text}: {ours} / {derived}");
            }
        }
        let types: std::collections::HashSet<_> = frames.iter().map(frame_type).collect();
        assert_eq!(types.len(), 11, "one frame of each type at least");
        for frame in frames {
            assert_eq!(serde_json::from_str::<ServerFrame>(&frame.to_json()).unwrap(), frame);
        }
    }

    #[test]
    fn deliver_json_is_what_serde_writes_in_a_buffer_of_its_size() {
        for len in [0, 1, 2, 3, 4, 100, 65_535, 65_536] {
            for seq in [0, 7, u64::MAX] {
                let frame = ServerFrame::Deliver {
                    mailbox: MailboxId::random(),
                    seq,
                    id: MessageId::random(),
                    payload: Payload((0..len).map(|i| (i * 7) as u8).collect::<Vec<u8>>().into()),
                };
                let json = frame.to_json();
                assert_eq!(json, serde_json::to_string(&frame).unwrap());
                assert!(json.capacity() - json.len() <= 20, "{} bytes in {}", json.len(), json.capacity());
                assert_eq!(serde_json::from_str::<ServerFrame>(&json).unwrap(), frame);
            }
        }
    }

    #[test]
    fn error_frame_omits_absent_references() {
        assert_eq!(
            ServerFrame::error(ErrorCode::RateLimited).to_json(),
            r#"{"type":"error","code":"rate_limited","message":"too many frames; slow down"}"#
        );
    }
}
