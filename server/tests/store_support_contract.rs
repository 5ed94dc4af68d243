//! The `SupportStore` contract on SQLite (always) and PostgreSQL (a fresh database per test on
//! `SALLYPORT_TEST_POSTGRES_URL`; `SALLYPORT_REQUIRE_POSTGRES=1` fails instead of skipping): a
//! request is created whole, claimed by exactly one caller, escalates once per level even with two
//! nodes claiming timers at the same moment, is handed off only by whoever holds it (one of two
//! racing hand-offs wins), and closing forgets it and its unlinked mailbox.

use bytes::Bytes;
use sallyport_protocol::support::Urgency;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, MailboxId, MessageId, RequestId};
use sallyport_server::store::support::{ClaimOutcome, HandOffOutcome, NewSupportRequest, RequestState};
use sallyport_server::store::{self, Conflict, MailboxAccess, NewMessage, PushSubscription, Store, StoreError};
use std::sync::Arc;

const NOW: i64 = 1_700_000_040_000;
const MINUTE: i64 = 60_000;
const STEP: i64 = 5 * MINUTE;
const DAY: i64 = 24 * 60 * MINUTE;

mod common;
use common::Fixture;

contract!(fixture: [
    a_request_is_created_whole_with_its_unlinked_mailbox_and_key_package,
    exactly_one_concurrent_claim_wins,
    each_escalation_level_fires_once_across_two_nodes,
    closing_forgets_the_request_and_its_mailbox,
    unlinked_mailboxes_have_their_own_push_subscriptions,
    a_hand_off_moves_the_claim_only_from_its_current_holder,
    a_holder_closes_only_what_they_still_hold,
    unread_unlinked_mailboxes_expire_with_their_queue_unless_they_serve_a_request,
]);

fn new_request(urgency: Urgency) -> NewSupportRequest {
    NewSupportRequest {
        id: RequestId::random(),
        urgency,
        mailbox: MailboxId::random(),
        secret_hash: store::sha256(b"secret"),
        key_package: Bytes::from_static(b"a key package"),
        created_at: NOW,
        first_due_at: NOW + STEP,
        step_ms: STEP,
    }
}

/// An account for `claimed_by` (a foreign key), made through enrolment.
async fn account(store: &Arc<dyn Store>) -> AccountId {
    common::enrol(store, "Sam", vec![sallyport_protocol::rest::Role::PeerSupporter], NOW).await.account
}

async fn a_request_is_created_whole_with_its_unlinked_mailbox_and_key_package(f: &Fixture) {
    let s = &*f.store;
    let r = new_request(Urgency::Now);
    s.create_support_request(r.clone()).await.unwrap();
    let record = s.support_request(&r.id).await.unwrap().expect("stored");
    assert_eq!((record.urgency, record.state, record.level, record.created_at), (Urgency::Now, RequestState::Waiting, 0, NOW));
    assert_eq!(record.mailbox, r.mailbox);
    assert_eq!(record.secret_hash, r.secret_hash);
    assert_eq!(f.store.mailbox_access(&r.mailbox).await.unwrap(), Some(MailboxAccess::Unlinked { secret_hash: r.secret_hash, read_day: day(NOW) }));
    let claimed = f.store.claim_key_package(&r.mailbox).await.unwrap().expect("the KeyPackage");
    assert!(claimed.last_resort, "kept for a retry");
    assert_eq!(claimed.key_package, r.key_package);
    assert_eq!(s.waiting_support_requests().await.unwrap().len(), 1);

    // The same mailbox again: nothing of the second request is stored.
    let mut again = new_request(Urgency::Week);
    again.mailbox = r.mailbox;
    assert!(matches!(s.create_support_request(again.clone()).await, Err(StoreError::Conflict(Conflict::MailboxExists))));
    assert!(s.support_request(&again.id).await.unwrap().is_none());
    assert_eq!(s.waiting_support_requests().await.unwrap().len(), 1);
}

