//! The binary encoding of the hot frames (`send`, `group_send`, `ack`; `accepted`, `deliver`) on
//! a connection that negotiated the WebSocket subprotocol [`BINARY_SUBPROTOCOL`]: one postcard
//! value per WebSocket binary message, ids as their raw bytes, payloads unencoded. Every other
//! frame stays JSON text; protocol/README.md §"Binary encoding" gives the byte layout.

use crate::{ClientFrame, ErrorCode, MAX_PAYLOAD_BYTES, MailboxId, MessageId, Payload, ServerFrame};
use bytes::Bytes;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

/// The WebSocket subprotocol (`Sec-WebSocket-Protocol`) a client offers to get the binary
/// encoding; a connection without it speaks JSON only.
pub const BINARY_SUBPROTOCOL: &str = "sallyport.bin.v1";

/// How a connection encodes its hot frames, fixed at the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// Every frame is JSON text (no subprotocol negotiated).
    #[default]
    Json,
    /// The hot frames are binary messages ([`BINARY_SUBPROTOCOL`]); the others JSON text.
    Binary,
}

impl Encoding {
    /// The encoding a connection negotiated, from the subprotocol the server selected.
    pub fn from_subprotocol(selected: Option<&str>) -> Self {
        match selected {
            Some(BINARY_SUBPROTOCOL) => Encoding::Binary,
            _ => Encoding::Json,
        }
    }
}

/// One WebSocket data message, text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    Text(String),
    Binary(Vec<u8>),
}

// The first byte of a binary message is its tag (postcard's variant index, one byte while there
// are fewer than 128). Client and server tags are separate spaces, as they are separate enums.
const TAG_SEND: u8 = 0; // then 1, ack
const TAG_GROUP_SEND: u8 = 2;
const CLIENT_TAGS: u8 = 3;
const SERVER_TAGS: u8 = 2; // accepted, deliver

/// Largest postcard varint of a u64 (and so of a length).
const MAX_VARINT: usize = 10;

// ---- the postcard values. Serialised from borrowed frames, deserialised borrowing the
// message, so neither direction copies a payload more than once. The variant order is the tag.

#[derive(Serialize)]
enum ClientOut<'a> {
    Send { id: &'a [u8; 16], to: Ids<'a>, payload: Raw<'a> },
    Ack { mailbox: &'a [u8; 16], seq: u64 },
    GroupSend { id: &'a [u8; 16], to: Ids<'a>, payload: Raw<'a>, members: Ids<'a> },
}

#[derive(Deserialize)]
enum ClientIn<'a> {
    Send {
        id: [u8; 16],
        to: Vec<[u8; 16]>,
        #[serde(borrow)]
        payload: &'a [u8],
    },
    Ack {
        mailbox: [u8; 16],
        seq: u64,
    },
    GroupSend {
        id: [u8; 16],
        to: Vec<[u8; 16]>,
        #[serde(borrow)]
        payload: &'a [u8],
        members: Vec<[u8; 16]>,
    },
}

#[derive(Serialize)]
enum ServerOut<'a> {
    Accepted { id: &'a [u8; 16], seq: u64 },
    Deliver { mailbox: &'a [u8; 16], seq: u64, id: &'a [u8; 16], payload: Raw<'a> },
}

#[derive(Deserialize)]
enum ServerIn<'a> {
    Accepted {
        id: [u8; 16],
        seq: u64,
    },
    Deliver {
        mailbox: [u8; 16],
        seq: u64,
        id: [u8; 16],
        #[serde(borrow)]
        payload: &'a [u8],
    },
}

/// Bytes as one postcard byte string (length, then the bytes), not a sequence of numbers.
struct Raw<'a>(&'a [u8]);

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Mailbox ids as a postcard sequence of 16-byte arrays.
struct Ids<'a>(&'a [MailboxId]);

impl Serialize for Ids<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for id in self.0 {
            seq.serialize_element(&id.0)?;
        }
        seq.end()
    }
}

