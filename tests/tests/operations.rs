//! What an operator sees and what the server keeps in check: health and metrics, logs that carry
//! no content, secrets, ids or addresses, queue quotas, bounded memory for a slow reader, and
//! admin commands that take every id as it is printed.

use futures::{SinkExt, StreamExt};
use sallyport_core::protocol::{
    BINARY_SUBPROTOCOL, ClientFrame, DeviceId, ErrorCode, MailboxId, MailboxSecret, Payload, ServerFrame, WireMessage,
    decode_server_binary,
};
use sallyport_core::{Client, Credentials, Event, api_request};
use sallyport_e2e::*;
use serde_json::json;
use std::collections::BTreeMap;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

on_both_encodings!(
    health_metrics_and_json_logs_reveal_no_content_ids_secrets_or_addresses,
    a_full_queue_refuses_with_quota_exceeded_and_accepts_again_once_drained,
    a_reader_that_stops_reading_does_not_make_the_server_buffer_without_bound,
);

async fn health_metrics_and_json_logs_reveal_no_content_ids_secrets_or_addresses(encoding: Encoding) {
    let mut server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--log-format".into(), "json".into()],
        ..Default::default()
    })
    .await;
    let admin_code = server.admin_link.clone().expect("first start prints an admin link");
    let link = server.invite("Alice", &["staff"]);
    let alice = sallyport_core::enrol(&server.url, &link).await.unwrap();
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    let mut b = connect(&bob, encoding).await.unwrap();
    let unlinked = MailboxId::random();
    let secret = MailboxSecret::random();
    b.create_mailbox(unlinked, secret).await.unwrap();
    for i in 0..50 {
        a.send(vec![bob.mailbox, unlinked], marked_payload("SECRET-MARKER", i)).await.unwrap();
    }
    let mut got = 0;
    while got < 100 {
        if let Event::Message { mailbox, seq, .. } = next_event(&mut b).await.unwrap() {
            b.ack(mailbox, seq).await.unwrap();
            got += 1;
        }
    }
    // Some refused input, so error paths log too.
    let _ = b.subscribe(MailboxId::random(), secret).await;
    let (status, body) = http_get(&server.url, "/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _) = http_get(&server.url, "/readyz").await.unwrap();
    assert_eq!(status, 200);
    // A message is counted when its sender is told it was accepted, which may come after Bob
    // already has it: wait for the count.
    let accepted = wait_for_metric(&server, "sallyport_messages_accepted_total", |n| n >= 50).await;
    assert_eq!(accepted, 50);
    // The subscribe answer (an error) is counted before it is sent, so it is counted by now.
    assert_eq!(metric(&server, "sallyport_errors_total{code=\"unknown_mailbox\"}").await, 1);
    let (status, metrics) = http_get(&server.metrics_url, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    // Never on the public port: a scrape there would time what happens on the server.
    assert_eq!(http_get(&server.url, "/metrics").await.unwrap().0, 404);
    for timing in ["sallyport_support_requests_total", "sallyport_support_escalations_total"] {
        assert!(!metrics.contains(timing), "{timing} would give each support request's second");
    }
    server.stop().await;

    let logs = server.logs();
    assert!(!logs.is_empty(), "the server logs at debug level in this test");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
    let code = admin_code.rsplit('#').next().unwrap().to_owned();
    let forbidden = [
        ("payload text", "SECRET-MARKER".to_owned()),
        ("payload base64", base64_of("SECRET-MARKER")),
        ("client address", "127.0.0.1".to_owned()),
        ("alice's device id", alice.device.to_text()),
        ("bob's device id", bob.device.to_text()),
        ("alice's account id", alice.account.to_text()),
        ("bob's mailbox id", bob.mailbox.to_text()),
        ("the unlinked mailbox id", unlinked.to_text()),
        ("the mailbox secret", secret.to_text()),
        ("the admin invitation code", code),
        ("alice's invitation code", link.rsplit('#').next().unwrap().to_owned()),
        ("alice's signing key", alice.keys.signing_public().to_text()),
    ];
    for (what, needle) in &forbidden {
        assert!(!logs.contains(needle.as_str()), "the log contains {what}");
        assert!(!metrics.contains(needle.as_str()), "the metrics contain {what}");
    }
}

fn base64_of(text: &str) -> String {
    // Standard base64 of the marker's first 12 bytes (a 3-byte-aligned prefix encodes the same
    // wherever the payload is cut).
    use std::fmt::Write;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = &text.as_bytes()[..12];
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            let _ = out.write_char(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    out
}

async fn a_full_queue_refuses_with_quota_exceeded_and_accepts_again_once_drained(encoding: Encoding) {
    let server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--queue-quota".into(), "5".into()],
        ..Default::default()
    })
    .await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = connect(&alice, encoding).await.unwrap();
    for i in 0..6 {
        a.send(vec![bob.mailbox], marked_payload("q", i)).await.unwrap();
    }
    let (mut accepted, mut refused) = (0, None);
    while accepted + refused.iter().count() < 6 {
        match next_event(&mut a).await.unwrap() {
            Event::Accepted { .. } => accepted += 1,
            Event::Error { code: ErrorCode::QuotaExceeded, mailbox, .. } => refused = Some(mailbox),
            other @ Event::Error { .. } => panic!("{other:?}"),
            _ => {}
        }
    }
    assert_eq!(accepted, 5);
    assert_eq!(refused, Some(Some(bob.mailbox)), "the error names the full mailbox");

    let mut b = connect(&bob, encoding).await.unwrap();
    let mut got = vec![];
    while got.len() < 5 {
        if let Event::Message { mailbox, seq, payload, .. } = next_event(&mut b).await.unwrap() {
            got.push(payload_number("q", &payload).unwrap());
            b.ack(mailbox, seq).await.unwrap();
        }
    }
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    // Bob's acks and Alice's next send travel on different connections: wait until the server
    // has committed the five acks (counted once committed), then the mailbox has room again.
    wait_for_metric(&server, "sallyport_acks_total", |acks| acks >= 5).await;
    a.send(vec![bob.mailbox], marked_payload("q", 6)).await.unwrap();
    let answer = expect_event(&mut a, |e| match e {
        Event::Accepted { .. } => Some(None),
        Event::Error { code, .. } => Some(Some(*code)),
        _ => None,
    })
    .await;
    assert_eq!(answer, None, "the drained mailbox accepts at once");
    let n = expect_event(&mut b, |e| match e {
        Event::Message { payload, .. } => payload_number("q", payload),
        _ => None,
    })
    .await;
    assert_eq!(n, 6, "once drained, the mailbox accepts again");
}

