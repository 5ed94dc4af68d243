//! Web Push under abuse (issue 11): real `sallyport` processes and the real push-service emulator.
//! A flood of wake-ups to a push service that answers `429 Retry-After: 600` and to one that does
//! not answer does not stop a support request, nor a wake-up to another push service; a
//! subscription is accepted only at a push service the server is allowed to push to, and one
//! stored before its host was disallowed is skipped; a redirect is never followed; every push
//! dropped is counted in `/metrics` by kind and reason.

use sallyport_core::protocol::{MailboxId, MailboxSecret, Payload};
use sallyport_core::{Client, Credentials, Event, api_request};
use sallyport_e2e::push_emulator::{PushEmulator, Subscription};
use sallyport_e2e::*;
use serde_json::{Value, json};
use std::time::Duration;

const PUSH_PATH: &str = "/v1/push/subscriptions";

fn insecure_args() -> Vec<String> {
    vec!["--push-allow-insecure-endpoints".into(), "--push-min-interval-ms".into(), "0".into()]
}

async fn vapid_key(server: &TestServer) -> String {
    let (_, config) = http_get(&server.url, "/v1/config").await.expect("GET /v1/config");
    let config: Value = serde_json::from_str(&config).expect("config is JSON");
    config["vapid_public_key"].as_str().expect("vapid_public_key").to_owned()
}

/// `n` push-service emulators that expect the server's VAPID key.
async fn emulators(server: &TestServer, n: usize) -> Vec<PushEmulator> {
    let key = vapid_key(server).await;
    let mut all = Vec::new();
    for _ in 0..n {
        let emulator = PushEmulator::start().await;
        emulator.expect_vapid_key(&key);
        all.push(emulator);
    }
    all
}

async fn register(creds: &Credentials, subscription: &Subscription) {
    call(creds, "POST", PUSH_PATH, Some(subscription.json()), 204).await;
}

/// A subscription body at `endpoint` with good keys (from an emulator subscription).
fn at(endpoint: &str, keys: &Subscription) -> Value {
    json!({"endpoint": endpoint, "p256dh": keys.p256dh, "auth": keys.auth})
}

/// Puts `supporter` on the roster with every training current, on call around the clock.
async fn on_call(coordinator: &Credentials, supporter: &Credentials) {
    let account = supporter.account.to_text();
    let (status, text) = api_request(coordinator, "PUT", &format!("/v1/support/roster/{account}"), None).await.unwrap();
    assert!(status == 201 || status == 200, "adding to the roster: {status} {text}");
    for kind in ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"] {
        let body = json!({"completed_at": date(now_ms() - 30 * 86_400_000), "expires_at": date(now_ms() + 365 * 86_400_000)});
        call(coordinator, "PUT", &format!("/v1/support/roster/{account}/training/{kind}"), Some(body), 200).await;
    }
    let body = json!({
        "name": format!("rota {}", supporter.display_name),
        "members": [supporter.account],
        "handoff": "00:00",
        "time_zone": "UTC",
        "period_days": 1,
        "start_date": date(now_ms() - 2 * 86_400_000),
    });
    call(coordinator, "POST", "/v1/support/rotations", Some(body), 201).await;
}

/// A "now" support request from `creds`' device; returns its unlinked mailbox and secret.
async fn reach_out(creds: &Credentials) -> (MailboxId, MailboxSecret) {
    let request = SupportRequest::new("now");
    call(creds, "POST", "/v1/support/requests", Some(request.body), 200).await;
    (request.mailbox, request.secret)
}

