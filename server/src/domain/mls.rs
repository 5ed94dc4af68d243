//! What the server reads of MLS, as its Delivery Service (RFC 9420 §14): the framing of a group
//! message (group id, epoch, content type; §6), the rule that orders commits, the rule that binds
//! a group to its members' mailboxes, and whether bytes are a KeyPackage. It never has, or asks
//! for, any key that opens content.

use super::secrets::{Hash32, sha256};
use mls_rs::group::ContentType;
use mls_rs::{MlsMessage, MlsMessageDescription};
use sallyport_protocol::group::GroupEnvelope;
use sallyport_protocol::{ErrorCode, MAX_RECIPIENTS, MailboxId};

/// The largest epoch a `GroupCheck` may carry: its successor still fits a BIGINT column, and
/// nothing computed from it can overflow. A real group never gets near it.
pub const MAX_EPOCH: u64 = i64::MAX as u64 - 1;

/// The ordering rule for one group message: the first commit for the group's current epoch wins
/// and advances it; any other commit is stale. Other messages are accepted for the current epoch
/// and `EPOCH_GRACE` epochs before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCheck {
    /// SHA-256 of the MLS group id: the server needs equality, not the id.
    pub group: Hash32,
    /// The epoch in the message's framing.
    pub epoch: u64,
    /// Whether the message is a commit.
    pub commit: bool,
}

impl GroupCheck {
    /// Applies the rule given the group's recorded epoch (`None`: the server has not seen the
    /// group, or forgot it after inactivity). `Ok(Some(e))`: record `e` as the new epoch;
    /// `Err(current)`: refused, the group is at `current`.
    pub fn evaluate(&self, current: Option<u64>) -> Result<Option<u64>, u64> {
        // The epoch comes from the client: refuse what cannot be recorded, before any arithmetic.
        if self.epoch > MAX_EPOCH {
            return Err(current.unwrap_or(0));
        }
        let next = self.epoch + 1;
        match (self.commit, current) {
            (true, None) => Ok(Some(next)),
            (true, Some(c)) if c == self.epoch => Ok(Some(next)),
            (true, Some(c)) => Err(c),
            (false, None) => Ok(None),
            (false, Some(c)) if self.epoch <= c && self.epoch.saturating_add(sallyport_protocol::EPOCH_GRACE) >= c => Ok(None),
            (false, Some(c)) => Err(c),
        }
    }
}

/// A `group_send` as the storing transaction judges it: the epoch rule's input, and what the
/// member binding needs. A group the server has bound (to the `members` of its last accepted
/// commit) accepts a message only from a connection that reads one of those mailboxes; a stored
/// commit binds the group to its own `members` (removed members are not among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMessage {
    pub check: GroupCheck,
    /// Every mailbox the sending connection reads, taken from the session's memory when the
    /// frame arrived. Compared with the group's members in the storing transaction and never
    /// stored: it is the one place where a connection's mailboxes meet, and it must not outlive
    /// the message's commit round.
    pub sender_reads: Vec<MailboxId>,
    /// For a commit: the group's members once it takes effect, sorted, each once (see
    /// `commit_members`). Empty for other messages.
    pub members: Vec<MailboxId>,
}

impl GroupMessage {
    /// The binding rule, given the group's bound members (`None`: not bound yet — a group the
    /// server does not know, forgot, or knew before bindings existed — and the message passes).
    pub fn admitted(&self, bound: Option<&[MailboxId]>) -> bool {
        bound.is_none_or(|members| self.sender_reads.iter().any(|m| members.contains(m)))
    }
}

