//! The connection state machine, free of I/O: server frames and connect/disconnect notices go in,
//! client frames to write and application [`Event`]s come out. It answers the challenge, resumes
//! after a reconnect (re-subscribes, re-sends the unaccepted outbox) and de-duplicates deliveries.
//! The native transport and (later) the wasm one drive it the same way.

use crate::ClientError;
use crate::identity::{Credentials, DeviceKeys};
use sallyport_protocol::{
    AccountId, ClientFrame, DeviceId, Encoding, ErrorCode, IncidentId, MailboxId, MailboxSecret, MessageId, PROTOCOL_VERSION,
    Payload, ServerFrame, WireMessage, decode_server_binary,
};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// How many recently delivered messages per mailbox are remembered (by seq and by id) for
/// de-duplication, unless [`Session::set_dedup_window`] says otherwise. Messages still awaiting the
/// application's ack are always remembered, whatever their number.
pub const DEFAULT_DEDUP_WINDOW: usize = 4096;

/// What the application learns from the session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Authenticated; the linked `mailbox` is subscribed and delivery starts.
    Ready { account: AccountId, device: DeviceId, mailbox: MailboxId },
    /// The message `id` is durably stored for every recipient.
    Accepted { id: MessageId, seq: u64 },
    /// A message, delivered to the application exactly once. Call [`Session::ack`] once it has been
    /// durably processed; until then the server keeps it and redelivers it after a reconnect.
    Message { mailbox: MailboxId, seq: u64, id: MessageId, payload: Payload },
    /// The application's `create_mailbox` succeeded.
    MailboxCreated { mailbox: MailboxId },
    /// The application's `subscribe` succeeded; queued messages follow.
    Subscribed { mailbox: MailboxId },
    /// The server refused something. `id` names a sent message, `mailbox` a mailbox request; with
    /// neither it concerns the connection (for instance a failed authentication).
    Error { code: ErrorCode, message: String, id: Option<MessageId>, mailbox: Option<MailboxId> },
    /// Answer to [`Session::publish_key_packages`]: one-time KeyPackages the mailbox now holds.
    KeyPackagesPublished { mailbox: MailboxId, available: u32 },
    /// Answer to [`Session::claim_key_package`].
    KeyPackage { mailbox: MailboxId, key_package: Payload, last_resort: bool },
    /// The mailbox's one-time KeyPackages run low: publish more.
    KeyPackagesLow { mailbox: MailboxId, available: u32 },
    /// An incident the account may see changed: fetch its board.
    IncidentChanged { incident: IncidentId },
    /// The connection was lost; everything unfinished resumes after the next `ready`.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Disconnected,
    AwaitingChallenge,
    Authenticating,
    Ready,
    /// The server sent an error that closes the connection; nothing more is written.
    Closing,
}

#[derive(Debug)]
struct Subscription {
    secret: MailboxSecret,
    /// The application asked and has not had its answer yet: surface the answer. Automatic
    /// re-subscriptions after a reconnect are answered silently.
    requested: bool,
}

#[derive(Debug)]
struct Creation {
    secret: MailboxSecret,
    /// How many times `create_mailbox` was written. A retry after a lost connection may find that
    /// the first attempt succeeded.
    attempts: u32,
}

#[derive(Debug)]
struct Outgoing {
    id: MessageId,
    to: Vec<MailboxId>,
    payload: Payload,
    /// Sent as `group_send` (an MLS group envelope the server orders by epoch).
    group: bool,
    /// For a group commit: the group's members once it takes effect (`group_send`'s `members`).
    members: Vec<MailboxId>,
}

impl Outgoing {
    fn frame(&self) -> ClientFrame {
        let (id, to, payload) = (self.id, self.to.clone(), self.payload.clone());
        if self.group {
            ClientFrame::GroupSend { id, to, payload, members: self.members.clone() }
        } else {
            ClientFrame::Send { id, to, payload }
        }
    }
}

#[derive(Debug)]
struct Seen {
    id: MessageId,
    acked: bool,
    /// Other seqs under which the same message id was delivered; acked together with this one.
    also_ack: Vec<u64>,
}

/// De-duplication memory for one mailbox.
#[derive(Debug, Default)]
struct Inbox {
    recent: BTreeMap<u64, Seen>,
    ids: HashMap<MessageId, u64>,
}

impl Inbox {
    fn evict(&mut self, window: usize) {
        let excess = self.recent.len().saturating_sub(window);
        if excess == 0 {
            return;
        }
        // Oldest first, and never a message the application still has to ack.
        let victims: Vec<u64> =
            self.recent.iter().filter(|(_, seen)| seen.acked).map(|(seq, _)| *seq).take(excess).collect();
        for seq in victims {
            if let Some(seen) = self.recent.remove(&seq) {
                self.ids.remove(&seen.id);
            }
        }
    }
}

