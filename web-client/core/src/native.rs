//! The native transport: enrolment over HTTP (reqwest) and a [`Client`] that drives a
//! [`Session`] over a tokio-tungstenite WebSocket, plus a split sender/receiver pair for
//! pipelined load. Used by the end-to-end tests, the load generator and the command-line client.

use crate::ClientError;
use crate::identity::{Credentials, DeviceKeys, parse_invitation};
use crate::session::{Event, Session};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt as _, StreamExt as _};
use sallyport_protocol::rest::{ApiErrorBody, EnrolRequest, EnrolResponse};
use sallyport_protocol::{BINARY_SUBPROTOCOL, ClientFrame, Encoding, MailboxId, MailboxSecret, MessageId, Payload, WireMessage};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::error::{ProtocolError, SubProtocolError};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How many frames the split sender may queue ahead of the socket before `send` waits.
const SPLIT_QUEUE: usize = 4096;
/// Most frames the split writer hands to the socket before flushing.
const WRITE_BATCH: usize = 256;
/// How long `close` waits for the server's closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Enrols a new device: generates its keys, redeems the invitation at `POST {server}/v1/enrol`
/// and returns the credentials to connect with. `code_or_link` is the invitation link
/// (`http://host:port/enrol#CODE`) or the bare code; with a full link, `server_url` may be empty.
/// A refusal (for instance `invalid_invitation`) is [`ClientError::Server`].
pub async fn enrol(server_url: &str, code_or_link: &str) -> Result<Credentials, ClientError> {
    enrol_with(&reqwest::Client::new(), server_url, code_or_link).await
}

/// [`enrol`] through the given HTTP client. Building a client can cost tens of milliseconds of CPU
/// (with reqwest's `native-tls`, which another crate in the build may enable, it loads the system's
/// trust store): a caller enrolling many devices builds one and passes it to each call.
pub async fn enrol_with(http: &reqwest::Client, server_url: &str, code_or_link: &str) -> Result<Credentials, ClientError> {
    let (link_server, code) = parse_invitation(code_or_link);
    let base = match server_url.trim().trim_end_matches('/') {
        "" => link_server.ok_or_else(|| ClientError::Protocol("no server URL given".into()))?,
        base => base.to_owned(),
    };
    let keys = DeviceKeys::generate();
    let request =
        EnrolRequest {
            code,
            signing_key: keys.signing_public(),
            notification_key: keys.notification_public(),
        };
    let url = format!("{base}/v1/enrol");
    let response = http.post(&url).json(&request).send().await.map_err(http_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(http_error)?;
    if status.is_success() {
        let r: EnrolResponse = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("unreadable enrolment response: {e}")))?;
        return Ok(Credentials {
            server_url: base,
            account: r.account,
            device: r.device,
            mailbox: r.mailbox,
            display_name: r.display_name,
            roles: r.roles,
            keys,
        });
    }
    match serde_json::from_slice::<ApiErrorBody>(&body) {
        Ok(err) => Err(ClientError::Server { code: err.code, message: err.message }),
        Err(_) => Err(ClientError::Protocol(format!("HTTP {status} from {url} without an error body"))),
    }
}

/// A signed REST request (protocol/README.md §11) by the device of `creds`: `path` is the request
/// target (`/v1/me`), `body` JSON or nothing. Returns the status and the JSON answer (`Null` for an
/// empty one); only transport failures are errors, so callers can check refusals.
pub async fn api_request(
    creds: &Credentials,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value), ClientError> {
    api_request_with(&reqwest::Client::new(), creds, method, path, body).await
}

/// A signing time: `now`, or 1 ms after the previous one this process used if that is not
/// earlier. Ed25519 signatures are deterministic, so two identical requests signed in the same
/// millisecond would carry the same signature and the server would refuse the second as a replay
/// (`401 unauthorized`, protocol §11 "Signed requests"); the web app does the same (api.ts).
pub fn signing_time(now: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let mut previous = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(previous.saturating_add(1));
        match LAST.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => previous = seen,
        }
    }
}

#[cfg(test)]
mod signing_time_tests {
    #[test]
    fn two_requests_in_one_millisecond_get_different_times() {
        let now = 1_800_000_000_000;
        let (a, b) = (super::signing_time(now), super::signing_time(now));
        assert!(a >= now && b > a, "{a} then {b}");
        // never goes back when the clock does
        assert!(super::signing_time(now - 5_000) > b);
    }
}

