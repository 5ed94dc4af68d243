//! A client's WebSocket binary message on a connection that negotiated `sallyport.bin.v1`,
//! through what the server does with one: `decode_client_binary` and its error classification,
//! then the same checks on the decoded frame as `client_frame` (`session_checks.rs`).
//!
//! Input: the message's bytes, as a WebSocket binary message carries them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sallyport_protocol::{ClientFrame, ErrorCode, MAX_FRAME_BYTES, MAX_PAYLOAD_BYTES, ServerFrame};

#[path = "session_checks.rs"]
mod session_checks;
use session_checks::after_decoding;

fuzz_target!(|data: &[u8]| {
    // tungstenite refuses a message over MAX_FRAME_BYTES before the session sees it.
    if data.len() > MAX_FRAME_BYTES {
        return;
    }
    let message = bytes::Bytes::copy_from_slice(data);
    match sallyport_protocol::decode_client_binary(&message) {
        Ok(frame) => {
            // Only the hot frames have a binary form, and what the server decoded is what the
            // client meant: its binary encoding decodes to it again (not necessarily to the same
            // bytes: a reader takes a varint written longer than needed), and so does its JSON form.
            assert!(matches!(frame, ClientFrame::Send { .. } | ClientFrame::GroupSend { .. } | ClientFrame::Ack { .. }));
            let binary = bytes::Bytes::from(frame.to_binary().expect("a hot frame"));
            assert!(binary.len() <= data.len(), "a decoded frame re-encodes longer");
            let again = sallyport_protocol::decode_client_binary(&binary);
            assert_eq!(again.as_ref(), Ok(&frame), "a decoded frame does not survive its own binary encoding");
            let json = sallyport_protocol::decode_client_frame(frame.to_json().as_bytes());
            assert_eq!(json.as_ref(), Ok(&frame), "the JSON form of a binary frame decodes to another frame");
            if let ClientFrame::Send { payload, .. } | ClientFrame::GroupSend { payload, .. } = &frame {
                assert!(payload.0.len() <= MAX_PAYLOAD_BYTES);
            }
            after_decoding(frame);
        }
        Err((code, id)) => {
            assert!(
                matches!(code, ErrorCode::UnknownFrameType | ErrorCode::PayloadTooLarge | ErrorCode::MalformedFrame),
                "decode_client_binary answered {code:?}"
            );
            // The id is named only where a send's or group_send's id bytes are.
            if let Some(id) = id {
                assert!(matches!(data[0], 0 | 2) && data[1..17] == id.0);
            }
            let answer = match id {
                Some(id) => ServerFrame::error_for_message(code, id),
                None => ServerFrame::error(code),
            };
            let _ = answer.to_json();
        }
    }
});
