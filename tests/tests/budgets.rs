//! What one device may spend (issue 11 items 3 and 4), against real server processes: signed
//! requests per minute, unlinked mailboxes per day, its share of any one recipient's queue, the
//! mailboxes one connection reads, and replay protection that holds across nodes and restarts.
//! In each, the device over its budget is refused with a stable code and everyone else carries on.
//! Unlinked mailboxes nobody reads expire, unless they serve an open support request.

use sallyport_core::protocol::{ErrorCode, MailboxId, MailboxSecret, MessageId};
use sallyport_core::{Client, ClientError, Credentials, Event, api_request, enrol, signing_time};
use sallyport_e2e::*;
use sallyport_protocol::{MAX_MAILBOXES_PER_CONNECTION, auth};
use serde_json::{Value, json};

async fn server_with(database_url: Option<String>, args: &[&str]) -> TestServer {
    TestServer::start_with(ServerOptions { database_url, extra_args: args.iter().map(|a| a.to_string()).collect() }).await
}

async fn admin(server: &TestServer) -> Credentials {
    let link = server.admin_link.clone().expect("first start prints the administrator link");
    enrol(&server.url, &link).await.expect("administrator enrols")
}

/// A signed request, signed once, sent as given to `base` (any node): `(status, body)`.
struct Captured {
    method: &'static str,
    path: &'static str,
    body: Vec<u8>,
    device: String,
    time: String,
    signature: String,
}

impl Captured {
    fn sign(creds: &Credentials, method: &'static str, path: &'static str, body: &Value) -> Captured {
        let body = serde_json::to_vec(body).unwrap();
        let time = signing_time(now_ms());
        let signature = creds.keys.sign_request(&creds.device, &creds.server_url, method, path, time, &body).to_text();
        Captured { method, path, body, device: creds.device.to_text(), time: time.to_string(), signature }
    }

