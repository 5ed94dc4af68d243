//! The `Store` contract for enrolment, devices, mailboxes, the durable queue, MLS epochs and
//! KeyPackages: one set of behaviours, run against SQLite and PostgreSQL (`common`).

use bytes::Bytes;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, MessageId};
use sallyport_server::store::{
    self, AppendOutcome, ClaimedKeyPackage, GROUP_IDLE_MS, GroupCheck, GroupMessage, Hash32, MailboxAccess,
    Conflict, NewInvitation, NewMessage, Store, StoreError, Wakeup,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const NOW: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const QUOTA: u64 = 1_000;

// ---------------------------------------------------------------------------------------------
// Fixtures

mod common;
use common::{Fixture, new_device};

contract!(
    store: [
        contract_invitation_is_single_use,
        contract_expired_or_unknown_invitation_is_refused,
        contract_enrolment_creates_account_device_and_linked_mailbox,
        contract_second_device_joins_existing_account,
        contract_enrolment_conflicts_leave_the_invitation_unused,
        contract_revocation_is_recorded_once_in_the_feed,
        contract_unlinked_mailbox_create_conflict_and_access,
        contract_duplicate_invitation_code_conflicts,
        contract_duplicates_keep_their_first_seq_and_one_copy,
        contract_quota_refuses_the_whole_message,
        contract_commit_round_applies_acks_before_the_quota_checks,
        contract_quota_counts_what_is_queued_through_acks_and_expiry,
        contract_quota_is_exact_for_a_queue_filled_one_round_at_a_time,
        contract_unknown_mailbox_refuses_the_whole_message,
        contract_fan_out_stores_one_copy_per_recipient,
        contract_ack_deletes_only_that_copy,
        contract_pending_is_oldest_first_limited_and_unexpired,
        contract_expire_removes_expired_copies_records_and_invitations,
        contract_mailboxes_with_messages_since,
        contract_settings_are_initialised_once_and_replaceable,
        contract_batch_larger_than_the_bind_variable_limit,
        contract_listen_matches_the_backend,
        contract_first_commit_wins_and_a_competing_one_is_stale,
        contract_commit_on_an_unknown_group_records_the_next_epoch,
        contract_application_messages_are_accepted_within_the_epoch_window,
        contract_commits_for_one_epoch_in_one_batch_first_wins,
        contract_stale_message_stores_nothing,
        contract_refused_commit_does_not_advance_the_epoch,
        contract_expire_forgets_idle_groups,
        contract_a_group_is_bound_to_the_members_of_its_last_commit,
        contract_key_packages_are_claimed_once_oldest_first_then_last_resort,
        contract_key_package_limit_conflict_stores_nothing,
        contract_last_resort_key_package_is_replaced,
        contract_claim_without_key_packages_and_unknown_mailboxes,
    ],
    fixture: [
        contract_seqs_increase_across_batches_and_reopen,
        contract_notify_reaches_another_instance,
        contract_reserved_numbers_are_used_as_given_and_never_handed_out_again,
        contract_fast_lookup_reports_stored_ids_recorded_groups_and_existing_mailboxes,
        contract_concurrent_appends_of_one_id_store_it_once,
        contract_group_epochs_survive_reopen,
        contract_concurrent_commits_from_two_instances_one_wins,
        contract_concurrent_resends_of_one_commit_are_duplicates,
        contract_concurrent_claims_never_hand_out_a_key_package_twice,
    ]
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn code(n: u8) -> Hash32 {
    store::sha256(&[b'c', n])
}

fn invitation(code_hash: Hash32, account: Option<AccountId>, expires_at: i64) -> NewInvitation {
    NewInvitation {
        code_hash,
        display_name: "Dana R.".into(),
        roles: vec![Role::Staff, Role::PeerSupporter],
        account,
        created_at: NOW,
        expires_at,
    }
}

/// Enrols a device on a fresh account and returns its linked mailbox.
async fn linked_mailbox(store: &Arc<dyn Store>) -> MailboxId {
    let code_hash = store::sha256(MessageId::random().as_bytes());
    store
        .create_invitation(invitation(code_hash, None, NOW + DAY))
        .await
        .unwrap();
    store
        .redeem_invitation(&code_hash, new_device(NOW))
        .await
        .unwrap()
        .mailbox
}

async fn unlinked_mailbox(store: &Arc<dyn Store>) -> MailboxId {
    let mailbox = MailboxId::random();
    store
        .create_mailbox(&mailbox, &store::sha256(b"secret"), NOW)
        .await
        .unwrap();
    mailbox
}

fn message(to: &[MailboxId], body: &str) -> NewMessage {
    NewMessage {
        id: MessageId::random(),
        to: to.to_vec(),
        payload: Bytes::from(body.as_bytes().to_vec()),
        created_at: NOW,
        expires_at: NOW + 14 * DAY,
        group: None,
        seq: None,
    }
}

/// A fresh MLS group id hash.
fn new_group() -> Hash32 {
    store::sha256(MessageId::random().as_bytes())
}

/// A message for an MLS group: a commit or an application message framed at `epoch`.
fn group_message(
    to: &[MailboxId],
    body: &str,
    group: Hash32,
    epoch: u64,
    commit: bool,
) -> NewMessage {
    let check = GroupCheck { group, epoch, commit };
    NewMessage {
        group: Some(GroupMessage { check, sender_reads: Vec::new(), members: Vec::new() }),
        ..message(to, body)
    }
}

/// `m` as sent by a connection that reads `reads`, binding the group to `members` if a commit.
fn sent_by(reads: &[MailboxId], members: &[MailboxId], mut m: NewMessage) -> NewMessage {
    let group = m.group.as_mut().expect("a group message");
    group.sender_reads = reads.to_vec();
    group.members = members.to_vec();
    group.members.sort_unstable();
    m
}

fn commit(to: &[MailboxId], group: Hash32, epoch: u64) -> NewMessage {
    group_message(to, &format!("commit {epoch}"), group, epoch, true)
}

fn app(to: &[MailboxId], group: Hash32, epoch: u64) -> NewMessage {
    group_message(to, &format!("app {epoch}"), group, epoch, false)
}

fn stale(current: u64) -> AppendOutcome {
    AppendOutcome::StaleEpoch { current }
}

async fn append_one(store: &Arc<dyn Store>, m: &NewMessage) -> AppendOutcome {
    store.append(std::slice::from_ref(m), QUOTA).await.unwrap()[0]
}

fn kp(name: &str) -> Bytes {
    Bytes::from(format!("kp:{name}").into_bytes())
}

fn stored(outcome: &AppendOutcome) -> u64 {
    match outcome {
        AppendOutcome::Stored { seq } => *seq,
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn pending_bodies(store: &Arc<dyn Store>, mailbox: &MailboxId) -> Vec<String> {
    store
        .pending(mailbox, 10_000, NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|m| String::from_utf8(m.payload.to_vec()).unwrap())
        .collect()
}

/// Waits for a wake-up matching `pred`, polling the channel with an overall timeout.
async fn wait_for(
    rx: &mut tokio::sync::mpsc::Receiver<Wakeup>,
    pred: impl Fn(&Wakeup) -> bool,
) -> Wakeup {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let w = rx.recv().await.expect("listener channel closed");
            if pred(&w) {
                return w;
            }
        }
    })
    .await
    .expect("no matching wake-up within 10 s")
}

// ---------------------------------------------------------------------------------------------
// Enrolment and devices

async fn contract_invitation_is_single_use(store: Arc<dyn Store>) {
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    store
        .redeem_invitation(&code(1), new_device(NOW))
        .await
        .unwrap();
    let again = store.redeem_invitation(&code(1), new_device(NOW + 1)).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    assert_eq!(store.account_count().await.unwrap(), 1);
    assert_eq!(store.list_devices().await.unwrap().len(), 1);
}

async fn contract_expired_or_unknown_invitation_is_refused(store: Arc<dyn Store>) {
    store
        .create_invitation(invitation(code(1), None, NOW + HOUR))
        .await
        .unwrap();
    let late = store
        .redeem_invitation(&code(1), new_device(NOW + 2 * HOUR))
        .await;
    assert!(matches!(late, Err(StoreError::NotFound)), "{late:?}");
    let unknown = store.redeem_invitation(&code(9), new_device(NOW)).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert_eq!(store.account_count().await.unwrap(), 0);
    // Still redeemable before it expires: the failed attempt changed nothing.
    store
        .redeem_invitation(&code(1), new_device(NOW + HOUR - 1))
        .await
        .unwrap();
}

async fn contract_enrolment_creates_account_device_and_linked_mailbox(store: Arc<dyn Store>) {
    assert_eq!(store.account_count().await.unwrap(), 0);
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    let dev = new_device(NOW + 5);
    let enrolled = store
        .redeem_invitation(&code(1), dev.clone())
        .await
        .unwrap();
    assert_eq!(enrolled.account, dev.new_account);
    assert_eq!(enrolled.device, dev.device);
    assert_eq!(enrolled.mailbox, dev.mailbox);
    assert_eq!(enrolled.display_name, "Dana R.");
    assert_eq!(enrolled.roles, vec![Role::Staff, Role::PeerSupporter]);
    assert_eq!(store.account_count().await.unwrap(), 1);

    let record = store
        .device(&dev.device)
        .await
        .unwrap()
        .expect("device stored");
    assert_eq!(record.account, dev.new_account);
    assert_eq!(record.display_name, "Dana R.");
    assert_eq!(record.roles, vec![Role::Staff, Role::PeerSupporter]);
    assert_eq!(record.signing_key, dev.signing_key);
    assert_eq!(record.notification_key, dev.notification_key);
    assert_eq!(record.mailbox, dev.mailbox);
    assert_eq!(record.created_at, NOW + 5);
    assert_eq!(record.revoked_at, None);
    assert_eq!(
        store.mailbox_access(&dev.mailbox).await.unwrap(),
        Some(MailboxAccess::Linked)
    );
    assert_eq!(store.device(&DeviceId::random()).await.unwrap(), None);
    assert_eq!(store.list_devices().await.unwrap(), vec![record]);
}

async fn contract_second_device_joins_existing_account(store: Arc<dyn Store>) {
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    let first = store
        .redeem_invitation(&code(1), new_device(NOW))
        .await
        .unwrap();

    let mut second_invitation = invitation(code(2), Some(first.account), NOW + DAY);
    second_invitation.display_name = "ignored: the account keeps its name".into();
    second_invitation.roles = vec![Role::Admin];
    store.create_invitation(second_invitation).await.unwrap();
    let dev = new_device(NOW + 10);
    let second = store
        .redeem_invitation(&code(2), dev.clone())
        .await
        .unwrap();
    assert_eq!(second.account, first.account);
    assert_ne!(second.account, dev.new_account);
    assert_eq!(second.display_name, "Dana R.");
    assert_eq!(second.roles, first.roles);
    assert_ne!(second.mailbox, first.mailbox);
    assert_eq!(store.account_count().await.unwrap(), 1);

    let devices = store.list_devices().await.unwrap();
    let order: Vec<DeviceId> = devices.iter().map(|d| d.device).collect();
    assert_eq!(order, vec![second.device, first.device], "newest first");
    assert!(devices.iter().all(|d| d.account == first.account));
}

async fn contract_enrolment_conflicts_leave_the_invitation_unused(store: Arc<dyn Store>) {
    let taken = linked_mailbox(&store).await;
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    let mut dev = new_device(NOW);
    dev.mailbox = taken;
    let clash = store.redeem_invitation(&code(1), dev.clone()).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    assert_eq!(
        store.account_count().await.unwrap(),
        1,
        "the failed enrolment created nothing"
    );
    dev.mailbox = MailboxId::random();
    store
        .redeem_invitation(&code(1), dev)
        .await
        .expect("the invitation is still usable");
}

async fn contract_revocation_is_recorded_once_in_the_feed(store: Arc<dyn Store>) {
    assert_eq!(store.revocation_cursor().await.unwrap(), 0);
    assert!(store.revocations_since(0).await.unwrap().is_empty());
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    let a = store
        .redeem_invitation(&code(1), new_device(NOW))
        .await
        .unwrap();
    store
        .create_invitation(invitation(code(2), Some(a.account), NOW + DAY))
        .await
        .unwrap();
    let b = store
        .redeem_invitation(&code(2), new_device(NOW))
        .await
        .unwrap();

    let start = store.revocation_cursor().await.unwrap();
    assert!(store.revoke_device(&a.device, NOW + 100).await.unwrap());
    assert!(
        !store.revoke_device(&a.device, NOW + 200).await.unwrap(),
        "already revoked"
    );
    let missing = store.revoke_device(&DeviceId::random(), NOW).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    let feed = store.revocations_since(start).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].1, a.device);
    let after_a = store.revocation_cursor().await.unwrap();
    assert_eq!(after_a, feed[0].0);
    assert!(after_a > start);
    assert!(store.revocations_since(after_a).await.unwrap().is_empty());

    assert!(store.revoke_device(&b.device, NOW + 300).await.unwrap());
    let feed = store.revocations_since(start).await.unwrap();
    assert_eq!(
        feed.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![a.device, b.device],
        "oldest first"
    );
    assert!(feed[1].0 > feed[0].0);
    assert_eq!(
        store.revocations_since(after_a).await.unwrap(),
        vec![feed[1]]
    );

    let record = store.device(&a.device).await.unwrap().unwrap();
    assert_eq!(record.revoked_at, Some(NOW + 100));
}

