//! Who is connected where, in memory only: mailbox → the local connections reading it, and
//! device → its connections' kill switches. Nothing here is persisted or logged, so the link a
//! live connection makes between a device and an unlinked mailbox dies with the connection.

use crate::store::QueuedMessage;
use sallyport_protocol::{DeviceId, ErrorCode, IncidentId, MailboxId};
use futures::task::AtomicWaker;
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use super::queue;

/// Capacity of a connection's event channel. When it is full, deliveries are not buffered: the
/// subscription is marked dirty and the connection re-reads the mailbox from the database once
/// it has caught up, so a slow reader never makes the server buffer without bound.
pub const SESSION_EVENT_CAPACITY: usize = 256;

#[derive(Debug)]
pub enum SessionEvent {
    /// A message just committed for a mailbox this connection reads. Boxed: a slow reader's
    /// queue holds up to `SESSION_EVENT_CAPACITY` events, and small ones keep it small.
    Deliver(Box<QueuedMessage>),
    /// A message delivered before its commit, held in memory only: if the connection cannot
    /// send it now it must say so (`Subscriber::missed_early`), since a database read will not
    /// find it until it is written.
    Early(Box<QueuedMessage>),
    /// A message delivered before its commit (under `delivered_as`) was just stored under
    /// another number, because some recipient had not acked it yet. A connection that holds it
    /// under the first number maps the second to it; any other gets it as a new delivery.
    Renumbered(Box<Renumbered>),
    /// Something changed that the connection cannot get from the fast path: check dirty flags.
    Wake,
    /// A claim left this mailbox's one-time KeyPackages low.
    KeyPackagesLow { mailbox: Box<MailboxId>, available: u32 },
    /// An incident the device's account may see changed.
    IncidentChanged(Box<IncidentId>),
}

#[derive(Debug)]
pub struct Renumbered {
    pub message: QueuedMessage,
    pub delivered_as: u64,
}

/// Closes one connection from elsewhere (revocation, a newer connection of the device). A
/// `Notify` and a slot rather than a `watch` channel, whose shared state is several times larger
/// and would be paid by every idle connection.
#[derive(Default)]
pub struct KillSwitch {
    /// The connection's task, woken by a kill. Its loop polls `killed` on every turn; with a
    /// `Notify` each turn took the waiter list's lock twice.
    waker: AtomicWaker,
    reason: OnceLock<ErrorCode>,
}

impl KillSwitch {
    /// Asks the connection to close with `code`; the first reason given is kept.
    pub fn kill(&self, code: ErrorCode) {
        let _ = self.reason.set(code);
        self.waker.wake();
    }

    pub fn reason(&self) -> Option<ErrorCode> {
        self.reason.get().copied()
    }

    /// Resolves with the reason once the connection is asked to close. One task (the
    /// connection's) awaits it.
    pub async fn killed(&self) -> ErrorCode {
        poll_fn(|cx| queue::poll_woken_by(&self.waker, cx, || self.reason())).await
    }
}

/// One connection's subscription to one mailbox.
pub struct Subscriber {
    pub connection: u64,
    tx: queue::Sender<SessionEvent>,
    /// Set when a delivery could not be queued to the connection, or another node stored
    /// messages: the connection must re-read the mailbox from the database.
    pub dirty: AtomicBool,
    /// Set when a message delivered before its commit did not reach the connection (its queue
    /// was full, or the connection could not send it in order): before its next database read
    /// the connection has the committer write what is held for the mailbox, so that the read
    /// returns it, in order, ahead of anything later.
    pub missed_early: AtomicBool,
    /// The connection's own flag, set with any of its subscriptions' `dirty`: the connection
    /// looks through its mailboxes only when it is set, not after every event.
    any_dirty: Arc<AtomicBool>,
}

impl Subscriber {
    /// Marks the mailbox for a database read by its connection.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
        self.any_dirty.store(true, Ordering::Release);
    }

    /// Marks that a held message did not reach the connection, and the mailbox for a read.
    pub fn mark_missed_early(&self) {
        self.missed_early.store(true, Ordering::Release);
        self.mark_dirty();
    }

    fn offer(&self, event: SessionEvent) {
        let early = matches!(event, SessionEvent::Early(_));
        if self.tx.try_send(event).is_err() {
            match early {
                true => self.mark_missed_early(),
                false => self.mark_dirty(),
            }
        }
    }

    fn wake(&self) {
        self.mark_dirty();
        let _ = self.tx.try_send(SessionEvent::Wake);
    }
}