/// [`api_request`] through the given HTTP client (see [`enrol_with`] for why one may want that).
pub async fn api_request_with(
    http: &reqwest::Client,
    creds: &Credentials,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, serde_json::Value), ClientError> {
    let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON serialises")).unwrap_or_default();
    let now = signing_time(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64));
    let signature = creds.keys.sign_request(&creds.device, &creds.server_url, method, path, now, &bytes);
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let url = format!("{}{path}", creds.server_url.trim_end_matches('/'));
    let mut request = http
        .request(method, &url)
        .header(sallyport_protocol::auth::DEVICE_HEADER, creds.device.to_text())
        .header(sallyport_protocol::auth::TIME_HEADER, now.to_string())
        .header(sallyport_protocol::auth::SIGNATURE_HEADER, signature.to_text());
    if body.is_some() {
        request = request.header("content-type", "application/json").body(bytes);
    }
    let response = request.send().await.map_err(http_error)?;
    let status = response.status().as_u16();
    let text = response.bytes().await.map_err(http_error)?;
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&text).map_err(|e| ClientError::Protocol(format!("HTTP {status}: unreadable JSON: {e}")))?
    };
    Ok((status, json))
}

/// How a [`Client`] connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The local address the socket is bound to before connecting (`None`: the system's choice).
    pub local: Option<IpAddr>,
    /// [`Encoding::Binary`] (the default) offers the binary subprotocol, which a server that
    /// knows it takes; [`Encoding::Json`] offers nothing, so every frame is JSON text.
    pub encoding: Encoding,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { local: None, encoding: Encoding::Binary }
    }
}

/// One device's connection: a [`Session`] driven over a WebSocket. Not `Clone`; for one task
/// sending while another reads, use [`Client::into_split`].
pub struct Client {
    creds: Credentials,
    options: ConnectOptions,
    session: Session,
    ws: Option<Ws>,
    /// Events read while waiting for a particular answer, handed out first by `next_event`.
    stash: VecDeque<Event>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("session", &self.session).field("open", &self.ws.is_some()).finish()
    }
}

impl Client {
    /// Connects to `{server}/v1/ws` (TCP_NODELAY set), authenticates and waits for `ready`.
    /// A refusal (`unknown_device`, `device_revoked`, `clock_skew`…) is [`ClientError::Server`].
    pub async fn connect(creds: &Credentials) -> Result<Client, ClientError> {
        Self::connect_with(creds, ConnectOptions::default()).await
    }

    /// Like [`connect`](Self::connect), with the socket bound to the local address `local` before
    /// it connects (and again on every `reconnect`): a load generator spreads its connections over
    /// source addresses (127.0.0.2, 127.0.0.3… all reach a loopback server on Linux) so that a
    /// per-address connection cap applies to each address. Plain `ws://` only when `local` is set.
    pub async fn connect_from(creds: &Credentials, local: Option<IpAddr>) -> Result<Client, ClientError> {
        Self::connect_with(creds, ConnectOptions { local, ..ConnectOptions::default() }).await
    }

    /// Like [`connect`](Self::connect), with the given options (every `reconnect` uses them too).
    pub async fn connect_with(creds: &Credentials, options: ConnectOptions) -> Result<Client, ClientError> {
        let mut client =
            Client { creds: creds.clone(), options, session: Session::new(creds), ws: None, stash: VecDeque::new() };
        client.open().await?;
        Ok(client)
    }

    /// The encoding the current (or last) connection negotiated.
    pub fn encoding(&self) -> Encoding {
        self.session.encoding()
    }

    /// Opens a new socket, re-authenticates and resumes: unlinked mailboxes are re-subscribed and
    /// every message not yet accepted is re-sent under its original id. Returns after `ready`.
    pub async fn reconnect(&mut self) -> Result<(), ClientError> {
        self.ws = None;
        self.open().await
    }

    /// The credentials this client connects with.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// The protocol state (outbox, subscriptions) for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Whether the socket is open and authenticated.
    pub fn is_ready(&self) -> bool {
        self.ws.is_some() && self.session.is_ready()
    }