/// One device's protocol state, kept across reconnects. Feed it with [`connected`](Self::connected),
/// [`handle`](Self::handle) and [`disconnected`](Self::disconnected); after each call, write every
/// frame from [`poll_transmit`](Self::poll_transmit) and hand every [`poll_event`](Self::poll_event)
/// to the application.
pub struct Session {
    server_url: String,
    device: DeviceId,
    linked: MailboxId,
    keys: DeviceKeys,
    state: State,
    /// What the current connection negotiated: whether hot frames travel as binary messages.
    encoding: Encoding,
    account: Option<AccountId>,
    subscriptions: BTreeMap<MailboxId, Subscription>,
    creations: BTreeMap<MailboxId, Creation>,
    /// Messages not yet accepted, keyed by a local ordinal so they are re-sent in order.
    outbox: BTreeMap<u64, Outgoing>,
    outbox_index: HashMap<MessageId, u64>,
    next_ordinal: u64,
    inboxes: HashMap<MailboxId, Inbox>,
    dedup_window: usize,
    transmit: VecDeque<ClientFrame>,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("device", &self.device)
            .field("state", &self.state)
            .field("subscriptions", &self.subscriptions.len())
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A disconnected session for the device in `creds`.
    pub fn new(creds: &Credentials) -> Self {
        Session {
            server_url: creds.server_url.clone(),
            device: creds.device,
            linked: creds.mailbox,
            keys: creds.keys.clone(),
            state: State::Disconnected,
            encoding: Encoding::Json,
            account: None,
            subscriptions: BTreeMap::new(),
            creations: BTreeMap::new(),
            outbox: BTreeMap::new(),
            outbox_index: HashMap::new(),
            next_ordinal: 0,
            inboxes: HashMap::new(),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// How many acked messages per mailbox to remember for de-duplication.
    pub fn set_dedup_window(&mut self, window: usize) {
        self.dedup_window = window.max(1);
    }

    /// Whether `ready` was received on the current connection.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The device's linked mailbox.
    pub fn linked_mailbox(&self) -> MailboxId {
        self.linked
    }

    /// The account, once a `ready` has named it.
    pub fn account(&self) -> Option<AccountId> {
        self.account
    }

    /// Ids of the messages sent but not yet accepted, oldest first.
    pub fn unaccepted(&self) -> impl Iterator<Item = MessageId> + '_ {
        self.outbox.values().map(|o| o.id)
    }

    /// The unlinked mailboxes this session re-subscribes after each reconnect.
    pub fn subscribed_mailboxes(&self) -> impl Iterator<Item = MailboxId> + '_ {
        self.subscriptions.keys().copied()
    }

