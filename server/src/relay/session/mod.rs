//! One WebSocket connection: challenge–response authentication (`auth`), subscriptions and
//! KeyPackages (`mailboxes`), sends answered only after they can no longer be lost, in-order
//! windowed delivery and acks (`delivery`). A session never logs ids next to each other: what
//! this connection links lives in this task's memory and dies with it.

mod auth;
mod delivery;
mod mailboxes;
mod rate;

use super::Relay;
use super::hub::{KillSwitch, SESSION_EVENT_CAPACITY, SessionEvent, Subscriber};
use super::queue::{self, TrySendError};
use crate::store::{AppendOutcome, StoreError};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::future::{BoxFuture, OptionFuture};
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use rate::TokenBucket;
use sallyport_protocol::{
    ClientFrame, DeviceId, Encoding, ErrorCode, MailboxId, MessageId, ServerFrame, WireMessage, decode_client_binary,
    decode_client_frame,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How long a superseded connection goes on reading what its device already sent.
const SUPERSEDED_DRAIN: Duration = Duration::from_millis(200);
/// How long a new connection has to authenticate.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent and not yet acked, per mailbox, before the session waits for acks.
const DELIVERY_WINDOW: usize = 256;
/// Sends awaiting their commit, per connection, before the session stops reading more frames.
const MAX_PENDING_SENDS: usize = 1024;
/// Payload bytes of sends awaiting their commit, per connection: with 64 KiB payloads the count
/// limit alone would let one connection park 64 MiB in the commit queue.
const MAX_PENDING_SEND_BYTES: usize = 4 * 1024 * 1024;
/// Frames queued to the socket writer.
const OUTBOUND_CAPACITY: usize = 128;
/// Server pings keep NAT mappings alive and detect dead peers.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A peer that sends nothing (not even a pong) for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// KeyPackage claims per second per connection (bursts of twice this).
const CLAIMS_PER_SECOND: u32 = 10;
/// How long a new connection waits for an older one of the same device to stop.
const SUPERSEDE_WAIT: Duration = Duration::from_secs(5);
/// On shutdown, how long to wait for in-flight sends to commit so their senders hear `accepted`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why a session ended; the spawner logs it once.
#[derive(Debug)]
pub enum SessionEnd {
    ClientClosed,
    Refused(ErrorCode),
    Transport,
}

/// Serves one upgraded WebSocket until it closes: the session and its writer, in one task.
pub fn run(socket: WebSocket, relay: Relay) -> impl Future<Output = SessionEnd> + Send {
    let encoding = Encoding::from_subprotocol(socket.protocol().and_then(|p| p.to_str().ok()));
    let (sink, stream) = socket.split();
    let (out_tx, out_rx) = queue::channel(OUTBOUND_CAPACITY);
    let session = async move {
        let mut session = Session::new(relay, out_tx, encoding);
        let end = session.serve(stream).await;
        session.cleanup();
        // Dropping the session closes the queue: the writer sends what is left and closes.
        end
    };
    // The writer runs in this task beside the session rather than in a task of its own: an idle
    // connection then costs one task, and a frame reaches the socket without waking another.
    async move {
        let (end, ()) = tokio::join!(session, write_loop(sink, out_rx));
        end
    }
}

/// Writes queued frames, flushing only when the queue is momentarily empty, so a burst of
/// deliveries goes out in few syscalls.
async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: queue::Receiver<Message>,
) {
    while let Some(msg) = rx.recv().await {
        let closing = matches!(msg, Message::Close(_));
        if sink.feed(msg).await.is_err() {
            return;
        }
        while let Some(msg) = rx.try_recv() {
            let closing = matches!(msg, Message::Close(_));
            if sink.feed(msg).await.is_err() {
                return;
            }
            if closing {
                let _ = sink.flush().await;
                return;
            }
        }
        if sink.flush().await.is_err() || closing {
            return;
        }
    }
    let _ = sink.close().await;
}

struct MailboxState {
    sub: Arc<Subscriber>,
    /// Sequence numbers delivered on this connection and not yet acked.
    inflight: BTreeSet<u64>,
    /// Highest sequence number delivered on this connection; hub deliveries at or below it
    /// were already sent by a database read.
    max_sent: u64,
    /// (number delivered under, number stored under) of messages sent here before their commit,
    /// stored since under a new number, and not acked yet. Usually empty.
    renumbered: Vec<(u64, u64)>,
}

