//! Web Push end to end: real `sallyport` processes push to the local push-service emulator, which
//! verifies VAPID and decrypts the RFC 8291 payload as a browser's push service and browser would.
//! A device that is offline is woken once per subscription with no content; an online one is not
//! pushed; 404/410 delete a subscription; 429/5xx are retried with backoff; revocation and
//! `DELETE` stop pushes; registration refuses malformed subscriptions with stable codes.

use sallyport_core::protocol::Payload;
use sallyport_core::{Client, Credentials, Event, api_request};
use sallyport_e2e::mls_peer::MlsPeer;
use sallyport_e2e::push_emulator::{PushEmulator, Received, Subscription};
use sallyport_e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

const PUSH_PATH: &str = "/v1/push/subscriptions";

/// A server that accepts the emulator's http://127.0.0.1 endpoints, optionally on PostgreSQL,
/// and an emulator that expects its VAPID key.
async fn start(postgres: bool, min_interval_ms: u64) -> Option<(TestServer, PushEmulator)> {
    let database_url = if postgres { Some(postgres_database().await?) } else { None };
    let server = TestServer::start_with(ServerOptions {
        database_url,
        extra_args: vec![
            "--push-allow-insecure-endpoints".into(),
            "--push-min-interval-ms".into(),
            min_interval_ms.to_string(),
        ],
    })
    .await;
    let emulator = PushEmulator::start().await;
    let (status, config) = http_get(&server.url, "/v1/config").await.expect("GET /v1/config");
    assert_eq!(status, 200);
    let config: Value = serde_json::from_str(&config).expect("config is JSON");
    let key = config["vapid_public_key"].as_str().expect("vapid_public_key in /v1/config");
    assert_eq!(key.len(), 87, "an uncompressed P-256 point in unpadded base64url: {key}");
    emulator.expect_vapid_key(key);
    Some((server, emulator))
}

async fn register(creds: &Credentials, subscription: &Subscription) {
    let (status, body) = api_request(creds, "POST", PUSH_PATH, Some(&subscription.json())).await.expect("request");
    assert_eq!(status, 204, "registering a subscription: {body}");
}

/// A newly enrolled person whose device has one push subscription at the emulator.
async fn subscribed(server: &TestServer, emulator: &PushEmulator, name: &str) -> (Credentials, Subscription) {
    let creds = server.enrol(name).await;
    let subscription = emulator.subscribe();
    register(&creds, &subscription).await;
    (creds, subscription)
}

fn plaintext(push: &Received) -> Value {
    serde_json::from_slice(&push.plaintext).expect("the push payload is JSON")
}

/// Nothing of `marker` anywhere in what the push service saw.
fn assert_no_content(pushes: &[Received], marker: &str) {
    for push in pushes {
        let m = marker.as_bytes();
        assert!(!push.body.windows(m.len()).any(|w| w == m), "marker in an encrypted body");
        assert!(!push.plaintext.windows(m.len()).any(|w| w == m), "marker in a push payload");
        for (name, value) in &push.headers {
            assert!(!value.contains(marker) && !name.contains(marker), "marker in header {name}");
        }
    }
}

