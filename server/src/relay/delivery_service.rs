//! The MLS Delivery Service's view of group traffic: it reads a group envelope's MLS framing
//! (group id, epoch, content type; RFC 9420 §6) to order commits, and checks that published
//! KeyPackages are KeyPackages. It never has, or asks for, any key that opens content.

use crate::store::{GroupCheck, sha256};
use mls_rs::group::ContentType;
use mls_rs::{MlsMessage, MlsMessageDescription};
use sallyport_protocol::ErrorCode;
use sallyport_protocol::group::GroupEnvelope;

/// The epoch rule input for a `group_send` payload, or `invalid_mls_message`.
pub fn inspect_group_envelope(payload: &[u8]) -> Result<GroupCheck, ErrorCode> {
    let invalid = ErrorCode::InvalidMlsMessage;
    let (message, welcome) = GroupEnvelope::parse(payload).map_err(|_| invalid)?;
    let message = MlsMessage::from_bytes(message).map_err(|_| invalid)?;
    let (group_id, epoch, content_type) = match message.description() {
        MlsMessageDescription::PrivateProtocolMessage { group_id, epoch_id, content_type } => {
            (group_id, epoch_id, content_type)
        }
        MlsMessageDescription::PublicProtocolMessage { group_id, epoch_id, content_type, .. } => {
            (group_id, epoch_id, content_type)
        }
        _ => return Err(invalid),
    };
    let commit = content_type == ContentType::Commit;
    if let Some(welcome) = welcome {
        // Only a commit adds members, so only a commit carries a Welcome.
        let welcome = MlsMessage::from_bytes(welcome).map_err(|_| invalid)?;
        if !commit || !matches!(welcome.description(), MlsMessageDescription::Welcome { .. }) {
            return Err(invalid);
        }
    }
    Ok(GroupCheck { group: sha256(group_id), epoch, commit })
}

/// The MLS group id of a group envelope already accepted by `inspect_group_envelope` (the push
/// sender names the conversation with it), or `None` if it does not parse.
pub fn group_id(payload: &[u8]) -> Option<Vec<u8>> {
    let (message, _) = GroupEnvelope::parse(payload).ok()?;
    match MlsMessage::from_bytes(message).ok()?.description() {
        MlsMessageDescription::PrivateProtocolMessage { group_id, .. }
        | MlsMessageDescription::PublicProtocolMessage { group_id, .. } => Some(group_id.to_vec()),
        _ => None,
    }
}

/// Whether `bytes` is an MLS KeyPackage message.
pub fn is_key_package(bytes: &[u8]) -> bool {
    MlsMessage::from_bytes(bytes).is_ok_and(|m| matches!(m.description(), MlsMessageDescription::KeyPackage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_group_message() {
        assert_eq!(inspect_group_envelope(b"garbage"), Err(ErrorCode::InvalidMlsMessage));
        let env = GroupEnvelope { message: vec![0, 1, 0, 2, 9, 9], welcome: None }.encode();
        assert_eq!(inspect_group_envelope(&env), Err(ErrorCode::InvalidMlsMessage));
        assert!(!is_key_package(b"\x00\x01\x00\x05"));
    }
}