fn mailboxes(raw: Vec<[u8; 16]>) -> Vec<MailboxId> {
    // Same layout: collected in place, no second allocation.
    raw.into_iter().map(MailboxId).collect()
}

fn encode<T: Serialize>(value: &T, bound: usize) -> Vec<u8> {
    let mut buf = vec![0u8; bound];
    let len = postcard::to_slice(value, &mut buf).expect("the bound covers every hot frame").len();
    buf.truncate(len);
    buf
}

fn ids_bound(ids: &[MailboxId]) -> usize {
    MAX_VARINT + ids.len() * MailboxId::LEN
}

impl ClientFrame {
    /// This frame's binary form if it is a hot frame (`send`, `group_send`, `ack`), else `None`
    /// (it travels as JSON text on every connection).
    pub fn to_binary(&self) -> Option<Vec<u8>> {
        Some(match self {
            ClientFrame::Send { id, to, payload } => encode(
                &ClientOut::Send { id: &id.0, to: Ids(to), payload: Raw(&payload.0) },
                1 + 16 + ids_bound(to) + MAX_VARINT + payload.0.len(),
            ),
            ClientFrame::Ack { mailbox, seq } => {
                encode(&ClientOut::Ack { mailbox: &mailbox.0, seq: *seq }, 1 + 16 + MAX_VARINT)
            }
            ClientFrame::GroupSend { id, to, payload, members } => encode(
                &ClientOut::GroupSend { id: &id.0, to: Ids(to), payload: Raw(&payload.0), members: Ids(members) },
                1 + 16 + ids_bound(to) + MAX_VARINT + payload.0.len() + ids_bound(members),
            ),
            _ => return None,
        })
    }

    /// The message that carries this frame on a connection with `encoding`.
    pub fn to_wire(&self, encoding: Encoding) -> WireMessage {
        wire(encoding, || self.to_binary(), || self.to_json())
    }
}

impl ServerFrame {
    /// This frame's binary form if it is a hot frame (`accepted`, `deliver`), else `None`.
    pub fn to_binary(&self) -> Option<Vec<u8>> {
        Some(match self {
            ServerFrame::Accepted { id, seq } => {
                encode(&ServerOut::Accepted { id: &id.0, seq: *seq }, 1 + 16 + MAX_VARINT)
            }
            ServerFrame::Deliver { mailbox, seq, id, payload } => encode(
                &ServerOut::Deliver { mailbox: &mailbox.0, seq: *seq, id: &id.0, payload: Raw(&payload.0) },
                1 + 16 + MAX_VARINT + 16 + MAX_VARINT + payload.0.len(),
            ),
            _ => return None,
        })
    }

    /// The message that carries this frame on a connection with `encoding`.
    pub fn to_wire(&self, encoding: Encoding) -> WireMessage {
        wire(encoding, || self.to_binary(), || self.to_json())
    }
}

/// A payload borrowed from `message`, as a slice of it (no copy), within the size limit.
fn payload_of(message: &Bytes, payload: &[u8]) -> Option<Payload> {
    (payload.len() <= MAX_PAYLOAD_BYTES).then(|| Payload(message.slice_ref(payload)))
}