struct Session {
    relay: Relay,
    out: queue::Sender<Message>,
    /// Negotiated at the upgrade: whether the hot frames travel as binary messages.
    encoding: Encoding,
    connection: u64,
    device: Option<DeviceId>,
    /// The linked mailbox of a device that waits for approval: it publishes no KeyPackages there
    /// (no one can add it to a conversation) until it reconnects approved.
    pending_mailbox: Option<MailboxId>,
    events_tx: queue::Sender<SessionEvent>,
    events_rx: queue::Receiver<SessionEvent>,
    kill: Arc<KillSwitch>,
    mailboxes: HashMap<MailboxId, MailboxState>,
    /// Set by the hub or this session when a mailbox above needs a database read.
    any_dirty: Arc<AtomicBool>,
    pending_sends: PendingSends,
    pending_send_bytes: usize,
    /// Acks sent to the committer since this connection last waited for a commit round.
    acks_unsynced: bool,
    bucket: TokenBucket,
    /// Set when a frame was refused for the rate: nothing more is read from the connection
    /// until then (see `read_frame`).
    reading_paused_until: Option<tokio::time::Instant>,
    claims: TokenBucket,
    /// Held while this connection serves its device; see `Hub::register_device`.
    device_guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

type PendingSend = std::pin::Pin<Box<dyn Future<Output = SendResult> + Send + Sync>>;

/// Sends awaiting their commit. The set exists only while it holds some: `FuturesUnordered`
/// allocates two shared nodes when it is made, which an idle connection need not pay for.
#[derive(Default)]
struct PendingSends(Option<FuturesUnordered<PendingSend>>);

impl PendingSends {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesUnordered::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, send: PendingSend) {
        self.0.get_or_insert_with(FuturesUnordered::new).push(send);
    }

    /// The next send whose commit is answered. Cancel-safe, like `FuturesUnordered::next`.
    async fn next(&mut self) -> Option<SendResult> {
        let done = self.0.as_mut()?.next().await;
        if self.is_empty() {
            self.0 = None;
        }
        done
    }
}

struct SendResult {
    id: MessageId,
    /// Its recipients, charged to the sender's shares if it is taken as new.
    to: Vec<MailboxId>,
    received: Instant,
    bytes: usize,
    result: Result<AppendOutcome, StoreError>,
}

enum Flow {
    Continue,
    Stop(SessionEnd),
}

impl Session {
    fn new(relay: Relay, out: queue::Sender<Message>, encoding: Encoding) -> Self {
        let (events_tx, events_rx) = queue::channel(SESSION_EVENT_CAPACITY);
        let rate = relay.settings.max_frames_per_second;
        let connection = relay.hub.next_connection_id();
        relay.metrics.connections_open.fetch_add(1, Relaxed);
        relay.metrics.connections_total.fetch_add(1, Relaxed);
        Session {
            relay,
            out,
            encoding,
            connection,
            device: None,
            pending_mailbox: None,
            events_tx,
            events_rx,
            kill: Arc::new(KillSwitch::default()),
            mailboxes: HashMap::new(),
            any_dirty: Arc::default(),
            pending_sends: PendingSends::default(),
            pending_send_bytes: 0,
            acks_unsynced: false,
            bucket: TokenBucket::new(rate),
            reading_paused_until: None,
            claims: TokenBucket::new(CLAIMS_PER_SECOND),
            device_guard: None,
        }
    }

    fn cleanup(&mut self) {
        for mailbox in self.mailboxes.keys() {
            self.relay.hub.unsubscribe(mailbox, self.connection);
        }
        if let Some(device) = &self.device {
            self.relay.hub.unregister_device(device, self.connection);
        }
        self.relay.metrics.connections_open.fetch_sub(1, Relaxed);
    }

    /// Queues one frame for the writer, encoded once: binary if it is a hot frame on a binary
    /// connection, JSON text otherwise.
    async fn send_frame(&self, frame: &ServerFrame) -> bool {
        let message = match frame.to_wire(self.encoding) {
            WireMessage::Text(text) => Message::Text(text.into()),
            WireMessage::Binary(bytes) => Message::Binary(bytes.into()),
        };
        self.send_message(message).await
    }

