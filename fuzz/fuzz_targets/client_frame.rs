//! A client's WebSocket text frame, through what the server does with one: `decode_client_frame`
//! (the session's only decoder) and then the checks the session makes on the decoded frame before
//! anything reaches the store — the `auth` time window and signed message, a `group_send`'s MLS
//! framing and member list, and `publish_key_packages`' KeyPackages.
//!
//! Input: the frame's text, as a WebSocket text message carries it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sallyport_protocol::{ErrorCode, MAX_FRAME_BYTES, ServerFrame};

#[path = "session_checks.rs"]
mod session_checks;
use session_checks::after_decoding;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text message is UTF-8 (tungstenite refuses others) and at most MAX_FRAME_BYTES.
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.len() > MAX_FRAME_BYTES {
        return;
    }
    match sallyport_protocol::decode_client_frame(text.as_bytes()) {
        Ok(frame) => {
            // What the server decoded is what a client meant: its own encoding decodes to it again.
            let again = sallyport_protocol::decode_client_frame(frame.to_json().as_bytes());
            assert_eq!(again.as_ref(), Ok(&frame), "a decoded frame does not survive its own encoding");
            after_decoding(frame);
        }
        Err((code, id)) => {
            assert!(
                matches!(code, ErrorCode::UnknownFrameType | ErrorCode::PayloadTooLarge | ErrorCode::MalformedFrame),
                "decode_client_frame answered {code:?}"
            );
            let answer = match id {
                Some(id) => ServerFrame::error_for_message(code, id),
                None => ServerFrame::error(code),
            };
            let _ = answer.to_json();
        }
    }
});
