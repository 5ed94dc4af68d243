//! Where a message stops being losable. Sends and acks from every connection queue here; one
//! task takes whatever has accumulated (a batch) and:
//!
//! 1. **Delivers early** what it can: on a store with a fast path (one node, which therefore
//!    knows every reader), a message that is not an MLS commit and whose recipients all read it
//!    on this node is numbered from a reserved block, handed to the hub at once and held in
//!    memory. If every recipient acks it before it is due (`hold` after its delivery), its sender
//!    hears `accepted` and it never touches the disk: no queue row, no delete, no idempotency row.
//! 2. **Commits** the rest in one transaction (group commit): every other message, held messages
//!    that are due (or that a message written now to the same mailbox must not overtake), and
//!    acks of stored copies. Only then are those senders answered and those messages handed to
//!    the hub (a held one under its new number, which the connections that hold it map back).
//!
//! A sender hears `accepted` only once the message can no longer be lost: committed, or acked by
//! every recipient (who then hold it durably). A crash before either loses only what no one
//! was told is safe, and the sender's client sends it again.

use super::hub::Hub;
use crate::metrics::Metrics;
use crate::store::{
    AppendOutcome, FastLookup, FastPathStore, GROUP_IDLE_MS, NewMessage, QueuedMessage, Store, StoreError,
};
use sallyport_protocol::{MailboxId, MessageId};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Operations waiting for the committer. Bounded, so a flood of sends slows its senders down
/// (their connections stop being read) rather than growing memory.
const QUEUE_CAPACITY: usize = 16_384;
/// Sequence numbers reserved at once for numbering in memory (one small transaction a block).
const SEQ_BLOCK: u64 = 1 << 20;
/// How long the number a held message was stored under is remembered, for an ack that names the
/// number it was delivered under and crossed the write (connections that hold the message map
/// the number themselves once told). A forgotten one costs a repeated delivery, not a loss.
const RENUMBERED_TTL: Duration = Duration::from_secs(10);

pub type AppendReply = oneshot::Receiver<Result<AppendOutcome, StoreError>>;
type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

enum Op {
    Append(NewMessage, Reply),
    Ack(MailboxId, u64),
    /// Answered once everything queued before it has been committed (or failed), and every
    /// held message to these mailboxes written.
    Flush(Vec<MailboxId>, oneshot::Sender<()>),
    /// Answered once everything queued before it has been through a commit round; held messages
    /// stay held.
    Sync(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Op>,
}

pub struct CommitterConfig {
    pub node_id: String,
    pub max_batch: usize,
    pub queue_quota: u64,
    /// Wakes devices whose linked mailbox got a message that no connection here reads.
    pub push: Option<Arc<crate::push::Push>>,
    /// How long a message delivered before its commit waits for its recipients' acks before it
    /// is written. Zero: no early delivery, every message is written first.
    pub hold: Duration,
}

impl Committer {
    /// Starts the committer task. It ends once every `Committer` handle is dropped and all queued
    /// operations are committed (held messages written): awaiting the handle is how shutdown
    /// finishes in-flight writes.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        config: CommitterConfig,
    ) -> (Committer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = Task {
            store,
            hub,
            metrics,
            config,
            held: BTreeMap::new(),
            held_ids: HashMap::new(),
            numbers: Numbers { next: 0, end: 0 },
            renumbered: Renumbered::default(),
            acks: Vec::new(),
        };
        (Committer { tx }, tokio::spawn(task.run(rx)))
    }