    /// Queues a message for the writer, waiting for room if its queue is full. The wait is
    /// boxed: it is rare, and inline it would make every handler that sends a frame larger.
    async fn send_message(&self, message: Message) -> bool {
        match self.out.try_send(message) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full(message)) => Box::pin(self.out.send(message)).await.is_ok(),
        }
    }

    /// Boxed, like `refuse`: errors are rare, and every handler that may send one would
    /// otherwise carry the frame and its queueing in its own future (see `on_message`).
    fn send_error(&self, frame: ServerFrame) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let ServerFrame::Error { code, .. } = &frame {
                self.relay.metrics.error(*code);
            }
            self.send_frame(&frame).await;
        })
    }

    /// Sends a connection-ending error and a close frame.
    fn refuse(&self, code: ErrorCode) -> BoxFuture<'_, SessionEnd> {
        Box::pin(async move {
            self.send_error(ServerFrame::error(code)).await;
            let close = CloseFrame { code: close_code(code), reason: code.as_str().into() };
            self.send_message(Message::Close(Some(close))).await;
            SessionEnd::Refused(code)
        })
    }

    async fn serve(&mut self, mut stream: futures::stream::SplitStream<WebSocket>) -> SessionEnd {
        // Handlers are boxed: a future is as large as its largest await point, and an idle
        // connection should not carry the state of authentication or a database read.
        match Box::pin(self.authenticate(&mut stream)).await {
            Ok(()) => {}
            Err(end) => return end,
        }
        // Send the backlog queued while this device was away.
        if let Err(code) = Box::pin(self.catch_up()).await {
            return self.refuse(code).await;
        }
        // Made once: a wait on the shutdown signal made afresh on every turn of the loop
        // registered with, and left, the signal's waiter list each time.
        let mut shutdown = self.relay.shutdown.clone();
        let shutting_down = async move { crate::shutdown::shutting_down(&mut shutdown).await };
        tokio::pin!(shutting_down);
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        let mut last_heard = Instant::now();
        loop {
            let paused = self.reading_paused_until;
            let flow = tokio::select! {
                biased;
                code = self.kill.killed() => {
                    if code == ErrorCode::Superseded {
                        Box::pin(self.read_what_was_sent(&mut stream)).await;
                    }
                    Flow::Stop(self.refuse(code).await)
                }
                _ = &mut shutting_down => Flow::Stop(Box::pin(self.shut_down()).await),
                Some(done) = self.pending_sends.next(), if !self.pending_sends.is_empty() => {
                    Box::pin(self.answer_send(done)).await;
                    Flow::Continue
                }
                Some(event) = self.events_rx.recv() => Box::pin(self.on_event(event)).await,
                // Boxed, and only while paused: a timer kept in the loop would add its ~100 bytes
                // to every idle connection.
                Some(()) = OptionFuture::from(paused.map(|until| Box::pin(tokio::time::sleep_until(until)))) => {
                    self.reading_paused_until = None;
                    self.bucket.forgo_refill();
                    Flow::Continue
                }
                msg = stream.next(), if paused.is_none()
                    && self.pending_sends.len() < MAX_PENDING_SENDS
                    && self.pending_send_bytes < MAX_PENDING_SEND_BYTES => {
                    last_heard = Instant::now();
                    Box::pin(self.on_message(msg)).await
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        Flow::Stop(SessionEnd::Transport)
                    } else {
                        self.send_message(Message::Ping(Default::default())).await;
                        Flow::Continue
                    }
                }
            };
            if let Flow::Stop(end) = flow {
                return end;
            }
            if self.catch_up_due()
                && let Err(code) = Box::pin(self.catch_up()).await
            {
                return self.refuse(code).await;
            }
        }
    }

    /// Before a superseded connection stops: the frames its device sent before moving to the
    /// new connection (acks, sends; usually followed by the close) are read and handled first,
    /// for a moment at most, so that the new connection's `ready` follows its acks and its sends
    /// queue ahead of the new connection's. Killed first, these were dropped unread when the new
    /// connection came quickly: acked messages were delivered again.
    async fn read_what_was_sent(&mut self, stream: &mut futures::stream::SplitStream<WebSocket>) {
        let deadline = tokio::time::Instant::now() + SUPERSEDED_DRAIN;
        while let Ok(msg) = tokio::time::timeout_at(deadline, stream.next()).await {
            if msg.is_none() || matches!(self.on_message(msg).await, Flow::Stop(_)) {
                break;
            }
        }
    }

    async fn shut_down(&mut self) -> SessionEnd {
        // Sends already handed to the committer will commit; let their senders hear it.
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        while !self.pending_sends.is_empty() {
            tokio::select! {
                Some(done) = self.pending_sends.next() => self.answer_send(done).await,
                _ = &mut deadline => break,
            }
        }
        self.refuse(ErrorCode::ShuttingDown).await
    }


    // ---- frames from the client

    /// Unwraps a WebSocket message into a client frame; handles close, ping, the frame rate and
    /// transport errors. `Ok(None)`: nothing to handle (a ping, a pong, or a frame that could not
    /// be read and was answered with an error).
    async fn read_frame(&mut self, msg: Option<Result<Message, axum::Error>>) -> Result<Option<ClientFrame>, Flow> {
        let message = match msg {
            None | Some(Ok(Message::Close(_))) => return Err(Flow::Stop(SessionEnd::ClientClosed)),
            Some(Err(err)) if is_capacity_error(&err) => return Err(Flow::Stop(self.refuse(ErrorCode::FrameTooLarge).await)),
            Some(Err(_)) => return Err(Flow::Stop(SessionEnd::Transport)),
            Some(Ok(message)) => message,
        };
        // Every message counts against the rate, binary, ping and pong too (a ping costs the
        // server a pong). One over it is refused unread, and then nothing more is read from
        // this connection for one token's time, which earns the bucket nothing: a connection
        // that keeps flooding is read no faster than the rate, refusals included, so refusing
        // it costs the server little and its excess waits in its own TCP buffers.
        if !self.bucket.take() {
            self.reading_paused_until = Some(tokio::time::Instant::now() + self.bucket.interval());
            if matches!(message, Message::Text(_) | Message::Binary(_)) {
                self.send_error(ServerFrame::error(ErrorCode::RateLimited)).await;
            }
            return Err(Flow::Continue);
        }
        let decoded = match message {
            Message::Text(text) => decode_client_frame(text.as_bytes()),
            // Binary messages carry hot frames, on a connection that negotiated them only.
            Message::Binary(bytes) if self.encoding == Encoding::Binary => decode_client_binary(&bytes),
            Message::Binary(_) => Err((ErrorCode::MalformedFrame, None)),
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Ok(None),
        };
        match decoded {
            Ok(frame) => Ok(Some(frame)),
            Err((code, id)) => {
                self.send_error(error_frame(code, id)).await;
                Ok(None)
            }
        }
    }

    async fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> Flow {
        let frame = match self.read_frame(msg).await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Flow::Continue,
            Err(flow) => return flow,
        };
        match frame {
            // The hot frames are handled inline; the others are boxed, so that this future (boxed
            // for every frame) stays small enough for the allocator's per-thread cache: at
            // 1.7 KiB every frame cost a trip through glibc's large bins and `malloc_consolidate`.
            ClientFrame::Send { id, to, payload } => {
                if let Some(wait) = self.on_send(id, to, payload, None) {
                    wait.await;
                }
            }
            ClientFrame::GroupSend { id, to, payload, members } => match self.group_message(&to, &payload, members) {
                Ok(group) => {
                    if let Some(wait) = self.on_send(id, to, payload, Some(group)) {
                        wait.await;
                    }
                }
                Err(code) => (self.send_error(ServerFrame::error_for_message(code, id))).await,
            },
            ClientFrame::Ack { mailbox, seq } => self.on_ack(mailbox, seq).await,
            ClientFrame::Auth { .. } => (self.send_error(ServerFrame::error(ErrorCode::AlreadyAuthenticated))).await,
            ClientFrame::PublishKeyPackages { mailbox, key_packages, last_resort } => {
                Box::pin(self.on_publish_key_packages(mailbox, key_packages, last_resort)).await
            }
            ClientFrame::ClaimKeyPackage { mailbox } => Box::pin(self.on_claim_key_package(mailbox)).await,
            ClientFrame::Subscribe { mailbox, secret } => Box::pin(self.on_subscribe(mailbox, secret)).await,
            ClientFrame::CreateMailbox { mailbox, secret } => Box::pin(self.on_create_mailbox(mailbox, secret)).await,
        }
        Flow::Continue
    }
}

fn error_frame(code: ErrorCode, id: Option<MessageId>) -> ServerFrame {
    match id {
        Some(id) => ServerFrame::error_for_message(code, id),
        None => ServerFrame::error(code),
    }
}

fn store_error_code(err: StoreError, conflict: ErrorCode) -> ErrorCode {
    match err {
        StoreError::NotFound => ErrorCode::UnknownMailbox,
        StoreError::Conflict(_) => conflict,
        StoreError::Other(detail) => {
            tracing::error!(%detail, "storage failure");
            ErrorCode::Internal
        }
    }
}

fn close_code(code: ErrorCode) -> u16 {
    match code {
        ErrorCode::FrameTooLarge => 1009,
        ErrorCode::ShuttingDown => 1001,
        ErrorCode::Internal => 1011,
        _ => 1008, // policy violation
    }
}

/// tungstenite reports a message over `max_message_size` as a capacity error.
fn is_capacity_error(err: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("Space limit exceeded") || text.contains("Message too long") || text.contains("too big") {
            return true;
        }
        source = e.source();
    }
    false
}