async fn contract_duplicate_invitation_code_conflicts(store: Arc<dyn Store>) {
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .unwrap();
    let again = store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

async fn contract_unlinked_mailbox_create_conflict_and_access(store: Arc<dyn Store>) {
    let mailbox = MailboxId::random();
    let hash = store::sha256(b"mailbox secret");
    assert_eq!(store.mailbox_access(&mailbox).await.unwrap(), None);
    store.create_mailbox(&mailbox, &hash, NOW).await.unwrap();
    assert_eq!(
        store.mailbox_access(&mailbox).await.unwrap(),
        Some(MailboxAccess::Unlinked { secret_hash: hash, read_day: NOW - NOW.rem_euclid(DAY) })
    );
    let again = store
        .create_mailbox(&mailbox, &store::sha256(b"other"), NOW)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(Conflict::MailboxExists))),
        "{again:?}"
    );
    // A linked mailbox's id is taken as well.
    let linked = linked_mailbox(&store).await;
    let clash = store.create_mailbox(&linked, &hash, NOW).await;
    assert!(
        matches!(clash, Err(StoreError::Conflict(Conflict::MailboxExists))),
        "{clash:?}"
    );
    assert_eq!(
        store.mailbox_access(&linked).await.unwrap(),
        Some(MailboxAccess::Linked)
    );
}

// ---------------------------------------------------------------------------------------------
// The durable queue