/// A device's live connections on this node, and the lock a connection holds for its life so
/// that a newer connection starts only once the older one has stopped reading: every send of the
/// old connection is then queued for commit ahead of the new connection's re-sends, which keeps
/// a device's messages in order across reconnects.
#[derive(Default)]
struct DeviceEntry {
    lock: Arc<tokio::sync::Mutex<()>>,
    connections: Vec<(u64, Arc<KillSwitch>)>,
}

#[derive(Default)]
pub struct Hub {
    mailboxes: Mutex<HashMap<MailboxId, Vec<Arc<Subscriber>>>>,
    devices: Mutex<HashMap<DeviceId, DeviceEntry>>,
    next_connection: AtomicU64,
}

impl Hub {
    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Subscribes `connection` to `mailbox`; `any_dirty` is the connection's flag that some
    /// mailbox of its needs a database read.
    pub fn subscribe(
        &self,
        mailbox: MailboxId,
        connection: u64,
        tx: queue::Sender<SessionEvent>,
        any_dirty: Arc<AtomicBool>,
    ) -> Arc<Subscriber> {
        let sub = Arc::new(Subscriber {
            connection,
            tx,
            dirty: AtomicBool::new(false),
            missed_early: AtomicBool::new(false),
            any_dirty,
        });
        self.mailboxes.lock().unwrap().entry(mailbox).or_default().push(sub.clone());
        sub
    }

    pub fn unsubscribe(&self, mailbox: &MailboxId, connection: u64) {
        let mut map = self.mailboxes.lock().unwrap();
        if let Some(subs) = map.get_mut(mailbox) {
            subs.retain(|s| s.connection != connection);
            if subs.is_empty() {
                map.remove(mailbox);
            }
        }
    }

    /// Offers a freshly committed message to the local readers of its mailbox. Returns whether
    /// the mailbox has a reader on this node.
    pub fn deliver(&self, message: QueuedMessage) -> bool {
        self.offer_to_readers(message, SessionEvent::Deliver)
    }

    /// Offers `message`, made into an event by `event`, to each local reader of its mailbox (the
    /// last one gets the message itself, the others a copy).
    fn offer_to_readers(&self, message: QueuedMessage, event: fn(Box<QueuedMessage>) -> SessionEvent) -> bool {
        let map = self.mailboxes.lock().unwrap();
        let Some(subs) = map.get(&message.mailbox) else { return false };
        let (last, rest) = subs.split_last().expect("empty subscriber lists are removed");
        for sub in rest {
            sub.offer(event(Box::new(message.clone())));
        }
        last.offer(event(Box::new(message)));
        true
    }

    /// Offers a message before its commit (held in memory) to the local readers of its mailbox.
    pub fn deliver_early(&self, message: QueuedMessage) -> bool {
        self.offer_to_readers(message, SessionEvent::Early)
    }

    /// Offers a message delivered before its commit under `delivered_as` and now stored, to the
    /// local readers of its mailbox. Returns whether the mailbox has a reader on this node.
    pub fn deliver_renumbered(&self, message: QueuedMessage, delivered_as: u64) -> bool {
        let map = self.mailboxes.lock().unwrap();
        let Some(subs) = map.get(&message.mailbox) else { return false };
        for sub in subs {
            let event = Renumbered { message: message.clone(), delivered_as };
            sub.offer(SessionEvent::Renumbered(Box::new(event)));
        }
        true
    }

    /// Tells the local readers of these mailboxes to re-read them from the database.
    pub fn wake(&self, mailboxes: &[MailboxId]) {
        let map = self.mailboxes.lock().unwrap();
        for mailbox in mailboxes {
            for sub in map.get(mailbox).into_iter().flatten() {
                sub.wake();
            }
        }
    }

    /// Tells the local readers of a mailbox that its KeyPackages run low. Best effort: a reader
    /// that misses it is told again when it next subscribes.
    pub fn key_packages_low(&self, mailbox: MailboxId, available: u32) {
        let map = self.mailboxes.lock().unwrap();
        for sub in map.get(&mailbox).into_iter().flatten() {
            let _ = sub.tx.try_send(SessionEvent::KeyPackagesLow { mailbox: Box::new(mailbox), available });
        }
    }

    /// Tells the local readers of these (devices' linked) mailboxes that an incident changed.
    /// Best effort, like `key_packages_low`.
    pub fn incident_changed(&self, mailboxes: &[MailboxId], incident: IncidentId) {
        let map = self.mailboxes.lock().unwrap();
        for mailbox in mailboxes {
            for sub in map.get(mailbox).into_iter().flatten() {
                let _ = sub.tx.try_send(SessionEvent::IncidentChanged(Box::new(incident)));
            }
        }
    }