    /// Queues a message; the reply comes once it can no longer be lost (committed, or acked by
    /// every recipient), or is refused.
    pub async fn append(&self, message: NewMessage) -> AppendReply {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Op::Append(_, reply))) = self.tx.send(Op::Append(message, reply)).await {
            let _ = reply.send(Err(StoreError::Other("the committer has stopped".into())));
        }
        rx
    }

    /// An ack of the copy `seq` of `mailbox`: settles a held message's recipient, or queues the
    /// deletion of a stored copy. Losing it is harmless: the copy is delivered again and the
    /// client acks it again.
    pub async fn ack(&self, mailbox: MailboxId, seq: u64) {
        let _ = self.tx.send(Op::Ack(mailbox, seq)).await;
    }

    /// Waits until every operation queued before this call has been through a commit round,
    /// and every held message to `mailboxes` is written. A device's new connection calls it
    /// before reading its queue, so acks its previous connection sent are applied first (it is
    /// not handed again what it acknowledged), and what was delivered to that connection unacked
    /// is in the queue.
    pub async fn flush(&self, mailboxes: Vec<MailboxId>) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Op::Flush(mailboxes, done)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Waits until every operation queued before this call has been through a commit round
    /// (held messages stay held). A connection calls it before re-reading a queue it has acked
    /// copies of, so that the read does not return them again.
    pub async fn sync(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Op::Sync(done)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// A message delivered before its commit, waiting for its recipients' acks.
struct Held {
    message: NewMessage,
    /// Recipients that have not acked it yet.
    unacked: Vec<MailboxId>,
    /// Its sender's reply, and those of re-sends of the same id meanwhile.
    replies: Vec<Reply>,
    due: Instant,
}

/// What a message of a commit round came from.
enum Origin {
    Sent(Reply),
    Held { delivered_as: u64, replies: Vec<Reply> },
}

/// Sequence numbers handed out in memory, from a block reserved in the database. Numbering
/// every message here (early deliveries when they are delivered, the rest when their round is
/// written) makes the numbers a mailbox's readers see increase in the order they see them.
struct Numbers {
    next: u64,
    end: u64,
}

impl Numbers {
    /// The next number, reserving a block when none is left. `None` if that fails: the message
    /// is then numbered by the store, above every block reserved so far.
    async fn take(&mut self, store: &dyn FastPathStore) -> Option<u64> {
        if self.next == self.end {
            match store.reserve_seqs(SEQ_BLOCK).await {
                Ok(first) => {
                    self.next = first;
                    self.end = first + SEQ_BLOCK;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not reserve message numbers");
                    return None;
                }
            }
        }
        self.next += 1;
        Some(self.next - 1)
    }
}

/// (mailbox, number a held message was delivered under) → the number it was stored under, for
/// an ack that was already on its way. Two generations, so entries live 10–20 s without a sweep.
#[derive(Default)]
struct Renumbered {
    current: HashMap<(MailboxId, u64), u64>,
    previous: HashMap<(MailboxId, u64), u64>,
    rotated: Option<Instant>,
}

impl Renumbered {
    fn insert(&mut self, copy: (MailboxId, u64), stored: u64) {
        let now = Instant::now();
        if self.rotated.is_none_or(|at| now.duration_since(at) > RENUMBERED_TTL) {
            self.previous = std::mem::take(&mut self.current);
            self.rotated = Some(now);
        }
        self.current.insert(copy, stored);
    }

    fn take(&mut self, copy: &(MailboxId, u64)) -> Option<u64> {
        self.current.remove(copy).or_else(|| self.previous.remove(copy))
    }
}

struct Task {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    config: CommitterConfig,
    /// By the number each was delivered under: the order they are written in.
    held: BTreeMap<u64, Held>,
    held_ids: HashMap<MessageId, u64>,
    numbers: Numbers,
    renumbered: Renumbered,
    /// Acks of stored copies, for the next round. They are not held back: until its delete
    /// commits, an acked copy is what a connection's next read of its queue returns again.
    acks: Vec<(MailboxId, u64)>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        let max_batch = self.config.max_batch;
        let mut ops = Vec::with_capacity(max_batch);
        let mut appends = Vec::with_capacity(max_batch);
        let mut flushes = Vec::new();
        let mut flushed: HashSet<MailboxId> = HashSet::new();
        loop {
            // `recv_many` takes everything that accumulated while the previous round was
            // committing: that is the group commit. With messages held, wake when one is due.
            let closed = match self.next_due() {
                None => rx.recv_many(&mut ops, max_batch).await == 0,
                Some(due) => tokio::select! {
                    n = rx.recv_many(&mut ops, max_batch) => n == 0,
                    _ = tokio::time::sleep_until(due.into()) => false,
                },
            };
            for op in ops.drain(..) {
                match op {
                    Op::Append(message, reply) => appends.push((message, reply)),
                    Op::Ack(mailbox, seq) => self.on_ack(mailbox, seq),
                    Op::Flush(mailboxes, done) => {
                        flushed.extend(mailboxes);
                        flushes.push(done);
                    }
                    Op::Sync(done) => flushes.push(done),
                }
            }
            let durable = self.deliver_early(&mut appends, closed).await;
            self.commit(durable, closed, &flushed).await;
            flushed.clear();
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
            if closed {
                break;
            }
        }
        tracing::debug!("committer drained and stopped");
    }

    fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|h| h.due).min()
    }

    /// The store's fast path, when early delivery is on.
    fn fast_store(&self) -> Option<Arc<dyn Store>> {
        (!self.config.hold.is_zero() && self.store.fast_path().is_some()).then(|| self.store.clone())
    }

    fn on_ack(&mut self, mailbox: MailboxId, seq: u64) {
        if let Some(held) = self.held.get_mut(&seq)
            && let Some(i) = held.unacked.iter().position(|m| *m == mailbox)
        {
            held.unacked.swap_remove(i);
            if held.unacked.is_empty() {
                let held = self.held.remove(&seq).expect("found above");
                self.held_ids.remove(&held.message.id);
                self.metrics.messages_unwritten.fetch_add(1, Relaxed);
                for reply in held.replies {
                    let _ = reply.send(Ok(AppendOutcome::Delivered { seq }));
                }
            }
            return;
        }
        let seq = self.renumbered.take(&(mailbox, seq)).unwrap_or(seq);
        self.acks.push((mailbox, seq));
    }

    /// Delivers and holds what may go before its commit; returns, in order, what must be
    /// written first. A message to a mailbox that an earlier message of the batch must be
    /// written for is written too, so that none overtakes another on its way to a mailbox.
    async fn deliver_early(&mut self, appends: &mut Vec<(NewMessage, Reply)>, closing: bool) -> Vec<(NewMessage, Reply)> {
        let Some(store) = self.fast_store().filter(|_| !closing) else {
            return std::mem::take(appends);
        };
        let fast = store.fast_path().expect("checked by fast_store");
        // Not an MLS commit (the epoch rule needs the stored group state) and every recipient
        // read on this node: the only connections that could ack it.
        let candidate: Vec<bool> = appends
            .iter()
            .map(|(m, _)| {
                !m.group.as_ref().is_some_and(|g| g.check.commit) && m.to.iter().all(|mb| self.hub.is_read_here(mb))
            })
            .collect();
        let mut ids = Vec::new();
        let mut groups = Vec::new();
        let mut recipients = Vec::new();
        for ((m, _), _) in appends.iter().zip(&candidate).filter(|(_, c)| **c) {
            if !self.held_ids.contains_key(&m.id) {
                ids.push(m.id);
                groups.extend(m.group.as_ref().map(|g| g.check.group));
                recipients.extend_from_slice(&m.to);
            }
        }
        groups.sort_unstable();
        groups.dedup();
        recipients.sort_unstable();
        recipients.dedup();
        let lookup = if ids.is_empty() {
            FastLookup::default()
        } else {
            match fast.fast_lookup(&ids, &groups, &recipients).await {
                Ok(lookup) => lookup,
                Err(err) => {
                    tracing::warn!(error = %err, "fast-path lookup failed; writing the batch first");
                    return std::mem::take(appends);
                }
            }
        };
        let mut written_to: HashSet<MailboxId> = HashSet::new();
        let mut durable = Vec::new();
        for ((message, reply), candidate) in appends.drain(..).zip(candidate) {
            if let Some(seq) = self.held_ids.get(&message.id) {
                // A re-send of a held message: one delivery, and this reply with the first.
                self.held.get_mut(seq).expect("indexed").replies.push(reply);
                continue;
            }
            // A recipient that no longer exists (a closed request's mailbox that a connection
            // still reads) is for the round to refuse.
            let early = candidate
                && !lookup.stored.contains_key(&message.id)
                && message.to.iter().all(|mb| lookup.mailboxes.contains(mb))
                && !message.to.iter().any(|mb| written_to.contains(mb))
                && group_allows(&message, &lookup);
            let seq = match early {
                true => self.numbers.take(fast).await,
                false => None,
            };
            let Some(seq) = seq else {
                written_to.extend(message.to.iter().copied());
                durable.push((message, reply));
                continue;
            };
            for mailbox in &message.to {
                self.hub.deliver(QueuedMessage { mailbox: *mailbox, seq, id: message.id, payload: message.payload.clone() });
            }
            self.held_ids.insert(message.id, seq);
            let due = Instant::now() + self.config.hold;
            self.held.insert(seq, Held { unacked: message.to.clone(), message, replies: vec![reply], due });
        }
        durable
    }

    /// Writes `durable`, the held messages that are due (all if `closing`; those to `flushed`
    /// mailboxes; those that a message in `durable` must not overtake to a mailbox) and the acks
    /// of stored copies, in one transaction; then answers their senders and hands the stored
    /// messages to the hub.
    async fn commit(&mut self, durable: Vec<(NewMessage, Reply)>, closing: bool, flushed: &HashSet<MailboxId>) {
        let now = Instant::now();
        let durable_to: HashSet<MailboxId> = durable.iter().flat_map(|(m, _)| m.to.iter().copied()).collect();
        let due: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, h)| {
                closing
                    || h.due <= now
                    || h.unacked.iter().any(|mb| durable_to.contains(mb) || flushed.contains(mb))
            })
            .map(|(seq, _)| *seq)
            .collect();
        if durable.is_empty() && due.is_empty() && self.acks.is_empty() {
            return;
        }
        let mut batch = Vec::with_capacity(due.len() + durable.len());
        let mut origins = Vec::with_capacity(batch.capacity());
        for delivered_as in due {
            let held = self.held.remove(&delivered_as).expect("listed above");
            self.held_ids.remove(&held.message.id);
            batch.push(NewMessage { to: held.unacked, ..held.message });
            origins.push(Origin::Held { delivered_as, replies: held.replies });
        }
        for (message, reply) in durable {
            batch.push(message);
            origins.push(Origin::Sent(reply));
        }
        if let Some(store) = self.fast_store() {
            let fast = store.fast_path().expect("checked by fast_store");
            for message in &mut batch {
                message.seq = self.numbers.take(fast).await;
            }
        }
        let acks = std::mem::take(&mut self.acks);

        let started = Instant::now();
        match self.store.commit_round(&acks, &batch, self.config.queue_quota).await {
            Ok(outcomes) => {
                self.metrics.acks.fetch_add(acks.len() as u64, Relaxed);
                let mut woken: Vec<MailboxId> = Vec::new();
                for ((message, origin), outcome) in batch.iter().zip(origins).zip(outcomes) {
                    if let AppendOutcome::Stored { seq } = outcome {
                        self.hand_over(message, seq, &origin);
                        woken.extend_from_slice(&message.to);
                    }
                    match origin {
                        Origin::Sent(reply) => {
                            let _ = reply.send(Ok(outcome));
                        }
                        Origin::Held { replies, .. } => {
                            for reply in replies {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                    }
                }
                if !woken.is_empty() {
                    woken.sort_unstable();
                    woken.dedup();
                    if let Err(err) = self.store.notify_mailboxes(&self.config.node_id, &woken).await {
                        // Other nodes catch up by polling.
                        tracing::warn!(error = %err, "could not notify other nodes");
                    }
                }
            }
            Err(err) => {
                // Lost acks are harmless: those copies are delivered again and acked again. A
                // held message's sender is told to retry, like any other.
                tracing::error!(error = %err, messages = batch.len(), acks = acks.len(), "group commit failed; senders are told to retry");
                for origin in origins {
                    let replies = match origin {
                        Origin::Sent(reply) => vec![reply],
                        Origin::Held { replies, .. } => replies,
                    };
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Other("commit failed".into())));
                    }
                }
            }
        }
        self.metrics.commits.fetch_add(1, Relaxed);
        self.metrics.committed_ops.fetch_add((batch.len() + acks.len()) as u64, Relaxed);
        self.metrics.commit_latency.observe(started.elapsed());
    }

    /// Hands a message just stored under `seq` to its local readers, and wakes the devices of
    /// recipients that no connection here reads.
    fn hand_over(&mut self, message: &NewMessage, seq: u64, origin: &Origin) {
        let delivered_as = match origin {
            Origin::Held { delivered_as, .. } => {
                self.metrics.messages_written_late.fetch_add(1, Relaxed);
                Some(*delivered_as)
            }
            Origin::Sent(_) => None,
        };
        for mailbox in &message.to {
            let queued = QueuedMessage { mailbox: *mailbox, seq, id: message.id, payload: message.payload.clone() };
            let read_here = match delivered_as {
                Some(early) => {
                    self.renumbered.insert((*mailbox, early), seq);
                    self.hub.deliver_renumbered(queued, early)
                }
                None => self.hub.deliver(queued),
            };
            if !read_here && let Some(push) = &self.config.push {
                push.offer(*mailbox, message.group.is_some().then_some(&message.payload));
            }
        }
    }
}

