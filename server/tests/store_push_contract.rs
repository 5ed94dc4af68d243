//! The `Store` contract for Web Push subscriptions, on SQLite (always, in a temp dir) and
//! PostgreSQL (a fresh database per test on `SALLYPORT_TEST_POSTGRES_URL`; with
//! `SALLYPORT_REQUIRE_POSTGRES=1` a missing URL fails instead of skipping), as in
//! `store_contract.rs`.

use sallyport_protocol::rest::Role;
use sallyport_protocol::{DeviceId, MailboxId};
use sallyport_server::store::{self, Conflict, PushSubscription, Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;

const NOW: i64 = 1_700_000_000_000;
const MAX: u32 = 3;

mod common;

contract!(store: [
    push_subscriptions_are_listed_by_linked_mailbox,
    registering_an_endpoint_again_replaces_it_even_across_devices,
    a_device_may_not_exceed_its_subscription_limit,
    removal_is_per_device_and_endpoint,
    gone_endpoints_and_all_of_a_device_can_be_deleted,
    revocation_deletes_subscriptions_and_refuses_new_ones,
    unknown_devices_cannot_subscribe,
    an_endpoint_never_serves_a_device_and_an_unlinked_mailbox,
]);

/// Enrols a device on a fresh account: (device, linked mailbox).
async fn device(store: &Arc<dyn Store>) -> (DeviceId, MailboxId) {
    let enrolled = common::enrol(store, "Dana R.", vec![Role::Staff], NOW).await;
    (enrolled.device, enrolled.mailbox)
}

fn subscription(n: u32) -> PushSubscription {
    let mut p256dh = vec![4u8; 65];
    p256dh[1..5].copy_from_slice(&n.to_be_bytes());
    PushSubscription { endpoint: format!("https://push.example.net/wpush/{n}"), p256dh, auth: vec![n as u8; 16] }
}

fn endpoints(list: &[(MailboxId, PushSubscription)]) -> HashSet<(MailboxId, String)> {
    list.iter().map(|(m, s)| (*m, s.endpoint.clone())).collect()
}

async fn push_subscriptions_are_listed_by_linked_mailbox(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    let (b, b_box) = device(&store).await;
    let (_c, c_box) = device(&store).await;
    store.add_push_subscription(&a, &subscription(1), MAX, NOW).await.unwrap();
    store.add_push_subscription(&a, &subscription(2), MAX, NOW).await.unwrap();
    store.add_push_subscription(&b, &subscription(3), MAX, NOW).await.unwrap();

    let found = store.push_subscriptions_for(&[a_box, c_box]).await.unwrap();
    assert_eq!(
        endpoints(&found),
        HashSet::from([(a_box, subscription(1).endpoint), (a_box, subscription(2).endpoint)])
    );
    let one = found.iter().find(|(_, s)| s.endpoint == subscription(1).endpoint).unwrap();
    assert_eq!(one.1, subscription(1), "keys come back as stored");

    let all = store.push_subscriptions_for(&[a_box, b_box, c_box, MailboxId::random()]).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(store.push_subscriptions_for(&[]).await.unwrap().is_empty());
    let unlinked = MailboxId::random();
    store.create_mailbox(&unlinked, &store::sha256(b"secret"), NOW).await.unwrap();
    assert!(store.push_subscriptions_for(&[unlinked]).await.unwrap().is_empty(), "unlinked mailboxes have none");
}

async fn registering_an_endpoint_again_replaces_it_even_across_devices(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    let (b, b_box) = device(&store).await;
    store.add_push_subscription(&a, &subscription(1), MAX, NOW).await.unwrap();
    let mut renewed = subscription(1);
    renewed.auth = vec![0xee; 16];
    store.add_push_subscription(&a, &renewed, MAX, NOW + 1).await.unwrap();
    let found = store.push_subscriptions_for(&[a_box]).await.unwrap();
    assert_eq!(found, vec![(a_box, renewed.clone())], "one row per endpoint, with the newest keys");

    // The same browser enrolled as another device: the endpoint moves.
    store.add_push_subscription(&b, &renewed, MAX, NOW + 2).await.unwrap();
    assert!(store.push_subscriptions_for(&[a_box]).await.unwrap().is_empty());
    assert_eq!(store.push_subscriptions_for(&[b_box]).await.unwrap(), vec![(b_box, renewed)]);
}

async fn a_device_may_not_exceed_its_subscription_limit(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    for n in 0..MAX {
        store.add_push_subscription(&a, &subscription(n), MAX, NOW).await.unwrap();
    }
    let err = store.add_push_subscription(&a, &subscription(99), MAX, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::PushSubscriptionLimit)), "{err:?}");
    assert_eq!(store.push_subscriptions_for(&[a_box]).await.unwrap().len(), MAX as usize, "nothing stored");
    // Refreshing one it already has is not a new one.
    store.add_push_subscription(&a, &subscription(0), MAX, NOW + 1).await.unwrap();
}

