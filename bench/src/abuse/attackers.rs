//! The five kinds of attacker, each a set of tasks that run until a deadline and count what they
//! did and what the server answered. Every attacker connects from 127.0.0.2 on (round robin over
//! `--attack-sources` addresses), so a per-address connection cap never counts the healthy pairs.
//! Whatever the server does (refuse, close, stall), an attacker reconnects and carries on until
//! the deadline: it measures the server's defences, it does not give up on them.

use crate::net;
use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use sallyport_core::protocol::{MailboxId, MailboxSecret, Payload};
use sallyport_core::{Client, Credentials, Event, Session};
use sallyport_e2e::push_emulator::PushEmulator;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout_at};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Pause after a failed connection attempt, so a refusing server is not spun against.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Bytes per write of a fast large body.
const BODY_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Kind {
    /// Authenticated sockets sending frames back to back.
    Flood,
    /// Malformed and oversized WebSocket frames, authenticated and not.
    Malformed,
    /// WebSockets that never authenticate, and HTTP requests that never finish their headers.
    Idle,
    /// Large unauthenticated request bodies, fast and slow.
    Bodies,
    /// Unlinked mailboxes subscribed at a slow push service that answers 429, and messages to them.
    Push,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flood => "flood",
            Kind::Malformed => "malformed",
            Kind::Idle => "idle",
            Kind::Bodies => "bodies",
            Kind::Push => "push",
        }
    }
}

/// Intensities (from the command line).
#[derive(Debug, Clone)]
pub struct Intensity {
    /// Attacker source addresses: 127.0.0.2 ..= 127.0.0.(1 + sources).
    pub sources: usize,
    pub flood_conns: usize,
    pub flood_payload: usize,
    pub malformed_conns: usize,
    pub oversize_kib: usize,
    pub idle_conns: usize,
    pub slowloris_conns: usize,
    pub slowloris_interval: Duration,
    pub body_conns: usize,
    pub body_mib: usize,
    pub body_slow_bps: usize,
    pub push_mailboxes: usize,
    pub push_mailboxes_per_device: usize,
    pub push_subs: usize,
    pub push_rate: f64,
    pub push_retry_after: u64,
    pub push_delay: Duration,
}

/// What one kind of attacker did and what it got back.
#[derive(Default)]
pub struct Counters {
    /// Connections established (TCP, or WebSocket where the attacker speaks it).
    pub connections: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Frames, requests or messages written.
    pub sent: AtomicU64,
    pub bytes: AtomicU64,
    /// Connections the server ended (closed, reset, or answered and closed).
    pub ended_by_server: AtomicU64,
    /// Answers by kind: `http 413`, `error rate_limited`, `close 1009`, `ws handshake refused`…
    pub answers: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn answer(&self, what: impl Into<String>) {
        *self.answers.lock().unwrap().entry(what.into()).or_default() += 1;
    }

    pub fn json(&self) -> Value {
        json!({
            "connections": self.connections.load(Relaxed),
            "connect_failures": self.connect_failures.load(Relaxed),
            "sent": self.sent.load(Relaxed),
            "bytes": self.bytes.load(Relaxed),
            "ended_by_server": self.ended_by_server.load(Relaxed),
            "answers": *self.answers.lock().unwrap(),
        })
    }
}

/// Where the attackers aim, and until when.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub addr: SocketAddr,
    pub deadline: Instant,
    pub sources: usize,
}

impl Target {
    fn ws_url(&self) -> String {
        sallyport_core::identity::ws_url(&self.url)
    }

    fn source(&self, i: usize) -> IpAddr {
        net::attacker(i, self.sources)
    }