/// Decodes one binary client message, with the stable errors of [`crate::decode_client_frame`]:
/// `unknown_frame_type` for a tag this server does not know, `payload_too_large`, and
/// `malformed_frame` for anything else (trailing bytes included). The message id of a `send` or
/// `group_send` is returned with the error where its bytes are there. The payload is a slice of
/// `message`, not a copy.
pub fn decode_client_binary(message: &Bytes) -> Result<ClientFrame, (ErrorCode, Option<MessageId>)> {
    let Some(&tag) = message.first() else { return Err((ErrorCode::MalformedFrame, None)) };
    if tag >= CLIENT_TAGS {
        return Err((ErrorCode::UnknownFrameType, None));
    }
    let id = match tag {
        TAG_SEND | TAG_GROUP_SEND => message.get(1..17).and_then(MessageId::from_slice),
        _ => None,
    };
    let malformed = (ErrorCode::MalformedFrame, id);
    let frame = match postcard::take_from_bytes::<ClientIn>(message) {
        Ok((frame, [])) => frame,
        Ok(_) | Err(_) => return Err(malformed),
    };
    let too_large = (ErrorCode::PayloadTooLarge, id);
    Ok(match frame {
        ClientIn::Send { id, to, payload } => ClientFrame::Send {
            id: MessageId(id),
            to: mailboxes(to),
            payload: payload_of(message, payload).ok_or(too_large)?,
        },
        ClientIn::Ack { mailbox, seq } => ClientFrame::Ack { mailbox: MailboxId(mailbox), seq },
        ClientIn::GroupSend { id, to, payload, members } => ClientFrame::GroupSend {
            id: MessageId(id),
            to: mailboxes(to),
            payload: payload_of(message, payload).ok_or(too_large)?,
            members: mailboxes(members),
        },
    })
}

/// A binary server message this client cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedBinaryFrame;

impl std::fmt::Display for MalformedBinaryFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed binary server frame")
    }
}

impl std::error::Error for MalformedBinaryFrame {}

/// Decodes one binary server message; `Ok(None)` for a tag this client does not know (a newer
/// server may add hot frames within `sallyport.bin.v1`, as it may add JSON frame types: skip it).
/// The payload of a `deliver` is a slice of `message`, not a copy.
pub fn decode_server_binary(message: &Bytes) -> Result<Option<ServerFrame>, MalformedBinaryFrame> {
    let Some(&tag) = message.first() else { return Err(MalformedBinaryFrame) };
    if tag >= SERVER_TAGS {
        return Ok(None);
    }
    let frame = match postcard::take_from_bytes::<ServerIn>(message) {
        Ok((frame, [])) => frame,
        Ok(_) | Err(_) => return Err(MalformedBinaryFrame),
    };
    Ok(Some(match frame {
        ServerIn::Accepted { id, seq } => ServerFrame::Accepted { id: MessageId(id), seq },
        ServerIn::Deliver { mailbox, seq, id, payload } => ServerFrame::Deliver {
            mailbox: MailboxId(mailbox),
            seq,
            id: MessageId(id),
            payload: payload_of(message, payload).ok_or(MalformedBinaryFrame)?,
        },
    }))
}