    /// The next frame to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<ClientFrame> {
        self.transmit.pop_front()
    }

    /// The next frame to write, as the message that carries it on this connection: binary for a
    /// hot frame on a connection that negotiated it, JSON text otherwise.
    pub fn poll_message(&mut self) -> Option<WireMessage> {
        let frame = self.transmit.pop_front()?;
        Some(frame.to_wire(self.encoding))
    }

    /// The encoding the current (or last) connection negotiated.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A new socket is open that speaks JSON only: expect a `challenge`. Frames queued for an
    /// earlier socket are dropped; what they carried is resumed after `ready`.
    pub fn connected(&mut self) {
        self.connected_with(Encoding::Json);
    }

    /// A new socket is open with the `encoding` its upgrade negotiated (see
    /// [`Encoding::from_subprotocol`]); otherwise as [`connected`](Self::connected).
    pub fn connected_with(&mut self, encoding: Encoding) {
        self.transmit.clear();
        self.encoding = encoding;
        self.state = State::AwaitingChallenge;
    }

    /// The socket closed (or failed). Emits [`Event::Closed`] if it was open.
    pub fn disconnected(&mut self) {
        self.transmit.clear();
        if self.state != State::Disconnected {
            self.state = State::Disconnected;
            self.events.push_back(Event::Closed);
        }
    }

    /// Parses and handles one WebSocket text message.
    pub fn handle_text(&mut self, text: &str, now_ms: i64) -> Result<(), ClientError> {
        let frame = match serde_json::from_str::<ServerFrame>(text) {
            Ok(frame) => frame,
            // A newer server may add frame types within protocol v1: skip what this client does
            // not know rather than drop the connection. Anything else unreadable is a violation.
            Err(_) if is_unknown_frame_type(text) => return Ok(()),
            Err(e) => return Err(ClientError::Protocol(format!("unreadable server frame: {e}"))),
        };
        self.handle(frame, now_ms)
    }

    /// Parses and handles one WebSocket binary message (a hot frame, on a connection that
    /// negotiated the binary encoding). A tag this client does not know is skipped, as an unknown
    /// JSON frame type is; a binary message on a JSON connection is a violation.
    pub fn handle_binary(&mut self, message: &bytes::Bytes, now_ms: i64) -> Result<(), ClientError> {
        if self.encoding != Encoding::Binary {
            return Err(ClientError::Protocol("binary message on a JSON connection".into()));
        }
        match decode_server_binary(message) {
            Ok(Some(frame)) => self.handle(frame, now_ms),
            Ok(None) => Ok(()),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// Handles one server frame. `now_ms` is this device's clock (Unix milliseconds), signed into
    /// the answer to a challenge. An error means the server broke the protocol: drop the socket.
    pub fn handle(&mut self, frame: ServerFrame, now_ms: i64) -> Result<(), ClientError> {
        match frame {
            ServerFrame::Challenge { protocol, nonce, .. } => {
                if self.state != State::AwaitingChallenge {
                    return Err(ClientError::Protocol("unexpected challenge".into()));
                }
                if protocol != PROTOCOL_VERSION {
                    return Err(ClientError::Protocol(format!(
                        "server speaks protocol {protocol}, this client {PROTOCOL_VERSION}"
                    )));
                }
                let signature = self.keys.sign_auth(&self.device, &nonce, &self.server_url, now_ms);
                self.transmit.push_back(ClientFrame::Auth { device: self.device, nonce, timestamp: now_ms, signature });
                self.state = State::Authenticating;
            }
            ServerFrame::Ready { account, device, mailbox } => {
                if self.state != State::Authenticating {
                    return Err(ClientError::Protocol("unexpected ready".into()));
                }
                if device != self.device {
                    return Err(ClientError::Protocol(format!("ready names device {device}, not this one")));
                }
                self.state = State::Ready;
                self.account = Some(account);
                self.linked = mailbox;
                self.events.push_back(Event::Ready { account, device, mailbox });
                self.resume();
            }
            ServerFrame::MailboxCreated { mailbox } => {
                self.creations.remove(&mailbox);
                self.events.push_back(Event::MailboxCreated { mailbox });
            }
            ServerFrame::Subscribed { mailbox } => match self.subscriptions.get_mut(&mailbox) {
                Some(sub) if !sub.requested => {}
                Some(sub) => {
                    sub.requested = false;
                    self.events.push_back(Event::Subscribed { mailbox });
                }
                None => self.events.push_back(Event::Subscribed { mailbox }),
            },
            ServerFrame::Accepted { id, seq } => {
                if let Some(ordinal) = self.outbox_index.remove(&id) {
                    self.outbox.remove(&ordinal);
                }
                self.events.push_back(Event::Accepted { id, seq });
            }
            ServerFrame::Deliver { mailbox, seq, id, payload } => self.deliver(mailbox, seq, id, payload),
            ServerFrame::Error { code, message, id, mailbox } => self.error(code, message, id, mailbox),
            ServerFrame::KeyPackagesPublished { mailbox, available } => {
                self.events.push_back(Event::KeyPackagesPublished { mailbox, available })
            }
            ServerFrame::KeyPackage { mailbox, key_package, last_resort } => {
                self.events.push_back(Event::KeyPackage { mailbox, key_package, last_resort })
            }
            ServerFrame::KeyPackagesLow { mailbox, available } => {
                self.events.push_back(Event::KeyPackagesLow { mailbox, available })
            }
            ServerFrame::IncidentChanged { incident } => self.events.push_back(Event::IncidentChanged { incident }),
        }
        Ok(())
    }

    /// Queues a new message for `to` under a fresh random id. It is written now if the session is
    /// ready, and re-sent after every reconnect until the server accepts it.
    pub fn send(&mut self, to: Vec<MailboxId>, payload: Payload) -> MessageId {
        let id = MessageId::random();
        self.send_with_id(id, to, payload);
        id
    }

    /// Like [`send`](Self::send) with a chosen id; sending an id again is idempotent on the server.
    pub fn send_with_id(&mut self, id: MessageId, to: Vec<MailboxId>, payload: Payload) {
        self.queue(Outgoing { id, to, payload, group: false, members: Vec::new() });
    }

    /// Queues an MLS group envelope (`sallyport_protocol::group::GroupEnvelope`) for `to`, like
    /// [`send`](Self::send) but as `group_send`, which the server orders by epoch: a commit that
    /// lost to another member's is refused with `stale_epoch` and not retried. `members`: for a
    /// commit, the group's members once it takes effect ([`crate::Outgoing::members`]; the
    /// server binds the group to them and refuses a commit without them); empty otherwise. A
    /// message from a connection that reads none of a group's members is refused with
    /// `not_a_member`, and not retried either.
    pub fn group_send(&mut self, to: Vec<MailboxId>, members: Vec<MailboxId>, envelope: Payload) -> MessageId {
        let id = MessageId::random();
        self.group_send_with_id(id, to, members, envelope);
        id
    }

    /// Like [`group_send`](Self::group_send) with a chosen id.
    pub fn group_send_with_id(&mut self, id: MessageId, to: Vec<MailboxId>, members: Vec<MailboxId>, envelope: Payload) {
        self.queue(Outgoing { id, to, payload: envelope, group: true, members });
    }

    fn queue(&mut self, out: Outgoing) {
        if self.state == State::Ready {
            self.transmit.push_back(out.frame());
        }
        if let Some(ordinal) = self.outbox_index.get(&out.id) {
            // Already queued: keep its place in the order.
            if let Some(existing) = self.outbox.get_mut(ordinal) {
                *existing = out;
            }
            return;
        }
        let ordinal = self.next_ordinal;
        self.next_ordinal += 1;
        self.outbox_index.insert(out.id, ordinal);
        self.outbox.insert(ordinal, out);
    }

    /// Publishes one-time KeyPackages (and optionally a new last-resort one) for a mailbox this
    /// connection reads. Answered by [`Event::KeyPackagesPublished`] or an error naming the
    /// mailbox. Not retried across reconnects: publish again on [`Event::KeyPackagesLow`].
    pub fn publish_key_packages(&mut self, mailbox: MailboxId, key_packages: Vec<Payload>, last_resort: Option<Payload>) {
        if self.state == State::Ready {
            self.transmit.push_back(ClientFrame::PublishKeyPackages { mailbox, key_packages, last_resort });
        }
    }

    /// Claims a KeyPackage of `mailbox`. Answered by [`Event::KeyPackage`] or an error naming it.
    pub fn claim_key_package(&mut self, mailbox: MailboxId) {
        if self.state == State::Ready {
            self.transmit.push_back(ClientFrame::ClaimKeyPackage { mailbox });
        }
    }

    /// Writes again, now, every message not yet accepted (for instance after `rate_limited`).
    pub fn resend_unaccepted(&mut self) {
        if self.state != State::Ready {
            return;
        }
        for out in self.outbox.values() {
            self.transmit.push_back(out.frame());
        }
    }

    /// Creates an unlinked mailbox. Answered by [`Event::MailboxCreated`] or an [`Event::Error`]
    /// naming it; retried after a reconnect until answered. Creating does not subscribe: call
    /// [`subscribe`](Self::subscribe) to read it.
    pub fn create_mailbox(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        let attempts = if self.state == State::Ready {
            self.transmit.push_back(ClientFrame::CreateMailbox { mailbox, secret });
            1
        } else {
            0
        };
        self.creations.insert(mailbox, Creation { secret, attempts });
    }

    /// Reads an unlinked mailbox on this and every later connection. Answered by
    /// [`Event::Subscribed`] or an [`Event::Error`] naming it.
    pub fn subscribe(&mut self, mailbox: MailboxId, secret: MailboxSecret) {
        if self.state == State::Ready {
            self.transmit.push_back(ClientFrame::Subscribe { mailbox, secret });
        }
        self.subscriptions.insert(mailbox, Subscription { secret, requested: true });
    }

    /// Stops re-subscribing `mailbox` after reconnects (the current connection keeps reading it).
    pub fn forget_mailbox(&mut self, mailbox: MailboxId) {
        self.subscriptions.remove(&mailbox);
        self.inboxes.remove(&mailbox);
    }

    /// The application has durably processed message `seq` of `mailbox`: tell the server, which
    /// then deletes it. Later duplicates of it are re-acked without reaching the application.
    pub fn ack(&mut self, mailbox: MailboxId, seq: u64) {
        let ready = self.state == State::Ready;
        let inbox = self.inboxes.entry(mailbox).or_default();
        let mut also = Vec::new();
        if let Some(seen) = inbox.recent.get_mut(&seq) {
            seen.acked = true;
            also = std::mem::take(&mut seen.also_ack);
        }
        inbox.evict(self.dedup_window);
        // When not ready the ack is lost with the socket; the server redelivers the message and
        // the session re-acks it then.
        if ready {
            self.transmit.push_back(ClientFrame::Ack { mailbox, seq });
            for seq in also {
                self.transmit.push_back(ClientFrame::Ack { mailbox, seq });
            }
        }
    }

    fn resume(&mut self) {
        for (mailbox, sub) in &self.subscriptions {
            self.transmit.push_back(ClientFrame::Subscribe { mailbox: *mailbox, secret: sub.secret });
        }
        for (mailbox, creation) in &mut self.creations {
            creation.attempts += 1;
            self.transmit.push_back(ClientFrame::CreateMailbox { mailbox: *mailbox, secret: creation.secret });
        }
        for out in self.outbox.values() {
            self.transmit.push_back(out.frame());
        }
    }

    fn deliver(&mut self, mailbox: MailboxId, seq: u64, id: MessageId, payload: Payload) {
        let inbox = self.inboxes.entry(mailbox).or_default();
        if let Some(seen) = inbox.recent.get(&seq) {
            // Redelivered: re-ack if the application acked it (the ack was lost), else it is
            // still being processed and its ack will come.
            if seen.acked {
                self.transmit.push_back(ClientFrame::Ack { mailbox, seq });
            }
            return;
        }
        if let Some(first_seq) = inbox.ids.get(&id).copied() {
            // The same message under another seq: one message for the application, two acks.
            let seen = inbox.recent.get_mut(&first_seq).expect("ids and recent agree");
            if seen.acked {
                self.transmit.push_back(ClientFrame::Ack { mailbox, seq });
            } else if !seen.also_ack.contains(&seq) {
                seen.also_ack.push(seq);
            }
            return;
        }
        inbox.recent.insert(seq, Seen { id, acked: false, also_ack: Vec::new() });
        inbox.ids.insert(id, seq);
        inbox.evict(self.dedup_window);
        self.events.push_back(Event::Message { mailbox, seq, id, payload });
    }

    fn error(&mut self, code: ErrorCode, message: String, id: Option<MessageId>, mailbox: Option<MailboxId>) {
        if let Some(id) = id
            && !is_transient(code)
            && let Some(ordinal) = self.outbox_index.remove(&id)
        {
            // A refused message will never be accepted: stop re-sending it. Transient refusals
            // stay in the outbox for the next reconnect or `resend_unaccepted`.
            self.outbox.remove(&ordinal);
        }
        if let Some(mailbox) = mailbox {
            if let Some(creation) = self.creations.get(&mailbox) {
                if code == ErrorCode::MailboxExists && creation.attempts > 1 {
                    // A retried create whose first attempt got through before the connection
                    // dropped. (Ids are 128 random bits: nobody else picked this one.)
                    self.creations.remove(&mailbox);
                    self.events.push_back(Event::MailboxCreated { mailbox });
                    return;
                }
                if !is_transient(code) {
                    self.creations.remove(&mailbox);
                }
            } else if let Some(sub) = self.subscriptions.get_mut(&mailbox) {
                if matches!(code, ErrorCode::UnknownMailbox | ErrorCode::WrongMailboxSecret) {
                    self.subscriptions.remove(&mailbox);
                } else {
                    sub.requested = false;
                }
            }
        }
        if code.closes_connection() {
            self.state = State::Closing;
            self.transmit.clear();
        }
        self.events.push_back(Event::Error { code, message, id, mailbox });
    }
}

/// Whether `text` is a JSON object whose `type` names no server frame this client knows.
fn is_unknown_frame_type(text: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(rename = "type")]
        ty: String,
    }
    let Ok(peek) = serde_json::from_str::<Peek>(text) else { return false };
    // Serialise a probe of the same type: if serde knows the tag, the text was merely malformed.
    let probe = format!(r#"{{"type":{}}}"#, serde_json::Value::String(peek.ty));
    match serde_json::from_str::<ServerFrame>(&probe) {
        Ok(_) => false,
        Err(e) => e.to_string().contains("unknown variant"),
    }
}