    /// Creates an unlinked mailbox and waits for the answer. Creating does not subscribe.
    pub async fn create_mailbox(&mut self, mailbox: MailboxId, secret: MailboxSecret) -> Result<(), ClientError> {
        self.session.create_mailbox(mailbox, secret);
        self.flush().await;
        self.wait_for(|e| match e {
            Event::MailboxCreated { mailbox: m } if *m == mailbox => Some(Ok(())),
            Event::Error { code, message, mailbox: Some(m), .. } if *m == mailbox => {
                Some(Err(ClientError::Server { code: *code, message: message.clone() }))
            }
            _ => None,
        })
        .await
    }

    /// Subscribes an unlinked mailbox (on this and every later connection) and waits for the
    /// answer; its queued messages then arrive through [`next_event`](Self::next_event).
    pub async fn subscribe(&mut self, mailbox: MailboxId, secret: MailboxSecret) -> Result<(), ClientError> {
        self.session.subscribe(mailbox, secret);
        self.flush().await;
        self.wait_for(|e| match e {
            Event::Subscribed { mailbox: m } if *m == mailbox => Some(Ok(())),
            Event::Error { code, message, mailbox: Some(m), .. } if *m == mailbox => {
                Some(Err(ClientError::Server { code: *code, message: message.clone() }))
            }
            _ => None,
        })
        .await
    }

    /// Queues a message in the outbox and writes it; does not wait for acceptance, which comes as
    /// [`Event::Accepted`]. If the connection is down the message waits for `reconnect`.
    pub async fn send(&mut self, to: Vec<MailboxId>, payload: Payload) -> Result<MessageId, ClientError> {
        let id = self.session.send(to, payload);
        self.flush().await;
        Ok(id)
    }

    /// Like [`send`](Self::send) with a chosen id (re-sending an id is idempotent on the server).
    pub async fn send_with_id(
        &mut self,
        id: MessageId,
        to: Vec<MailboxId>,
        payload: Payload,
    ) -> Result<(), ClientError> {
        self.session.send_with_id(id, to, payload);
        self.flush().await;
        Ok(())
    }

    /// Queues an MLS group envelope (see [`Session::group_send`]) and writes it; acceptance or
    /// `stale_epoch` (or `not_a_member`) arrives as an event naming the returned id. `members`:
    /// for a commit, the group's members once it takes effect; empty otherwise.
    pub async fn group_send(
        &mut self,
        to: Vec<MailboxId>,
        members: Vec<MailboxId>,
        envelope: Payload,
    ) -> Result<MessageId, ClientError> {
        let id = MessageId::random();
        self.group_send_with_id(id, to, members, envelope).await?;
        Ok(id)
    }

    /// Like [`group_send`](Self::group_send) with a chosen id.
    pub async fn group_send_with_id(
        &mut self,
        id: MessageId,
        to: Vec<MailboxId>,
        members: Vec<MailboxId>,
        envelope: Payload,
    ) -> Result<(), ClientError> {
        self.session.group_send_with_id(id, to, members, envelope);
        self.flush().await;
        Ok(())
    }

    /// Publishes KeyPackages for a mailbox this connection reads; returns how many one-time
    /// KeyPackages it now holds.
    pub async fn publish_key_packages(
        &mut self,
        mailbox: MailboxId,
        key_packages: Vec<Payload>,
        last_resort: Option<Payload>,
    ) -> Result<u32, ClientError> {
        self.session.publish_key_packages(mailbox, key_packages, last_resort);
        self.flush().await;
        self.wait_for(|e| match e {
            Event::KeyPackagesPublished { mailbox: m, available } if *m == mailbox => Some(Ok(*available)),
            Event::Error { code, message, mailbox: Some(m), .. } if *m == mailbox => {
                Some(Err(ClientError::Server { code: *code, message: message.clone() }))
            }
            _ => None,
        })
        .await
    }