/// Checks the `members` of a `group_send` and returns them sorted, each once. A commit must name
/// its members: each is a recipient or a mailbox the sender reads (the server binds the group to
/// what it already sees as the commit's recipients plus the committer), and at least one is read
/// by the sender (the committer stays a member: binding the group to others only would lock it
/// out). Any other message names none. Otherwise `bad_recipients`.
pub fn commit_members(
    commit: bool,
    to: &[MailboxId],
    mut members: Vec<MailboxId>,
    reads: impl Fn(&MailboxId) -> bool,
) -> Result<Vec<MailboxId>, ErrorCode> {
    members.sort_unstable();
    members.dedup();
    if !commit {
        return if members.is_empty() { Ok(members) } else { Err(ErrorCode::BadRecipients) };
    }
    let valid = !members.is_empty()
        && members.len() <= MAX_RECIPIENTS + 1
        && members.iter().all(|m| to.contains(m) || reads(m))
        && members.iter().any(&reads);
    if valid { Ok(members) } else { Err(ErrorCode::BadRecipients) }
}

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

    #[test]
    fn the_first_commit_for_the_current_epoch_wins() {
        let commit = |epoch| GroupCheck { group: [0; 32], epoch, commit: true };
        assert_eq!(commit(0).evaluate(None), Ok(Some(1)));
        assert_eq!(commit(4).evaluate(Some(4)), Ok(Some(5)));
        assert_eq!(commit(4).evaluate(Some(5)), Err(5), "a competing commit for an old epoch is stale");
        assert_eq!(commit(6).evaluate(Some(5)), Err(5), "a commit from the future is stale too");
    }

    #[test]
    fn application_messages_are_accepted_for_recent_epochs() {
        let app = |epoch| GroupCheck { group: [0; 32], epoch, commit: false };
        assert_eq!(app(9).evaluate(None), Ok(None));
        assert_eq!(app(10).evaluate(Some(10)), Ok(None));
        assert_eq!(app(7).evaluate(Some(10)), Ok(None));
        assert_eq!(app(6).evaluate(Some(10)), Err(10));
        assert_eq!(app(11).evaluate(Some(10)), Err(10));
    }

    #[test]
    fn a_bound_group_admits_only_readers_of_its_members() {
        let (a, b, c) = (MailboxId([1; 16]), MailboxId([2; 16]), MailboxId([3; 16]));
        let check = GroupCheck { group: [0; 32], epoch: 1, commit: false };
        let from = |reads: Vec<MailboxId>| GroupMessage { check, sender_reads: reads, members: Vec::new() };
        assert!(from(vec![c]).admitted(None), "an unbound group admits anyone");
        assert!(from(vec![c, a]).admitted(Some(&[a, b])), "one of the connection's mailboxes is a member");
        assert!(!from(vec![c]).admitted(Some(&[a, b])), "a removed member is refused");
        assert!(!from(vec![]).admitted(Some(&[a, b])));
    }

    #[test]
    fn a_commit_names_its_members_and_stays_among_them() {
        let (a, b, c, x) = (MailboxId([1; 16]), MailboxId([2; 16]), MailboxId([3; 16]), MailboxId([9; 16]));
        let reads = |m: &MailboxId| *m == a;
        // A removes C: C gets the commit but is no member afterwards.
        assert_eq!(commit_members(true, &[b, c], vec![b, a, a], reads), Ok(vec![a, b]));
        assert_eq!(commit_members(true, &[b, c], vec![], reads), Err(ErrorCode::BadRecipients), "a commit names them");
        assert_eq!(commit_members(true, &[b, c], vec![b, c], reads), Err(ErrorCode::BadRecipients), "the committer is one");
        assert_eq!(commit_members(true, &[b, c], vec![a, x], reads), Err(ErrorCode::BadRecipients), "no stranger");
        assert_eq!(commit_members(false, &[b], vec![], reads), Ok(vec![]));
        assert_eq!(commit_members(false, &[b], vec![a], reads), Err(ErrorCode::BadRecipients), "only a commit binds");
    }

    #[test]
    fn absurd_epochs_are_refused_without_overflow() {
        let commit = GroupCheck { group: [0; 32], epoch: u64::MAX, commit: true };
        assert_eq!(commit.evaluate(None), Err(0));
        assert_eq!(commit.evaluate(Some(3)), Err(3));
        let app = GroupCheck { group: [0; 32], epoch: u64::MAX, commit: false };
        assert_eq!(app.evaluate(Some(3)), Err(3));
        assert_eq!(app.evaluate(None), Err(0), "an epoch that cannot be recorded is refused even for a new group");
        let last = GroupCheck { group: [0; 32], epoch: MAX_EPOCH, commit: true };
        assert_eq!(last.evaluate(Some(MAX_EPOCH)), Ok(Some(MAX_EPOCH + 1)));
        assert_eq!(GroupCheck { epoch: MAX_EPOCH + 1, ..last }.evaluate(Some(MAX_EPOCH)), Err(MAX_EPOCH));
    }
}