/// Refusals after which the same request may succeed later.
fn is_transient(code: ErrorCode) -> bool {
    matches!(code, ErrorCode::RateLimited | ErrorCode::QuotaExceeded | ErrorCode::Internal | ErrorCode::ShuttingDown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::DeviceKeys;
    use ed25519_dalek::{Verifier as _, VerifyingKey};
    use sallyport_protocol::{Nonce, auth, rest::Role};

    const NOW: i64 = 1_700_000_000_000;

    fn creds() -> Credentials {
        Credentials {
            server_url: "http://127.0.0.1:8080".into(),
            account: AccountId([1; 16]),
            device: DeviceId([2; 16]),
            mailbox: MailboxId([3; 16]),
            display_name: "Test".into(),
            roles: vec![Role::Staff],
            keys: DeviceKeys::from_secret_bytes([9; 32], [8; 32]),
        }
    }

    fn payload(text: &'static str) -> Payload {
        Payload(bytes::Bytes::from_static(text.as_bytes()))
    }

    fn frames(s: &mut Session) -> Vec<ClientFrame> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    fn events(s: &mut Session) -> Vec<Event> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    fn challenge() -> ServerFrame {
        ServerFrame::Challenge { protocol: PROTOCOL_VERSION, nonce: Nonce([5; 32]), server_time: NOW }
    }

    fn ready(c: &Credentials) -> ServerFrame {
        ServerFrame::Ready { account: c.account, device: c.device, mailbox: c.mailbox }
    }

    /// A session that has gone through connect, challenge and ready, with everything drained.
    fn ready_session() -> (Session, Credentials) {
        let c = creds();
        let mut s = Session::new(&c);
        s.connected();
        s.handle(challenge(), NOW).unwrap();
        s.handle(ready(&c), NOW).unwrap();
        frames(&mut s);
        events(&mut s);
        (s, c)
    }

    fn reconnect(s: &mut Session, c: &Credentials) -> Vec<ClientFrame> {
        s.disconnected();
        s.connected();
        s.handle(challenge(), NOW).unwrap();
        let auth = frames(s);
        assert!(matches!(auth[..], [ClientFrame::Auth { .. }]));
        s.handle(ready(c), NOW).unwrap();
        frames(s)
    }

    fn deliver(mailbox: MailboxId, seq: u64, id: u8, text: &'static str) -> ServerFrame {
        ServerFrame::Deliver { mailbox, seq, id: MessageId([id; 16]), payload: payload(text) }
    }

    #[test]
    fn challenge_is_answered_with_a_verifiable_signature() {
        let c = creds();
        let mut s = Session::new(&c);
        s.connected();
        s.handle_text(&challenge().to_json(), NOW).unwrap();
        let [ClientFrame::Auth { device, nonce, timestamp, signature }] = &frames(&mut s)[..] else {
            panic!("expected one auth frame");
        };
        assert_eq!((*device, *nonce, *timestamp), (c.device, Nonce([5; 32]), NOW));
        let vk = VerifyingKey::from_bytes(c.keys.signing_public().as_bytes()).unwrap();
        let msg = auth::auth_message(&c.device, &Nonce([5; 32]), "http://127.0.0.1:8080", NOW);
        vk.verify(&msg, &ed25519_dalek::Signature::from_bytes(&signature.0)).unwrap();
        assert!(!s.is_ready());

        s.handle(ready(&c), NOW).unwrap();
        assert!(s.is_ready());
        assert_eq!(s.account(), Some(c.account));
        assert_eq!(events(&mut s), vec![Event::Ready { account: c.account, device: c.device, mailbox: c.mailbox }]);
        assert!(frames(&mut s).is_empty(), "nothing to resume on a first connection");
    }

    #[test]
    fn protocol_violations_are_errors() {
        let c = creds();
        let mut s = Session::new(&c);
        s.connected();
        let old = ServerFrame::Challenge { protocol: 99, nonce: Nonce([5; 32]), server_time: NOW };
        assert!(matches!(s.handle(old, NOW), Err(ClientError::Protocol(_))));
        assert!(matches!(s.handle(ready(&c), NOW), Err(ClientError::Protocol(_))), "ready before auth");
        assert!(s.handle_text("{\"type\":\"ready\"}", NOW).is_err(), "a known frame missing its fields");
        s.handle(challenge(), NOW).unwrap();
        let other = ServerFrame::Ready { account: c.account, device: DeviceId([7; 16]), mailbox: c.mailbox };
        assert!(matches!(s.handle(other, NOW), Err(ClientError::Protocol(_))));
        let (mut s, _) = ready_session();
        assert!(s.handle(challenge(), NOW).is_err(), "a second challenge");
    }

    #[test]
    fn auth_refusal_surfaces_as_an_error_event_and_stops_writing() {
        let c = creds();
        let mut s = Session::new(&c);
        s.connected();
        s.handle(challenge(), NOW).unwrap();
        frames(&mut s);
        s.handle(ServerFrame::error(ErrorCode::DeviceRevoked), NOW).unwrap();
        let ev = events(&mut s);
        assert!(matches!(&ev[..], [Event::Error { code: ErrorCode::DeviceRevoked, id: None, mailbox: None, .. }]));
        s.send(vec![MailboxId([4; 16])], payload("x"));
        assert!(frames(&mut s).is_empty());
        s.disconnected();
        assert_eq!(events(&mut s), vec![Event::Closed]);
    }

    #[test]
    fn group_sends_are_resent_as_group_sends_and_a_stale_commit_is_dropped() {
        let (mut s, c) = ready_session();
        let to = vec![MailboxId([4; 16])];
        let members = vec![c.mailbox, MailboxId([4; 16])];
        let stale = s.group_send(to.clone(), members.clone(), payload("commit"));
        let app = s.group_send(to.clone(), Vec::new(), payload("app"));
        assert_eq!(
            frames(&mut s),
            vec![
                ClientFrame::GroupSend { id: stale, to: to.clone(), payload: payload("commit"), members },
                ClientFrame::GroupSend { id: app, to: to.clone(), payload: payload("app"), members: Vec::new() },
            ]
        );
        s.handle(ServerFrame::error_for_message(ErrorCode::StaleEpoch, stale), NOW).unwrap();
        s.disconnected();
        s.connected();
        s.handle(challenge(), NOW).unwrap();
        s.handle(ServerFrame::Ready { account: c.account, device: c.device, mailbox: c.mailbox }, NOW).unwrap();
        let resent: Vec<_> = frames(&mut s).into_iter().filter(|f| !matches!(f, ClientFrame::Auth { .. })).collect();
        assert_eq!(resent, vec![ClientFrame::GroupSend { id: app, to, payload: payload("app"), members: Vec::new() }]);
    }

    #[test]
    fn key_package_frames_and_answers() {
        let (mut s, c) = ready_session();
        s.publish_key_packages(c.mailbox, vec![payload("kp")], Some(payload("lr")));
        s.claim_key_package(MailboxId([4; 16]));
        assert_eq!(
            frames(&mut s),
            vec![
                ClientFrame::PublishKeyPackages {
                    mailbox: c.mailbox,
                    key_packages: vec![payload("kp")],
                    last_resort: Some(payload("lr"))
                },
                ClientFrame::ClaimKeyPackage { mailbox: MailboxId([4; 16]) },
            ]
        );
        s.handle(ServerFrame::KeyPackagesPublished { mailbox: c.mailbox, available: 1 }, NOW).unwrap();
        s.handle(ServerFrame::KeyPackage { mailbox: MailboxId([4; 16]), key_package: payload("kp2"), last_resort: true }, NOW)
            .unwrap();
        s.handle(ServerFrame::KeyPackagesLow { mailbox: c.mailbox, available: 0 }, NOW).unwrap();
        assert_eq!(
            events(&mut s),
            vec![
                Event::KeyPackagesPublished { mailbox: c.mailbox, available: 1 },
                Event::KeyPackage { mailbox: MailboxId([4; 16]), key_package: payload("kp2"), last_resort: true },
                Event::KeyPackagesLow { mailbox: c.mailbox, available: 0 },
            ]
        );
    }

    #[test]
    fn unknown_server_frame_types_are_skipped_but_malformed_known_ones_are_violations() {
        let (mut s, _) = ready_session();
        assert!(s.handle_text(r#"{"type":"weather_report","sunny":true}"#, NOW).is_ok());
        assert!(events(&mut s).is_empty());
        assert!(s.handle_text(r#"{"type":"accepted","id":"nope"}"#, NOW).is_err());
        assert!(s.handle_text("not json", NOW).is_err());
    }

    #[test]
    fn send_writes_now_and_accepted_empties_the_outbox() {
        let (mut s, _) = ready_session();
        let to = vec![MailboxId([4; 16])];
        let id = s.send(to.clone(), payload("hello"));
        assert_eq!(frames(&mut s), vec![ClientFrame::Send { id, to, payload: payload("hello") }]);
        assert_eq!(s.unaccepted().collect::<Vec<_>>(), vec![id]);
        s.handle(ServerFrame::Accepted { id, seq: 17 }, NOW).unwrap();
        assert_eq!(events(&mut s), vec![Event::Accepted { id, seq: 17 }]);
        assert_eq!(s.unaccepted().count(), 0);
    }

    #[test]
    fn unaccepted_messages_are_resent_in_order_with_the_same_ids_after_ready() {
        let (mut s, c) = ready_session();
        let to = vec![MailboxId([4; 16])];
        let a = s.send(to.clone(), payload("a"));
        let b = s.send(to.clone(), payload("b"));
        let cc = s.send(to.clone(), payload("c"));
        frames(&mut s);
        s.handle(ServerFrame::Accepted { id: b, seq: 2 }, NOW).unwrap();
        s.disconnected();
        // Queued while offline: not written until ready.
        let d = s.send(to.clone(), payload("d"));
        assert!(frames(&mut s).is_empty());
        let resent = reconnect(&mut s, &c);
        let ids: Vec<_> = resent
            .iter()
            .map(|f| match f {
                ClientFrame::Send { id, .. } => *id,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![a, cc, d]);
    }

    #[test]
    fn nothing_is_written_before_ready_and_frames_for_a_dead_socket_are_dropped() {
        let (mut s, c) = ready_session();
        let id = s.send(vec![MailboxId([4; 16])], payload("a"));
        // The socket dies before the frame was written: the frame is dropped, the outbox keeps it.
        s.disconnected();
        assert!(frames(&mut s).is_empty());
        s.connected();
        s.subscribe(MailboxId([6; 16]), MailboxSecret([6; 32]));
        assert!(frames(&mut s).is_empty(), "not before auth");
        s.handle(challenge(), NOW).unwrap();
        assert!(matches!(frames(&mut s)[..], [ClientFrame::Auth { .. }]));
        s.handle(ready(&c), NOW).unwrap();
        let f = frames(&mut s);
        assert_eq!(f.len(), 2);
        assert!(matches!(f[0], ClientFrame::Subscribe { mailbox, .. } if mailbox == MailboxId([6; 16])));
        assert!(matches!(f[1], ClientFrame::Send { id: sent, .. } if sent == id));
    }

    #[test]
    fn unlinked_mailboxes_are_resubscribed_silently_after_ready() {
        let (mut s, c) = ready_session();
        let (m, secret) = (MailboxId([6; 16]), MailboxSecret([7; 32]));
        s.subscribe(m, secret);
        assert_eq!(frames(&mut s), vec![ClientFrame::Subscribe { mailbox: m, secret }]);
        s.handle(ServerFrame::Subscribed { mailbox: m }, NOW).unwrap();
        assert_eq!(events(&mut s), vec![Event::Subscribed { mailbox: m }]);

        assert_eq!(reconnect(&mut s, &c), vec![ClientFrame::Subscribe { mailbox: m, secret }]);
        s.handle(ServerFrame::Subscribed { mailbox: m }, NOW).unwrap();
        assert_eq!(
            events(&mut s),
            vec![Event::Closed, Event::Ready { account: c.account, device: c.device, mailbox: c.mailbox }]
        );

        s.forget_mailbox(m);
        assert!(reconnect(&mut s, &c).is_empty());
    }

    #[test]
    fn refused_subscription_is_reported_and_not_retried() {
        let (mut s, c) = ready_session();
        let m = MailboxId([6; 16]);
        s.subscribe(m, MailboxSecret([7; 32]));
        frames(&mut s);
        s.handle(ServerFrame::error_for_mailbox(ErrorCode::WrongMailboxSecret, m), NOW).unwrap();
        assert!(matches!(
            &events(&mut s)[..],
            [Event::Error { code: ErrorCode::WrongMailboxSecret, mailbox: Some(mb), .. }] if *mb == m
        ));
        assert_eq!(s.subscribed_mailboxes().count(), 0);
        assert!(reconnect(&mut s, &c).is_empty());
    }

    #[test]
    fn create_mailbox_is_answered_and_retried_across_reconnects() {
        let (mut s, c) = ready_session();
        let (m, secret) = (MailboxId([6; 16]), MailboxSecret([7; 32]));
        s.create_mailbox(m, secret);
        assert_eq!(frames(&mut s), vec![ClientFrame::CreateMailbox { mailbox: m, secret }]);
        s.handle(ServerFrame::MailboxCreated { mailbox: m }, NOW).unwrap();
        assert_eq!(events(&mut s), vec![Event::MailboxCreated { mailbox: m }]);
        assert!(reconnect(&mut s, &c).is_empty(), "answered creates are not repeated");

        // The connection drops before the answer; the retry finds the first attempt succeeded.
        let m2 = MailboxId([8; 16]);
        s.create_mailbox(m2, secret);
        frames(&mut s);
        events(&mut s);
        assert_eq!(reconnect(&mut s, &c), vec![ClientFrame::CreateMailbox { mailbox: m2, secret }]);
        events(&mut s);
        s.handle(ServerFrame::error_for_mailbox(ErrorCode::MailboxExists, m2), NOW).unwrap();
        assert_eq!(events(&mut s), vec![Event::MailboxCreated { mailbox: m2 }]);

        // On a first attempt, mailbox_exists is a real refusal.
        let m3 = MailboxId([9; 16]);
        s.create_mailbox(m3, secret);
        frames(&mut s);
        s.handle(ServerFrame::error_for_mailbox(ErrorCode::MailboxExists, m3), NOW).unwrap();
        assert!(matches!(&events(&mut s)[..], [Event::Error { code: ErrorCode::MailboxExists, .. }]));
    }

    #[test]
    fn refused_messages_leave_the_outbox_but_transient_refusals_stay() {
        let (mut s, c) = ready_session();
        let to = vec![MailboxId([4; 16])];
        let bad = s.send(vec![], payload("nobody"));
        let busy = s.send(to.clone(), payload("later"));
        frames(&mut s);
        s.handle(ServerFrame::error_for_message(ErrorCode::BadRecipients, bad), NOW).unwrap();
        s.handle(ServerFrame::error_for_message(ErrorCode::QuotaExceeded, busy), NOW).unwrap();
        let ev = events(&mut s);
        assert!(matches!(&ev[0], Event::Error { code: ErrorCode::BadRecipients, id: Some(i), .. } if *i == bad));
        assert!(matches!(&ev[1], Event::Error { code: ErrorCode::QuotaExceeded, id: Some(i), .. } if *i == busy));
        assert_eq!(s.unaccepted().collect::<Vec<_>>(), vec![busy]);
        s.resend_unaccepted();
        assert!(matches!(frames(&mut s)[..], [ClientFrame::Send { id, .. }] if id == busy));
        assert_eq!(reconnect(&mut s, &c).len(), 1);
    }

    #[test]
    fn each_message_reaches_the_application_once_and_acks_are_explicit() {
        let (mut s, c) = ready_session();
        let m = c.mailbox;
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        assert_eq!(
            events(&mut s),
            vec![Event::Message { mailbox: m, seq: 10, id: MessageId([1; 16]), payload: payload("one") }]
        );
        assert!(frames(&mut s).is_empty(), "no ack until the application acks");
        s.ack(m, 10);
        assert_eq!(frames(&mut s), vec![ClientFrame::Ack { mailbox: m, seq: 10 }]);
    }

    #[test]
    fn duplicates_of_acked_messages_are_reacked_without_an_event() {
        let (mut s, c) = ready_session();
        let m = c.mailbox;
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        s.ack(m, 10);
        // The ack was lost with the connection: the server redelivers after reconnect.
        s.disconnected();
        reconnect(&mut s, &c);
        events(&mut s);
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        assert!(events(&mut s).is_empty());
        assert_eq!(frames(&mut s), vec![ClientFrame::Ack { mailbox: m, seq: 10 }]);
    }

    #[test]
    fn unacked_messages_redelivered_after_reconnect_are_not_shown_twice() {
        let (mut s, c) = ready_session();
        let m = c.mailbox;
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        events(&mut s);
        reconnect(&mut s, &c);
        events(&mut s);
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        s.handle(deliver(m, 11, 2, "two"), NOW).unwrap();
        assert_eq!(
            events(&mut s),
            vec![Event::Message { mailbox: m, seq: 11, id: MessageId([2; 16]), payload: payload("two") }]
        );
        assert!(frames(&mut s).is_empty());
        s.ack(m, 10);
        s.ack(m, 11);
        assert_eq!(
            frames(&mut s),
            vec![ClientFrame::Ack { mailbox: m, seq: 10 }, ClientFrame::Ack { mailbox: m, seq: 11 }]
        );
    }

    #[test]
    fn the_same_id_under_another_seq_is_one_message_with_two_acks() {
        let (mut s, c) = ready_session();
        let m = c.mailbox;
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        s.handle(deliver(m, 12, 1, "one"), NOW).unwrap();
        assert_eq!(events(&mut s).len(), 1);
        assert!(frames(&mut s).is_empty());
        s.ack(m, 10);
        assert_eq!(
            frames(&mut s),
            vec![ClientFrame::Ack { mailbox: m, seq: 10 }, ClientFrame::Ack { mailbox: m, seq: 12 }]
        );
        // And once acked, a further copy under a third seq is acked at once.
        s.handle(deliver(m, 15, 1, "one"), NOW).unwrap();
        assert!(events(&mut s).is_empty());
        assert_eq!(frames(&mut s), vec![ClientFrame::Ack { mailbox: m, seq: 15 }]);
    }

    #[test]
    fn deduplication_is_per_mailbox() {
        let (mut s, c) = ready_session();
        let other = MailboxId([6; 16]);
        s.handle(deliver(c.mailbox, 10, 1, "one"), NOW).unwrap();
        s.handle(deliver(other, 10, 1, "one"), NOW).unwrap();
        assert_eq!(events(&mut s).len(), 2, "a message sent to two of my mailboxes arrives in each");
    }

    #[test]
    fn the_dedup_window_forgets_old_acked_messages_but_never_unacked_ones() {
        let (mut s, c) = ready_session();
        s.set_dedup_window(2);
        let m = c.mailbox;
        s.handle(deliver(m, 1, 1, "1"), NOW).unwrap(); // never acked
        for seq in 2..=5u8 {
            s.handle(deliver(m, seq as u64, seq, "n"), NOW).unwrap();
            s.ack(m, seq as u64);
        }
        assert_eq!(events(&mut s).len(), 5);
        frames(&mut s);
        // The unacked one is still remembered; the newest acked one too.
        s.handle(deliver(m, 1, 1, "1"), NOW).unwrap();
        s.handle(deliver(m, 5, 5, "n"), NOW).unwrap();
        assert!(events(&mut s).is_empty());
        assert_eq!(frames(&mut s), vec![ClientFrame::Ack { mailbox: m, seq: 5 }]);
        // The oldest acked one fell out of the window: it is shown again rather than risk a loss.
        s.handle(deliver(m, 2, 2, "n"), NOW).unwrap();
        assert_eq!(events(&mut s).len(), 1);
    }

    #[test]
    fn acks_made_while_disconnected_are_not_written_and_redelivery_is_reacked() {
        let (mut s, c) = ready_session();
        let m = c.mailbox;
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        s.disconnected();
        s.ack(m, 10);
        assert!(frames(&mut s).is_empty());
        reconnect(&mut s, &c);
        s.handle(deliver(m, 10, 1, "one"), NOW).unwrap();
        assert_eq!(frames(&mut s), vec![ClientFrame::Ack { mailbox: m, seq: 10 }]);
        assert_eq!(events(&mut s).iter().filter(|e| matches!(e, Event::Message { .. })).count(), 1);
    }

    #[test]
    fn a_binary_connection_writes_hot_frames_as_binary_and_reads_binary_deliveries() {
        let c = creds();
        let mut s = Session::new(&c);
        s.connected_with(Encoding::Binary);
        s.handle(challenge(), NOW).unwrap();
        assert!(matches!(s.poll_message(), Some(WireMessage::Text(text)) if text.contains(r#""type":"auth""#)));
        s.handle(ready(&c), NOW).unwrap();
        events(&mut s);
        let to = vec![MailboxId([4; 16])];
        let id = s.send(to.clone(), payload("hello"));
        s.subscribe(MailboxId([6; 16]), MailboxSecret([7; 32]));
        let sent = ClientFrame::Send { id, to, payload: payload("hello") };
        assert_eq!(s.poll_message(), Some(WireMessage::Binary(sent.to_binary().unwrap())));
        assert!(matches!(s.poll_message(), Some(WireMessage::Text(_))), "subscribe stays JSON");

        let accepted = ServerFrame::Accepted { id, seq: 4 }.to_binary().unwrap();
        s.handle_binary(&accepted.into(), NOW).unwrap();
        let delivery = deliver(c.mailbox, 10, 1, "one").to_binary().unwrap();
        s.handle_binary(&delivery.into(), NOW).unwrap();
        assert_eq!(
            events(&mut s),
            vec![
                Event::Accepted { id, seq: 4 },
                Event::Message { mailbox: c.mailbox, seq: 10, id: MessageId([1; 16]), payload: payload("one") }
            ]
        );
        s.ack(c.mailbox, 10);
        let ack = ClientFrame::Ack { mailbox: c.mailbox, seq: 10 }.to_binary().unwrap();
        assert_eq!(s.poll_message(), Some(WireMessage::Binary(ack)));
        // JSON deliveries are still read on a binary connection (any frame may be text).
        s.handle_text(&deliver(c.mailbox, 11, 2, "two").to_json(), NOW).unwrap();
        assert_eq!(events(&mut s).len(), 1);
        // A newer server's unknown tag is skipped; garbage is a violation.
        assert!(s.handle_binary(&bytes::Bytes::from_static(&[0x7f, 1, 2]), NOW).is_ok());
        assert!(s.handle_binary(&bytes::Bytes::from_static(&[1, 2]), NOW).is_err());
    }

    #[test]
    fn a_json_connection_writes_only_text_and_refuses_binary() {
        let (mut s, c) = ready_session();
        s.send(vec![MailboxId([4; 16])], payload("x"));
        assert!(matches!(s.poll_message(), Some(WireMessage::Text(_))));
        let delivery = deliver(c.mailbox, 10, 1, "one").to_binary().unwrap();
        assert!(s.handle_binary(&delivery.into(), NOW).is_err());
    }

    #[test]
    fn accepted_for_an_unknown_id_is_still_reported() {
        let (mut s, _) = ready_session();
        let id = MessageId([42; 16]);
        s.handle(ServerFrame::Accepted { id, seq: 3 }, NOW).unwrap();
        assert_eq!(events(&mut s), vec![Event::Accepted { id, seq: 3 }]);
    }
}