async fn exactly_one_concurrent_claim_wins(f: &Fixture) {
    let r = new_request(Urgency::Today);
    f.store.create_support_request(r.clone()).await.unwrap();
    let mut accounts = Vec::new();
    for _ in 0..10 {
        accounts.push(account(&f.store).await);
    }
    let claims = accounts.iter().map(|a| {
        let store = f.store.clone();
        let (id, a) = (r.id, *a);
        tokio::spawn(async move { store.claim_support_request(&id, &a, NOW + 1).await.unwrap() })
    });
    let outcomes: Vec<ClaimOutcome> = futures::future::join_all(claims).await.into_iter().map(Result::unwrap).collect();
    let winners: Vec<usize> = (0..10).filter(|i| matches!(outcomes[*i], ClaimOutcome::Won { .. })).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == ClaimOutcome::AlreadyClaimed).count(), 9);
    assert_eq!(outcomes[winners[0]], ClaimOutcome::Won { mailbox: r.mailbox, urgency: Urgency::Today });
    let record = f.store.support_request(&r.id).await.unwrap().unwrap();
    assert_eq!(record.state, RequestState::Accepted { by: accounts[winners[0]] });
    assert!(f.store.waiting_support_requests().await.unwrap().is_empty());
    assert!(f.store.claim_due_escalations(NOW + 10 * STEP, 100).await.unwrap().is_empty(), "a claimed request does not escalate");
    assert_eq!(f.store.claim_support_request(&RequestId::random(), &accounts[0], NOW).await.unwrap(), ClaimOutcome::NotFound);
}

async fn each_escalation_level_fires_once_across_two_nodes(f: &Fixture) {
    let other = store::connect(&f.url).await.expect("a second node");
    let requests: Vec<NewSupportRequest> = (0..5).map(|_| new_request(Urgency::Now)).collect();
    for r in &requests {
        f.store.create_support_request(r.clone()).await.unwrap();
    }
    assert!(f.store.claim_due_escalations(NOW + STEP - 1, 100).await.unwrap().is_empty(), "not before it is due");
    for (at, level) in [(NOW + STEP, 1u8), (NOW + 2 * STEP, 2)] {
        let (a, b) = tokio::join!(f.store.claim_due_escalations(at, 2), other.claim_due_escalations(at, 2));
        let mut fired = [a.unwrap(), b.unwrap()].concat();
        // Batches of 2: whatever is left goes to the next passes.
        loop {
            let more = f.store.claim_due_escalations(at, 2).await.unwrap();
            if more.is_empty() {
                break;
            }
            fired.extend(more);
        }
        let mut ids: Vec<RequestId> = fired.iter().map(|e| e.request).collect();
        ids.sort();
        let mut want: Vec<RequestId> = requests.iter().map(|r| r.id).collect();
        want.sort();
        assert_eq!(ids, want, "every request escalates once at level {level}");
        assert!(fired.iter().all(|e| e.level == level && e.urgency == Urgency::Now));
        assert!(other.claim_due_escalations(at, 100).await.unwrap().is_empty());
        assert_eq!(f.store.support_request(&requests[0].id).await.unwrap().unwrap().level, level);
    }
    assert!(f.store.claim_due_escalations(NOW + 100 * STEP, 100).await.unwrap().is_empty(), "level 2 is the last");
    other.close().await;
}

async fn closing_forgets_the_request_and_its_mailbox(f: &Fixture) {
    let s = &*f.store;
    let r = new_request(Urgency::Now);
    s.create_support_request(r.clone()).await.unwrap();
    let sub = PushSubscription { endpoint: "https://push.example/x".into(), p256dh: vec![4; 65], auth: vec![1; 16] };
    s.add_mailbox_push_subscription(&r.mailbox, &sub).await.unwrap();
    assert!(s.close_support_request(&r.id, None).await.unwrap());
    assert!(s.support_request(&r.id).await.unwrap().is_none());
    assert_eq!(f.store.mailbox_access(&r.mailbox).await.unwrap(), None);
    assert!(f.store.claim_key_package(&r.mailbox).await.unwrap().is_none());
    assert!(s.mailbox_push_subscriptions_for(&[r.mailbox]).await.unwrap().is_empty());
    assert!(s.claim_due_escalations(NOW + 10 * STEP, 100).await.unwrap().is_empty(), "its timer went with it");
    assert!(!s.close_support_request(&r.id, None).await.unwrap());
}