fn dropped(kind: &str, reason: &str) -> String {
    format!("sallyport_push_dropped_total{{kind=\"{kind}\",reason=\"{reason}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_at_a_busy_and_a_slow_push_service_holds_up_neither_support_requests_nor_other_hosts() {
    let server = TestServer::start_with(ServerOptions { database_url: None, extra_args: insecure_args() }).await;
    let [busy, slow, healthy]: [PushEmulator; 3] = emulators(&server, 3).await.try_into().ok().unwrap();
    // The attack: a push service that says "come back in ten minutes" to everything, and one that
    // never answers (within the test), each with more subscriptions than the server sends at once.
    busy.always_answer(429, Some(600));
    slow.answer_after(Duration::from_secs(600));
    let mut flooded = Vec::new();
    for (emulator, devices) in [(&busy, 7), (&slow, 3)] {
        for n in 0..devices {
            let creds = server.enrol(&format!("Flooded {n}")).await;
            for _ in 0..10 {
                register(&creds, &emulator.subscribe()).await;
            }
            flooded.push(creds.mailbox);
        }
    }
    let coordinator = {
        let link = server.invite("Coordinator", &["coordinator"]);
        sallyport_core::enrol(&server.url, &link).await.expect("enrolment")
    };
    let supporter = {
        let link = server.invite("Supporter", &["staff", "peer_supporter"]);
        sallyport_core::enrol(&server.url, &link).await.expect("enrolment")
    };
    on_call(&coordinator, &supporter).await;
    let supporter_sub = healthy.subscribe();
    register(&supporter, &supporter_sub).await;
    let bob = server.enrol("Bob").await;
    let bob_sub = healthy.subscribe();
    register(&bob, &bob_sub).await;
    let alice = server.enrol("Alice").await;
    let requester = server.enrol("Officer").await;

    // 70 wake-ups to the busy host and 30 to the slow one, in one message.
    let mut client = Client::connect(&alice).await.expect("alice connects");
    client.send(flooded, Payload(b"flood".to_vec().into())).await.expect("send");
    busy.wait_for_any_attempts(1).await;
    slow.wait_for_arrivals(1).await;

    // Then a support request to the supporter on call, and a message to Bob, at another host.
    reach_out(&requester).await;
    client.send(vec![bob.mailbox], Payload(b"hello".to_vec().into())).await.expect("send");
    let support = healthy.wait_for(&supporter_sub.token, 1).await;
    let body: Value = serde_json::from_slice(&support[0].plaintext).unwrap();
    assert_eq!(body, json!({"v":1,"kind":"support_request","urgency":"now"}));
    assert_eq!(support[0].urgency.as_deref(), Some("high"));
    healthy.wait_for(&bob_sub.token, 1).await;

    // The busy host was backed off after its first answers (it asked for ten minutes; the server
    // waits at most one before trying it again), not sent all 70.
    assert!(busy.attempts().len() <= 16, "the busy host is not hammered: {} requests", busy.attempts().len());
    assert!(healthy.rejections().is_empty() && busy.rejections().is_empty(), "{:?}", healthy.rejections());
    let logs = server.logs();
    for sub in [&supporter_sub, &bob_sub] {
        assert!(!logs.contains(&sub.token), "no endpoint in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_accepted_only_at_allowed_push_services() {
    // No test flags: the browsers' push services only.
    let mut server = TestServer::start().await;
    let emulator = PushEmulator::start().await;
    let keys = emulator.subscribe();
    let bob = server.enrol("Bob").await;
    let not_allowed = |answer: &Value| answer["code"] == "push_service_not_allowed";
    for endpoint in [
        "https://push.example.net/wpush/v2/abc".to_owned(),
        "https://evilfcm.googleapis.com.attacker.example/fcm/send/x".to_owned(),
        "https://attackerfcm.googleapis.com/fcm/send/x".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://2130706433/push/x".to_owned(),
        format!("https://{}/push/x", emulator.origin.trim_start_matches("http://")),
    ] {
        let answer = call(&bob, "POST", PUSH_PATH, Some(at(&endpoint, &keys)), 422).await;
        assert!(not_allowed(&answer), "{endpoint}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains("does not push to"), "{answer}");
    }
    // The emulator's own http:// endpoint is not even https.
    let answer = call(&bob, "POST", PUSH_PATH, Some(keys.json()), 400).await;
    assert_eq!(answer["code"], "bad_request", "{answer}");
    // The browsers' services are accepted.
    for endpoint in [
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://web.push.apple.com/QGuQyavXutnMH",
        "https://wns2-par02p.notify.windows.com/w/?token=AwYAAAB",
    ] {
        call(&bob, "POST", PUSH_PATH, Some(at(endpoint, &keys)), 204).await;
    }
    // An unlinked mailbox's subscription is held to the same rule.
    let requester = server.enrol("Officer").await;
    let (mailbox, secret) = reach_out(&requester).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/support/mailboxes/push", server.url))
        .header("Sallyport-Mailbox-Secret", secret.to_text())
        .json(&{
            let mut body = at("https://push.example.net/wpush/v2/def", &keys);
            body["mailbox"] = json!(mailbox);
            body
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let answer: Value = response.json().await.unwrap();
    assert!(not_allowed(&answer), "{answer}");

    // An operator adds a push service by name; the loopback host needs the test flag.
    server.stop().await;
    server.set_extra_args(vec!["--push-allow-host".into(), "push.example.net".into()]);
    server.restart().await;
    call(&bob, "POST", PUSH_PATH, Some(at("https://push.example.net/wpush/v2/abc", &keys)), 204).await;
    let answer = call(&bob, "POST", PUSH_PATH, Some(at("https://sub.push.example.net/x", &keys)), 422).await;
    assert!(not_allowed(&answer), "{answer}");
    call(&bob, "POST", PUSH_PATH, Some(keys.json()), 400).await;
    server.stop().await;
    server.set_extra_args(vec!["--push-allow-insecure-endpoints".into()]);
    server.restart().await;
    call(&bob, "POST", PUSH_PATH, Some(keys.json()), 204).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_subscription_at_a_host_no_longer_allowed_is_skipped_and_counted() {
    let mut server = TestServer::start_with(ServerOptions { database_url: None, extra_args: insecure_args() }).await;
    let [emulator]: [PushEmulator; 1] = emulators(&server, 1).await.try_into().ok().unwrap();
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    register(&bob, &emulator.subscribe()).await;
    // Restarted without the loopback host allowed: Bob's subscription stays stored.
    server.stop().await;
    server.set_extra_args(vec!["--push-min-interval-ms".into(), "0".into()]);
    server.restart().await;
    let mut client = Client::connect(&alice).await.expect("alice connects");
    client.send(vec![bob.mailbox], Payload(b"hi".to_vec().into())).await.unwrap();
    expect_event(&mut client, |e| matches!(e, Event::Accepted { .. }).then_some(())).await;
    wait_for_metric(&server, &dropped("wake_up", "host_not_allowed"), |n| n >= 1).await;
    assert_eq!(emulator.arrivals(), 0, "nothing was sent to a host no longer allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_a_push_endpoint_is_not_followed() {
    let server = TestServer::start_with(ServerOptions { database_url: None, extra_args: insecure_args() }).await;
    let [first, second]: [PushEmulator; 2] = emulators(&server, 2).await.try_into().ok().unwrap();
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let target = second.subscribe();
    let (temporary, permanent) = (first.subscribe(), first.subscribe());
    first.redirect(&temporary.token, 307, &target.endpoint, 1);
    first.redirect(&permanent.token, 308, &target.endpoint, 1);
    register(&bob, &temporary).await;
    register(&bob, &permanent).await;
    let failed_before = metric(&server, "sallyport_push_failed_total").await;

    let mut client = Client::connect(&alice).await.expect("alice connects");
    client.send(vec![bob.mailbox], Payload(b"hi".to_vec().into())).await.unwrap();
    wait_for_metric(&server, "sallyport_push_failed_total", |n| n >= failed_before + 2).await;
    assert_eq!(first.attempts_for(&temporary.token).iter().map(|a| a.status).collect::<Vec<_>>(), [307]);
    assert_eq!(first.attempts_for(&permanent.token).iter().map(|a| a.status).collect::<Vec<_>>(), [308]);
    assert_eq!(second.arrivals(), 0, "the redirect's target got nothing");
    assert_eq!(metric(&server, "sallyport_push_sent_total").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_pushes_are_counted_by_kind_and_reason() {
    let server = TestServer::start_with(ServerOptions { database_url: None, extra_args: insecure_args() }).await;
    let [busy]: [PushEmulator; 1] = emulators(&server, 1).await.try_into().ok().unwrap();
    busy.always_answer(429, Some(600));
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    for _ in 0..10 {
        register(&bob, &busy.subscribe()).await;
    }
    // 110 messages to Bob's ten subscriptions at a host that has asked to be left alone: more
    // than its queue holds while it is backed off.
    let mut client = Client::connect(&alice).await.expect("alice connects");
    for n in 0..110 {
        client.send(vec![bob.mailbox], Payload(format!("m{n}").into_bytes().into())).await.unwrap();
    }
    let mut accepted = 0;
    while accepted < 110 {
        expect_event(&mut client, |e| matches!(e, Event::Accepted { .. }).then_some(())).await;
        accepted += 1;
    }
    let n = wait_for_metric(&server, &dropped("wake_up", "host_queue_full"), |n| n >= 1).await;
    assert!(n <= 1_100, "{n}");
    // Every kind and reason is there, counted apart.
    for kind in ["crisis", "support", "wake_up"] {
        for reason in ["queue_full", "host_queue_full", "host_not_allowed"] {
            let value = metric(&server, &dropped(kind, reason)).await;
            if (kind, reason) != ("wake_up", "host_queue_full") {
                assert_eq!(value, 0, "{kind} {reason}");
            }
        }
    }
}