    async fn send_to(&self, base: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .request(self.method.parse().unwrap(), format!("{base}{}", self.path))
            .header("content-type", "application/json")
            .header(auth::DEVICE_HEADER, &self.device)
            .header(auth::TIME_HEADER, &self.time)
            .header(auth::SIGNATURE_HEADER, &self.signature)
            .body(self.body.clone())
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_else(|| panic!("no error code in {body}"))
}

fn invitation() -> Value {
    json!({"display_name": "Sam Ortiz", "roles": ["staff"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_request_cannot_be_replayed_on_another_node() {
    let Some(db) = postgres_database().await else { return };
    // Two nodes of one deployment share its public URL, which devices sign.
    let node1 = server_with(Some(db.clone()), &[]).await;
    let node2 = server_with(Some(db), &["--public-url", &node1.url]).await;
    let admin = admin(&node1).await;
    let captured = Captured::sign(&admin, "POST", "/v1/admin/invitations", &invitation());
    let (status, body) = captured.send_to(&node1.url).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = captured.send_to(&node2.bound_url).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "no second enrolment link from the other node: {body}");
    assert!(body["message"].as_str().unwrap().contains("used before"), "{body}");
}

#[tokio::test]
async fn a_captured_request_cannot_be_replayed_after_a_restart() {
    let mut server = server_with(None, &[]).await;
    let admin = admin(&server).await;
    let captured = Captured::sign(&admin, "POST", "/v1/admin/invitations", &invitation());
    assert_eq!(captured.send_to(&server.url).await.0, 201);
    server.stop().await;
    server.restart().await;
    let (status, body) = captured.send_to(&server.url).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "{body}");
    // A fresh request of the same kind is fine.
    let (status, body) = api_request(&admin, "POST", "/v1/admin/invitations", Some(&invitation())).await.unwrap();
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn one_device_over_its_request_budget_is_refused_alone() {
    let server = server_with(None, &["--signed-requests-per-minute", "5"]).await;
    let (greedy, other) = (server.enrol("Greedy").await, server.enrol("Other").await);
    let mut refused = None;
    // Requests at the start of a minute window fit all five in one window; at most ten runs
    // straddle a window boundary, so the sixth within one window is always reached.
    for _ in 0..11 {
        let (status, body) = api_request(&greedy, "GET", "/v1/me", None).await.unwrap();
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("the budget of 5 a minute was never reached in 11 requests");
    assert_eq!((status, code(&body)), (429, "rate_limited"), "{body}");
    let (status, body) = api_request(&other, "GET", "/v1/me", None).await.unwrap();
    assert_eq!(status, 200, "another device has its own budget: {body}");
}

async fn create(client: &mut Client) -> Result<MailboxId, ErrorCode> {
    let mailbox = MailboxId::random();
    match client.create_mailbox(mailbox, MailboxSecret::random()).await {
        Ok(()) => Ok(mailbox),
        Err(ClientError::Server { code, .. }) => Err(code),
        Err(other) => panic!("creating a mailbox: {other:?}"),
    }
}

#[tokio::test]
async fn unlinked_mailboxes_are_budgeted_per_device() {
    let server = server_with(None, &["--mailboxes-per-day", "3"]).await;
    let (greedy, other) = (server.enrol("Greedy").await, server.enrol("Other").await);
    let mut client = Client::connect(&greedy).await.unwrap();
    let mut created = 0;
    let refusal = loop {
        match create(&mut client).await {
            Ok(_) => created += 1,
            Err(code) => break code,
        }
        assert!(created <= 6, "a budget of 3 a day held for no window");
    };
    assert_eq!(refusal, ErrorCode::RateLimited);
    // Budgets are per device, not per connection: a new connection gets no more.
    client.reconnect().await.unwrap();
    if created >= 3 {
        assert_eq!(create(&mut client).await, Err(ErrorCode::RateLimited));
    }
    let mut other = Client::connect(&other).await.unwrap();
    assert!(create(&mut other).await.is_ok(), "another device has its own budget");
}

/// Sends one message and returns how the server answered it.
async fn send(client: &mut Client, to: MailboxId, n: usize) -> Result<(), ErrorCode> {
    let id: MessageId = client.send(vec![to], marked_payload("share", n)).await.unwrap();
    expect_event(client, |e| match e {
        Event::Accepted { id: i, .. } if *i == id => Some(Ok(())),
        Event::Error { code, id: Some(i), .. } if *i == id => Some(Err(*code)),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_flood_from_one_device_cannot_fill_a_victims_mailbox() {
    let server = server_with(None, &["--sender-share-per-day", "5", "--queue-quota", "10"]).await;
    let (flooder, friend, victim) = (server.enrol("Flooder").await, server.enrol("Friend").await, server.enrol("Victim").await);
    let mut flooding = Client::connect(&flooder).await.unwrap();
    let mut accepted = 0;
    let refusal = loop {
        match send(&mut flooding, victim.mailbox, accepted).await {
            Ok(()) => accepted += 1,
            Err(code) => break code,
        }
        assert!(accepted <= 10, "the flooder filled the victim's whole queue");
    };
    assert_eq!(refusal, ErrorCode::RateLimited, "after {accepted} messages");
    assert!(accepted <= 10);
    // The victim's mailbox still has room for someone else.
    let mut friendly = Client::connect(&friend).await.unwrap();
    assert_eq!(send(&mut friendly, victim.mailbox, 100).await, Ok(()));
}

#[tokio::test]
async fn one_connection_reads_a_bounded_number_of_mailboxes() {
    let limit = MAX_MAILBOXES_PER_CONNECTION.to_string();
    let server = server_with(None, &["--mailboxes-per-day", &limit]).await;
    let creds = server.enrol("Many").await;
    let mut client = Client::connect(&creds).await.unwrap();
    // The linked mailbox counts: MAX − 1 more fit.
    for _ in 1..MAX_MAILBOXES_PER_CONNECTION {
        let mailbox = create(&mut client).await.expect("within the limit");
        let _ = mailbox;
    }
    assert_eq!(create(&mut client).await, Err(ErrorCode::MailboxLimit));
    // The connection still works.
    let to = creds.mailbox;
    assert_eq!(send(&mut client, to, 1).await, Ok(()));
}

const DAY_MS: i64 = 86_400_000;

async fn subscribe(client: &mut Client, mailbox: MailboxId, secret: &MailboxSecret) -> Result<(), ErrorCode> {
    match client.subscribe(mailbox, *secret).await {
        Ok(()) => Ok(()),
        Err(ClientError::Server { code, .. }) => Err(code),
        Err(other) => panic!("subscribing: {other:?}"),
    }
}

/// Asks for peer support, which makes the request's unlinked mailbox: `(mailbox, secret)`.
async fn reach_out(creds: &Credentials) -> (MailboxId, MailboxSecret) {
    let request = SupportRequest::new("week");
    let (status, answer) = api_request(creds, "POST", "/v1/support/requests", Some(&request.body)).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    (request.mailbox, request.secret)
}

#[tokio::test]
async fn unlinked_mailboxes_nobody_reads_expire_unless_they_serve_a_support_request() {
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("clock-offset");
    let set_days = |days: i64| std::fs::write(&offset, (days * DAY_MS).to_string()).unwrap();
    set_days(0);
    let offset_arg = offset.display().to_string();
    let server = server_with(None, &["--clock-offset-file", &offset_arg, "--expiry-sweep-interval-ms", "50"]).await;
    let creds = server.enrol("Reader").await;
    // A fresh connection for each step: a reconnected client would re-subscribe what it read.
    let mut client = Client::connect(&creds).await.unwrap();
    let (forgotten, read) = ((MailboxId::random(), MailboxSecret::random()), (MailboxId::random(), MailboxSecret::random()));
    for (mailbox, secret) in [&forgotten, &read] {
        client.create_mailbox(*mailbox, *secret).await.unwrap();
    }
    let request = reach_out(&creds).await;
    let expired = "sallyport_unread_mailboxes_expired_total";

    // Day 20: someone reads one of them.
    set_days(20);
    let mut client = Client::connect(&creds).await.unwrap();
    assert_eq!(subscribe(&mut client, read.0, &read.1).await, Ok(()));

    // Day 31: the one nobody read for 30 days is gone; the other two stay.
    set_days(31);
    wait_for_metric(&server, expired, |n| n >= 1).await;
    let mut client = Client::connect(&creds).await.unwrap();
    assert_eq!(subscribe(&mut client, forgotten.0, &forgotten.1).await, Err(ErrorCode::UnknownMailbox));
    for (mailbox, secret) in [&read, &request] {
        assert_eq!(subscribe(&mut client, *mailbox, secret).await, Ok(()), "a mailbox read on day 20 or serving a request stays");
    }

    // Day 62: the mailbox last read on day 31 has gone too; the request's stays, and so does the
    // device's own linked mailbox.
    set_days(62);
    wait_for_metric(&server, expired, |n| n >= 2).await;
    let mut client = Client::connect(&creds).await.unwrap();
    assert_eq!(subscribe(&mut client, read.0, &read.1).await, Err(ErrorCode::UnknownMailbox));
    assert_eq!(subscribe(&mut client, request.0, &request.1).await, Ok(()));
    assert_eq!(send(&mut client, creds.mailbox, 1).await, Ok(()));
    assert_eq!(metric(&server, expired).await, 2, "nothing else expired");
}