/// Whether an MLS application message passes the Delivery Service's checks against the group's
/// recorded state (a group with no row is left to the round, which creates it). A group whose row
/// the stored messages have not refreshed for half of `GROUP_IDLE_MS` is written, to refresh it.
fn group_allows(message: &NewMessage, lookup: &FastLookup) -> bool {
    let Some(group) = &message.group else { return true };
    let Some(known) = lookup.groups.get(&group.check.group) else { return false };
    message.created_at.saturating_sub(known.updated_at) < GROUP_IDLE_MS / 2
        && group.admitted(known.members.as_deref())
        && group.check.evaluate(known.epoch).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::hub::SessionEvent;
    use crate::store::{GroupCheck, GroupMessage, Hash32, sha256};
    use bytes::Bytes;
    use std::sync::atomic::AtomicBool;

    const NOW: i64 = 1_700_000_000_000;

    struct Setup {
        committer: Committer,
        hub: Arc<Hub>,
        mailbox: MailboxId,
        events: crate::relay::queue::Receiver<SessionEvent>,
    }

    /// A committer on an in-memory SQLite store with a long hold, and one connection reading
    /// one mailbox.
    async fn setup() -> Setup {
        let store = crate::store::connect("sqlite::memory:").await.unwrap();
        let mailbox = MailboxId::random();
        store.create_mailbox(&mailbox, &sha256(b"secret"), NOW).await.unwrap();
        let hub = Arc::new(Hub::default());
        let (tx, events) = crate::relay::queue::channel(64);
        hub.subscribe(mailbox, 1, tx, Arc::new(AtomicBool::new(false)));
        let config = CommitterConfig {
            node_id: "test".into(),
            max_batch: 64,
            queue_quota: 100,
            push: None,
            hold: Duration::from_secs(600),
        };
        let (committer, _task) = Committer::start(store, hub.clone(), Arc::default(), config);
        Setup { committer, hub, mailbox, events }
    }

    fn message(to: MailboxId, group: Option<GroupMessage>) -> NewMessage {
        NewMessage {
            id: MessageId::random(),
            to: vec![to],
            payload: Bytes::from_static(b"ciphertext"),
            created_at: NOW,
            expires_at: NOW + 86_400_000,
            group,
            seq: None,
        }
    }

    fn group_message(group: Hash32, epoch: u64, commit: bool, reads: MailboxId, members: Vec<MailboxId>) -> GroupMessage {
        GroupMessage { check: GroupCheck { group, epoch, commit }, sender_reads: vec![reads], members }
    }

    fn delivered(event: SessionEvent) -> QueuedMessage {
        match event {
            SessionEvent::Deliver(message) => *message,
            _ => panic!("expected a delivery"),
        }
    }

    #[tokio::test]
    async fn a_message_behind_a_commit_to_the_same_mailbox_does_not_overtake_it() {
        let mut s = setup().await;
        let group = sha256(b"group");
        let commit = message(s.mailbox, Some(group_message(group, 0, true, s.mailbox, vec![s.mailbox])));
        let plain = message(s.mailbox, None);
        // Queued together, so that one batch takes both (the test runtime has one thread).
        let first = s.committer.append(commit.clone()).await;
        let second = s.committer.append(plain.clone()).await;
        let Ok(AppendOutcome::Stored { seq: a }) = first.await.unwrap() else { panic!("commit stored") };
        let second = tokio::time::timeout(Duration::from_secs(5), second).await.expect("answered without an ack");
        let Ok(AppendOutcome::Stored { seq: b }) = second.unwrap() else {
            panic!("written behind the commit, not delivered early")
        };
        assert!(a < b);
        let got: Vec<(MessageId, u64)> =
            [s.events.recv().await.unwrap(), s.events.recv().await.unwrap()].into_iter().map(delivered).map(|m| (m.id, m.seq)).collect();
        assert_eq!(got, vec![(commit.id, a), (plain.id, b)], "in the order sent");
    }

    #[tokio::test]
    async fn a_mailbox_that_no_longer_exists_is_refused_though_a_connection_still_reads_it() {
        let mut s = setup().await;
        // Read on this node (subscribed before it was deleted) but gone from the database.
        let (tx, mut gone_events) = crate::relay::queue::channel(8);
        let gone = MailboxId::random();
        s.hub.subscribe(gone, 2, tx, Arc::new(AtomicBool::new(false)));
        let reply = s.committer.append(message(gone, None)).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::UnknownMailbox { mailbox: gone }));
        assert!(gone_events.try_recv().is_none(), "not delivered");
        // The mailbox that exists still gets early delivery.
        let mut reply = s.committer.append(message(s.mailbox, None)).await;
        let early = delivered(s.events.recv().await.unwrap());
        assert!(reply.try_recv().is_err());
        s.committer.ack(s.mailbox, early.seq).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::Delivered { seq: early.seq }));
    }

    #[tokio::test]
    async fn an_application_message_goes_early_only_if_its_group_admits_it() {
        let mut s = setup().await;
        let group = sha256(b"group");
        let commit = message(s.mailbox, Some(group_message(group, 0, true, s.mailbox, vec![s.mailbox])));
        let reply = s.committer.append(commit).await;
        assert!(matches!(reply.await.unwrap(), Ok(AppendOutcome::Stored { .. })));
        delivered(s.events.recv().await.unwrap());

        // From a member, at the recorded epoch: delivered before any commit, accepted by the ack.
        let app = message(s.mailbox, Some(group_message(group, 1, false, s.mailbox, Vec::new())));
        let mut reply = s.committer.append(app.clone()).await;
        let early = delivered(s.events.recv().await.unwrap());
        assert_eq!(early.id, app.id);
        assert!(reply.try_recv().is_err(), "not accepted before its ack");
        s.committer.ack(s.mailbox, early.seq).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::Delivered { seq: early.seq }));

        // From a connection that reads no member's mailbox: refused by the round, never delivered.
        let outsider = message(s.mailbox, Some(group_message(group, 1, false, MailboxId::random(), Vec::new())));
        let reply = s.committer.append(outsider).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::NotAMember));
        // At an epoch the group has not reached: refused too.
        let ahead = message(s.mailbox, Some(group_message(group, 7, false, s.mailbox, Vec::new())));
        let reply = s.committer.append(ahead).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::StaleEpoch { current: 1 }));
        assert!(s.events.try_recv().is_none(), "neither was delivered");
    }
}
