//! What an operator sees and what the server keeps in check: health and metrics, logs that carry
//! no content, secrets, ids or addresses, queue quotas, and bounded memory for a slow reader.

use futures::{SinkExt, StreamExt};
use sallyport_core::protocol::{ClientFrame, ErrorCode, MailboxId, MailboxSecret, Payload, ServerFrame};
use sallyport_core::{Client, Event};
use sallyport_e2e::*;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_json_logs_reveal_no_content_ids_secrets_or_addresses() {
    let mut server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--log-format".into(), "json".into()],
        ..Default::default()
    })
    .await;
    let admin_code = server.admin_link.clone().expect("first start prints an admin link");
    let link = server.invite("Alice", &["staff"]);
    let alice = sallyport_core::enrol(&server.url, &link).await.unwrap();
    let bob = server.enrol("Bob").await;
    let mut a = Client::connect(&alice).await.unwrap();
    let mut b = Client::connect(&bob).await.unwrap();
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
    let (status, metrics) = http_get(&server.url, "/metrics").await.unwrap();
    assert_eq!(status, 200);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_with_quota_exceeded_and_accepts_again_once_drained() {
    let server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--queue-quota".into(), "5".into()],
        ..Default::default()
    })
    .await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    let mut a = Client::connect(&alice).await.unwrap();
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

    let mut b = Client::connect(&bob).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_does_not_make_the_server_buffer_without_bound() {
    let server = TestServer::start().await;
    let alice = server.enrol("Alice").await;
    let bob = server.enrol("Bob").await;
    // Bob authenticates on a raw socket and then reads nothing at all.
    let url = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
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
    let client = Client::connect(&alice).await.unwrap();
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
        if let Message::Text(text) = msg
            && let ServerFrame::Deliver { mailbox, seq, .. } = serde_json::from_str(&text).unwrap()
        {
            if seq > last {
                n += 1;
                last = seq;
            }
            ws.send(Message::text(ClientFrame::Ack { mailbox, seq }.to_json())).await.unwrap();
        }
    }
}
