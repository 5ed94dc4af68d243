//! Bad input end to end: each kind of bad frame or credential gets its stable error code, and a
//! healthy pair of devices on the same server carries on undisturbed throughout.

use futures::{SinkExt, StreamExt};
use sallyport_core::protocol::{
    ClientFrame, ErrorCode, MailboxId, MailboxSecret, MessageId, Nonce, ServerFrame, Signature,
};
use sallyport_core::{Client, Credentials, DeviceKeys, Event};
use sallyport_e2e::*;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw WebSocket, for sending what a well-behaved client never would.
struct Raw {
    ws: Ws,
    nonce: Nonce,
}

impl Raw {
    async fn open(server: &TestServer) -> Raw {
        let url = format!("{}/v1/ws", server.url.replacen("http://", "ws://", 1));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        let nonce = match next_frame(&mut ws).await {
            Some(ServerFrame::Challenge { nonce, .. }) => nonce,
            other => panic!("expected a challenge, got {other:?}"),
        };
        Raw { ws, nonce }
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("write");
    }

    async fn send(&mut self, frame: &ClientFrame) {
        self.send_text(frame.to_json()).await;
    }

    async fn next(&mut self) -> Option<ServerFrame> {
        next_frame(&mut self.ws).await
    }

    async fn expect_error(&mut self, want: ErrorCode) {
        match self.next().await {
            Some(ServerFrame::Error { code, .. }) => assert_eq!(code, want),
            other => panic!("expected error {want}, got {other:?}"),
        }
    }

    /// After a connection-ending error, the server closes the socket.
    async fn expect_closed(&mut self) {
        assert_eq!(self.next().await, None, "the server closes the connection");
    }

    async fn authenticate(&mut self, creds: &Credentials) {
        let frame = auth_frame(creds, &creds.keys, self.nonce);
        self.send(&frame).await;
        match self.next().await {
            Some(ServerFrame::Ready { .. }) => {}
            other => panic!("expected ready, got {other:?}"),
        }
    }
}

fn auth_frame(creds: &Credentials, keys: &DeviceKeys, nonce: Nonce) -> ClientFrame {
    let timestamp = now_ms();
    let signature: Signature = keys.sign_auth(&creds.device, &nonce, &creds.server_url, timestamp);
    ClientFrame::Auth { device: creds.device, nonce, timestamp, signature }
}

async fn next_frame(ws: &mut Ws) -> Option<ServerFrame> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time");
        match msg {
            Some(Ok(Message::Text(text))) => match serde_json::from_str(&text).expect("server frames parse") {
                // A notice (the device has published no KeyPackages yet), not an answer.
                ServerFrame::KeyPackagesLow { .. } => continue,
                frame => return Some(frame),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }
}

/// A healthy pair: Alice sends Bob one message and Bob receives it.
struct Pair {
    alice: Client,
    bob: Client,
    bob_mailbox: MailboxId,
    n: usize,
}

impl Pair {
    async fn new(server: &TestServer) -> Pair {
        let alice = server.enrol("Healthy Alice").await;
        let bob = server.enrol("Healthy Bob").await;
        Pair {
            alice: Client::connect(&alice).await.unwrap(),
            bob: Client::connect(&bob).await.unwrap(),
            bob_mailbox: bob.mailbox,
            n: 0,
        }
    }