    /// Claims one KeyPackage of `mailbox`: `(key_package, last_resort)`.
    pub async fn claim_key_package(&mut self, mailbox: MailboxId) -> Result<(Payload, bool), ClientError> {
        self.session.claim_key_package(mailbox);
        self.flush().await;
        self.wait_for(|e| match e {
            Event::KeyPackage { mailbox: m, key_package, last_resort } if *m == mailbox => {
                Some(Ok((key_package.clone(), *last_resort)))
            }
            Event::Error { code, message, mailbox: Some(m), .. } if *m == mailbox => {
                Some(Err(ClientError::Server { code: *code, message: message.clone() }))
            }
            _ => None,
        })
        .await
    }

    /// Acknowledges message `seq` of `mailbox` once it is durably processed; the server deletes it.
    pub async fn ack(&mut self, mailbox: MailboxId, seq: u64) -> Result<(), ClientError> {
        self.session.ack(mailbox, seq);
        self.flush().await;
        Ok(())
    }

    /// The next event, reading from the socket as needed (pings are answered on the way). After
    /// [`Event::Closed`], further calls return [`ClientError::Closed`] until `reconnect`.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.stash.pop_front().or_else(|| self.session.poll_event()) {
                return Ok(event);
            }
            self.read_once().await?;
        }
    }

    /// Closes the connection politely (close handshake, bounded in time).
    pub async fn close(mut self) -> Result<(), ClientError> {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None).await;
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async { while let Some(Ok(_)) = ws.next().await {} }).await;
        }
        Ok(())
    }

    /// Splits into a sender and a receiver for pipelined use: any number of tasks send through
    /// (clones of) the [`ClientSender`] while one task reads events from the [`ClientReceiver`].
    /// A writer task owns the socket's sink and writes frames in batches. The split client does not
    /// reconnect, and messages sent through the `ClientSender` are not kept in an outbox (their
    /// acceptances still arrive as [`Event::Accepted`]).
    pub fn into_split(mut self) -> Result<(ClientSender, ClientReceiver), ClientError> {
        let ws = self.ws.take().ok_or(ClientError::Closed)?;
        let (sink, stream) = ws.split();
        let pending: Vec<Message> = std::iter::from_fn(|| self.session.poll_message()).map(ws_message).collect();
        let encoding = self.session.encoding();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (data_tx, data_rx) = mpsc::channel(SPLIT_QUEUE);
        tokio::spawn(write_loop(sink, control_rx, data_rx, pending));
        let receiver =
            ClientReceiver { session: self.session, stream: Some(stream), tx: control_tx, stash: self.stash };
        Ok((ClientSender { tx: data_tx, encoding }, receiver))
    }

    async fn open(&mut self) -> Result<(), ClientError> {
        let (ws, encoding) = match self.handshake(self.options.encoding).await {
            // A server from before the binary encoding selects no subprotocol, which tungstenite
            // (RFC 6455 §4.1) refuses: speak JSON to it.
            Err(tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(SubProtocolError::NoSubProtocol)))
                if self.options.encoding == Encoding::Binary =>
            {
                self.handshake(Encoding::Json).await
            }
            other => other,
        }
        .map_err(ws_error)?;
        self.ws = Some(ws);
        self.session.connected_with(encoding);
        loop {
            let event = match self.session.poll_event() {
                Some(event) => event,
                None => {
                    self.read_once().await?;
                    continue;
                }
            };
            match event {
                Event::Ready { .. } => return Ok(()),
                Event::Error { code, message, id: None, mailbox: None } => {
                    // The authentication was refused; the server closes the socket.
                    self.ws = None;
                    return Err(ClientError::Server { code, message });
                }
                Event::Closed => return Err(ClientError::Closed),
                other => self.stash.push_back(other),
            }
        }
    }

    /// Reads events until `answer` recognises one, stashing the others for `next_event`.
    /// Opens a socket offering `offer`; returns it with the encoding the server selected.
    async fn handshake(&self, offer: Encoding) -> Result<(Ws, Encoding), tungstenite::Error> {
        let url = self.creds.ws_url();
        let mut request = url.as_str().into_client_request()?;
        if offer == Encoding::Binary {
            request.headers_mut().insert("sec-websocket-protocol", tungstenite::http::HeaderValue::from_static(BINARY_SUBPROTOCOL));
        }
        let (ws, response) = match self.options.local {
            None => tokio_tungstenite::connect_async_with_config(request, None, true).await?,
            Some(local) => {
                let stream = connect_tcp_from(&url, local).await.map_err(|e| match e {
                    ClientError::Io(io) => tungstenite::Error::Io(io),
                    other => tungstenite::Error::Io(std::io::Error::other(other)),
                })?;
                tokio_tungstenite::client_async_with_config(request, MaybeTlsStream::Plain(stream), None).await?
            }
        };
        let selected = response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok());
        Ok((ws, Encoding::from_subprotocol(selected)))
    }

    async fn wait_for<T>(
        &mut self,
        answer: impl Fn(&Event) -> Option<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        loop {
            let Some(event) = self.session.poll_event() else {
                self.read_once().await?;
                continue;
            };
            if let Some(result) = answer(&event) {
                return result;
            }
            if event == Event::Closed {
                return Err(ClientError::Closed);
            }
            self.stash.push_back(event);
        }
    }

    /// Reads one WebSocket message into the session and writes whatever it answers.
    async fn read_once(&mut self) -> Result<(), ClientError> {
        let ws = self.ws.as_mut().ok_or(ClientError::Closed)?;
        let incoming = ws.next().await;
        match on_incoming(&mut self.session, incoming) {
            Ok(Incoming::Handled) => {
                self.flush().await;
                Ok(())
            }
            Ok(Incoming::Ping(_)) => {
                // tungstenite queued the pong; a flush writes it.
                if ws.flush().await.is_err() {
                    self.lost();
                }
                Ok(())
            }
            Ok(Incoming::Closed) => {
                self.lost();
                Ok(())
            }
            Err(e) => {
                self.lost();
                Err(e)
            }
        }
    }

    /// Writes every frame the session has queued. A write failure is a lost connection, which
    /// surfaces as [`Event::Closed`]; the session keeps what must be resumed.
    async fn flush(&mut self) {
        let Some(ws) = self.ws.as_mut() else { return };
        let mut wrote = false;
        let mut ok = true;
        while let Some(message) = self.session.poll_message() {
            wrote = true;
            if ws.feed(ws_message(message)).await.is_err() {
                ok = false;
                break;
            }
        }
        if ok && wrote {
            ok = ws.flush().await.is_ok();
        }
        if !ok {
            self.lost();
        }
    }

    fn lost(&mut self) {
        if self.ws.take().is_some() {
            self.session.disconnected();
        }
    }
}