async fn contract_seqs_increase_across_batches_and_reopen(f: &Fixture) {
    let store = f.store.clone();
    let mb = unlinked_mailbox(&store).await;
    let first: Vec<NewMessage> = (0..5).map(|i| message(&[mb], &format!("a{i}"))).collect();
    let out1 = store.append(&first, QUOTA).await.unwrap();
    let seqs1: Vec<u64> = out1.iter().map(stored).collect();
    assert!(
        seqs1.windows(2).all(|w| w[0] < w[1]),
        "batch order: {seqs1:?}"
    );
    let out2 = store
        .append(&[message(&[mb], "b0"), message(&[mb], "b1")], QUOTA)
        .await
        .unwrap();
    let seqs2: Vec<u64> = out2.iter().map(stored).collect();
    assert!(seqs2[0] > seqs1[4] && seqs2[1] > seqs2[0]);

    // Everything expires and is deleted: numbers are still never reused.
    assert_eq!(store.expire(NOW + 15 * DAY).await.unwrap(), 7);
    assert!(pending_bodies(&store, &mb).await.is_empty());
    let out3 = store.append(&[message(&[mb], "c0")], QUOTA).await.unwrap();
    let seq3 = stored(&out3[0]);
    assert!(seq3 > seqs2[1]);

    // Closed and opened again (a restart): data and the counter survive.
    store.close().await;
    let reopened = f.open_again().await;
    assert_eq!(pending_bodies(&reopened, &mb).await, vec!["c0"]);
    assert!(reopened.mailbox_access(&mb).await.unwrap().is_some());
    let out4 = reopened
        .append(&[message(&[mb], "d0")], QUOTA)
        .await
        .unwrap();
    assert!(stored(&out4[0]) > seq3);
    assert_eq!(pending_bodies(&reopened, &mb).await, vec!["c0", "d0"]);
    let dup = reopened.append(&[first[0].clone()], QUOTA).await.unwrap();
    assert_eq!(
        dup,
        vec![AppendOutcome::Stored {
            seq: stored(&dup[0])
        }],
        "its record expired"
    );
    reopened.close().await;
}

async fn contract_duplicates_keep_their_first_seq_and_one_copy(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let m1 = message(&[mb], "one");
    let m2 = message(&[mb], "two");
    let out = store
        .append(&[m1.clone(), m2.clone(), m1.clone()], QUOTA)
        .await
        .unwrap();
    let s1 = stored(&out[0]);
    let s2 = stored(&out[1]);
    assert_eq!(
        out[2],
        AppendOutcome::Duplicate { seq: s1 },
        "within one batch"
    );

    let mut resent = m2.clone();
    resent.payload = Bytes::from_static(b"different body, same id");
    let out = store
        .append(&[resent, m1.clone(), message(&[mb], "three")], QUOTA)
        .await
        .unwrap();
    assert_eq!(
        out[0],
        AppendOutcome::Duplicate { seq: s2 },
        "across batches"
    );
    assert_eq!(out[1], AppendOutcome::Duplicate { seq: s1 });
    stored(&out[2]);
    assert_eq!(
        pending_bodies(&store, &mb).await,
        vec!["one", "two", "three"]
    );

    // A duplicate is recognised even after its copy was acknowledged.
    store.ack(&[(mb, s1)]).await.unwrap();
    let out = store.append(&[m1], QUOTA).await.unwrap();
    assert_eq!(out[0], AppendOutcome::Duplicate { seq: s1 });
    assert_eq!(pending_bodies(&store, &mb).await, vec!["two", "three"]);
}

async fn contract_quota_refuses_the_whole_message(store: Arc<dyn Store>) {
    let roomy = unlinked_mailbox(&store).await;
    let full = unlinked_mailbox(&store).await;
    let out = store
        .append(&[message(&[full], "f1"), message(&[full], "f2")], 3)
        .await
        .unwrap();
    out.iter().for_each(|o| {
        stored(o);
    });
    // The third fits; the fourth, in the same batch, counts the third and is refused whole.
    let out = store
        .append(
            &[
                message(&[roomy, full], "fits"),
                message(&[roomy, full], "too many"),
                message(&[roomy], "ok"),
            ],
            3,
        )
        .await
        .unwrap();
    stored(&out[0]);
    assert_eq!(out[1], AppendOutcome::QuotaExceeded { mailbox: full });
    stored(&out[2]);
    assert_eq!(pending_bodies(&store, &roomy).await, vec!["fits", "ok"]);
    assert_eq!(
        pending_bodies(&store, &full).await,
        vec!["f1", "f2", "fits"]
    );
    // Room again after an acknowledgement.
    let first = store.pending(&full, 1, NOW).await.unwrap()[0].seq;
    store.ack(&[(full, first)]).await.unwrap();
    stored(&store.append(&[message(&[full], "f4")], 3).await.unwrap()[0]);
}

async fn contract_commit_round_applies_acks_before_the_quota_checks(store: Arc<dyn Store>) {
    let full = unlinked_mailbox(&store).await;
    let other = unlinked_mailbox(&store).await;
    let out = store
        .append(&[message(&[full], "a"), message(&[full], "b")], 2)
        .await
        .unwrap();
    let seqs: Vec<u64> = out.iter().map(stored).collect();
    // Full: one round acks "a" (and an unknown pair, ignored) and stores "c" in the room it frees;
    // "d" in the same round counts "c" and is refused.
    let c = message(&[full], "c");
    let out = store
        .commit_round(
            &[(full, seqs[0]), (other, 999_999)],
            &[c.clone(), message(&[full], "d"), message(&[other], "e")],
            2,
        )
        .await
        .unwrap();
    stored(&out[0]);
    assert_eq!(out[1], AppendOutcome::QuotaExceeded { mailbox: full });
    stored(&out[2]);
    assert_eq!(pending_bodies(&store, &full).await, vec!["b", "c"]);
    assert_eq!(pending_bodies(&store, &other).await, vec!["e"]);
    // A round of acks only, and an empty round.
    assert_eq!(store.commit_round(&[(full, seqs[1])], &[], 2).await.unwrap(), vec![]);
    assert_eq!(pending_bodies(&store, &full).await, vec!["c"]);
    assert_eq!(store.commit_round(&[], &[], 2).await.unwrap(), vec![]);
    // Re-sending "c" in a later round answers its first seq.
    let again = store.commit_round(&[], &[c], 2).await.unwrap();
    assert_eq!(again, vec![AppendOutcome::Duplicate { seq: stored(&out[0]) }]);
}

/// The quota counts the copies a mailbox holds now, whichever way the others went: acked or expired
/// (SQLite keeps the count in a column, by triggers).
async fn contract_quota_counts_what_is_queued_through_acks_and_expiry(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let mut short = message(&[mb], "short");
    short.expires_at = NOW + HOUR;
    let out = store.append(&[short, message(&[mb], "a"), message(&[mb], "b")], 3).await.unwrap();
    let seqs: Vec<u64> = out.iter().map(stored).collect();
    assert_eq!(store.append(&[message(&[mb], "full")], 3).await.unwrap()[0], AppendOutcome::QuotaExceeded { mailbox: mb });
    // An expired copy frees its place…
    assert_eq!(store.expire(NOW + 2 * HOUR).await.unwrap(), 1);
    stored(&store.append(&[message(&[mb], "c")], 3).await.unwrap()[0]);
    assert_eq!(store.append(&[message(&[mb], "full")], 3).await.unwrap()[0], AppendOutcome::QuotaExceeded { mailbox: mb });
    // …and so do acks, several in one round, an unknown and a repeated one changing nothing.
    store.ack(&[(mb, seqs[1]), (mb, seqs[2]), (mb, seqs[1]), (mb, 999_999_999)]).await.unwrap();
    let out = store.append(&[message(&[mb], "d"), message(&[mb], "e"), message(&[mb], "f")], 3).await.unwrap();
    stored(&out[0]);
    stored(&out[1]);
    assert_eq!(out[2], AppendOutcome::QuotaExceeded { mailbox: mb });
    assert_eq!(pending_bodies(&store, &mb).await, vec!["c", "d", "e"]);
    assert_eq!(store.queued(&mb).await.unwrap(), 3);
}