async fn offline_devices_are_woken_once_per_subscription_without_content(postgres: bool) {
    let Some((server, emulator)) = start(postgres, 0).await else { return };
    let root = tempfile::tempdir().unwrap();
    let mut alice = MlsPeer::join(&server, "alice", root.path()).await;
    let mut bob = MlsPeer::join(&server, "bob", root.path()).await;
    let (phone, laptop) = (emulator.subscribe(), emulator.subscribe());
    register(&bob.creds, &phone).await;
    register(&bob.creds, &laptop).await;

    // Two conversations between Alice and Bob, made while Bob is online (no push for those).
    let mut groups = Vec::new();
    for _ in 0..2 {
        let group = alice.mls.create_group().unwrap();
        let kp = alice.claim(bob.mailbox()).await;
        let add = alice.mls.add_claimed_members(&group, &[(bob.mailbox(), kp)]).unwrap();
        alice.send(add).await.expect("commit accepted");
        let g = group.clone();
        bob.pump_until("joined", move |p| p.has_joined(&g)).await;
        groups.push(group);
    }
    let bob_creds = bob.creds.clone();
    drop(bob);
    // Bob's connection is gone: only Alice's is left.
    wait_for_metric(&server, "sallyport_connections_open", |open| open == 1).await;
    assert!(emulator.received().is_empty(), "no push while Bob was online");

    let marker = "PUSHMARKER-7f3a";
    let out = alice.mls.encrypt(&groups[0], format!("{marker} one").as_bytes()).unwrap();
    alice.send(out).await.expect("sent");
    for sub in [&phone, &laptop] {
        assert_eq!(emulator.wait_for(&sub.token, 1).await.len(), 1);
    }
    let out = alice.mls.encrypt(&groups[0], format!("{marker} two").as_bytes()).unwrap();
    alice.send(out).await.expect("sent");
    let out = alice.mls.encrypt(&groups[1], format!("{marker} three").as_bytes()).unwrap();
    alice.send(out).await.expect("sent");
    // A plain (non-group) send wakes too.
    alice.client.send(vec![bob_creds.mailbox], Payload(format!("{marker} plain").into_bytes().into())).await.expect("send");

    for sub in [&phone, &laptop] {
        let pushes = emulator.wait_for(&sub.token, 4).await;
        assert_eq!(pushes.len(), 4, "one push per message per subscription");
        assert_no_content(&pushes, marker);
        let mut by_group: std::collections::HashMap<Option<String>, Vec<&Received>> = Default::default();
        for push in &pushes {
            let body = plaintext(push);
            assert_eq!(body["v"], 1);
            assert_eq!(body["kind"], "message");
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert!(keys.iter().all(|k| ["v", "kind", "group"].contains(&k.as_str())), "only v, kind, group: {body}");
            assert_eq!(push.ttl, 86_400);
            assert_eq!(push.urgency.as_deref(), Some("normal"));
            let topic = push.topic.as_deref().expect("a Topic header");
            assert_eq!(topic.len(), 32);
            by_group.entry(body["group"].as_str().map(str::to_owned)).or_default().push(push);
        }
        let first = &by_group[&Some(hex(&groups[0]))];
        let second = &by_group[&Some(hex(&groups[1]))];
        let plain = &by_group[&None];
        assert_eq!((first.len(), second.len(), plain.len()), (2, 1, 1));
        assert_eq!(first[0].topic, first[1].topic, "a conversation keeps its topic");
        assert_ne!(first[0].topic, second[0].topic, "conversations have different topics");
        assert_ne!(first[0].topic, plain[0].topic);
        for push in first.iter().chain(second) {
            let topic = push.topic.as_deref().unwrap();
            assert!(!topic.contains(&hex(&groups[0])[..8]) && !topic.contains(&hex(&groups[1])[..8]), "the topic is not the group id");
        }
    }
    assert!(emulator.rejections().is_empty(), "every push passed VAPID and decryption: {:?}", emulator.rejections());
    assert_eq!(emulator.received().len(), 8, "Alice has no subscription and got nothing");
    let logs = server.logs();
    assert!(!logs.contains(&phone.token) && !logs.contains(&laptop.token), "no endpoint in the logs");
    assert!(!logs.contains(marker));
    // Counted once the push service has answered, which is after the emulator recorded it.
    let sent = wait_for_metric(&server, "sallyport_push_sent_total", |sent| sent >= 8).await;
    assert_eq!(sent, 8, "each of the eight pushes is counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_device_is_woken_once_per_subscription_without_content() {
    offline_devices_are_woken_once_per_subscription_without_content(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_device_is_woken_once_per_subscription_without_content_on_postgres() {
    offline_devices_are_woken_once_per_subscription_without_content(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_device_is_not_pushed() {
    let Some((server, emulator)) = start(false, 0).await else { return };
    let alice = server.enrol("Alice").await;
    let (bob, bob_sub) = subscribed(&server, &emulator, "Bob").await;
    let (carol, carol_sub) = subscribed(&server, &emulator, "Carol").await;

    let mut bob_client = Client::connect(&bob).await.expect("bob connects");
    let mut alice_client = Client::connect(&alice).await.expect("alice connects");
    alice_client.send(vec![bob.mailbox], Payload(b"hi bob".to_vec().into())).await.unwrap();
    expect_event(&mut bob_client, |e| matches!(e, Event::Message { .. }).then_some(())).await;
    // Carol is offline: her push comes after Bob's would have been dispatched.
    alice_client.send(vec![carol.mailbox], Payload(b"hi carol".to_vec().into())).await.unwrap();
    emulator.wait_for(&carol_sub.token, 1).await;
    assert!(emulator.attempts_for(&bob_sub.token).is_empty(), "Bob is online: no push");
    assert!(emulator.rejections().is_empty(), "{:?}", emulator.rejections());
}

async fn gone_subscriptions_are_deleted_and_failures_retried(postgres: bool) {
    let Some((server, emulator)) = start(postgres, 0).await else { return };
    // The 429 comes from another push service: a 429 backs off its whole host (protocol §12),
    // which would also hold back the 500 subscription's retries were it on the same one.
    let busy_service = PushEmulator::start().await;
    busy_service.expect_vapid_key(&vapid_key(&server).await);
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let (gone, flaky, busy) = (emulator.subscribe(), emulator.subscribe(), busy_service.subscribe());
    for sub in [&gone, &flaky, &busy] {
        register(&bob, sub).await;
    }
    emulator.answer(&gone.token, 410, 1, None);
    emulator.answer(&flaky.token, 500, 2, None);
    busy_service.answer(&busy.token, 429, 1, Some(2));

    let mut client = Client::connect(&alice).await.expect("alice connects");
    client.send(vec![bob.mailbox], Payload(b"one".to_vec().into())).await.unwrap();
    emulator.wait_for(&flaky.token, 1).await;
    busy_service.wait_for(&busy.token, 1).await;
    wait_for_metric(&server, "sallyport_push_gone_total", |gone| gone >= 1).await;

    // 500 twice, then delivered, each retry later than the one before (exponential backoff).
    let attempts = emulator.attempts_for(&flaky.token);
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [500, 500, 201]);
    let (first_gap, second_gap) = (attempts[1].at - attempts[0].at, attempts[2].at - attempts[1].at);
    assert!(first_gap >= Duration::from_millis(400), "retried after a backoff, not at once: {first_gap:?}");
    assert!(second_gap > first_gap, "the backoff grows: {first_gap:?} then {second_gap:?}");
    // 429 with Retry-After: 2 waits at least that long.
    let attempts = busy_service.attempts_for(&busy.token);
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [429, 201]);
    assert!(attempts[1].at - attempts[0].at >= Duration::from_millis(1900), "Retry-After is honoured");

    // The 410 subscription is deleted: the next message reaches the others only.
    client.send(vec![bob.mailbox], Payload(b"two".to_vec().into())).await.unwrap();
    emulator.wait_for(&flaky.token, 2).await;
    busy_service.wait_for(&busy.token, 2).await;
    assert_eq!(emulator.attempts_for(&gone.token).len(), 1, "no push to a gone subscription");
    assert!(emulator.received_for(&gone.token).is_empty());
    assert!(emulator.rejections().is_empty(), "{:?}", emulator.rejections());
    assert!(busy_service.rejections().is_empty(), "{:?}", busy_service.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_subscriptions_are_deleted_and_failed_pushes_retried() {
    gone_subscriptions_are_deleted_and_failures_retried(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_subscriptions_are_deleted_and_failed_pushes_retried_on_postgres() {
    gone_subscriptions_are_deleted_and_failures_retried(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_one_conversation_wakes_a_device_once() {
    // The default window: at most one push per device and conversation every 10 s.
    let Some((server, emulator)) = start(false, 10_000).await else { return };
    let alice = server.enrol("Alice").await;
    let (bob, bob_sub) = subscribed(&server, &emulator, "Bob").await;
    let (carol, carol_sub) = subscribed(&server, &emulator, "Carol").await;
    let mut client = Client::connect(&alice).await.expect("alice connects");
    for n in 0..5 {
        client.send(vec![bob.mailbox], Payload(format!("burst {n}").into_bytes().into())).await.unwrap();
    }
    expect_event(&mut client, |e| matches!(e, Event::Accepted { .. }).then_some(())).await;
    client.send(vec![carol.mailbox], Payload(b"after".to_vec().into())).await.unwrap();
    emulator.wait_for(&carol_sub.token, 1).await;
    emulator.wait_for(&bob_sub.token, 1).await;
    assert_eq!(emulator.attempts_for(&bob_sub.token).len(), 1, "five messages, one wake-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_unsubscribed_devices_are_not_pushed() {
    let Some((server, emulator)) = start(false, 0).await else { return };
    let alice = server.enrol("Alice").await;
    let (bob, bob_sub) = subscribed(&server, &emulator, "Bob").await;
    let (carol, carol_sub) = subscribed(&server, &emulator, "Carol").await;
    let (dana, dana_sub) = subscribed(&server, &emulator, "Dana").await;

    let (status, _) = api_request(&carol, "DELETE", PUSH_PATH, Some(&json!({"endpoint": carol_sub.endpoint}))).await.unwrap();
    assert_eq!(status, 204);
    let (status, _) = api_request(&carol, "DELETE", PUSH_PATH, Some(&json!({"endpoint": carol_sub.endpoint}))).await.unwrap();
    assert_eq!(status, 204, "removing twice is fine");
    server.admin(&["revoke-device", &bob.device.to_text()]);

    let mut client = Client::connect(&alice).await.expect("alice connects");
    client.send(vec![bob.mailbox], Payload(b"to bob".to_vec().into())).await.unwrap();
    client.send(vec![carol.mailbox], Payload(b"to carol".to_vec().into())).await.unwrap();
    client.send(vec![dana.mailbox], Payload(b"to dana".to_vec().into())).await.unwrap();
    emulator.wait_for(&dana_sub.token, 1).await;
    assert!(emulator.attempts_for(&bob_sub.token).is_empty(), "a revoked device is not pushed");
    assert!(emulator.attempts_for(&carol_sub.token).is_empty(), "a removed subscription is not pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_subscriptions_are_refused_with_stable_codes() {
    let Some((server, emulator)) = start(false, 0).await else { return };
    let bob = server.enrol("Bob").await;
    let good = emulator.subscribe();
    let with = |field: &str, value: Value| {
        let mut body = good.json();
        body[field] = value;
        body
    };
    let short_key = base64_url(&[4u8; 33]);
    let cases = [
        ("http endpoint", with("endpoint", json!("http://push.example.net/x"))),
        ("endpoint not a URL", with("endpoint", json!("push here"))),
        ("endpoint too long", with("endpoint", json!(format!("https://push.example.net/{}", "a".repeat(1100))))),
        ("p256dh not a point", with("p256dh", json!(short_key))),
        ("p256dh not base64", with("p256dh", json!("%%%"))),
        ("auth of 15 bytes", with("auth", json!(base64_url(&[1u8; 15])))),
        ("unknown field", with("expirationTime", json!(null))),
        ("missing auth", json!({"endpoint": good.endpoint, "p256dh": good.p256dh})),
    ];
    for (what, body) in cases {
        let (status, answer) = api_request(&bob, "POST", PUSH_PATH, Some(&body)).await.unwrap();
        assert_eq!((status, answer["code"].as_str()), (400, Some("bad_request")), "{what}: {answer}");
    }
    // Unsigned.
    let response = reqwest::Client::new().post(format!("{}{PUSH_PATH}", server.url)).json(&good.json()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    // At most ten per device.
    for _ in 0..10 {
        register(&bob, &emulator.subscribe()).await;
    }
    let (status, answer) = api_request(&bob, "POST", PUSH_PATH, Some(&emulator.subscribe().json())).await.unwrap();
    assert_eq!((status, answer["code"].as_str()), (409, Some("bad_request")), "{answer}");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn vapid_key(server: &TestServer) -> String {
    let (_, config) = http_get(&server.url, "/v1/config").await.expect("GET /v1/config");
    let config: Value = serde_json::from_str(&config).expect("config is JSON");
    config["vapid_public_key"].as_str().expect("vapid_public_key").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vapid_key_is_generated_once_or_read_from_a_file() {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let mut server = TestServer::start().await;
    let generated = vapid_key(&server).await;
    server.stop().await;
    server.restart().await;
    assert_eq!(vapid_key(&server).await, generated, "the generated key is kept in the database");

    let dir = tempfile::tempdir().unwrap();
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let public = base64_url(secret.public_key().to_encoded_point(false).as_bytes());
    let pem = dir.path().join("vapid.pem");
    std::fs::write(&pem, secret.to_sec1_pem(p256::pkcs8::LineEnding::LF).unwrap().as_bytes()).unwrap();
    let raw = dir.path().join("vapid.key");
    std::fs::write(&raw, format!("{}\n", base64_url(&secret.to_bytes()))).unwrap();
    for file in [&pem, &raw] {
        let server = TestServer::start_with(ServerOptions {
            database_url: None,
            extra_args: vec!["--vapid-private-key-file".into(), file.display().to_string()],
        })
        .await;
        assert_eq!(vapid_key(&server).await, public, "the key from {}", file.display());
    }

    // A file without a key stops the server at start with a clear message.
    let bad = dir.path().join("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let out = std::process::Command::new(sallyport_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--vapid-private-key-file")
        .arg(&bad)
        .env_remove("SALLYPORT_PUBLIC_URL")
        .output()
        .expect("running sallyport");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("VAPID private key"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"), "it never announced itself");
}
