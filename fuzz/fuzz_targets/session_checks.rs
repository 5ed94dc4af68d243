//! What the session checks on a decoded client frame before anything reaches the store, shared by
//! the `client_frame` (JSON) and `client_binary` targets: the `auth` time window and signed
//! message, a `group_send`'s MLS framing and member list, and `publish_key_packages`' KeyPackages.

use sallyport_protocol::auth::auth_message;
use sallyport_protocol::{ClientFrame, MAX_CLOCK_SKEW_MS, MAX_KEY_PACKAGE_BYTES, MailboxId};
use sallyport_server::domain::mls::{GroupMessage, commit_members, inspect_group_envelope, is_key_package};
use sallyport_server::domain::signatures;

/// The server's wall clock for the `auth` check (2026-12-06T00:00:00Z).
const NOW: i64 = 1_796_515_200_000;
/// The origin the server's `auth` message binds.
const ORIGIN: &str = "https://sallyport.example";
/// The mailbox the fuzzed connection reads (the seeds' linked mailbox).
const READS: MailboxId = MailboxId([1; 16]);

pub fn after_decoding(frame: ClientFrame) {
    match frame {
        ClientFrame::Auth { device, nonce, timestamp, signature } => {
            // relay/session/auth.rs: the time window, then the signature over the challenge.
            let inside = signatures::signed_within(timestamp, NOW, MAX_CLOCK_SKEW_MS.unsigned_abs());
            let distance = (i128::from(timestamp) - i128::from(NOW)).abs();
            assert_eq!(inside, distance <= i128::from(MAX_CLOCK_SKEW_MS), "signed at {timestamp}");
            if inside {
                let message = auth_message(&device, &nonce, ORIGIN, timestamp);
                let _ = signatures::verifies(&[0x2a; 32], &message, signature.as_bytes());
            }
        }
        ClientFrame::GroupSend { to, payload, members, .. } => {
            // relay/session/delivery.rs `group_message`.
            let Ok(check) = inspect_group_envelope(&payload.0) else { return };
            let reads = |m: &MailboxId| *m == READS;
            if let Ok(members) = commit_members(check.commit, &to, members, reads) {
                assert!(members.windows(2).all(|w| w[0] < w[1]), "commit members are sorted, each once");
                assert!(!check.commit || members.contains(&READS), "a commit keeps its committer a member");
                let message = GroupMessage { check, sender_reads: vec![READS], members: members.clone() };
                let bound = (!members.is_empty()).then_some(members);
                assert!(message.admitted(bound.as_deref()) || !check.commit, "a commit is admitted by its own members");
                let _ = check.evaluate(None);
                let _ = check.evaluate(Some(check.epoch));
            }
        }
        ClientFrame::PublishKeyPackages { key_packages, last_resort, .. } => {
            // relay/session/mailboxes.rs `on_publish_key_packages`.
            for kp in key_packages.iter().chain(last_resort.as_ref()) {
                let _ = kp.0.len() <= MAX_KEY_PACKAGE_BYTES && is_key_package(&kp.0);
            }
        }
        ClientFrame::Send { .. }
        | ClientFrame::Ack { .. }
        | ClientFrame::CreateMailbox { .. }
        | ClientFrame::Subscribe { .. }
        | ClientFrame::ClaimKeyPackage { .. } => {}
    }
}