/// Filled one round at a time up to the quota, drained, then filled again: exactly `quota`
/// copies are taken each time. (PostgreSQL stops counting a queue in every round while what it
/// has counted and stored since leaves it under half the quota; past that it counts again.)
async fn contract_quota_is_exact_for_a_queue_filled_one_round_at_a_time(store: Arc<dyn Store>) {
    const QUOTA: u64 = 10;
    let mb = unlinked_mailbox(&store).await;
    for pass in 0..2 {
        let mut outcomes = Vec::new();
        for i in 0..QUOTA + 3 {
            outcomes.push(store.append(&[message(&[mb], &format!("p{pass}m{i}"))], QUOTA).await.unwrap().remove(0));
        }
        let stored_now = outcomes.iter().filter(|o| matches!(o, AppendOutcome::Stored { .. })).count();
        assert_eq!(stored_now as u64, QUOTA, "pass {pass}: {outcomes:?}");
        assert!(outcomes[QUOTA as usize..].iter().all(|o| *o == AppendOutcome::QuotaExceeded { mailbox: mb }));
        assert_eq!(store.queued(&mb).await.unwrap(), QUOTA);
        // Drained by acks: room for a full quota again.
        let held = store.pending(&mb, QUOTA as u32, NOW).await.unwrap();
        let acks: Vec<(MailboxId, u64)> = held.iter().map(|m| (mb, m.seq)).collect();
        store.ack(&acks).await.unwrap();
        assert_eq!(store.queued(&mb).await.unwrap(), 0);
    }
}

async fn contract_unknown_mailbox_refuses_the_whole_message(store: Arc<dyn Store>) {
    let known = unlinked_mailbox(&store).await;
    let unknown = MailboxId::random();
    let m = message(&[known, unknown], "x");
    let out = store
        .append(&[m.clone(), message(&[known], "y")], QUOTA)
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::UnknownMailbox { mailbox: unknown });
    stored(&out[1]);
    assert_eq!(pending_bodies(&store, &known).await, vec!["y"]);
    // Refused messages leave no idempotency record: a corrected retry is stored.
    let mut retry = m;
    retry.to = vec![known];
    stored(&store.append(&[retry], QUOTA).await.unwrap()[0]);
}

async fn contract_fan_out_stores_one_copy_per_recipient(store: Arc<dyn Store>) {
    let a = linked_mailbox(&store).await;
    let b = unlinked_mailbox(&store).await;
    let c = unlinked_mailbox(&store).await;
    let m = message(&[a, b, c, b], "to all");
    let seq = stored(&store.append(std::slice::from_ref(&m), QUOTA).await.unwrap()[0]);
    for mb in [a, b, c] {
        let pending = store.pending(&mb, 10, NOW).await.unwrap();
        assert_eq!(pending.len(), 1, "exactly one copy each");
        assert_eq!(pending[0].mailbox, mb);
        assert_eq!(pending[0].seq, seq);
        assert_eq!(pending[0].id, m.id);
        assert_eq!(pending[0].payload, m.payload);
    }
}

async fn contract_ack_deletes_only_that_copy(store: Arc<dyn Store>) {
    let a = unlinked_mailbox(&store).await;
    let b = unlinked_mailbox(&store).await;
    let out = store
        .append(
            &[message(&[a, b], "shared"), message(&[a], "second")],
            QUOTA,
        )
        .await
        .unwrap();
    let (s1, s2) = (stored(&out[0]), stored(&out[1]));
    store
        .ack(&[(a, s1), (MailboxId::random(), s1), (a, 999_999_999)])
        .await
        .unwrap();
    assert_eq!(pending_bodies(&store, &a).await, vec!["second"]);
    assert_eq!(pending_bodies(&store, &b).await, vec!["shared"]);
    store.ack(&[(a, s1)]).await.unwrap();
    store.ack(&[]).await.unwrap();
    store.ack(&[(a, s2), (b, s1)]).await.unwrap();
    assert!(pending_bodies(&store, &a).await.is_empty());
    assert!(pending_bodies(&store, &b).await.is_empty());
}