/// The sending half of a split client. Cheap to clone; each clone may send from its own task.
#[derive(Clone, Debug)]
pub struct ClientSender {
    tx: mpsc::Sender<Message>,
    encoding: Encoding,
}

impl ClientSender {
    /// Sends a message under a fresh id; waits only if the write queue is full.
    pub async fn send(&self, to: Vec<MailboxId>, payload: Payload) -> Result<MessageId, ClientError> {
        let id = MessageId::random();
        self.send_with_id(id, to, payload).await?;
        Ok(id)
    }

    /// Sends a message under a chosen id.
    pub async fn send_with_id(&self, id: MessageId, to: Vec<MailboxId>, payload: Payload) -> Result<(), ClientError> {
        let frame = ClientFrame::Send { id, to, payload };
        self.tx.send(ws_message(frame.to_wire(self.encoding))).await.map_err(|_| ClientError::Closed)
    }

    /// Starts the close handshake; the receiver then sees [`Event::Closed`].
    pub async fn close(&self) -> Result<(), ClientError> {
        self.tx.send(Message::Close(None)).await.map_err(|_| ClientError::Closed)
    }
}

/// The receiving half of a split client: reads events, de-duplicates, and acks.
pub struct ClientReceiver {
    session: Session,
    stream: Option<SplitStream<Ws>>,
    tx: mpsc::UnboundedSender<Message>,
    stash: VecDeque<Event>,
}

impl std::fmt::Debug for ClientReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientReceiver").field("session", &self.session).finish_non_exhaustive()
    }
}