async fn unlinked_mailboxes_have_their_own_push_subscriptions(f: &Fixture) {
    let s = &*f.store;
    let (a, b) = (new_request(Urgency::Now), new_request(Urgency::Week));
    s.create_support_request(a.clone()).await.unwrap();
    s.create_support_request(b.clone()).await.unwrap();
    let sub = |n: u8| PushSubscription { endpoint: format!("https://push.example/{n}"), p256dh: vec![4; 65], auth: vec![n; 16] };
    s.add_mailbox_push_subscription(&a.mailbox, &sub(1)).await.unwrap();
    s.add_mailbox_push_subscription(&b.mailbox, &sub(2)).await.unwrap();
    let mut got = s.mailbox_push_subscriptions_for(&[a.mailbox, b.mailbox]).await.unwrap();
    got.sort_by(|x, y| x.1.endpoint.cmp(&y.1.endpoint));
    assert_eq!(got, vec![(a.mailbox, sub(1)), (b.mailbox, sub(2))]);
    for n in 3..7 {
        s.add_mailbox_push_subscription(&a.mailbox, &sub(n)).await.unwrap();
    }
    assert!(matches!(s.add_mailbox_push_subscription(&a.mailbox, &sub(9)).await, Err(StoreError::Conflict(_))), "at most 5");
    assert!(matches!(s.add_mailbox_push_subscription(&MailboxId::random(), &sub(8)).await, Err(StoreError::NotFound)));
    assert!(s.delete_mailbox_push_subscription(&sub(1).endpoint).await.unwrap());
    assert!(!s.delete_mailbox_push_subscription(&sub(1).endpoint).await.unwrap());
    assert_eq!(s.mailbox_push_subscriptions_for(&[a.mailbox]).await.unwrap().len(), 4);
    assert!(s.mailbox_push_subscriptions_for(&[]).await.unwrap().is_empty());
}

async fn a_hand_off_moves_the_claim_only_from_its_current_holder(f: &Fixture) {
    let s = &*f.store;
    let (pat, sam, dana, lee) = (account(&f.store).await, account(&f.store).await, account(&f.store).await, account(&f.store).await);
    let r = new_request(Urgency::Now);
    s.create_support_request(r.clone()).await.unwrap();
    assert_eq!(s.hand_off_support_request(&r.id, &pat, &sam).await.unwrap(), HandOffOutcome::NotClaimed, "nobody holds it yet");
    assert_eq!(s.support_request(&r.id).await.unwrap().unwrap().state, RequestState::Waiting);
    assert!(matches!(s.claim_support_request(&r.id, &pat, NOW + 1).await.unwrap(), ClaimOutcome::Won { .. }));

    assert_eq!(s.hand_off_support_request(&r.id, &sam, &dana).await.unwrap(), HandOffOutcome::NotClaimer, "only from the holder");
    assert_eq!(s.hand_off_support_request(&r.id, &pat, &sam).await.unwrap(), HandOffOutcome::HandedOff);
    assert_eq!(s.support_request(&r.id).await.unwrap().unwrap().state, RequestState::Accepted { by: sam });
    assert_eq!(s.hand_off_support_request(&r.id, &pat, &dana).await.unwrap(), HandOffOutcome::NotClaimer, "Pat no longer holds it");
    assert_eq!(s.support_request(&r.id).await.unwrap().unwrap().state, RequestState::Accepted { by: sam });
    assert!(s.waiting_support_requests().await.unwrap().is_empty(), "a handed-off request does not go back to the queue");

    // Two hand-offs from Sam at once: exactly one applies.
    let racers = [dana, lee].map(|to| {
        let store = f.store.clone();
        let id = r.id;
        tokio::spawn(async move { store.hand_off_support_request(&id, &sam, &to).await.unwrap() })
    });
    let outcomes: Vec<HandOffOutcome> = futures::future::join_all(racers).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == HandOffOutcome::HandedOff).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == HandOffOutcome::NotClaimer).count(), 1, "{outcomes:?}");
    let holder = if outcomes[0] == HandOffOutcome::HandedOff { dana } else { lee };
    assert_eq!(s.support_request(&r.id).await.unwrap().unwrap().state, RequestState::Accepted { by: holder });

    assert!(s.close_support_request(&r.id, None).await.unwrap());
    assert_eq!(s.hand_off_support_request(&r.id, &holder, &pat).await.unwrap(), HandOffOutcome::NotFound);
}

/// Pat checked that Pat may close, then Pat's hand-off to Sam landed: Pat's close must not delete
/// Sam's conversation.
async fn a_holder_closes_only_what_they_still_hold(f: &Fixture) {
    let s = &*f.store;
    let (pat, sam) = (account(&f.store).await, account(&f.store).await);
    let r = new_request(Urgency::Now);
    s.create_support_request(r.clone()).await.unwrap();
    assert!(!s.close_support_request(&r.id, Some(&pat)).await.unwrap(), "nobody holds a waiting request");
    assert!(matches!(s.claim_support_request(&r.id, &pat, NOW + 1).await.unwrap(), ClaimOutcome::Won { .. }));
    assert_eq!(s.hand_off_support_request(&r.id, &pat, &sam).await.unwrap(), HandOffOutcome::HandedOff);
    assert!(!s.close_support_request(&r.id, Some(&pat)).await.unwrap(), "Pat no longer holds it");
    assert_eq!(s.support_request(&r.id).await.unwrap().unwrap().state, RequestState::Accepted { by: sam });
    assert!(f.store.mailbox_access(&r.mailbox).await.unwrap().is_some(), "its mailbox is kept");
    assert!(s.close_support_request(&r.id, Some(&sam)).await.unwrap());
    assert!(s.support_request(&r.id).await.unwrap().is_none());
}