    async fn still_works(&mut self) {
        self.n += 1;
        let n = self.n;
        self.alice.send(vec![self.bob_mailbox], marked_payload("ok", n)).await.unwrap();
        let got = expect_event(&mut self.bob, |e| match e {
            Event::Message { mailbox, seq, payload, .. } => Some((*mailbox, *seq, payload_number("ok", payload))),
            _ => None,
        })
        .await;
        assert_eq!(got.2, Some(n), "the healthy pair's message arrives");
        self.bob.ack(got.0, got.1).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_stable_errors_and_others_carry_on() {
    let server = TestServer::start().await;
    let mut pair = Pair::new(&server).await;
    let mallory = server.enrol("Mallory").await;
    pair.still_works().await;

    // Bad signature: signed with a key that is not the device's.
    let mut raw = Raw::open(&server).await;
    let frame = auth_frame(&mallory, &DeviceKeys::generate(), raw.nonce);
    raw.send(&frame).await;
    raw.expect_error(ErrorCode::BadSignature).await;
    raw.expect_closed().await;
    pair.still_works().await;

    // Replayed nonce: an auth frame that succeeded on one connection, replayed on another.
    let mut first = Raw::open(&server).await;
    let captured = auth_frame(&mallory, &mallory.keys, first.nonce);
    first.send(&captured).await;
    assert!(matches!(first.next().await, Some(ServerFrame::Ready { .. })));
    let mut replay = Raw::open(&server).await;
    replay.send(&captured).await;
    replay.expect_error(ErrorCode::InvalidNonce).await;
    replay.expect_closed().await;
    // ... and re-sent on its own connection, it is refused too.
    first.send(&captured).await;
    first.expect_error(ErrorCode::AlreadyAuthenticated).await;
    pair.still_works().await;

    // Clock too far off.
    let mut raw = Raw::open(&server).await;
    let timestamp = now_ms() - 3_600_000;
    let signature = mallory.keys.sign_auth(&mallory.device, &raw.nonce, &mallory.server_url, timestamp);
    raw.send(&ClientFrame::Auth { device: mallory.device, nonce: raw.nonce, timestamp, signature }).await;
    raw.expect_error(ErrorCode::ClockSkew).await;
    raw.expect_closed().await;
    // A time at the end of the range: `timestamp - now` overflowed for it (issue 11, fuzzing).
    let mut raw = Raw::open(&server).await;
    let signature = mallory.keys.sign_auth(&mallory.device, &raw.nonce, &mallory.server_url, i64::MIN);
    raw.send(&ClientFrame::Auth { device: mallory.device, nonce: raw.nonce, timestamp: i64::MIN, signature }).await;
    raw.expect_error(ErrorCode::ClockSkew).await;
    raw.expect_closed().await;

    // Frames before authentication.
    let mut raw = Raw::open(&server).await;
    raw.send(&ClientFrame::Ack { mailbox: mallory.mailbox, seq: 1 }).await;
    raw.expect_error(ErrorCode::NotAuthenticated).await;
    raw.authenticate(&mallory).await;

    // Malformed and unknown frames get errors but keep the connection.
    raw.send_text("{not json".into()).await;
    raw.expect_error(ErrorCode::MalformedFrame).await;
    raw.send_text(r#"{"type":"send","id":"short","to":[],"payload":""}"#.into()).await;
    raw.expect_error(ErrorCode::MalformedFrame).await;
    raw.send_text(r#"{"type":"teleport","to":"mars"}"#.into()).await;
    raw.expect_error(ErrorCode::UnknownFrameType).await;
    raw.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    raw.expect_error(ErrorCode::MalformedFrame).await;

    // A payload over 64 KiB (inside a frame under the frame limit).
    let id = MessageId::random();
    let big = sallyport_core::protocol::Payload(vec![0u8; 65_537].into());
    raw.send(&ClientFrame::Send { id, to: vec![pair.bob_mailbox], payload: big }).await;
    match raw.next().await {
        Some(ServerFrame::Error { code: ErrorCode::PayloadTooLarge, id: Some(got), .. }) => assert_eq!(got, id),
        other => panic!("expected payload_too_large for the message, got {other:?}"),
    }

    // Bad recipients, unknown recipients.
    raw.send(&ClientFrame::Send { id, to: vec![], payload: marked_payload("x", 0) }).await;
    raw.expect_error(ErrorCode::BadRecipients).await;
    raw.send(&ClientFrame::Send { id, to: vec![MailboxId::random()], payload: marked_payload("x", 0) }).await;
    raw.expect_error(ErrorCode::UnknownMailbox).await;

    // Wrong mailbox secret; another device's linked mailbox; unknown mailbox; acking another's.
    let unlinked = MailboxId::random();
    let secret = MailboxSecret::random();
    raw.send(&ClientFrame::CreateMailbox { mailbox: unlinked, secret }).await;
    assert_eq!(raw.next().await, Some(ServerFrame::MailboxCreated { mailbox: unlinked }));
    raw.send(&ClientFrame::CreateMailbox { mailbox: unlinked, secret }).await;
    raw.expect_error(ErrorCode::MailboxExists).await;
    let mut other = Raw::open(&server).await;
    let eve = server.enrol("Eve").await;
    other.authenticate(&eve).await;
    other.send(&ClientFrame::Subscribe { mailbox: unlinked, secret: MailboxSecret::random() }).await;
    other.expect_error(ErrorCode::WrongMailboxSecret).await;
    other.send(&ClientFrame::Subscribe { mailbox: pair.bob_mailbox, secret: MailboxSecret::random() }).await;
    other.expect_error(ErrorCode::WrongMailboxSecret).await;
    other.send(&ClientFrame::Subscribe { mailbox: MailboxId::random(), secret }).await;
    other.expect_error(ErrorCode::UnknownMailbox).await;
    other.send(&ClientFrame::Ack { mailbox: pair.bob_mailbox, seq: 1 }).await;
    other.expect_error(ErrorCode::UnknownMailbox).await;
    other.send(&ClientFrame::Subscribe { mailbox: unlinked, secret }).await;
    assert_eq!(other.next().await, Some(ServerFrame::Subscribed { mailbox: unlinked }));
    pair.still_works().await;

    // A frame over the frame limit closes that connection only.
    raw.send_text(format!(r#"{{"type":"send","pad":"{}"}}"#, "A".repeat(200 * 1024))).await;
    raw.expect_error(ErrorCode::FrameTooLarge).await;
    raw.expect_closed().await;
    pair.still_works().await;

    // Nothing about the refused frames reached storage: the unlinked mailbox is still empty and
    // usable, and the server is healthy.
    other.send(&ClientFrame::Send { id: MessageId::random(), to: vec![unlinked], payload: marked_payload("u", 1) }).await;
    loop {
        match other.next().await {
            Some(ServerFrame::Accepted { .. }) => {}
            Some(ServerFrame::Deliver { payload, .. }) => {
                assert_eq!(payload_number("u", &payload), Some(1));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_devices_and_slow_authentication_are_refused() {
    let server = TestServer::start().await;
    let ghost = Credentials { device: sallyport_core::protocol::DeviceId::random(), ..server.enrol("Ghost").await };
    let mut raw = Raw::open(&server).await;
    raw.send(&auth_frame(&ghost, &ghost.keys, raw.nonce)).await;
    raw.expect_error(ErrorCode::UnknownDevice).await;
    raw.expect_closed().await;

    // A second redemption of a used invitation fails with the stable code.
    let link = server.invite("Once", &["staff"]);
    sallyport_core::enrol(&server.url, &link).await.unwrap();
    let err = sallyport_core::enrol(&server.url, &link).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidInvitation));
}

/// The frame rate the flooding tests give their server.
const FLOOD_TEST_RATE: u32 = 20;

/// A server allowing `rate` frames a second per connection, a healthy pair on it, and an
/// authenticated raw socket of another device to flood it with.
async fn flooder(rate: u32) -> (TestServer, Pair, Raw) {
    let server = TestServer::start_with(ServerOptions {
        extra_args: vec!["--max-frames-per-second".into(), rate.to_string()],
        ..Default::default()
    })
    .await;
    let pair = Pair::new(&server).await;
    let flooder = server.enrol("Flooder").await;
    let mut raw = Raw::open(&server).await;
    raw.authenticate(&flooder).await;
    (server, pair, raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_is_rate_limited_without_closing_or_disturbing_others() {
    let (_server, mut pair, mut raw) = flooder(FLOOD_TEST_RATE).await;
    let started = Instant::now();
    for _ in 0..200 {
        raw.send_text("{}".into()).await;
    }
    let (limited, malformed) = count_refusals(&mut raw, 200).await;
    assert!(limited > 100, "most of a burst far over the limit is refused ({limited} of 200)");
    assert!(malformed >= 20, "frames within the burst allowance are processed ({malformed})");
    assert_read_at_the_rate(started, limited, FLOOD_TEST_RATE);
    pair.still_works().await;
}

/// Binary frames and pings are no way around the frame rate: each costs the server a reply
/// (an error, a pong), so each counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_ping_floods_are_rate_limited_too() {
    let (_server, mut pair, mut raw) = flooder(FLOOD_TEST_RATE).await;
    let started = Instant::now();
    for _ in 0..40 {
        raw.ws.send(Message::Ping(vec![1u8; 8].into())).await.expect("write");
    }
    for _ in 0..100 {
        raw.ws.send(Message::binary(vec![0u8; 16])).await.expect("write");
    }
    let (limited, malformed) = count_refusals(&mut raw, 100).await;
    assert!(limited >= 60, "the pings spent the burst allowance: most binary frames are refused ({limited} of 100)");
    assert_eq!(limited + malformed, 100);
    assert_read_at_the_rate(started, limited, FLOOD_TEST_RATE);
    pair.still_works().await;
}

/// Reads answers to `frames` refused or malformed frames: (rate_limited, malformed_frame).
async fn count_refusals(raw: &mut Raw, frames: usize) -> (usize, usize) {
    let (mut limited, mut malformed) = (0, 0);
    while limited + malformed < frames {
        match raw.next().await {
            Some(ServerFrame::Error { code: ErrorCode::RateLimited, .. }) => limited += 1,
            Some(ServerFrame::Error { code: ErrorCode::MalformedFrame, .. }) => malformed += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (limited, malformed)
}

/// After each refusal the server reads nothing from the connection for one token's time, so
/// `limited` refusals cannot all have been answered sooner than `limited - 1` such pauses after
/// the flood began (a lower bound that holds however slow the machine).
fn assert_read_at_the_rate(started: Instant, limited: usize, rate: u32) {
    let floor = Duration::from_secs_f64((limited - 1) as f64 / f64::from(rate));
    assert!(
        started.elapsed() >= floor,
        "a flooding connection is read no faster than its rate: {limited} refusals in {:?} (at least {floor:?})",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_device_is_disconnected_within_a_second_and_refused_after() {
    let server = TestServer::start().await;
    let mut pair = Pair::new(&server).await;
    let lost_phone = server.enrol("Lost phone").await;
    let mut client = Client::connect(&lost_phone).await.unwrap();
    let mut raw = Raw::open(&server).await;
    raw.authenticate(&lost_phone).await; // supersedes `client`
    assert!(matches!(
        expect_event(&mut client, |e| match e {
            Event::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await,
        ErrorCode::Superseded
    ));

    let revoked_at = Instant::now();
    let out = server.admin(&["revoke-device", &lost_phone.device.to_text()]);
    assert!(out.contains("revoked"), "{out}");
    // The server says why (an `error` frame with `device_revoked`), then closes.
    let frame = tokio::time::timeout(Duration::from_secs(1), raw.next())
        .await
        .expect("the revoked device's socket is closed within a second");
    assert!(matches!(frame, Some(ServerFrame::Error { code: ErrorCode::DeviceRevoked, .. })), "{frame:?}");
    raw.expect_closed().await;
    assert!(revoked_at.elapsed() < Duration::from_secs(2));
    let err = Client::connect(&lost_phone).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::DeviceRevoked));
    pair.still_works().await;
}