    /// The mailboxes read on this node now (for the multi-node catch-up poll).
    pub fn is_read_here(&self, mailbox: &MailboxId) -> bool {
        self.mailboxes.lock().unwrap().contains_key(mailbox)
    }

    /// Registers a connection of `device`, tells its older connections on this node that they
    /// are superseded, and returns the lock to hold for this connection's life (await it first).
    pub fn register_device(
        &self,
        device: DeviceId,
        connection: u64,
        kill: Arc<KillSwitch>,
    ) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.devices.lock().unwrap();
        let entry = map.entry(device).or_default();
        for (_, older) in &entry.connections {
            older.kill(ErrorCode::Superseded);
        }
        entry.connections.push((connection, kill));
        entry.lock.clone()
    }

    pub fn unregister_device(&self, device: &DeviceId, connection: u64) {
        let mut map = self.devices.lock().unwrap();
        if let Some(entry) = map.get_mut(device) {
            entry.connections.retain(|(c, _)| *c != connection);
            if entry.connections.is_empty() {
                map.remove(device);
            }
        }
    }

    /// Closes every local connection of a revoked device.
    pub fn kill_device(&self, device: &DeviceId) -> usize {
        let map = self.devices.lock().unwrap();
        let list = map.get(device).map(|e| e.connections.as_slice()).unwrap_or_default();
        for (_, kill) in list {
            kill.kill(ErrorCode::DeviceRevoked);
        }
        list.len()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_events_stay_small() {
        assert!(std::mem::size_of::<super::SessionEvent>() <= 16, "{}", std::mem::size_of::<super::SessionEvent>());
    }

    use super::*;
    use bytes::Bytes;
    use sallyport_protocol::MessageId;

    fn message(mailbox: MailboxId, seq: u64) -> QueuedMessage {
        QueuedMessage { mailbox, seq, id: MessageId::random(), payload: Bytes::from_static(b"x") }
    }

    #[test]
    fn a_full_connection_is_marked_dirty_instead_of_buffering() {
        let hub = Hub::default();
        let mailbox = MailboxId::random();
        let (tx, mut rx) = queue::channel(2);
        let sub = hub.subscribe(mailbox, 1, tx, Arc::default());
        for seq in 1..=5 {
            hub.deliver(message(mailbox, seq));
        }
        assert!(sub.dirty.load(Ordering::Acquire));
        let mut got = vec![];
        while let Some(SessionEvent::Deliver(m)) = rx.try_recv() {
            got.push(m.seq);
        }
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn unsubscribed_connections_get_nothing() {
        let hub = Hub::default();
        let mailbox = MailboxId::random();
        let (tx, mut rx) = queue::channel(8);
        hub.subscribe(mailbox, 7, tx, Arc::default());
        hub.unsubscribe(&mailbox, 7);
        hub.deliver(message(mailbox, 1));
        assert!(rx.try_recv().is_none());
        assert!(!hub.is_read_here(&mailbox));
    }

    #[test]
    fn killing_a_device_signals_each_of_its_connections() {
        let hub = Hub::default();
        let device = DeviceId::random();
        let (a, b) = (Arc::new(KillSwitch::default()), Arc::new(KillSwitch::default()));
        hub.register_device(device, 1, a.clone());
        assert_eq!(a.reason(), None);
        hub.register_device(device, 2, b.clone());
        assert_eq!(a.reason(), Some(ErrorCode::Superseded), "a newer connection supersedes");
        assert_eq!(hub.kill_device(&device), 2);
        assert_eq!(a.reason(), Some(ErrorCode::Superseded), "the first reason is kept");
        assert_eq!(b.reason(), Some(ErrorCode::DeviceRevoked));
    }

    #[tokio::test]
    async fn a_kill_before_anyone_waits_is_not_missed() {
        let switch = KillSwitch::default();
        switch.kill(ErrorCode::DeviceRevoked);
        assert_eq!(switch.killed().await, ErrorCode::DeviceRevoked);
    }

    #[tokio::test]
    async fn a_kill_wakes_a_connection_that_waits_among_other_things() {
        // As in a connection's loop: the wait is made afresh and dropped unfinished on each turn.
        let switch = Arc::new(KillSwitch::default());
        for _ in 0..3 {
            tokio::select! {
                biased;
                _ = switch.killed() => panic!("not killed yet"),
                _ = tokio::task::yield_now() => {}
            }
        }
        let killer = switch.clone();
        let waiting = tokio::spawn(async move { switch.killed().await });
        tokio::task::yield_now().await;
        killer.kill(ErrorCode::Superseded);
        killer.kill(ErrorCode::DeviceRevoked);
        let code = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await.expect("woken").unwrap();
        assert_eq!(code, ErrorCode::Superseded, "the first reason is kept");
    }
}
