//! The planning half of a group-commit round, shared by both backends: given what the database
//! holds (ids stored before, queue lengths, groups' epochs and bound members), decide in memory
//! which messages of a batch are duplicates, which are refused (not a member, stale epoch, quota,
//! unknown recipient) and which are stored, with their queue rows and the groups' new epochs and
//! members. The backends only read and write.

use super::queue::{AppendOutcome, NewMessage};
use super::Hash32;
use sallyport_protocol::{MailboxId, MessageId};
use std::collections::{HashMap, HashSet};

/// The batch's message ids, each once.
pub fn distinct_ids(batch: &[NewMessage]) -> Vec<MessageId> {
    let mut seen = HashSet::with_capacity(batch.len());
    batch
        .iter()
        .map(|m| m.id)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// Every recipient of a message not already stored, each once.
pub fn distinct_recipients(
    batch: &[NewMessage],
    existing: &HashMap<MessageId, u64>,
) -> Vec<MailboxId> {
    let mut seen = HashSet::new();
    batch
        .iter()
        .filter(|m| !existing.contains_key(&m.id))
        .flat_map(|m| m.to.iter().copied())
        .filter(|mb| seen.insert(*mb))
        .collect()
}

/// Every group named in the batch, each once, sorted by id (the lock order on PostgreSQL),
/// with the `created_at` of its first message (for a placeholder row).
pub fn distinct_groups(batch: &[NewMessage]) -> Vec<(Hash32, i64)> {
    let mut groups: HashMap<Hash32, i64> = HashMap::new();
    for m in batch {
        if let Some(g) = &m.group {
            groups.entry(g.check.group).or_insert(m.created_at);
        }
    }
    let mut groups: Vec<(Hash32, i64)> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|g| g.0);
    groups
}

/// What the database holds for one of the batch's groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupState {
    /// The recorded epoch (`None`: not known).
    pub epoch: Option<u64>,
    /// The mailboxes the group is bound to (`None`: not bound).
    pub members: Option<Vec<MailboxId>>,
}

/// A group row to write back after `append`: (group, epoch to record, newest `created_at`,
/// members to bind it to — `None` keeps what the row holds).
pub type GroupWrite = (Hash32, Option<i64>, i64, Option<Vec<MailboxId>>);

/// (epoch after the batch, newest `created_at`, members bound by a commit of the batch).
type PendingGroupWrite = (Option<u64>, i64, Option<Vec<MailboxId>>);

/// The decisions of one `append`, made in memory from what the database said: which messages
/// are duplicates, which are refused, and which get stored (with what sequence numbers).
pub struct AppendPlan {
    outcomes: Vec<AppendOutcome>,
    /// (batch index, sequence number) of each message to store, in batch order; the sequence
    /// number is 0 until `assign`.
    pub to_store: Vec<(usize, i64)>,
    /// (batch index, batch index of the earlier message with the same id that is being stored).
    repeats: Vec<(usize, usize)>,
    /// Each stored message's recipients without repeats, by batch index.
    recipients: HashMap<usize, Vec<MailboxId>>,
    /// Every group with a stored message.
    group_writes: HashMap<Hash32, PendingGroupWrite>,
}