/// A hot frame's binary form on a binary connection; JSON text otherwise.
fn wire(encoding: Encoding, binary: impl FnOnce() -> Option<Vec<u8>>, json: impl FnOnce() -> String) -> WireMessage {
    match encoding {
        Encoding::Binary => binary().map(WireMessage::Binary),
        Encoding::Json => None,
    }
    .unwrap_or_else(|| WireMessage::Text(json()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytes(b: &[u8]) -> Bytes {
        Bytes::copy_from_slice(b)
    }

    #[test]
    fn the_byte_layout_is_the_documented_one() {
        // protocol/README.md, "Binary encoding": these exact bytes are its examples.
        let send = ClientFrame::Send {
            id: MessageId([7; 16]),
            to: vec![MailboxId([1; 16])],
            payload: Payload(Bytes::from_static(b"hi")),
        };
        let mut expected = vec![0u8];
        expected.extend([7; 16]);
        expected.push(1);
        expected.extend([1; 16]);
        expected.extend([2, b'h', b'i']);
        assert_eq!(send.to_binary().unwrap(), expected);

        let ack = ClientFrame::Ack { mailbox: MailboxId([3; 16]), seq: 300 };
        let mut expected = vec![1u8];
        expected.extend([3; 16]);
        expected.extend([0xac, 0x02]);
        assert_eq!(ack.to_binary().unwrap(), expected);

        let deliver = ServerFrame::Deliver {
            mailbox: MailboxId([3; 16]),
            seq: 1,
            id: MessageId([4; 16]),
            payload: Payload(Bytes::from_static(b"x")),
        };
        let mut expected = vec![1u8];
        expected.extend([3; 16]);
        expected.push(1);
        expected.extend([4; 16]);
        expected.extend([1, b'x']);
        assert_eq!(deliver.to_binary().unwrap(), expected);

        let accepted = ServerFrame::Accepted { id: MessageId([4; 16]), seq: 127 };
        let mut expected = vec![0u8];
        expected.extend([4; 16]);
        expected.push(127);
        assert_eq!(accepted.to_binary().unwrap(), expected);
    }

    #[test]
    fn only_hot_frames_have_a_binary_form() {
        let subscribe = ClientFrame::Subscribe { mailbox: MailboxId([1; 16]), secret: crate::MailboxSecret([2; 32]) };
        assert_eq!(subscribe.to_binary(), None);
        assert!(matches!(subscribe.to_wire(Encoding::Binary), WireMessage::Text(_)));
        assert_eq!(ServerFrame::error(ErrorCode::RateLimited).to_binary(), None);
        let ack = ClientFrame::Ack { mailbox: MailboxId([3; 16]), seq: 1 };
        assert!(matches!(ack.to_wire(Encoding::Binary), WireMessage::Binary(_)));
        assert_eq!(ack.to_wire(Encoding::Json), WireMessage::Text(ack.to_json()));
    }

    #[test]
    fn decoded_payloads_are_slices_of_the_message() {
        let send = ClientFrame::Send {
            id: MessageId([7; 16]),
            to: vec![MailboxId([1; 16])],
            payload: Payload(Bytes::from(vec![9u8; 1000])),
        };
        let message = Bytes::from(send.to_binary().unwrap());
        let ClientFrame::Send { payload, .. } = decode_client_binary(&message).unwrap() else { unreachable!() };
        let range = message.as_ptr_range();
        assert!(range.contains(&payload.0.as_ptr()), "the payload points into the message");
    }

    #[test]
    fn client_decode_errors_are_classified() {
        let id = MessageId([7; 16]);
        let send = |payload: Vec<u8>| {
            ClientFrame::Send { id, to: vec![MailboxId([1; 16])], payload: Payload(payload.into()) }.to_binary().unwrap()
        };
        assert_eq!(decode_client_binary(&bytes(b"")), Err((ErrorCode::MalformedFrame, None)));
        assert_eq!(decode_client_binary(&bytes(&[3])), Err((ErrorCode::UnknownFrameType, None)));
        assert_eq!(decode_client_binary(&bytes(&[0x80, 0x01])), Err((ErrorCode::UnknownFrameType, None)));
        assert_eq!(decode_client_binary(&bytes(&[1, 1, 2])), Err((ErrorCode::MalformedFrame, None)));
        // Truncated after the id: the error names the id.
        let whole = send(b"hello".to_vec());
        assert_eq!(decode_client_binary(&bytes(&whole[..20])), Err((ErrorCode::MalformedFrame, Some(id))));
        assert_eq!(decode_client_binary(&bytes(&whole[..10])), Err((ErrorCode::MalformedFrame, None)));
        let mut trailing = whole.clone();
        trailing.push(0);
        assert_eq!(decode_client_binary(&bytes(&trailing)), Err((ErrorCode::MalformedFrame, Some(id))));
        // A length beyond the message.
        let mut lying = whole[..whole.len() - 6].to_vec();
        lying.extend([0xff, 0xff, 0x03]);
        assert_eq!(decode_client_binary(&bytes(&lying)), Err((ErrorCode::MalformedFrame, Some(id))));
        assert!(decode_client_binary(&bytes(&send(vec![0; MAX_PAYLOAD_BYTES]))).is_ok());
        assert_eq!(
            decode_client_binary(&bytes(&send(vec![0; MAX_PAYLOAD_BYTES + 1]))),
            Err((ErrorCode::PayloadTooLarge, Some(id)))
        );
    }

    #[test]
    fn server_decode_skips_unknown_tags_and_refuses_garbage() {
        assert_eq!(decode_server_binary(&bytes(&[2, 1, 2, 3])), Ok(None));
        assert_eq!(decode_server_binary(&bytes(b"")), Err(MalformedBinaryFrame));
        assert_eq!(decode_server_binary(&bytes(&[0, 1])), Err(MalformedBinaryFrame));
        let accepted = ServerFrame::Accepted { id: MessageId([4; 16]), seq: 5 }.to_binary().unwrap();
        let mut trailing = accepted.clone();
        trailing.push(0);
        assert_eq!(decode_server_binary(&bytes(&trailing)), Err(MalformedBinaryFrame));
    }

    fn id16() -> impl Strategy<Value = [u8; 16]> {
        any::<[u8; 16]>()
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD_BYTES).prop_map(|mut v| {
                v.resize(v.len().max(MAX_PAYLOAD_BYTES - 3), 0xa5);
                v
            }),
        ]
        .prop_map(|v| Payload(v.into()))
    }

    fn mailbox_list(max: usize) -> impl Strategy<Value = Vec<MailboxId>> {
        proptest::collection::vec(id16().prop_map(MailboxId), 0..max)
    }

    fn hot_client_frame() -> impl Strategy<Value = ClientFrame> {
        prop_oneof![
            (id16(), mailbox_list(300), payload()).prop_map(|(id, to, payload)| ClientFrame::Send {
                id: MessageId(id),
                to,
                payload
            }),
            (id16(), any::<u64>()).prop_map(|(m, seq)| ClientFrame::Ack { mailbox: MailboxId(m), seq }),
            (id16(), mailbox_list(8), payload(), mailbox_list(8)).prop_map(|(id, to, payload, members)| {
                ClientFrame::GroupSend { id: MessageId(id), to, payload, members }
            }),
        ]
    }

    fn hot_server_frame() -> impl Strategy<Value = ServerFrame> {
        prop_oneof![
            (id16(), any::<u64>()).prop_map(|(id, seq)| ServerFrame::Accepted { id: MessageId(id), seq }),
            (id16(), any::<u64>(), id16(), payload()).prop_map(|(m, seq, id, payload)| ServerFrame::Deliver {
                mailbox: MailboxId(m),
                seq,
                id: MessageId(id),
                payload
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every hot frame reads back the same from its JSON form and from its binary form.
        #[test]
        fn json_and_binary_forms_decode_to_the_same_client_frame(frame in hot_client_frame()) {
            let from_json = crate::decode_client_frame(frame.to_json().as_bytes()).unwrap();
            let from_binary = decode_client_binary(&Bytes::from(frame.to_binary().unwrap())).unwrap();
            prop_assert_eq!(&from_json, &frame);
            prop_assert_eq!(&from_binary, &frame);
        }

        #[test]
        fn json_and_binary_forms_decode_to_the_same_server_frame(frame in hot_server_frame()) {
            let from_json: ServerFrame = serde_json::from_str(&frame.to_json()).unwrap();
            let from_binary = decode_server_binary(&Bytes::from(frame.to_binary().unwrap())).unwrap().unwrap();
            prop_assert_eq!(&from_json, &frame);
            prop_assert_eq!(&from_binary, &frame);
        }

        /// The decoders never panic, whatever the bytes.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let message = Bytes::from(data);
            let _ = decode_client_binary(&message);
            let _ = decode_server_binary(&message);
        }

        /// A binary frame is never larger than its JSON form, so the frame size limit that fits
        /// the largest JSON `send` fits its binary form too.
        #[test]
        fn a_binary_frame_is_smaller_than_its_json_form(frame in hot_client_frame()) {
            prop_assert!(frame.to_binary().unwrap().len() < frame.to_json().len());
        }
    }
}