async fn contract_pending_is_oldest_first_limited_and_unexpired(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let other = unlinked_mailbox(&store).await;
    let mut batch: Vec<NewMessage> = (0..6).map(|i| message(&[mb], &format!("m{i}"))).collect();
    batch[1].expires_at = NOW + HOUR;
    batch.push(message(&[other], "elsewhere"));
    store.append(&batch, QUOTA).await.unwrap();
    store.append(&[message(&[mb], "m6")], QUOTA).await.unwrap();

    let page = store.pending(&mb, 3, NOW).await.unwrap();
    let bodies: Vec<&[u8]> = page.iter().map(|m| m.payload.as_ref()).collect();
    assert_eq!(bodies, vec![&b"m0"[..], b"m1", b"m2"]);
    assert!(page.windows(2).all(|w| w[0].seq < w[1].seq));

    let later = store.pending(&mb, 100, NOW + 2 * HOUR).await.unwrap();
    let bodies: Vec<String> = later
        .iter()
        .map(|m| String::from_utf8(m.payload.to_vec()).unwrap())
        .collect();
    assert_eq!(
        bodies,
        vec!["m0", "m2", "m3", "m4", "m5", "m6"],
        "the expired copy is skipped"
    );
    assert!(
        store
            .pending(&MailboxId::random(), 10, NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn contract_expire_removes_expired_copies_records_and_invitations(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let mut short = message(&[mb], "short");
    short.expires_at = NOW + HOUR;
    let long = message(&[mb], "long");
    let out = store
        .append(&[short.clone(), long.clone()], QUOTA)
        .await
        .unwrap();
    let short_seq = stored(&out[0]);

    store
        .create_invitation(invitation(code(1), None, NOW + HOUR))
        .await
        .unwrap();
    store
        .create_invitation(invitation(code(2), None, NOW + HOUR))
        .await
        .unwrap();
    store
        .redeem_invitation(&code(2), new_device(NOW))
        .await
        .unwrap();

    assert_eq!(store.expire(NOW).await.unwrap(), 0, "nothing is due yet");
    assert_eq!(store.expire(NOW + 2 * HOUR).await.unwrap(), 1);
    assert_eq!(pending_bodies(&store, &mb).await, vec!["long"]);

    // The idempotency record went with it: the id is new again. The long one's is kept.
    let out = store.append(&[short, long], QUOTA).await.unwrap();
    assert!(stored(&out[0]) > short_seq);
    assert!(matches!(out[1], AppendOutcome::Duplicate { .. }));

    // The unused expired invitation is gone (its code can be issued again); the used one stays.
    store
        .create_invitation(invitation(code(1), None, NOW + DAY))
        .await
        .expect("expired invitation deleted");
    let used = store
        .create_invitation(invitation(code(2), None, NOW + DAY))
        .await;
    assert!(matches!(used, Err(StoreError::Conflict(_))), "{used:?}");
}

async fn contract_mailboxes_with_messages_since(store: Arc<dyn Store>) {
    let a = unlinked_mailbox(&store).await;
    let b = unlinked_mailbox(&store).await;
    let mut old = message(&[a], "old");
    old.created_at = NOW - HOUR;
    store
        .append(&[old, message(&[b], "new"), message(&[b], "new 2")], QUOTA)
        .await
        .unwrap();
    assert_eq!(
        store.mailboxes_with_messages_since(NOW).await.unwrap(),
        vec![b]
    );
    let both: HashSet<MailboxId> = store
        .mailboxes_with_messages_since(NOW - HOUR)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(both, HashSet::from([a, b]));
    assert!(
        store
            .mailboxes_with_messages_since(NOW + 1)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn contract_settings_are_initialised_once_and_replaceable(store: Arc<dyn Store>) {
    assert_eq!(store.setting("vapid_key").await.unwrap(), None);
    assert_eq!(
        store.init_setting("vapid_key", b"first").await.unwrap(),
        b"first"
    );
    assert_eq!(
        store.init_setting("vapid_key", b"second").await.unwrap(),
        b"first"
    );
    assert_eq!(
        store.setting("vapid_key").await.unwrap(),
        Some(b"first".to_vec())
    );
    assert_eq!(
        store.init_setting("other", &[0, 255]).await.unwrap(),
        vec![0, 255]
    );
    store.set_setting("vapid_key", b"replaced").await.unwrap();
    store.set_setting("new", b"set").await.unwrap();
    assert_eq!(
        store.setting("vapid_key").await.unwrap(),
        Some(b"replaced".to_vec())
    );
    assert_eq!(store.init_setting("new", b"ignored").await.unwrap(), b"set");
}

async fn contract_batch_larger_than_the_bind_variable_limit(store: Arc<dyn Store>) {
    // 10,000 messages × 2 recipients: 20,000 queue rows of 6 values each, far above SQLite's
    // 32,766 bound variables per statement.
    let a = unlinked_mailbox(&store).await;
    let b = unlinked_mailbox(&store).await;
    let batch: Vec<NewMessage> = (0..10_000)
        .map(|i| message(&[a, b], &format!("{i}")))
        .collect();
    let out = store.append(&batch, 20_000).await.unwrap();
    assert_eq!(out.len(), 10_000);
    let seqs: Vec<u64> = out.iter().map(stored).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let pending = store.pending(&b, 20_000, NOW).await.unwrap();
    assert_eq!(pending.len(), 10_000);
    assert_eq!(pending[9_999].payload.as_ref(), b"9999");

    // Resending it all: every one a duplicate.
    let again = store.append(&batch, 20_000).await.unwrap();
    assert!(
        again
            .iter()
            .zip(&seqs)
            .all(|(o, s)| *o == AppendOutcome::Duplicate { seq: *s })
    );

    let acks: Vec<(MailboxId, u64)> = seqs.iter().flat_map(|s| [(a, *s), (b, *s)]).collect();
    store.ack(&acks).await.unwrap();
    assert!(store.pending(&a, 10, NOW).await.unwrap().is_empty());
    assert!(store.pending(&b, 10, NOW).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Multi-node wake-ups

async fn contract_listen_matches_the_backend(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    store.notify_mailboxes("node-a", &[mb]).await.unwrap();
    let listener = store.listen().await.unwrap();
    match store.backend() {
        "sqlite" => assert!(listener.is_none(), "SQLite is single-node"),
        _ => assert!(listener.is_some()),
    }
    // Early delivery needs one node that knows every reader: on PostgreSQL, one that took its
    // place as the single node.
    assert_eq!(store.fast_path().is_some(), store.backend() == "sqlite");
    let _place = store.take_node_place(false, PLACE_WAIT).await.unwrap();
    assert_eq!(store.fast_path().is_some(), store.backend() == "sqlite", "a node that may share the database");
}

/// How long a test waits for the node lock.
const PLACE_WAIT: Duration = Duration::from_secs(10);

async fn contract_notify_reaches_another_instance(f: &Fixture) {
    if f.store.backend() == "sqlite" {
        return;
    }
    let other = f.open_again().await;
    let mut rx = other.listen().await.unwrap().expect("PostgreSQL listens");
    let mailboxes: Vec<MailboxId> = (0..800).map(|_| MailboxId::random()).collect();
    f.store
        .notify_mailboxes("node-a", &mailboxes)
        .await
        .unwrap();
    // 800 mailboxes need several notifications; all arrive, in order.
    let mut got = Vec::new();
    while got.len() < mailboxes.len() {
        match wait_for(&mut rx, |w| matches!(w, Wakeup::Mailboxes { .. })).await {
            Wakeup::Mailboxes { node, mailboxes } => {
                assert_eq!(node, "node-a");
                got.extend(mailboxes);
            }
            other => unreachable!("{other:?}"),
        }
    }
    assert_eq!(got, mailboxes);

    // An incident's change reaches the other node, with the readers to tell.
    let incident = sallyport_protocol::IncidentId::random();
    f.store.notify_incident("node-a", &incident, &mailboxes).await.unwrap();
    let mut got = Vec::new();
    while got.len() < mailboxes.len() {
        match wait_for(&mut rx, |w| matches!(w, Wakeup::IncidentChanged { .. })).await {
            Wakeup::IncidentChanged { node, incident: which, mailboxes } => {
                assert_eq!((node.as_str(), which), ("node-a", incident));
                got.extend(mailboxes);
            }
            other => unreachable!("{other:?}"),
        }
    }
    assert_eq!(got, mailboxes);

    // A revocation on one node wakes the others.
    let code_hash = code(7);
    f.store
        .create_invitation(invitation(code_hash, None, NOW + DAY))
        .await
        .unwrap();
    let device = f
        .store
        .redeem_invitation(&code_hash, new_device(NOW))
        .await
        .unwrap()
        .device;
    assert!(f.store.revoke_device(&device, NOW).await.unwrap());
    wait_for(&mut rx, |w| *w == Wakeup::Revoked).await;
    drop(rx);
    other.close().await;
}

async fn contract_concurrent_appends_of_one_id_store_it_once(f: &Fixture) {
    let one = f.store.clone();
    let two = f.open_again().await;
    let mb = unlinked_mailbox(&one).await;
    for round in 0..5 {
        let batch: Vec<NewMessage> = (0..200)
            .map(|i| message(&[mb], &format!("{round}/{i}")))
            .collect();
        let mut reversed = batch.clone();
        reversed.reverse();
        let (x, y) = tokio::join!(one.append(&batch, 100_000), two.append(&reversed, 100_000));
        let (x, y) = (x.unwrap(), y.unwrap());
        y.iter().rev().zip(&x).for_each(|(y, x)| match (x, y) {
            (AppendOutcome::Stored { seq: a }, AppendOutcome::Duplicate { seq: b })
            | (AppendOutcome::Duplicate { seq: a }, AppendOutcome::Stored { seq: b }) => {
                assert_eq!(a, b)
            }
            other => panic!("exactly one node stores each id: {other:?}"),
        });
    }
    let pending = one.pending(&mb, 100_000, NOW).await.unwrap();
    assert_eq!(pending.len(), 5 * 200, "one copy per id");
    let ids: HashSet<MessageId> = pending.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 1_000);
    two.close().await;
}

// ---------------------------------------------------------------------------------------------
// MLS: the group epoch rule

async fn contract_a_group_is_bound_to_the_members_of_its_last_commit(store: Arc<dyn Store>) {
    let (a, b, c, d) = (
        unlinked_mailbox(&store).await,
        unlinked_mailbox(&store).await,
        unlinked_mailbox(&store).await,
        unlinked_mailbox(&store).await,
    );
    let g = new_group();
    // Not bound yet: anyone's application message goes, and binds nothing.
    stored(&append_one(&store, &sent_by(&[d], &[], app(&[a], g, 0))).await);
    // A creates the group with B and C: the first commit binds.
    stored(&append_one(&store, &sent_by(&[a], &[a, b, c], commit(&[b, c], g, 0))).await);
    stored(&append_one(&store, &sent_by(&[c], &[], app(&[a, b], g, 1))).await);
    assert_eq!(
        append_one(&store, &sent_by(&[d], &[], app(&[a], g, 1))).await,
        AppendOutcome::NotAMember,
        "D never was a member"
    );
    // A removes C; C still gets the commit but is no member afterwards.
    stored(&append_one(&store, &sent_by(&[a], &[a, b], commit(&[b, c], g, 1))).await);
    let forged = sent_by(&[c], &[c], commit(&[a, b], g, 2));
    assert_eq!(append_one(&store, &forged).await, AppendOutcome::NotAMember);
    assert_eq!(append_one(&store, &sent_by(&[c], &[], app(&[a, b], g, 2))).await, AppendOutcome::NotAMember);
    // Refused before the epoch rule: the forged commit did not take epoch 2, B's does.
    stored(&append_one(&store, &sent_by(&[b, d], &[a, b], commit(&[a], g, 2))).await);
    stored(&append_one(&store, &sent_by(&[a], &[], app(&[b], g, 3))).await);
    // A commit that names no members (an older caller) keeps the binding.
    stored(&append_one(&store, &sent_by(&[b], &[], commit(&[a], g, 3))).await);
    assert_eq!(append_one(&store, &sent_by(&[c], &[], app(&[a, b], g, 4))).await, AppendOutcome::NotAMember);
    assert_eq!(
        pending_bodies(&store, &c).await,
        vec!["commit 0", "commit 1"],
        "C got its removal and nothing after"
    );
}

async fn contract_first_commit_wins_and_a_competing_one_is_stale(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    let first = commit(&[mb], g, 0);
    let seq = stored(&append_one(&store, &first).await);
    let competing = commit(&[mb], g, 0);
    assert_eq!(append_one(&store, &competing).await, stale(1));
    // A re-sent winner is a duplicate (checked before the epoch), not stale.
    assert_eq!(
        append_one(&store, &first).await,
        AppendOutcome::Duplicate { seq }
    );
    // The loser commits again on top of the winner.
    stored(&append_one(&store, &commit(&[mb], g, 1)).await);
    assert_eq!(append_one(&store, &commit(&[mb], g, 1)).await, stale(2));
    assert_eq!(
        append_one(&store, &commit(&[mb], g, 3)).await,
        stale(2),
        "a commit from the future"
    );
    assert_eq!(
        pending_bodies(&store, &mb).await,
        vec!["commit 0", "commit 1"]
    );
    // Groups are independent.
    stored(&append_one(&store, &commit(&[mb], new_group(), 0)).await);
}

async fn contract_commit_on_an_unknown_group_records_the_next_epoch(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    stored(&append_one(&store, &commit(&[mb], g, 7)).await);
    assert_eq!(append_one(&store, &commit(&[mb], g, 7)).await, stale(8));
    stored(&append_one(&store, &commit(&[mb], g, 8)).await);
    assert_eq!(append_one(&store, &commit(&[mb], g, 8)).await, stale(9));
}

async fn contract_application_messages_are_accepted_within_the_epoch_window(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    // Unknown group: any epoch goes, and nothing is recorded.
    stored(&append_one(&store, &app(&[mb], g, 42)).await);
    stored(&append_one(&store, &app(&[mb], g, 3)).await);
    stored(&append_one(&store, &commit(&[mb], g, 9)).await); // now at 10
    let grace = sallyport_protocol::EPOCH_GRACE;
    stored(&append_one(&store, &app(&[mb], g, 10)).await);
    for back in 1..=grace {
        stored(&append_one(&store, &app(&[mb], g, 10 - back)).await);
    }
    assert_eq!(
        append_one(&store, &app(&[mb], g, 10 - grace - 1)).await,
        stale(10)
    );
    assert_eq!(append_one(&store, &app(&[mb], g, 11)).await, stale(10));
    // Application messages do not move the epoch.
    assert_eq!(append_one(&store, &commit(&[mb], g, 9)).await, stale(10));
    stored(&append_one(&store, &commit(&[mb], g, 10)).await);
}

async fn contract_commits_for_one_epoch_in_one_batch_first_wins(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    let other = new_group();
    let batch = vec![
        commit(&[mb], g, 0),
        commit(&[mb], g, 0),
        app(&[mb], g, 0),
        commit(&[mb], other, 5),
        commit(&[mb], g, 1),
        app(&[mb], g, 2),
        app(&[mb], g, 3),
        commit(&[mb], other, 5),
    ];
    let out = store.append(&batch, QUOTA).await.unwrap();
    stored(&out[0]);
    assert_eq!(out[1], stale(1));
    stored(&out[2]);
    stored(&out[3]);
    stored(&out[4]);
    stored(&out[5]);
    assert_eq!(out[6], stale(2));
    assert_eq!(out[7], stale(6));
    assert_eq!(append_one(&store, &commit(&[mb], g, 1)).await, stale(2));
    assert_eq!(append_one(&store, &commit(&[mb], other, 5)).await, stale(6));
}

async fn contract_stale_message_stores_nothing(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    stored(&append_one(&store, &commit(&[mb], g, 0)).await);
    let mut late = commit(&[mb], g, 0);
    late.payload = Bytes::from_static(b"late");
    assert_eq!(append_one(&store, &late).await, stale(1));
    assert_eq!(pending_bodies(&store, &mb).await, vec!["commit 0"]);
    // Its id was not recorded: re-sent at the right epoch, it is stored.
    late.group = commit(&[mb], g, 1).group;
    stored(&append_one(&store, &late).await);
    assert_eq!(pending_bodies(&store, &mb).await, vec!["commit 0", "late"]);
    // Nor did it take quota: a queue holding 2 with quota 3 takes exactly one more.
    let out = store
        .append(
            &[
                commit(&[mb], g, 1),
                commit(&[mb], g, 2),
                message(&[mb], "x"),
                message(&[mb], "y"),
            ],
            3,
        )
        .await
        .unwrap();
    assert_eq!(out[0], stale(2));
    stored(&out[1]);
    assert_eq!(out[2], AppendOutcome::QuotaExceeded { mailbox: mb });
}

async fn contract_refused_commit_does_not_advance_the_epoch(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    stored(&append_one(&store, &commit(&[mb], g, 0)).await);
    let nobody = MailboxId::random();
    assert_eq!(
        append_one(&store, &commit(&[mb, nobody], g, 1)).await,
        AppendOutcome::UnknownMailbox { mailbox: nobody }
    );
    let out = store.append(&[commit(&[mb], g, 1)], 1).await.unwrap();
    assert_eq!(out, vec![AppendOutcome::QuotaExceeded { mailbox: mb }]);
    // In one batch: a refused commit does not make the next one stale either.
    let fresh = new_group();
    let out = store
        .append(
            &[commit(&[nobody], fresh, 0), commit(&[mb], fresh, 0)],
            QUOTA,
        )
        .await
        .unwrap();
    assert_eq!(out[0], AppendOutcome::UnknownMailbox { mailbox: nobody });
    stored(&out[1]);
    stored(&append_one(&store, &commit(&[mb], g, 1)).await);
    assert_eq!(append_one(&store, &commit(&[mb], fresh, 0)).await, stale(1));
}

async fn contract_expire_forgets_idle_groups(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let (idle, busy) = (new_group(), new_group());
    stored(&append_one(&store, &commit(&[mb], idle, 0)).await);
    stored(&append_one(&store, &commit(&[mb], busy, 0)).await);
    // An application message keeps a group alive.
    let mut later = app(&[mb], busy, 1);
    later.created_at = NOW + 50 * DAY;
    later.expires_at = NOW + 200 * DAY;
    stored(&append_one(&store, &later).await);

    store.expire(NOW + GROUP_IDLE_MS).await.unwrap();
    assert_eq!(
        append_one(&store, &commit(&[mb], idle, 0)).await,
        stale(1),
        "not idle yet"
    );

    let now = NOW + GROUP_IDLE_MS + 1;
    store.expire(now).await.unwrap();
    let mut restart = commit(&[mb], idle, 0);
    restart.created_at = now;
    restart.expires_at = now + DAY;
    stored(&append_one(&store, &restart).await);
    let mut competing = commit(&[mb], busy, 0);
    competing.created_at = now;
    competing.expires_at = now + DAY;
    assert_eq!(
        append_one(&store, &competing).await,
        stale(1),
        "kept by its newer message"
    );
}

async fn contract_group_epochs_survive_reopen(f: &Fixture) {
    let store = f.store.clone();
    let mb = unlinked_mailbox(&store).await;
    let g = new_group();
    for epoch in 4..8 {
        stored(&append_one(&store, &commit(&[mb], g, epoch)).await);
    }
    store.close().await;
    let reopened = f.open_again().await;
    assert_eq!(append_one(&reopened, &commit(&[mb], g, 7)).await, stale(8));
    stored(&append_one(&reopened, &commit(&[mb], g, 8)).await);
    reopened.close().await;
}

async fn contract_concurrent_commits_from_two_instances_one_wins(f: &Fixture) {
    let one = f.store.clone();
    let two = f.open_again().await;
    let mb = unlinked_mailbox(&one).await;
    let groups: Vec<Hash32> = (0..4).map(|_| new_group()).collect();
    for epoch in 0..10u64 {
        // Epoch 0: the groups are unknown. The two batches name the groups in opposite orders.
        let a: Vec<NewMessage> = groups.iter().map(|&g| commit(&[mb], g, epoch)).collect();
        let mut b: Vec<NewMessage> = groups.iter().map(|&g| commit(&[mb], g, epoch)).collect();
        b.reverse();
        let (x, y) = tokio::join!(one.append(&a, QUOTA), two.append(&b, QUOTA));
        let (x, y) = (x.unwrap(), y.unwrap());
        for (x, y) in x.iter().zip(y.iter().rev()) {
            match (x, y) {
                (AppendOutcome::Stored { .. }, AppendOutcome::StaleEpoch { current })
                | (AppendOutcome::StaleEpoch { current }, AppendOutcome::Stored { .. }) => {
                    assert_eq!(*current, epoch + 1)
                }
                other => panic!("exactly one commit per epoch wins: {other:?}"),
            }
        }
    }
    assert_eq!(pending_bodies(&one, &mb).await.len(), 4 * 10);
    for &g in &groups {
        assert_eq!(append_one(&one, &commit(&[mb], g, 9)).await, stale(10));
    }
    two.close().await;
}

async fn contract_concurrent_resends_of_one_commit_are_duplicates(f: &Fixture) {
    // A client re-sends its commit through another node before the first answer arrived: the
    // copy is a duplicate of the stored commit, not a stale competitor.
    let one = f.store.clone();
    let two = f.open_again().await;
    let mb = unlinked_mailbox(&one).await;
    let g = new_group();
    for epoch in 0..10u64 {
        let batch = vec![commit(&[mb], g, epoch), app(&[mb], g, epoch)];
        let (x, y) = tokio::join!(one.append(&batch, QUOTA), two.append(&batch, QUOTA));
        let (x, y) = (x.unwrap(), y.unwrap());
        for (x, y) in x.iter().zip(&y) {
            match (x, y) {
                (AppendOutcome::Stored { seq: a }, AppendOutcome::Duplicate { seq: b })
                | (AppendOutcome::Duplicate { seq: a }, AppendOutcome::Stored { seq: b }) => {
                    assert_eq!(a, b)
                }
                other => panic!("one node stores it, the other sees a duplicate: {other:?}"),
            }
        }
    }
    assert_eq!(pending_bodies(&one, &mb).await.len(), 20);
    assert_eq!(append_one(&one, &commit(&[mb], g, 9)).await, stale(10));
    two.close().await;
}

// ---------------------------------------------------------------------------------------------
// MLS: KeyPackages

async fn contract_key_packages_are_claimed_once_oldest_first_then_last_resort(
    store: Arc<dyn Store>,
) {
    let mb = linked_mailbox(&store).await;
    let held = store
        .publish_key_packages(&mb, &[kp("0"), kp("1"), kp("2")], Some(&kp("last")), 10)
        .await
        .unwrap();
    assert_eq!(held, 3);
    assert_eq!(store.key_package_count(&mb).await.unwrap(), 3);
    for (i, left) in [(0, 2), (1, 1), (2, 0)] {
        assert_eq!(
            store.claim_key_package(&mb).await.unwrap(),
            Some(ClaimedKeyPackage {
                key_package: kp(&i.to_string()),
                last_resort: false,
                available: left,
            })
        );
    }
    for _ in 0..3 {
        assert_eq!(
            store.claim_key_package(&mb).await.unwrap(),
            Some(ClaimedKeyPackage {
                key_package: kp("last"),
                last_resort: true,
                available: 0,
            }),
            "the last-resort KeyPackage is not consumed"
        );
    }
    assert_eq!(store.key_package_count(&mb).await.unwrap(), 0);
    // Replenished: one-time ones come first again; other mailboxes are separate.
    assert_eq!(
        store
            .publish_key_packages(&mb, &[kp("3"), kp("4")], None, 10)
            .await
            .unwrap(),
        2
    );
    let other = unlinked_mailbox(&store).await;
    store
        .publish_key_packages(&other, &[kp("other")], None, 10)
        .await
        .unwrap();
    let claimed = store.claim_key_package(&mb).await.unwrap().unwrap();
    assert_eq!(
        (claimed.key_package, claimed.last_resort, claimed.available),
        (kp("3"), false, 1)
    );
    assert_eq!(store.key_package_count(&other).await.unwrap(), 1);
}

async fn contract_key_package_limit_conflict_stores_nothing(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    let four: Vec<Bytes> = (0..4).map(|i| kp(&i.to_string())).collect();
    assert_eq!(
        store
            .publish_key_packages(&mb, &four, Some(&kp("L1")), 5)
            .await
            .unwrap(),
        4
    );
    assert!(matches!(
        store
            .publish_key_packages(&mb, &[kp("a"), kp("b")], Some(&kp("L2")), 5)
            .await,
        Err(StoreError::Conflict(Conflict::KeyPackageLimit))
    ));
    assert_eq!(store.key_package_count(&mb).await.unwrap(), 4);
    assert_eq!(
        store
            .publish_key_packages(&mb, &[kp("4")], None, 5)
            .await
            .unwrap(),
        5
    );
    for i in 0..5 {
        assert_eq!(
            store
                .claim_key_package(&mb)
                .await
                .unwrap()
                .unwrap()
                .key_package,
            kp(&i.to_string())
        );
    }
    let fallback = store.claim_key_package(&mb).await.unwrap().unwrap();
    assert_eq!(
        (fallback.key_package, fallback.last_resort),
        (kp("L1"), true),
        "not replaced"
    );
}

async fn contract_last_resort_key_package_is_replaced(store: Arc<dyn Store>) {
    let mb = linked_mailbox(&store).await;
    assert_eq!(
        store
            .publish_key_packages(&mb, &[], Some(&kp("L1")), 10)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .claim_key_package(&mb)
            .await
            .unwrap()
            .unwrap()
            .key_package,
        kp("L1")
    );
    assert_eq!(
        store
            .publish_key_packages(&mb, &[], Some(&kp("L2")), 10)
            .await
            .unwrap(),
        0
    );
    // Publishing one-time ones without a last-resort one keeps it.
    assert_eq!(
        store
            .publish_key_packages(&mb, &[kp("x")], None, 10)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .claim_key_package(&mb)
            .await
            .unwrap()
            .unwrap()
            .key_package,
        kp("x")
    );
    for _ in 0..2 {
        assert_eq!(
            store.claim_key_package(&mb).await.unwrap(),
            Some(ClaimedKeyPackage {
                key_package: kp("L2"),
                last_resort: true,
                available: 0,
            })
        );
    }
    assert_eq!(store.key_package_count(&mb).await.unwrap(), 0);
}

async fn contract_claim_without_key_packages_and_unknown_mailboxes(store: Arc<dyn Store>) {
    let mb = unlinked_mailbox(&store).await;
    assert_eq!(store.claim_key_package(&mb).await.unwrap(), None);
    assert_eq!(store.key_package_count(&mb).await.unwrap(), 0);
    store
        .publish_key_packages(&mb, &[kp("only")], None, 10)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_key_package(&mb)
            .await
            .unwrap()
            .unwrap()
            .key_package,
        kp("only")
    );
    assert_eq!(
        store.claim_key_package(&mb).await.unwrap(),
        None,
        "no last-resort one"
    );

    let nobody = MailboxId::random();
    assert!(matches!(
        store
            .publish_key_packages(&nobody, &[kp("a")], Some(&kp("L")), 10)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.claim_key_package(&nobody).await.unwrap(), None);
    assert_eq!(store.key_package_count(&nobody).await.unwrap(), 0);
}

async fn contract_concurrent_claims_never_hand_out_a_key_package_twice(f: &Fixture) {
    let one = f.store.clone();
    let two = f.open_again().await;
    let mb = unlinked_mailbox(&one).await;
    let packages: Vec<Bytes> = (0..50).map(|i| kp(&i.to_string())).collect();
    one.publish_key_packages(&mb, &packages, Some(&kp("last")), 100)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..80 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .claim_key_package(&mb)
                .await
                .unwrap()
                .expect("a KeyPackage")
        }));
    }
    let mut one_time = HashSet::new();
    let mut last_resort = 0;
    for task in tasks {
        let claimed = task.await.unwrap();
        if claimed.last_resort {
            assert_eq!(claimed.key_package, kp("last"));
            last_resort += 1;
        } else {
            assert!(packages.contains(&claimed.key_package));
            assert!(
                one_time.insert(claimed.key_package.clone()),
                "handed out twice: {:?}",
                claimed.key_package
            );
        }
    }
    assert_eq!(one_time.len() + last_resort, 80);
    let left = one.key_package_count(&mb).await.unwrap() as usize;
    assert_eq!(
        one_time.len() + left,
        50,
        "each one-time KeyPackage claimed or still held"
    );
    two.close().await;
}

// ---------------------------------------------------------------------------------------------
// SQLite only

#[tokio::test]
async fn sqlite_in_memory_url_works() {
    let store = store::connect("sqlite::memory:").await.unwrap();
    let mb = unlinked_mailbox(&store).await;
    stored(
        &store
            .append(&[message(&[mb], "kept")], QUOTA)
            .await
            .unwrap()[0],
    );
    assert_eq!(pending_bodies(&store, &mb).await, vec!["kept"]);
    store.close().await;
}

#[tokio::test]
async fn sqlite_unlinked_mailbox_row_keeps_no_owner_and_only_the_day() {
    use sqlx::Connection as _;
    let f = Fixture::sqlite().await;
    let mb = MailboxId::random();
    let created = NOW + 5 * HOUR + 123;
    f.store
        .create_mailbox(&mb, &store::sha256(b"s"), created)
        .await
        .unwrap();
    f.store.close().await;

    let mut conn = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('mailboxes') ORDER BY cid")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(columns, vec!["id", "secret_hash", "created_day", "read_day", "queued"]);
    let day: i64 = sqlx::query_scalar("SELECT created_day FROM mailboxes WHERE id = ?")
        .bind(mb.as_bytes().as_slice())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(day, created - created.rem_euclid(DAY));
    conn.close().await.unwrap();
}

async fn contract_reserved_numbers_are_used_as_given_and_never_handed_out_again(f: &Fixture) {
    let _place = f.store.take_node_place(true, PLACE_WAIT).await.unwrap();
    let mb = unlinked_mailbox(&f.store).await;
    let fast = f.store.fast_path().expect("a single node has a fast path");
    let first = fast.reserve_seqs(10).await.unwrap();
    // A message numbered from the block keeps its number…
    let given = NewMessage { seq: Some(first + 3), ..message(&[mb], "given") };
    assert_eq!(append_one(&f.store, &given).await, AppendOutcome::Stored { seq: first + 3 });
    // …and one the store numbers is numbered above the whole block.
    let numbered = stored(&append_one(&f.store, &message(&[mb], "numbered")).await);
    assert!(numbered >= first + 10, "{numbered} is inside the reserved block {first}..{}", first + 10);
    assert_eq!(pending_bodies(&f.store, &mb).await, vec!["given", "numbered"]);
    // A block reserved after a restart starts above everything before it.
    f.store.close().await;
    let store = f.open_again().await;
    let _place = store.take_node_place(true, PLACE_WAIT).await.unwrap();
    let again = store.fast_path().unwrap().reserve_seqs(10).await.unwrap();
    assert!(again > numbered, "{again} <= {numbered}");
    // The block ends where it says, and the next is above it.
    let next = store.fast_path().unwrap().reserve_seqs(1 << 20).await.unwrap();
    assert!(next >= again + 10, "{next} overlaps {again}..{}", again + 10);
    let after = store.fast_path().unwrap().reserve_seqs(1).await.unwrap();
    assert!(after >= next + (1 << 20), "{after} overlaps {next}..");

    // Blocks reserved while rounds number messages of their own: no number is handed out twice.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            match i % 2 {
                0 => Err(store.fast_path().unwrap().reserve_seqs(100).await.unwrap()),
                _ => Ok(stored(&store.append(&[message(&[mb], "raced")], QUOTA).await.unwrap()[0])),
            }
        });
    }
    let (mut blocks, mut numbered) = (Vec::new(), Vec::new());
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Err(first) => blocks.push(first),
            Ok(seq) => numbered.push(seq),
        }
    }
    for seq in numbered {
        assert!(!blocks.iter().any(|&first| (first..first + 100).contains(&seq)), "{seq} is inside a reserved block: {blocks:?}");
    }
    store.close().await;
}