impl AppendPlan {
    /// `existing`: ids stored before, with their sequence numbers. `queued`: every recipient
    /// that exists, with the number of messages in its queue. `groups`: the recorded state of
    /// the batch's groups (a group missing is neither known nor bound).
    ///
    /// Per message, in batch order: a repeated id is a duplicate; then the member binding and
    /// the epoch rule (an earlier commit of the batch may have advanced the epoch and bound new
    /// members); then recipients and quota. Only a message that passes everything consumes
    /// quota, its id, its epoch change and its binding.
    pub fn new(
        batch: &[NewMessage],
        existing: &HashMap<MessageId, u64>,
        queued: &HashMap<MailboxId, u64>,
        quota: u64,
        groups: &HashMap<Hash32, GroupState>,
    ) -> Self {
        let mut queued = queued.clone();
        let mut groups = groups.clone();
        let mut plan = AppendPlan {
            outcomes: Vec::with_capacity(batch.len()),
            to_store: Vec::new(),
            repeats: Vec::new(),
            recipients: HashMap::new(),
            group_writes: HashMap::new(),
        };
        let mut first_stored: HashMap<MessageId, usize> = HashMap::new();
        for (index, m) in batch.iter().enumerate() {
            if let Some(&seq) = existing.get(&m.id) {
                plan.outcomes.push(AppendOutcome::Duplicate { seq });
                continue;
            }
            if let Some(&first) = first_stored.get(&m.id) {
                plan.outcomes.push(AppendOutcome::Duplicate { seq: 0 });
                plan.repeats.push((index, first));
                continue;
            }
            // (group, its epoch once this message is stored)
            let mut group_epoch = None;
            if let Some(g) = &m.group {
                let state = groups.get(&g.check.group);
                if !g.admitted(state.and_then(|s| s.members.as_deref())) {
                    plan.outcomes.push(AppendOutcome::NotAMember);
                    continue;
                }
                let current = state.and_then(|s| s.epoch);
                match g.check.evaluate(current) {
                    Ok(next) => group_epoch = Some((g.check.group, next.or(current))),
                    Err(current) => {
                        plan.outcomes.push(AppendOutcome::StaleEpoch { current });
                        continue;
                    }
                }
            }
            let mut seen = HashSet::new();
            let to: Vec<MailboxId> =
                m.to.iter().copied().filter(|mb| seen.insert(*mb)).collect();
            if let Some(&mailbox) = to.iter().find(|mb| !queued.contains_key(mb)) {
                plan.outcomes
                    .push(AppendOutcome::UnknownMailbox { mailbox });
                continue;
            }
            if let Some(&mailbox) = to.iter().find(|mb| queued[*mb] >= quota) {
                plan.outcomes.push(AppendOutcome::QuotaExceeded { mailbox });
                continue;
            }
            for mb in &to {
                *queued.get_mut(mb).expect("checked above") += 1;
            }
            if let Some((group, epoch)) = group_epoch {
                // A stored commit binds the group to its members (none named: binds nothing).
                let bind = m
                    .group
                    .as_ref()
                    .filter(|g| g.check.commit && !g.members.is_empty())
                    .map(|g| g.members.clone());
                let state = groups.entry(group).or_default();
                state.epoch = epoch;
                let write = plan
                    .group_writes
                    .entry(group)
                    .or_insert((epoch, m.created_at, None));
                write.0 = epoch;
                write.1 = write.1.max(m.created_at);
                if let Some(members) = bind {
                    state.members = Some(members.clone());
                    write.2 = Some(members);
                }
            }
            first_stored.insert(m.id, index);
            plan.outcomes.push(AppendOutcome::Stored { seq: 0 });
            plan.to_store.push((index, 0));
            plan.recipients.insert(index, to);
        }
        plan
    }

    /// Gives the messages to store these sequence numbers, in batch order.
    pub fn assign(&mut self, seqs: &[i64]) {
        assert_eq!(seqs.len(), self.to_store.len());
        for (entry, &seq) in self.to_store.iter_mut().zip(seqs) {
            entry.1 = seq;
            self.outcomes[entry.0] = AppendOutcome::Stored { seq: seq as u64 };
        }
    }

    /// The group rows to write back, sorted by group id: every group with a stored message,
    /// with its epoch after the batch, the newest `created_at` of its stored messages and the
    /// members its last stored commit bound it to.
    pub fn group_writes(&self) -> Vec<GroupWrite> {
        let mut writes: Vec<GroupWrite> = self
            .group_writes
            .iter()
            .map(|(group, (epoch, at, members))| (*group, epoch.map(|e| e as i64), *at, members.clone()))
            .collect();
        writes.sort_unstable_by_key(|w| w.0);
        writes
    }

