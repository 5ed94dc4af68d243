//! One WebSocket connection: challenge–response authentication, subscriptions, sends (answered
//! only after group commit), in-order windowed delivery and acks. A session never logs ids next
//! to each other: what this connection links lives in this task's memory and dies with it.

use super::committer::AppendReply;
use super::delivery_service;
use super::hub::{KillSwitch, SESSION_EVENT_CAPACITY, SessionEvent, Subscriber};
use crate::clock::now_ms;
use crate::state::AppState;
use crate::store::{AppendOutcome, GroupCheck, MailboxAccess, NewMessage, QueuedMessage, StoreError, sha256};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use ed25519_dalek::{Signature, VerifyingKey};
use futures::stream::FuturesUnordered;
use futures::{SinkExt, StreamExt};
use sallyport_protocol::{
    ClientFrame, DeviceId, ErrorCode, KEY_PACKAGES_LOW_WATER, MAX_CLOCK_SKEW_MS, MAX_KEY_PACKAGE_BYTES,
    MAX_KEY_PACKAGES_PER_MAILBOX, MAX_KEY_PACKAGES_PER_PUBLISH, MAX_RECIPIENTS, MailboxId, MailboxSecret,
    MessageId, Nonce, PROTOCOL_VERSION, Payload, ServerFrame, auth::auth_message, decode_client_frame,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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

pub async fn run(socket: WebSocket, state: AppState) -> SessionEnd {
    let (sink, stream) = socket.split();
    // Frames are boxed on their way to the writer: tokio allocates a channel's slots in blocks of
    // 32 up front, and a boxed frame keeps that block at 256 bytes on every idle connection.
    let (out_tx, out_rx) = mpsc::channel::<Box<Message>>(OUTBOUND_CAPACITY);
    let writer = tokio::spawn(write_loop(sink, out_rx));
    let mut session = Session::new(state, out_tx);
    let end = session.serve(stream).await;
    session.cleanup();
    drop(session);
    let _ = writer.await;
    end
}

/// Writes queued frames, flushing only when the queue is momentarily empty, so a burst of
/// deliveries goes out in few syscalls.
async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Box<Message>>,
) {
    while let Some(msg) = rx.recv().await {
        let msg = *msg;
        let closing = matches!(msg, Message::Close(_));
        if sink.feed(msg).await.is_err() {
            return;
        }
        while let Ok(msg) = rx.try_recv() {
            let msg = *msg;
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
    /// Highest sequence number delivered on this connection; fast-path deliveries at or below
    /// it were already sent by a database read.
    max_sent: u64,
}

struct Session {
    state: AppState,
    out: mpsc::Sender<Box<Message>>,
    connection: u64,
    device: Option<DeviceId>,
    events_tx: mpsc::Sender<SessionEvent>,
    events_rx: mpsc::Receiver<SessionEvent>,
    kill: Arc<KillSwitch>,
    mailboxes: HashMap<MailboxId, MailboxState>,
    pending_sends: FuturesUnordered<PendingSend>,
    pending_send_bytes: usize,
    bucket: TokenBucket,
    claims: TokenBucket,
    /// Held while this connection serves its device; see `Hub::register_device`.
    device_guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

type PendingSend = std::pin::Pin<Box<dyn Future<Output = SendResult> + Send + Sync>>;

struct SendResult {
    id: MessageId,
    received: Instant,
    bytes: usize,
    result: Result<AppendOutcome, StoreError>,
}

enum Flow {
    Continue,
    Stop(SessionEnd),
}

impl Session {
    fn new(state: AppState, out: mpsc::Sender<Box<Message>>) -> Self {
        let (events_tx, events_rx) = mpsc::channel(SESSION_EVENT_CAPACITY);
        let rate = state.settings.max_frames_per_second;
        let connection = state.hub.next_connection_id();
        state.metrics.connections_open.fetch_add(1, Relaxed);
        state.metrics.connections_total.fetch_add(1, Relaxed);
        Session {
            state,
            out,
            connection,
            device: None,
            events_tx,
            events_rx,
            kill: Arc::new(KillSwitch::default()),
            mailboxes: HashMap::new(),
            pending_sends: FuturesUnordered::new(),
            pending_send_bytes: 0,
            bucket: TokenBucket::new(rate),
            claims: TokenBucket::new(CLAIMS_PER_SECOND),
            device_guard: None,
        }
    }

    fn cleanup(&mut self) {
        for mailbox in self.mailboxes.keys() {
            self.state.hub.unsubscribe(mailbox, self.connection);
        }
        if let Some(device) = &self.device {
            self.state.hub.unregister_device(device, self.connection);
        }
        self.state.metrics.connections_open.fetch_sub(1, Relaxed);
    }

    async fn send_frame(&self, frame: &ServerFrame) -> bool {
        self.out.send(Box::new(Message::Text(frame.to_json().into()))).await.is_ok()
    }

    async fn send_error(&self, frame: ServerFrame) {
        if let ServerFrame::Error { code, .. } = &frame {
            self.state.metrics.error(*code);
        }
        self.send_frame(&frame).await;
    }

    /// Sends a connection-ending error and a close frame.
    async fn refuse(&self, code: ErrorCode) -> SessionEnd {
        self.send_error(ServerFrame::error(code)).await;
        let close = CloseFrame { code: close_code(code), reason: code.as_str().into() };
        let _ = self.out.send(Box::new(Message::Close(Some(close)))).await;
        SessionEnd::Refused(code)
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
            return Box::pin(self.refuse(code)).await;
        }
        let mut shutdown = self.state.shutdown.clone();
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        let mut last_heard = Instant::now();
        loop {
            let flow = tokio::select! {
                biased;
                code = self.kill.killed() => {
                    Flow::Stop(Box::pin(self.refuse(code)).await)
                }
                _ = crate::state::shutting_down(&mut shutdown) => Flow::Stop(Box::pin(self.shut_down()).await),
                Some(done) = self.pending_sends.next(), if !self.pending_sends.is_empty() => {
                    Box::pin(self.answer_send(done)).await;
                    Flow::Continue
                }
                Some(event) = self.events_rx.recv() => Box::pin(self.on_event(event)).await,
                msg = stream.next(), if self.pending_sends.len() < MAX_PENDING_SENDS
                    && self.pending_send_bytes < MAX_PENDING_SEND_BYTES => {
                    last_heard = Instant::now();
                    Box::pin(self.on_message(msg)).await
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > IDLE_TIMEOUT {
                        Flow::Stop(SessionEnd::Transport)
                    } else {
                        let _ = self.out.send(Box::new(Message::Ping(Default::default()))).await;
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
                return Box::pin(self.refuse(code)).await;
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

    // ---- authentication

    async fn authenticate(&mut self, stream: &mut futures::stream::SplitStream<WebSocket>) -> Result<(), SessionEnd> {
        let nonce = Nonce::random();
        let challenge = ServerFrame::Challenge { protocol: PROTOCOL_VERSION, nonce, server_time: now_ms() };
        if !self.send_frame(&challenge).await {
            return Err(SessionEnd::Transport);
        }
        let deadline = tokio::time::sleep(AUTH_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                msg = stream.next() => msg,
                _ = &mut deadline => return Err(self.refuse(ErrorCode::AuthTimeout).await),
            };
            let text = match self.frame_text(msg).await {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                Err(Flow::Stop(end)) => return Err(end),
                Err(Flow::Continue) => continue,
            };
            match decode_client_frame(text.as_bytes()) {
                Ok(ClientFrame::Auth { device, nonce: signed_nonce, timestamp, signature }) => {
                    return self.verify_auth(nonce, device, signed_nonce, timestamp, signature).await;
                }
                Ok(_) => self.send_error(ServerFrame::error(ErrorCode::NotAuthenticated)).await,
                Err((code, id)) => self.send_error(error_frame(code, id)).await,
            }
        }
    }

    async fn verify_auth(
        &mut self,
        issued: Nonce,
        device: DeviceId,
        nonce: Nonce,
        timestamp: i64,
        signature: sallyport_protocol::Signature,
    ) -> Result<(), SessionEnd> {
        // A nonce is only ever valid on the connection it was issued to, once: replaying an auth
        // frame captured from another connection fails here.
        if nonce != issued {
            return Err(self.refuse(ErrorCode::InvalidNonce).await);
        }
        if (timestamp - now_ms()).abs() > MAX_CLOCK_SKEW_MS {
            return Err(self.refuse(ErrorCode::ClockSkew).await);
        }
        let record = match self.state.store.device(&device).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(self.refuse(ErrorCode::UnknownDevice).await),
            Err(err) => {
                tracing::error!(error = %err, "device lookup failed");
                return Err(self.refuse(ErrorCode::Internal).await);
            }
        };
        let verifies = VerifyingKey::from_bytes(record.signing_key.as_bytes())
            .map(|key| {
                let message = auth_message(&device, &nonce, &self.state.settings.origin, timestamp);
                key.verify_strict(&message, &Signature::from_bytes(signature.as_bytes())).is_ok()
            })
            .unwrap_or(false);
        if !verifies {
            return Err(self.refuse(ErrorCode::BadSignature).await);
        }
        // Register the kill switch before checking revocation, so a revocation that lands in
        // between is still seen by the watcher.
        let lock = self.state.hub.register_device(device, self.connection, self.kill.clone());
        self.device = Some(device);
        match tokio::time::timeout(SUPERSEDE_WAIT, lock.lock_owned()).await {
            Ok(guard) => self.device_guard = Some(guard),
            Err(_) => tracing::warn!("an older connection of a device did not stop in time"),
        }
        if record.revoked_at.is_some() {
            return Err(self.refuse(ErrorCode::DeviceRevoked).await);
        }
        self.state.metrics.auth_ok.fetch_add(1, Relaxed);
        self.add_subscription(record.mailbox);
        let ready = ServerFrame::Ready { account: record.account, device, mailbox: record.mailbox };
        if !self.send_frame(&ready).await {
            return Err(SessionEnd::Transport);
        }
        self.check_key_package_stock(record.mailbox).await;
        Ok(())
    }

    // ---- frames from the client

    /// Unwraps a WebSocket message into frame text; handles close, ping and transport errors.
    async fn frame_text(&mut self, msg: Option<Result<Message, axum::Error>>) -> Result<Option<String>, Flow> {
        match msg {
            None | Some(Ok(Message::Close(_))) => Err(Flow::Stop(SessionEnd::ClientClosed)),
            Some(Ok(Message::Text(text))) => {
                if !self.bucket.take() {
                    self.send_error(ServerFrame::error(ErrorCode::RateLimited)).await;
                    return Err(Flow::Continue);
                }
                Ok(Some(text.to_string()))
            }
            Some(Ok(Message::Binary(_))) => {
                self.send_error(ServerFrame::error(ErrorCode::MalformedFrame)).await;
                Err(Flow::Continue)
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
            Some(Err(err)) => {
                if is_capacity_error(&err) {
                    Err(Flow::Stop(self.refuse(ErrorCode::FrameTooLarge).await))
                } else {
                    Err(Flow::Stop(SessionEnd::Transport))
                }
            }
        }
    }

    async fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> Flow {
        let text = match self.frame_text(msg).await {
            Ok(Some(text)) => text,
            Ok(None) => return Flow::Continue,
            Err(flow) => return flow,
        };
        let frame = match decode_client_frame(text.as_bytes()) {
            Ok(frame) => frame,
            Err((code, id)) => {
                self.send_error(error_frame(code, id)).await;
                return Flow::Continue;
            }
        };
        match frame {
            ClientFrame::Auth { .. } => self.send_error(ServerFrame::error(ErrorCode::AlreadyAuthenticated)).await,
            ClientFrame::Send { id, to, payload } => self.on_send(id, to, payload, None).await,
            ClientFrame::GroupSend { id, to, payload } => match delivery_service::inspect_group_envelope(&payload.0) {
                Ok(check) => self.on_send(id, to, payload, Some(check)).await,
                Err(code) => self.send_error(ServerFrame::error_for_message(code, id)).await,
            },
            ClientFrame::PublishKeyPackages { mailbox, key_packages, last_resort } => {
                self.on_publish_key_packages(mailbox, key_packages, last_resort).await
            }
            ClientFrame::ClaimKeyPackage { mailbox } => self.on_claim_key_package(mailbox).await,
            ClientFrame::Ack { mailbox, seq } => self.on_ack(mailbox, seq).await,
            ClientFrame::Subscribe { mailbox, secret } => self.on_subscribe(mailbox, secret).await,
            ClientFrame::CreateMailbox { mailbox, secret } => self.on_create_mailbox(mailbox, secret).await,
        }
        Flow::Continue
    }

    async fn on_send(&mut self, id: MessageId, mut to: Vec<MailboxId>, payload: Payload, group: Option<GroupCheck>) {
        to.sort_unstable();
        to.dedup();
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return self.send_error(ServerFrame::error_for_message(ErrorCode::BadRecipients, id)).await;
        }
        let now = now_ms();
        let message = NewMessage {
            id,
            to,
            payload: payload.0,
            created_at: now,
            expires_at: now + self.state.settings.message_ttl_ms,
            group,
        };
        let received = Instant::now();
        let bytes = message.payload.len();
        self.pending_send_bytes += bytes;
        let reply: AppendReply = self.state.committer.append(message).await;
        self.pending_sends.push(Box::pin(async move {
            let result = reply.await.unwrap_or_else(|_| Err(StoreError::Other("committer stopped".into())));
            SendResult { id, received, bytes, result }
        }));
    }

    async fn answer_send(&mut self, done: SendResult) {
        let SendResult { id, received, bytes, result } = done;
        self.pending_send_bytes -= bytes;
        let frame = match result {
            Ok(AppendOutcome::Stored { seq }) => {
                self.state.metrics.messages_accepted.fetch_add(1, Relaxed);
                self.state.metrics.accept_latency.observe(received.elapsed());
                ServerFrame::Accepted { id, seq }
            }
            Ok(AppendOutcome::Duplicate { seq }) => {
                self.state.metrics.messages_duplicate.fetch_add(1, Relaxed);
                ServerFrame::Accepted { id, seq }
            }
            Ok(AppendOutcome::QuotaExceeded { mailbox }) => ServerFrame::Error {
                code: ErrorCode::QuotaExceeded,
                message: ErrorCode::QuotaExceeded.default_message().into(),
                id: Some(id),
                mailbox: Some(mailbox),
            },
            Ok(AppendOutcome::UnknownMailbox { mailbox }) => ServerFrame::Error {
                code: ErrorCode::UnknownMailbox,
                message: ErrorCode::UnknownMailbox.default_message().into(),
                id: Some(id),
                mailbox: Some(mailbox),
            },
            Ok(AppendOutcome::StaleEpoch { .. }) => ServerFrame::error_for_message(ErrorCode::StaleEpoch, id),
            Err(_) => ServerFrame::error_for_message(ErrorCode::Internal, id),
        };
        if let ServerFrame::Error { code, .. } = &frame {
            self.state.metrics.error(*code);
        }
        self.send_frame(&frame).await;
    }

    async fn on_ack(&mut self, mailbox: MailboxId, seq: u64) {
        let Some(state) = self.mailboxes.get_mut(&mailbox) else {
            // Only a connection that reads a mailbox may delete from it.
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::UnknownMailbox, mailbox)).await;
        };
        state.inflight.remove(&seq);
        self.state.committer.ack(mailbox, seq).await;
    }

    async fn on_subscribe(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        if self.mailboxes.contains_key(&mailbox) {
            self.send_frame(&ServerFrame::Subscribed { mailbox }).await;
            return;
        }
        let code = match self.state.store.mailbox_access(&mailbox).await {
            Ok(Some(MailboxAccess::Unlinked { secret_hash })) => {
                if constant_time_eq(&sha256(secret.as_bytes()), &secret_hash) {
                    None
                } else {
                    Some(ErrorCode::WrongMailboxSecret)
                }
            }
            // Another device's linked mailbox has no secret that could open it.
            Ok(Some(MailboxAccess::Linked)) => Some(ErrorCode::WrongMailboxSecret),
            Ok(None) => Some(ErrorCode::UnknownMailbox),
            Err(err) => {
                tracing::error!(error = %err, "mailbox lookup failed");
                Some(ErrorCode::Internal)
            }
        };
        match code {
            Some(code) => self.send_error(ServerFrame::error_for_mailbox(code, mailbox)).await,
            None => {
                self.add_subscription(mailbox);
                self.send_frame(&ServerFrame::Subscribed { mailbox }).await;
                self.check_key_package_stock(mailbox).await;
            }
        }
    }

    async fn on_create_mailbox(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        // The day is enough for clean-up; a finer time could be matched against connection times.
        let today = now_ms() / 86_400_000 * 86_400_000;
        match self.state.store.create_mailbox(&mailbox, &sha256(secret.as_bytes()), today).await {
            Ok(()) => {
                self.add_subscription(mailbox);
                self.send_frame(&ServerFrame::MailboxCreated { mailbox }).await;
            }
            Err(StoreError::Conflict(_)) => {
                self.send_error(ServerFrame::error_for_mailbox(ErrorCode::MailboxExists, mailbox)).await
            }
            Err(err) => {
                tracing::error!(error = %err, "mailbox creation failed");
                self.send_error(ServerFrame::error_for_mailbox(ErrorCode::Internal, mailbox)).await
            }
        }
    }

    // ---- MLS KeyPackages

    async fn on_publish_key_packages(&mut self, mailbox: MailboxId, key_packages: Vec<Payload>, last_resort: Option<Payload>) {
        if !self.mailboxes.contains_key(&mailbox) {
            // Only a reader of the mailbox may publish its KeyPackages.
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::UnknownMailbox, mailbox)).await;
        }
        let all = key_packages.iter().chain(last_resort.as_ref());
        let sizes_ok = all.clone().all(|kp| kp.0.len() <= MAX_KEY_PACKAGE_BYTES);
        if key_packages.len() > MAX_KEY_PACKAGES_PER_PUBLISH || !sizes_ok {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::KeyPackageLimit, mailbox)).await;
        }
        if !all.clone().all(|kp| delivery_service::is_key_package(&kp.0)) {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::InvalidMlsMessage, mailbox)).await;
        }
        let packages: Vec<bytes::Bytes> = key_packages.into_iter().map(|p| p.0).collect();
        let last_resort = last_resort.map(|p| p.0);
        let result = self
            .state
            .store
            .publish_key_packages(&mailbox, &packages, last_resort.as_ref(), MAX_KEY_PACKAGES_PER_MAILBOX)
            .await;
        match result {
            Ok(available) => {
                self.send_frame(&ServerFrame::KeyPackagesPublished { mailbox, available }).await;
            }
            Err(err) => self.send_error(ServerFrame::error_for_mailbox(store_error_code(err, ErrorCode::KeyPackageLimit), mailbox)).await,
        };
    }

    async fn on_claim_key_package(&mut self, mailbox: MailboxId) {
        // Claims drain someone else's stock, so they have a budget of their own.
        if !self.claims.take() {
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::RateLimited, mailbox)).await;
        }
        match self.state.store.claim_key_package(&mailbox).await {
            Ok(Some(claimed)) => {
                if claimed.available < KEY_PACKAGES_LOW_WATER {
                    self.state.hub.key_packages_low(mailbox, claimed.available);
                }
                let frame = ServerFrame::KeyPackage {
                    mailbox,
                    key_package: Payload(claimed.key_package),
                    last_resort: claimed.last_resort,
                };
                self.send_frame(&frame).await;
            }
            Ok(None) => self.send_error(ServerFrame::error_for_mailbox(ErrorCode::NoKeyPackage, mailbox)).await,
            Err(err) => self.send_error(ServerFrame::error_for_mailbox(store_error_code(err, ErrorCode::Internal), mailbox)).await,
        }
    }

    /// Tells this connection when a mailbox it starts reading needs more KeyPackages.
    async fn check_key_package_stock(&self, mailbox: MailboxId) {
        match self.state.store.key_package_count(&mailbox).await {
            Ok(available) if available < KEY_PACKAGES_LOW_WATER => {
                self.send_frame(&ServerFrame::KeyPackagesLow { mailbox, available }).await;
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "counting KeyPackages failed"),
        }
    }

    // ---- delivery

    /// Subscribes in the hub first, then marks the mailbox dirty so the queued backlog is read
    /// from the database: anything committed in between arrives through both paths and is
    /// sent once.
    fn add_subscription(&mut self, mailbox: MailboxId) {
        let sub = self.state.hub.subscribe(mailbox, self.connection, self.events_tx.clone());
        sub.dirty.store(true, Relaxed);
        self.mailboxes.insert(mailbox, MailboxState { sub, inflight: BTreeSet::new(), max_sent: 0 });
    }

    async fn on_event(&mut self, event: SessionEvent) -> Flow {
        match event {
            SessionEvent::Deliver(message) => {
                let Some(state) = self.mailboxes.get_mut(&message.mailbox) else { return Flow::Continue };
                if state.sub.dirty.load(Relaxed) {
                    // A database read is due and will include this message, in order.
                    return Flow::Continue;
                }
                if message.seq <= state.max_sent || state.inflight.contains(&message.seq) {
                    return Flow::Continue;
                }
                if state.inflight.len() >= DELIVERY_WINDOW {
                    state.sub.dirty.store(true, Relaxed);
                    return Flow::Continue;
                }
                state.inflight.insert(message.seq);
                state.max_sent = message.seq;
                self.deliver(*message).await;
            }
            SessionEvent::Wake => {}
            SessionEvent::KeyPackagesLow { mailbox, available } => {
                self.send_frame(&ServerFrame::KeyPackagesLow { mailbox: *mailbox, available }).await;
            }
        }
        Flow::Continue
    }

    async fn deliver(&self, message: QueuedMessage) {
        self.state.metrics.deliveries.fetch_add(1, Relaxed);
        let frame = ServerFrame::Deliver {
            mailbox: message.mailbox,
            seq: message.seq,
            id: message.id,
            payload: Payload(message.payload),
        };
        self.send_frame(&frame).await;
    }

    /// Whether some mailbox must be re-read (checked without allocating, after every event).
    fn catch_up_due(&self) -> bool {
        self.mailboxes.values().any(|s| s.inflight.len() <= DELIVERY_WINDOW / 2 && s.sub.dirty.load(Relaxed))
    }

    /// Reads dirty mailboxes from the database while their delivery window has room.
    async fn catch_up(&mut self) -> Result<(), ErrorCode> {
        let dirty: Vec<MailboxId> = self
            .mailboxes
            .iter()
            // Re-read only once half the window is free, not on every ack.
            .filter(|(_, s)| s.inflight.len() <= DELIVERY_WINDOW / 2 && s.sub.dirty.load(Relaxed))
            .map(|(m, _)| *m)
            .collect();
        for mailbox in dirty {
            let state = self.mailboxes.get_mut(&mailbox).expect("listed above");
            state.sub.dirty.swap(false, AcqRel);
            let pending = self
                .state
                .store
                .pending(&mailbox, DELIVERY_WINDOW as u32, now_ms())
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "reading a queue failed");
                    ErrorCode::Internal
                })?;
            let mut out = Vec::new();
            let state = self.mailboxes.get_mut(&mailbox).expect("listed above");
            if pending.len() >= DELIVERY_WINDOW {
                // There may be more behind this page: read again once acks make room.
                state.sub.dirty.store(true, Relaxed);
            }
            for message in pending {
                if state.inflight.len() >= DELIVERY_WINDOW {
                    state.sub.dirty.store(true, Relaxed);
                    break;
                }
                if state.inflight.insert(message.seq) {
                    state.max_sent = state.max_sent.max(message.seq);
                    out.push(message);
                }
            }
            for message in out {
                self.deliver(message).await;
            }
        }
        Ok(())
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

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A per-connection token bucket: `rate` frames per second, bursts up to twice that.
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        TokenBucket {
            rate,
            capacity: rate * 2.0,
            tokens: rate * 2.0,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