async fn contract_fast_lookup_reports_stored_ids_recorded_groups_and_existing_mailboxes(f: &Fixture) {
    let _place = f.store.take_node_place(true, PLACE_WAIT).await.unwrap();
    let mb = unlinked_mailbox(&f.store).await;
    let group = new_group();
    let opening = sent_by(&[mb], &[mb], commit(&[mb], group, 4));
    let seq = stored(&append_one(&f.store, &opening).await);
    let fast = f.store.fast_path().unwrap();
    let empty = fast.fast_lookup(&[], &[], &[]).await.unwrap();
    assert!(empty.stored.is_empty() && empty.groups.is_empty() && empty.mailboxes.is_empty());
    // 40,000 ids, more than SQLite binds as variables in one statement; the stored one last.
    let mut ids: Vec<MessageId> = (0..40_000).map(|_| MessageId::random()).collect();
    ids[39_999] = opening.id;
    let nobody = MailboxId::random();
    let found = fast.fast_lookup(&ids, &[group, new_group()], &[mb, nobody]).await.unwrap();
    assert_eq!(found.mailboxes, HashSet::from([mb]), "only the mailbox that exists");
    assert_eq!(found.stored, std::collections::HashMap::from([(opening.id, seq)]), "only the stored id");
    assert_eq!(found.groups.len(), 1, "only the group with a row");
    let known = &found.groups[&group];
    assert_eq!(known.epoch, Some(5));
    assert_eq!(known.members.as_deref(), Some(&[mb][..]));
    assert_eq!(known.updated_at, NOW);
}