    /// (recipient, batch index, sequence number) for every queue row to insert.
    pub fn copies(&self) -> Vec<(MailboxId, usize, i64)> {
        self.to_store
            .iter()
            .flat_map(|&(index, seq)| {
                self.recipients[&index]
                    .iter()
                    .map(move |&mb| (mb, index, seq))
            })
            .collect()
    }

    pub fn finish(mut self) -> Vec<AppendOutcome> {
        for &(index, first) in &self.repeats {
            let seq = match self.outcomes[first] {
                AppendOutcome::Stored { seq } | AppendOutcome::Duplicate { seq } => seq,
                _ => unreachable!("a repeat follows a stored message"),
            };
            self.outcomes[index] = AppendOutcome::Duplicate { seq };
        }
        self.outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{GroupCheck, GroupMessage};
    use bytes::Bytes;

    fn message(to: &[MailboxId]) -> NewMessage {
        NewMessage {
            id: MessageId::random(),
            to: to.to_vec(),
            payload: Bytes::from_static(b"x"),
            created_at: 10,
            expires_at: 1_000,
            group: None,
            seq: None,
        }
    }

    fn group_message(to: MailboxId, group: Hash32, epoch: u64, commit: bool, at: i64) -> NewMessage {
        let check = GroupCheck { group, epoch, commit };
        let group = GroupMessage { check, sender_reads: Vec::new(), members: Vec::new() };
        NewMessage { group: Some(group), created_at: at, ..message(&[to]) }
    }

    fn plan(batch: &[NewMessage], existing: &HashMap<MessageId, u64>, queued: &[(MailboxId, u64)], quota: u64) -> AppendPlan {
        AppendPlan::new(batch, existing, &queued.iter().copied().collect(), quota, &HashMap::new())
    }

    /// Assigns 101, 102, … and returns the outcomes.
    fn outcomes(mut plan: AppendPlan) -> Vec<AppendOutcome> {
        let seqs: Vec<i64> = (101..).take(plan.to_store.len()).collect();
        plan.assign(&seqs);
        plan.finish()
    }

    #[test]
    fn quota_counts_messages_earlier_in_the_batch() {
        let (a, b) = (MailboxId::random(), MailboxId::random());
        let batch = [message(&[a]), message(&[a, b]), message(&[b])];
        let p = plan(&batch, &HashMap::new(), &[(a, 1), (b, 0)], 2);
        assert_eq!(
            outcomes(p),
            vec![
                AppendOutcome::Stored { seq: 101 },
                AppendOutcome::QuotaExceeded { mailbox: a },
                AppendOutcome::Stored { seq: 102 },
            ],
            "a refused message takes no quota from anyone"
        );
    }

    #[test]
    fn a_message_to_an_unknown_mailbox_is_refused_whole() {
        let (a, nobody) = (MailboxId::random(), MailboxId::random());
        let batch = [message(&[a, nobody]), message(&[a, a])];
        let p = plan(&batch, &HashMap::new(), &[(a, 0)], 10);
        assert_eq!(p.copies().len(), 1, "repeated recipients are stored once");
        assert_eq!(outcomes(p), vec![AppendOutcome::UnknownMailbox { mailbox: nobody }, AppendOutcome::Stored { seq: 101 }]);
    }

    #[test]
    fn duplicate_ids_answer_with_the_first_sequence_number() {
        let a = MailboxId::random();
        let earlier = message(&[a]);
        let first = message(&[a]);
        let again = NewMessage { payload: Bytes::from_static(b"other"), ..first.clone() };
        let existing = HashMap::from([(earlier.id, 7)]);
        let batch = [earlier.clone(), first, again, message(&[a])];
        let p = plan(&batch, &existing, &[(a, 0)], 10);
        assert_eq!(p.to_store.len(), 2, "only the new ids are stored");
        assert_eq!(
            outcomes(p),
            vec![
                AppendOutcome::Duplicate { seq: 7 },
                AppendOutcome::Stored { seq: 101 },
                AppendOutcome::Duplicate { seq: 101 },
                AppendOutcome::Stored { seq: 102 },
            ]
        );
        assert_eq!(distinct_ids(&batch).len(), 3);
    }

    #[test]
    fn one_commit_per_epoch_wins_within_a_batch() {
        let a = MailboxId::random();
        let g = [7u8; 32];
        let batch = [
            group_message(a, g, 4, true, 20),  // wins: 4 → 5
            group_message(a, g, 4, true, 21),  // lost the race for epoch 4
            group_message(a, g, 5, false, 22), // an application message in the new epoch
            group_message(a, g, 5, true, 23),  // the next commit: 5 → 6
            group_message(a, g, 1, false, 24), // too old for the grace window
        ];
        let epochs = HashMap::from([(g, GroupState { epoch: Some(4), members: None })]);
        let mut p = AppendPlan::new(&batch, &HashMap::new(), &HashMap::from([(a, 0)]), 10, &epochs);
        assert_eq!(p.group_writes(), vec![(g, Some(6), 23, None)], "the epoch after the batch and its newest message");
        p.assign(&[1, 2, 3]);
        assert_eq!(
            p.finish(),
            vec![
                AppendOutcome::Stored { seq: 1 },
                AppendOutcome::StaleEpoch { current: 5 },
                AppendOutcome::Stored { seq: 2 },
                AppendOutcome::Stored { seq: 3 },
                AppendOutcome::StaleEpoch { current: 6 },
            ]
        );
    }

    #[test]
    fn a_refused_commit_does_not_advance_the_epoch() {
        let (a, full) = (MailboxId::random(), MailboxId::random());
        let g = [1u8; 32];
        let batch = [
            NewMessage { to: vec![full], ..group_message(a, g, 0, true, 5) },
            group_message(a, g, 0, true, 6),
        ];
        let p = AppendPlan::new(&batch, &HashMap::new(), &HashMap::from([(a, 0), (full, 3)]), 3, &HashMap::new());
        assert_eq!(p.group_writes(), vec![(g, Some(1), 6, None)]);
        assert_eq!(
            outcomes(p),
            vec![AppendOutcome::QuotaExceeded { mailbox: full }, AppendOutcome::Stored { seq: 101 }],
            "the first commit was refused for quota, so the second is the first for epoch 0"
        );
        assert_eq!(distinct_groups(&batch), vec![(g, 5)]);
    }

    #[test]
    fn a_bound_group_refuses_a_removed_member_and_a_commit_rebinds_it() {
        let (a, b, c) = (MailboxId::random(), MailboxId::random(), MailboxId::random());
        let g = [3u8; 32];
        let from = |reads: &[MailboxId], members: &[MailboxId], m: NewMessage| {
            let mut group = m.group.clone().expect("a group message");
            group.sender_reads = reads.to_vec();
            group.members = members.to_vec();
            NewMessage { group: Some(group), ..m }
        };
        let mut ab = vec![a, b];
        ab.sort_unstable();
        let batch = [
            from(&[a], &ab, group_message(b, g, 2, true, 30)), // A removes C: bound to A and B
            from(&[c], &[c], group_message(a, g, 3, true, 31)), // C's forged commit for the next epoch
            from(&[c], &[], group_message(a, g, 3, false, 32)), // C's application message
            from(&[b], &[], group_message(a, g, 3, false, 33)), // B keeps talking
        ];
        let state = GroupState { epoch: Some(2), members: Some(vec![a, b, c]) };
        let queued = HashMap::from([(a, 0), (b, 0), (c, 0)]);
        let p = AppendPlan::new(&batch, &HashMap::new(), &queued, 10, &HashMap::from([(g, state)]));
        assert_eq!(p.group_writes(), vec![(g, Some(3), 33, Some(ab))]);
        assert_eq!(
            outcomes(p),
            vec![
                AppendOutcome::Stored { seq: 101 },
                AppendOutcome::NotAMember,
                AppendOutcome::NotAMember,
                AppendOutcome::Stored { seq: 102 },
            ],
            "the binding the first commit made already counts for the rest of the batch"
        );
    }
}