    fn over(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket from attacker address `source`, upgraded but not authenticated.
async fn open_ws(target: &Target, source: IpAddr, c: &Counters) -> Option<Ws> {
    let attempt = async {
        let stream = net::connect_from(source, target.addr).await.ok()?;
        // The attacker's own reading limits must not be what ends a connection.
        let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
        match tokio_tungstenite::client_async_with_config(target.ws_url(), MaybeTlsStream::Plain(stream), Some(config)).await {
            Ok((ws, _)) => Some(ws),
            Err(e) => {
                c.answer(format!("ws handshake refused: {}", short_error(&e.to_string())));
                None
            }
        }
    };
    match timeout_at(target.deadline, attempt).await {
        Ok(Some(ws)) => {
            c.connections.fetch_add(1, Relaxed);
            Some(ws)
        }
        Ok(None) => {
            c.connect_failures.fetch_add(1, Relaxed);
            sleep(RETRY_PAUSE).await;
            None
        }
        Err(_) => None,
    }
}

/// Answers the challenge with the device's signature (the client core's session does the
/// protocol) and waits for `ready`. False if the server refused or the deadline passed.
async fn authenticate(ws: &mut Ws, creds: &Credentials, deadline: Instant, c: &Counters) -> bool {
    let mut session = Session::new(creds);
    session.connected();
    let handshake = async {
        loop {
            while let Some(frame) = session.poll_transmit() {
                ws.send(Message::text(frame.to_json())).await.ok()?;
            }
            while let Some(event) = session.poll_event() {
                match event {
                    Event::Ready { .. } => return Some(true),
                    Event::Error { code, .. } => {
                        c.answer(format!("auth refused: {code}"));
                        return Some(false);
                    }
                    Event::Closed => return Some(false),
                    _ => {}
                }
            }
            match ws.next().await? {
                Ok(Message::Text(text)) => session.handle_text(text.as_str(), now_ms()).ok()?,
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    };
    timeout_at(deadline, handshake).await.ok().flatten().unwrap_or(false)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// The first line of an error, shortened so answers group by kind rather than by detail.
fn short_error(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    line.chars().take(60).collect()
}

/// Counts what the server writes on a WebSocket until it closes it or the deadline: error codes
/// and close codes. Returns when the connection is over.
async fn read_answers(mut stream: futures::stream::SplitStream<Ws>, deadline: Instant, c: Arc<Counters>) {
    loop {
        match timeout_at(deadline, stream.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(text)))) => {
                if let Ok(frame) = serde_json::from_str::<Value>(text.as_str())
                    && frame["type"] == "error"
                {
                    c.answer(format!("error {}", frame["code"].as_str().unwrap_or("?")));
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                c.answer(match frame {
                    Some(f) => format!("close {}", u16::from(f.code)),
                    None => "close (no code)".into(),
                });
                c.ended_by_server.fetch_add(1, Relaxed);
                return;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                c.answer(format!("ws error: {}", short_error(&e.to_string())));
                c.ended_by_server.fetch_add(1, Relaxed);
                return;
            }
            Ok(None) => {
                c.ended_by_server.fetch_add(1, Relaxed);
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) flood

/// One authenticated socket per device, sending `send` frames to the device's own linked mailbox
/// back to back (as fast as the socket takes them) and acking what comes back; reconnects when
/// the server closes it.
pub async fn flood(target: Target, creds: Credentials, index: usize, payload: usize, c: Arc<Counters>) {
    let payload = Payload(Bytes::from(vec![b'f'; payload.max(1)]));
    // A send frame's size on the wire, roughly (base64 payload plus the JSON around it).
    let frame_bytes = (payload.0.len() * 4).div_ceil(3) as u64 + 120;
    while !target.over() {
        let connect = Client::connect_from(&creds, Some(target.source(index)));
        let client = match timeout_at(target.deadline, connect).await {
            Err(_) => return,
            Ok(Err(e)) => {
                c.connect_failures.fetch_add(1, Relaxed);
                c.answer(format!("connect refused: {}", short_error(&e.to_string())));
                sleep(RETRY_PAUSE).await;
                continue;
            }
            Ok(Ok(client)) => client,
        };
        c.connections.fetch_add(1, Relaxed);
        let Ok((tx, mut rx)) = client.into_split() else { continue };
        let reader = {
            let c = c.clone();
            let deadline = target.deadline;
            tokio::spawn(async move {
                loop {
                    match timeout_at(deadline, rx.next_event()).await {
                        Err(_) => return,
                        Ok(Ok(Event::Message { mailbox, seq, .. })) => {
                            let _ = rx.ack(mailbox, seq).await;
                        }
                        Ok(Ok(Event::Error { code, .. })) => c.answer(format!("error {code}")),
                        Ok(Ok(Event::Closed)) | Ok(Err(_)) => {
                            c.ended_by_server.fetch_add(1, Relaxed);
                            return;
                        }
                        Ok(Ok(_)) => {}
                    }
                }
            })
        };
        while !target.over() && !reader.is_finished() {
            match timeout_at(target.deadline, tx.send(vec![creds.mailbox], payload.clone())).await {
                Ok(Ok(_)) => {
                    c.sent.fetch_add(1, Relaxed);
                    c.bytes.fetch_add(frame_bytes, Relaxed);
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
        let _ = tx.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (b) malformed and oversized frames

/// The frames a malformed-frame attacker cycles through, prepared once.
pub struct MalformedFrames {
    frames: Vec<(&'static str, Message)>,
}

impl MalformedFrames {
    pub fn new(oversize_kib: usize) -> MalformedFrames {
        let limit = sallyport_core::protocol::MAX_FRAME_BYTES;
        // Valid JSON text just under the frame limit: a send whose payload is not base64.
        let near_limit = format!(r#"{{"type":"send","id":"AAAAAAAAAAAAAAAAAAAAAA","to":[],"payload":"{}"}}"#, "!".repeat(limit - 200));
        let oversize = "[".repeat(oversize_kib.max(1) * 1024);
        let binary: Vec<u8> = (0..1024u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
        let text = |s: String| Message::Text(Utf8Bytes::from(s));
        MalformedFrames {
            frames: vec![
                ("not json", text("{{{{ this is not json".into())),
                ("unknown type", text(r#"{"type":"no_such_frame","x":1}"#.into())),
                ("deep nesting", text(format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)))),
                ("binary", Message::Binary(Bytes::from(binary))),
                ("bad fields", text(r#"{"type":"send","id":"x","to":["?"],"payload":"%%%"}"#.into())),
                ("near the limit", text(near_limit)),
                ("oversized", text(oversize)),
            ],
        }
    }
}

/// Connections that send malformed frames, then an oversized one, and reconnect when closed.
/// Odd-numbered ones authenticate first (as the device `creds`), even ones never do.
pub async fn malformed(target: Target, creds: Option<Credentials>, index: usize, frames: Arc<MalformedFrames>, c: Arc<Counters>) {
    while !target.over() {
        let Some(mut ws) = open_ws(&target, target.source(index), &c).await else { continue };
        if let Some(creds) = &creds
            && !authenticate(&mut ws, creds, target.deadline, &c).await
        {
            continue;
        }
        let (mut sink, stream) = ws.split();
        let reader = tokio::spawn(read_answers(stream, target.deadline, c.clone()));
        'frames: for (_, frame) in frames.frames.iter().cycle() {
            if target.over() || reader.is_finished() {
                break 'frames;
            }
            let len = match frame {
                Message::Text(t) => t.len(),
                Message::Binary(b) => b.len(),
                _ => 0,
            } as u64;
            match timeout_at(target.deadline, sink.send(frame.clone())).await {
                Ok(Ok(())) => {
                    c.sent.fetch_add(1, Relaxed);
                    c.bytes.fetch_add(len, Relaxed);
                }
                Ok(Err(_)) | Err(_) => break 'frames,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (c) idle sockets and slowloris

/// A WebSocket that is upgraded and then never authenticates; held until the server closes it
/// (then opened again) or the deadline.
pub async fn idle_socket(target: Target, index: usize, c: Arc<Counters>) {
    while !target.over() {
        let Some(ws) = open_ws(&target, target.source(index), &c).await else { continue };
        let (_sink, stream) = ws.split();
        read_answers(stream, target.deadline, c.clone()).await;
    }
}

/// An HTTP request whose headers never end: the request line and one header, then another
/// header line every `interval`, never the blank line. Held until the server answers or closes.
pub async fn slowloris(target: Target, index: usize, interval: Duration, c: Arc<Counters>) {
    while !target.over() {
        let Ok(Ok(mut stream)) = timeout_at(target.deadline, net::connect_from(target.source(index), target.addr)).await else {
            if !target.over() {
                c.connect_failures.fetch_add(1, Relaxed);
                sleep(RETRY_PAUSE).await;
            }
            continue;
        };
        c.connections.fetch_add(1, Relaxed);
        let head = format!("GET /v1/config HTTP/1.1\r\nHost: {}\r\n", target.addr);
        let mut n = 0u64;
        let mut line = head.into_bytes();
        let mut answer = [0u8; 64];
        loop {
            if stream.write_all(&line).await.is_err() {
                c.ended_by_server.fetch_add(1, Relaxed);
                c.answer("write failed");
                break;
            }
            c.sent.fetch_add(1, Relaxed);
            c.bytes.fetch_add(line.len() as u64, Relaxed);
            n += 1;
            line = format!("X-Slow-{n}: {n}\r\n").into_bytes();
            let next = (Instant::now() + interval).min(target.deadline);
            match timeout_at(next, stream.read(&mut answer)).await {
                Err(_) if target.over() => return,
                Err(_) => continue,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    c.ended_by_server.fetch_add(1, Relaxed);
                    c.answer("closed without an answer");
                    break;
                }
                Ok(Ok(got)) => {
                    c.ended_by_server.fetch_add(1, Relaxed);
                    c.answer(status_line(&answer[..got]));
                    break;
                }
            }
        }
    }
}

/// `http 408` from the start of an HTTP response.
fn status_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)) {
        Some(code) => format!("http {code}"),
        None => "unreadable answer".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// (d) large bodies

/// Unauthenticated POSTs of a `mib`-MiB body to `/v1/push/subscriptions` and `/v1/enrol` in
/// turn, with Content-Length and chunked in turn; fast (as fast as the server reads) for
/// even-numbered connections, `slow_bps` bytes per second for odd ones. Each request ends when
/// the server answers or closes, or the body is sent; then the next one starts.
pub async fn bodies(target: Target, index: usize, mib: usize, slow_bps: usize, c: Arc<Counters>) {
    let total = (mib.max(1) * 1024 * 1024) as u64;
    let slow = index % 2 == 1;
    let chunk = Bytes::from(vec![b'a'; BODY_CHUNK]);
    let mut round = 0usize;
    while !target.over() {
        round += 1;
        let path = if round.is_multiple_of(2) { "/v1/enrol" } else { "/v1/push/subscriptions" };
        let chunked = (round / 2) % 2 == 1;
        let Ok(Ok(stream)) = timeout_at(target.deadline, net::connect_from(target.source(index), target.addr)).await else {
            if !target.over() {
                c.connect_failures.fetch_add(1, Relaxed);
                sleep(RETRY_PAUSE).await;
            }
            continue;
        };
        c.connections.fetch_add(1, Relaxed);
        c.sent.fetch_add(1, Relaxed);
        let (mut read, mut write) = stream.into_split();
        let framing = if chunked { "Transfer-Encoding: chunked".to_owned() } else { format!("Content-Length: {total}") };
        let head = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n", target.addr);
        let send = async {
            write.write_all(head.as_bytes()).await?;
            let mut sent = 0u64;
            while sent < total {
                let n = if slow { slow_bps.max(1) } else { BODY_CHUNK }.min((total - sent) as usize);
                if chunked {
                    write.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                }
                write.write_all(&chunk[..n.min(BODY_CHUNK)]).await?;
                if chunked {
                    write.write_all(b"\r\n").await?;
                }
                sent += n as u64;
                c.bytes.fetch_add(n as u64, Relaxed);
                if slow {
                    sleep(Duration::from_secs(1)).await;
                }
            }
            if chunked {
                write.write_all(b"0\r\n\r\n").await?;
            }
            // The whole body went in: wait for the answer.
            std::future::pending::<()>().await;
            std::io::Result::Ok(())
        };
        let mut answer = [0u8; 64];
        tokio::select! {
            _ = sleep_until(target.deadline) => return,
            r = send => {
                let _ = r;
                c.ended_by_server.fetch_add(1, Relaxed);
                c.answer("closed while the body was sent");
            }
            r = read.read(&mut answer) => {
                c.ended_by_server.fetch_add(1, Relaxed);
                match r {
                    Ok(n) if n > 0 => c.answer(status_line(&answer[..n])),
                    _ => c.answer("closed without an answer"),
                }
            }
        }
    }
}

async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline).await
}

// ---------------------------------------------------------------------------------------------
// (e) push

/// Unlinked mailboxes, each with push subscriptions at the attack emulator.
pub struct PushTargets {
    pub mailboxes: Vec<MailboxId>,
    pub subscriptions: usize,
}

/// Set-up of the push attack (before any measurement): attacker devices create `mailboxes`
/// unlinked mailboxes over their sockets, `push_mailboxes_per_device` each (the server's daily
/// budget per device), and register `subs` subscriptions at `emulator` for each
/// (`POST /v1/support/mailboxes/push`, which needs only the mailbox secret), all from an attacker
/// address. The emulator then answers every push 429 with `Retry-After`, slowly.
pub async fn setup_push(
    url: &str,
    devices: &[Credentials],
    emulator: &PushEmulator,
    intensity: &Intensity,
) -> anyhow::Result<PushTargets> {
    let source = net::attacker(0, intensity.sources);
    let http = reqwest::Client::builder().local_address(source).build()?;
    let mut mailboxes = Vec::new();
    let mut subscriptions = 0;
    for creds in devices {
        let mut client = Client::connect_from(creds, Some(source)).await.map_err(|e| anyhow::anyhow!("push attacker connects: {e}"))?;
        let wanted = (intensity.push_mailboxes - mailboxes.len()).min(intensity.push_mailboxes_per_device);
        for _ in 0..wanted {
            let (mailbox, secret) = (MailboxId::random(), MailboxSecret::random());
            client.create_mailbox(mailbox, secret).await.map_err(|e| anyhow::anyhow!("creating an unlinked mailbox: {e}"))?;
            for _ in 0..intensity.push_subs {
                let mut body = emulator.subscribe().json();
                body["mailbox"] = json!(mailbox);
                let response = http
                    .post(format!("{url}/v1/support/mailboxes/push"))
                    .header(sallyport_core::protocol::support::MAILBOX_SECRET_HEADER, secret.to_text())
                    .json(&body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().as_u16() == 204,
                    "registering a push subscription for an unlinked mailbox: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
                subscriptions += 1;
            }
            mailboxes.push(mailbox);
        }
        let _ = client.close().await;
    }
    emulator.always_answer(429, Some(intensity.push_retry_after));
    emulator.answer_after(intensity.push_delay);
    Ok(PushTargets { mailboxes, subscriptions })
}

/// Sends to the unlinked mailboxes in turn at `rate` messages per second (nobody reads them, so
/// every message is a wake-up for the push queue), from an attacker address.
pub async fn push_sender(target: Target, creds: Credentials, mailboxes: Arc<Vec<MailboxId>>, rate: f64, c: Arc<Counters>) {
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut next = 0usize;
    while !target.over() && !mailboxes.is_empty() {
        let connect = Client::connect_from(&creds, Some(target.source(0)));
        let Ok(Ok(client)) = timeout_at(target.deadline, connect).await else {
            if !target.over() {
                c.connect_failures.fetch_add(1, Relaxed);
                sleep(RETRY_PAUSE).await;
            }
            continue;
        };
        c.connections.fetch_add(1, Relaxed);
        let Ok((tx, mut rx)) = client.into_split() else { continue };
        let reader = {
            let c = c.clone();
            let deadline = target.deadline;
            tokio::spawn(async move {
                loop {
                    match timeout_at(deadline, rx.next_event()).await {
                        Err(_) => return,
                        Ok(Ok(Event::Accepted { .. })) => c.answer("accepted"),
                        Ok(Ok(Event::Error { code, .. })) => c.answer(format!("error {code}")),
                        Ok(Ok(Event::Closed)) | Ok(Err(_)) => {
                            c.ended_by_server.fetch_add(1, Relaxed);
                            return;
                        }
                        Ok(Ok(_)) => {}
                    }
                }
            })
        };
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !target.over() && !reader.is_finished() {
            if timeout_at(target.deadline, ticker.tick()).await.is_err() {
                break;
            }
            let to = mailboxes[next % mailboxes.len()];
            next += 1;
            match timeout_at(target.deadline, tx.send(vec![to], Payload(Bytes::from_static(b"wake up")))).await {
                Ok(Ok(_)) => {
                    c.sent.fetch_add(1, Relaxed);
                    c.bytes.fetch_add(7, Relaxed);
                }
                Ok(Err(_)) | Err(_) => break,
            }
        }
        let _ = tx.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
}