impl ClientReceiver {
    /// The next event; after [`Event::Closed`], [`ClientError::Closed`].
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(event) = self.stash.pop_front().or_else(|| self.session.poll_event()) {
                return Ok(event);
            }
            let stream = self.stream.as_mut().ok_or(ClientError::Closed)?;
            let incoming = stream.next().await;
            match on_incoming(&mut self.session, incoming) {
                Ok(Incoming::Handled) => self.forward(),
                Ok(Incoming::Ping(data)) => {
                    // The sink is in the writer task: answer explicitly (an extra pong is harmless).
                    let _ = self.tx.send(Message::Pong(data));
                }
                Ok(Incoming::Closed) => self.lost(),
                Err(e) => {
                    self.lost();
                    return Err(e);
                }
            }
        }
    }

    /// Acknowledges message `seq` of `mailbox` once it is durably processed.
    pub async fn ack(&mut self, mailbox: MailboxId, seq: u64) -> Result<(), ClientError> {
        self.session.ack(mailbox, seq);
        self.forward();
        Ok(())
    }

    /// The protocol state, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn forward(&mut self) {
        while let Some(message) = self.session.poll_message() {
            if self.tx.send(ws_message(message)).is_err() {
                self.lost();
                return;
            }
        }
    }

    fn lost(&mut self) {
        if self.stream.take().is_some() {
            self.session.disconnected();
        }
    }
}

/// Owns the socket's sink. Sends come through the bounded `data` queue (back-pressure for the
/// sender); acks and pongs through the unbounded `control` queue, so the reading task never waits on
/// a full queue (which could deadlock with a server that stops reading while it cannot write).
async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut control: mpsc::UnboundedReceiver<Message>,
    mut data: mpsc::Receiver<Message>,
    mut batch: Vec<Message>,
) {
    let (mut control_open, mut data_open) = (true, true);
    let mut sends = Vec::with_capacity(WRITE_BATCH);
    loop {
        for message in batch.drain(..).chain(sends.drain(..)) {
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
        if !control_open && !data_open {
            break;
        }
        tokio::select! {
            biased;
            n = control.recv_many(&mut batch, WRITE_BATCH), if control_open => control_open = n > 0,
            n = data.recv_many(&mut sends, WRITE_BATCH), if data_open => data_open = n > 0,
        }
    }
    // Both halves are gone: close politely.
    let _ = sink.close().await;
}

enum Incoming {
    Handled,
    Ping(bytes::Bytes),
    Closed,
}

fn on_incoming(
    session: &mut Session,
    incoming: Option<Result<Message, tungstenite::Error>>,
) -> Result<Incoming, ClientError> {
    match incoming {
        Some(Ok(Message::Text(text))) => {
            session.handle_text(text.as_str(), now_ms())?;
            Ok(Incoming::Handled)
        }
        Some(Ok(Message::Ping(data))) => Ok(Incoming::Ping(data)),
        Some(Ok(Message::Pong(_) | Message::Frame(_))) => Ok(Incoming::Handled),
        Some(Ok(Message::Binary(data))) => {
            session.handle_binary(&data, now_ms())?;
            Ok(Incoming::Handled)
        }
        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Ok(Incoming::Closed),
    }
}

/// A TCP connection to the host of the `ws://` URL `url`, from the local address `local`
/// (TCP_NODELAY set, as `connect_async_with_config` does).
async fn connect_tcp_from(url: &str, local: IpAddr) -> Result<TcpStream, ClientError> {
    let authority = url
        .strip_prefix("ws://")
        .ok_or_else(|| ClientError::Protocol(format!("a bound local address needs a ws:// URL, not {url}")))?;
    let authority = authority.split('/').next().unwrap_or(authority);
    let authority = if authority.contains(':') && !authority.ends_with(']') { authority.to_owned() } else { format!("{authority}:80") };
    let remote = tokio::net::lookup_host(&authority)
        .await?
        .find(|a| a.is_ipv4() == local.is_ipv4())
        .ok_or_else(|| ClientError::Protocol(format!("{authority} has no address of the local address's family")))?;
    let socket = if local.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(local, 0))?;
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn ws_message(message: WireMessage) -> Message {
    match message {
        WireMessage::Text(text) => Message::text(text),
        WireMessage::Binary(bytes) => Message::binary(bytes),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

fn ws_error(e: tungstenite::Error) -> ClientError {
    match e {
        tungstenite::Error::Io(io) => ClientError::Io(io),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => ClientError::Closed,
        other => ClientError::Io(std::io::Error::other(other)),
    }
}

fn http_error(e: reqwest::Error) -> ClientError {
    ClientError::Io(std::io::Error::other(e))
}
