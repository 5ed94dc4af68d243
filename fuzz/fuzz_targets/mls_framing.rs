//! The MLS framing the server reads as Delivery Service (domain/mls.rs): a `group_send` payload
//! (the group envelope, the MLS message's group id, epoch and content type, the Welcome that may
//! ride with a commit), the epoch rule applied to it, the group id the push sender names, and
//! whether bytes are a KeyPackage (published on the socket, or sent with a support request).
//!
//! Input: the payload bytes (an envelope `SPG1`…, or a bare MLS message such as a KeyPackage).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sallyport_protocol::group::GroupEnvelope;
use sallyport_protocol::{EPOCH_GRACE, ErrorCode, MAX_KEY_PACKAGE_BYTES};
use sallyport_server::domain::mls::{self, MAX_EPOCH};
use sallyport_server::domain::secrets::sha256;
use sallyport_server::domain::support::names_the_device;

fuzz_target!(|data: &[u8]| {
    // The envelope alone: parsing is exact, so what parses re-encodes to the same bytes.
    if let Ok(envelope) = GroupEnvelope::decode(data) {
        assert_eq!(envelope.encode(), data, "an envelope that parses re-encodes differently");
    }

    match mls::inspect_group_envelope(data) {
        Ok(check) => {
            // The push sender reads the group id again from a stored payload: it must find the
            // same group the epoch rule was applied to.
            let group = mls::group_id(data).expect("an accepted group message names its group");
            assert_eq!(sha256(&group), check.group);
            for current in [None, Some(0), Some(check.epoch), Some(check.epoch.saturating_add(EPOCH_GRACE + 1)), Some(MAX_EPOCH + 1)] {
                match check.evaluate(current) {
                    Ok(Some(next)) => {
                        assert!(check.commit && next == check.epoch + 1 && next <= MAX_EPOCH + 1, "{check:?} at {current:?}");
                    }
                    Ok(None) => assert!(!check.commit, "an accepted commit advances the epoch"),
                    Err(at) => assert_eq!(at, current.unwrap_or(0)),
                }
            }
        }
        Err(code) => assert_eq!(code, ErrorCode::InvalidMlsMessage),
    }

    // publish_key_packages (relay/session/mailboxes.rs) and a support request's KeyPackage
    // (workflows/peer_support/requests.rs): size, kind, and whether it names the device's key.
    if data.len() <= MAX_KEY_PACKAGE_BYTES && mls::is_key_package(data) {
        let key = &data[data.len().saturating_sub(32)..];
        assert!(names_the_device(data, key));
        assert!(!names_the_device(data, &[]));
    }
});