async fn removal_is_per_device_and_endpoint(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    let (b, _) = device(&store).await;
    store.add_push_subscription(&a, &subscription(1), MAX, NOW).await.unwrap();
    store.add_push_subscription(&a, &subscription(2), MAX, NOW).await.unwrap();
    assert!(!store.remove_push_subscription(&b, &subscription(1).endpoint).await.unwrap(), "not b's to remove");
    assert!(store.remove_push_subscription(&a, &subscription(1).endpoint).await.unwrap());
    assert!(!store.remove_push_subscription(&a, &subscription(1).endpoint).await.unwrap());
    assert_eq!(endpoints(&store.push_subscriptions_for(&[a_box]).await.unwrap()), HashSet::from([(a_box, subscription(2).endpoint)]));
}

async fn gone_endpoints_and_all_of_a_device_can_be_deleted(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    let (b, b_box) = device(&store).await;
    for n in 1..=3 {
        store.add_push_subscription(&a, &subscription(n), MAX, NOW).await.unwrap();
    }
    store.add_push_subscription(&b, &subscription(4), MAX, NOW).await.unwrap();
    assert!(store.delete_push_subscription(&subscription(2).endpoint).await.unwrap());
    assert!(!store.delete_push_subscription(&subscription(2).endpoint).await.unwrap());
    assert_eq!(store.push_subscriptions_for(&[a_box]).await.unwrap().len(), 2);
    assert_eq!(store.delete_push_subscriptions_of(&a).await.unwrap(), 2);
    assert!(store.push_subscriptions_for(&[a_box]).await.unwrap().is_empty());
    assert_eq!(store.push_subscriptions_for(&[b_box]).await.unwrap().len(), 1, "other devices keep theirs");
}

async fn revocation_deletes_subscriptions_and_refuses_new_ones(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    store.add_push_subscription(&a, &subscription(1), MAX, NOW).await.unwrap();
    assert!(store.revoke_device(&a, NOW + 1).await.unwrap());
    assert!(store.push_subscriptions_for(&[a_box]).await.unwrap().is_empty());
    assert_eq!(store.delete_push_subscriptions_of(&a).await.unwrap(), 0, "already deleted by the revocation");
    let err = store.add_push_subscription(&a, &subscription(2), MAX, NOW + 2).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn unknown_devices_cannot_subscribe(store: Arc<dyn Store>) {
    let err = store.add_push_subscription(&DeviceId::random(), &subscription(1), MAX, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn an_endpoint_never_serves_a_device_and_an_unlinked_mailbox(store: Arc<dyn Store>) {
    let (a, a_box) = device(&store).await;
    let unlinked = MailboxId::random();
    store.create_mailbox(&unlinked, &store::sha256(b"secret"), NOW).await.unwrap();
    store.add_mailbox_push_subscription(&unlinked, &subscription(1)).await.unwrap();
    let err = store.add_push_subscription(&a, &subscription(1), MAX, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::EndpointInUse)), "{err:?}");
    assert!(store.push_subscriptions_for(&[a_box]).await.unwrap().is_empty(), "nothing stored");

    store.add_push_subscription(&a, &subscription(2), MAX, NOW).await.unwrap();
    let err = store.add_mailbox_push_subscription(&unlinked, &subscription(2)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::EndpointInUse)), "{err:?}");
}