/// `ms` rounded down to its UTC day, as mailboxes keep days.
fn day(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY)
}

/// The day an unlinked mailbox was last read, as the store reports it.
async fn read_day(store: &Arc<dyn Store>, mailbox: &MailboxId) -> i64 {
    match store.mailbox_access(mailbox).await.unwrap() {
        Some(MailboxAccess::Unlinked { read_day, .. }) => read_day,
        other => panic!("not an unlinked mailbox: {other:?}"),
    }
}

async fn unread_unlinked_mailboxes_expire_with_their_queue_unless_they_serve_a_request(f: &Fixture) {
    let s = &f.store;
    let secret = store::sha256(b"secret");
    let (forgotten, read) = (MailboxId::random(), MailboxId::random());
    s.create_mailbox(&forgotten, &secret, NOW).await.unwrap();
    s.create_mailbox(&read, &secret, NOW).await.unwrap();
    let request = new_request(Urgency::Week);
    s.create_support_request(request.clone()).await.unwrap();
    let linked = common::enrol(s, "Sam", vec![Role::Staff], NOW).await.mailbox;
    let waiting = NewMessage {
        id: MessageId::random(),
        to: vec![forgotten, read, request.mailbox, linked],
        payload: Bytes::from_static(b"waiting"),
        created_at: NOW,
        expires_at: NOW + 14 * DAY,
        group: None,
        seq: None,
    };
    s.append(&[waiting], 1_000).await.unwrap();
    let push = PushSubscription { endpoint: "https://push.example/f".into(), p256dh: vec![4; 65], auth: vec![1; 16] };
    s.add_mailbox_push_subscription(&forgotten, &push).await.unwrap();
    assert_eq!(read_day(s, &forgotten).await, day(NOW), "creating counts as reading");

    // Read on day 20: the day moves forward, never back.
    s.mark_mailbox_read(&read, NOW + 20 * DAY).await.unwrap();
    s.mark_mailbox_read(&read, NOW + 20 * DAY + 1).await.unwrap();
    s.mark_mailbox_read(&read, NOW + DAY).await.unwrap();
    assert_eq!(read_day(s, &read).await, day(NOW + 20 * DAY));
    // A linked mailbox has no read day to record.
    s.mark_mailbox_read(&linked, NOW + 20 * DAY).await.unwrap();
    assert_eq!(s.mailbox_access(&linked).await.unwrap(), Some(MailboxAccess::Linked));

    // `read_before` is now less the idle days: nothing was last read before today.
    assert_eq!(s.expire_unread_mailboxes(NOW, 100).await.unwrap(), 0);
    // A day later only the forgotten mailbox goes, with its queue and push subscription.
    assert_eq!(s.expire_unread_mailboxes(NOW + DAY, 100).await.unwrap(), 1);
    assert_eq!(s.mailbox_access(&forgotten).await.unwrap(), None);
    assert_eq!(s.queued(&forgotten).await.unwrap(), 0);
    assert!(s.mailbox_push_subscriptions_for(&[forgotten]).await.unwrap().is_empty());
    for kept in [read, request.mailbox, linked] {
        assert_eq!(s.queued(&kept).await.unwrap(), 1);
    }

    // Long after: the mailbox read on day 20 goes too; the one serving a request and the linked
    // one never do.
    assert_eq!(s.expire_unread_mailboxes(NOW + 100 * DAY, 100).await.unwrap(), 1);
    assert_eq!(s.mailbox_access(&read).await.unwrap(), None);
    assert!(s.support_request(&request.id).await.unwrap().is_some());
    assert_eq!(read_day(s, &request.mailbox).await, day(NOW));
    assert_eq!(s.queued(&request.mailbox).await.unwrap(), 1);
    assert_eq!(s.mailbox_access(&linked).await.unwrap(), Some(MailboxAccess::Linked));

    // One sweep deletes at most `limit`.
    for _ in 0..3 {
        s.create_mailbox(&MailboxId::random(), &secret, NOW).await.unwrap();
    }
    assert_eq!(s.expire_unread_mailboxes(NOW + 100 * DAY, 2).await.unwrap(), 2);
    assert_eq!(s.expire_unread_mailboxes(NOW + 100 * DAY, 2).await.unwrap(), 1);
}