async fn a_reader_that_stops_reading_does_not_make_the_server_buffer_without_bound(encoding: Encoding) {
    slow_reader(encoding, encoding).await;
}

/// The sender cheapest to read and the reader costliest to write to: the server takes binary sends
/// faster than it encodes JSON deliveries. (Before `deliver` frames were encoded in one pass into
/// a buffer of their size, the reader's session fell behind the commits here, its mailbox was
/// re-read from SQLite while it could send nothing, and the server grew 131–141 MiB.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_reader_that_stops_reading_a_binary_sender_does_not_make_the_server_buffer_without_bound() {
    slow_reader(Encoding::Binary, Encoding::Json).await;
}

/// Alice (`sender`) sends 240 MB to Bob, who reads nothing on a `reader` connection, then all.
async fn slow_reader(sender: Encoding, reader: Encoding) {
    // What is measured is the server's buffering, not the sender's byte budget (32 MiB per 10 s by
    // default, which these 240 MB would exceed): the budget is lifted for this sender.
    let server = TestServer::start_with(ServerOptions {
        database_url: None,
        extra_args: vec!["--send-bytes-per-10s".into(), (1u64 << 30).to_string()],
    })
    .await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    // Bob authenticates on a raw socket and then reads nothing at all.
    let mut request = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1)).into_client_request().unwrap();
    if reader == Encoding::Binary {
        request.headers_mut().insert("sec-websocket-protocol", BINARY_SUBPROTOCOL.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let Some(Ok(Message::Text(text))) = ws.next().await else { panic!("challenge") };
    let ServerFrame::Challenge { nonce, .. } = serde_json::from_str(&text).unwrap() else { panic!("challenge") };
    let ts = now_ms();
    let signature = bob.keys.sign_auth(&bob.device, &nonce, &bob.server_url, ts);
    ws.send(Message::text(ClientFrame::Auth { device: bob.device, nonce, timestamp: ts, signature }.to_json()))
        .await
        .unwrap();

    let before = rss_kib(server.pid());
    // 4,000 messages of 60 KiB: 240 MB for a reader that never reads.
    let payload = Payload(vec![7u8; 60 * 1024].into());
    let client = connect(&alice, sender).await.unwrap();
    let (sender, mut events) = client.into_split().unwrap();
    let feeding = tokio::spawn(async move {
        for _ in 0..4000 {
            sender.send(vec![bob.mailbox], payload.clone()).await.unwrap();
        }
    });
    let mut accepted = 0;
    let mut peak = before;
    while accepted < 4000 {
        match tokio::time::timeout(WAIT, events.next_event()).await.expect("progress").unwrap() {
            Event::Accepted { .. } => accepted += 1,
            Event::Error { code, .. } => panic!("{code}"),
            _ => {}
        }
        if accepted % 250 == 0 {
            peak = peak.max(rss_kib(server.pid()));
        }
    }
    feeding.await.unwrap();
    peak = peak.max(rss_kib(server.pid()));
    let growth_mib = (peak.saturating_sub(before)) / 1024;
    assert!(growth_mib < 120, "server memory grew by {growth_mib} MiB for 240 MB sent to a reader that never reads");

    // Once Bob reads, everything arrives in order.
    let mut last = 0;
    let mut n = 0;
    while n < 4000 {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("delivery resumes").unwrap().unwrap();
        let frame = match msg {
            Message::Text(text) => serde_json::from_str(&text).unwrap(),
            Message::Binary(bytes) => decode_server_binary(&bytes).unwrap().expect("a known binary frame"),
            _ => continue,
        };
        if let ServerFrame::Deliver { mailbox, seq, .. } = frame {
            if seq > last {
                n += 1;
                last = seq;
            }
            let ack = match (ClientFrame::Ack { mailbox, seq }).to_wire(reader) {
                WireMessage::Text(text) => Message::text(text),
                WireMessage::Binary(bytes) => Message::binary(bytes),
            };
            ws.send(ack).await.unwrap();
        }
    }
}

/// 16 random bytes whose unpadded base64url text begins with `first`: the first character is the
/// top six bits of the first byte (`-` is 62, `_` is 63).
fn id_bytes_beginning_with(first: char) -> [u8; 16] {
    let index = match first {
        '-' => 62,
        '_' => 63,
        other => panic!("not a test case: {other}"),
    };
    let mut bytes = rand::random::<[u8; 16]>();
    bytes[0] = (index << 2) | (bytes[0] & 0b11);
    bytes
}

/// Ids are 16 random bytes in unpadded base64url, so one device in 64 gets an id beginning with
/// `-`, and one account in 64 too. An administrator copies such an id from `admin devices` into
/// `admin revoke-device` or `admin invite --account`: the command takes it as the id it is, not as
/// a flag. The same for `_`, the other character that is not a letter or a digit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_take_ids_beginning_with_a_hyphen_or_an_underscore() {
    let server = TestServer::start().await;

    // Unknown ids are looked up and not found, not refused as flags.
    for first in ['-', '_'] {
        let id = DeviceId(id_bytes_beginning_with(first)).to_text();
        let out = server.admin_output(&["revoke-device", &id]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "revoking unknown device {id} succeeded: {stderr}");
        assert!(stderr.contains(&format!("no device {id}")), "revoke-device {id}: {stderr}");
    }

    // Real ones: people enrol until a device and an account have ids beginning with each. Every
    // enrolment draws a new device id and a new account id, each beginning with a given character
    // with probability 1/64: about 130 enrolments find all four on average, and 3,000 miss one
    // with probability under 4 × (63/64)^3000 < 10^-19.
    let admin = sallyport_core::enrol(&server.url, server.admin_link.as_deref().expect("first start prints an admin link"))
        .await
        .expect("the administrator enrols");
    let mut devices: BTreeMap<char, Credentials> = BTreeMap::new();
    let mut accounts: BTreeMap<char, Credentials> = BTreeMap::new();
    let mut enrolled = 0;
    while devices.len() < 2 || accounts.len() < 2 {
        assert!(enrolled < 3_000, "no id began with - or _ in {enrolled} enrolments: {devices:?} {accounts:?}");
        enrolled += 1;
        let invitation = json!({"display_name": format!("Person {enrolled}"), "roles": ["staff"]});
        let (status, body) = api_request(&admin, "POST", "/v1/admin/invitations", Some(&invitation)).await.expect("request");
        assert_eq!(status, 201, "{body}");
        let creds = sallyport_core::enrol(&server.url, body["link"].as_str().expect("a link")).await.expect("enrolment");
        for first in ['-', '_'] {
            if creds.device.to_text().starts_with(first) {
                devices.entry(first).or_insert_with(|| creds.clone());
            }
            if creds.account.to_text().starts_with(first) {
                accounts.entry(first).or_insert_with(|| creds.clone());
            }
        }
    }

    // `invite --account ID` adds a device to that account.
    for owner in accounts.values() {
        let account = owner.account.to_text();
        let link = server.admin(&["invite", "--name", "Second device", "--role", "staff", "--account", &account]);
        let second = sallyport_core::enrol(&server.url, link.trim()).await.expect("the second device enrols");
        assert_eq!(second.account, owner.account, "a new device of account {account}");
        assert_ne!(second.device, owner.device);
    }

    // `revoke-device ID`, with the id copied from its row in `admin devices`.
    let listing = server.admin(&["devices"]);
    for creds in devices.values() {
        let id = listing
            .lines()
            .filter_map(|row| row.split_whitespace().next())
            .find(|id| *id == creds.device.to_text())
            .unwrap_or_else(|| panic!("device {} is not listed:\n{listing}", creds.device))
            .to_owned();
        let out = server.admin(&["revoke-device", &id]);
        assert!(out.contains(&format!("revoked device {id}")), "{out}");
        let err = Client::connect(creds).await.expect_err("a revoked device cannot connect");
        assert_eq!(err.code(), Some(ErrorCode::DeviceRevoked), "{err}");
    }
    let listing = server.admin(&["devices"]);
    for creds in devices.values() {
        let id = creds.device.to_text();
        let row = listing.lines().find(|row| row.starts_with(&format!("{id} "))).unwrap_or_else(|| panic!("{id}:\n{listing}"));
        assert!(row.ends_with("(revoked)"), "{row}");
    }
}
