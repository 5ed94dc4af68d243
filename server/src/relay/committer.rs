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
use futures::future::BoxFuture;
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

/// A message given to the committer: queued at once (nearly always), or once its queue has
/// room.
pub enum Queued {
    Now(AppendReply),
    Later(BoxFuture<'static, AppendReply>),
}

impl Queued {
    /// The reply, once the message is queued.
    pub async fn queued(self) -> AppendReply {
        match self {
            Queued::Now(reply) => reply,
            Queued::Later(wait) => wait.await,
        }
    }
}
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
            pending: Vec::new(),
            pending_to: HashSet::new(),
            flushed: HashSet::new(),
            waiting: Vec::new(),
            in_flight: None,
        };
        (Committer { tx }, tokio::spawn(task.run(rx)))
    }

    /// Queues a message; the reply comes once it can no longer be lost (committed, or acked by
    /// every recipient), or is refused.
    // The wait yields the reply channel, itself awaited later (among the connection's pending
    // sends): that is the point, not a missing `.await`.
    #[allow(clippy::async_yields_async)]
    pub fn append(&self, message: NewMessage) -> Queued {
        let (reply, rx) = oneshot::channel();
        match self.queue(Op::Append(message, reply)) {
            None => Queued::Now(rx),
            Some(wait) => Queued::Later(Box::pin(async move {
                if let Err(Op::Append(_, reply)) = wait.await {
                    let _ = reply.send(Err(StoreError::Other("the committer has stopped".into())));
                }
                rx
            })),
        }
    }

    /// An ack of the copy `seq` of `mailbox`: settles a held message's recipient, or queues the
    /// deletion of a stored copy. Losing it is harmless: the copy is delivered again and the
    /// client acks it again.
    pub fn ack(&self, mailbox: MailboxId, seq: u64) -> impl Future<Output = ()> + Send + 'static {
        let wait = self.queue(Op::Ack(mailbox, seq));
        async move {
            if let Some(wait) = wait {
                let _ = wait.await;
            }
        }
    }

    /// Queues `op` at once if there is room (`None`); otherwise returns the wait for room, boxed,
    /// which gives the op back if the committer has stopped. Connections call this for every
    /// send and ack: the futures they await hold no op and no channel waiter, only this box in
    /// the rare case that the queue is full. (Inline, those made a connection's handler for
    /// every frame too large for the allocator's per-thread cache.)
    fn queue(&self, op: Op) -> Option<BoxFuture<'static, Result<(), Op>>> {
        match self.tx.try_send(op) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Closed(op)) => Some(Box::pin(std::future::ready(Err(op)))),
            Err(mpsc::error::TrySendError::Full(op)) => {
                let tx = self.tx.clone();
                Some(Box::pin(async move { tx.send(op).await.map_err(|mpsc::error::SendError(op)| op) }))
            }
        }
    }

    /// Waits until every operation queued before this call has been through a commit round,
    /// and every held message to `mailboxes` is written. A device's new connection calls it
    /// before reading its queue, so acks its previous connection sent are applied first (it is
    /// not handed again what it acknowledged), and what was delivered to that connection unacked
    /// is in the queue.
    pub async fn flush(&self, mailboxes: Vec<MailboxId>) {
        let (done, rx) = oneshot::channel();
        if queued(self.queue(Op::Flush(mailboxes, done))).await {
            let _ = rx.await;
        }
    }

    /// Waits until every operation queued before this call has been through a commit round
    /// (held messages stay held). A connection calls it before re-reading a queue it has acked
    /// copies of, so that the read does not return them again.
    pub async fn sync(&self) {
        let (done, rx) = oneshot::channel();
        if queued(self.queue(Op::Sync(done))).await {
            let _ = rx.await;
        }
    }
}

/// Whether an op given to `Committer::queue` was queued.
async fn queued(wait: Option<BoxFuture<'static, Result<(), Op>>>) -> bool {
    match wait {
        None => true,
        Some(wait) => wait.await.is_ok(),
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
    /// Messages to write in the next round, in order, and the mailboxes they go to (no message
    /// to those may go early meanwhile: it would overtake them).
    pending: Vec<(NewMessage, Reply)>,
    pending_to: HashSet<MailboxId>,
    /// Mailboxes whose held messages the next round writes, and who waits for that round.
    flushed: HashSet<MailboxId>,
    waiting: Vec<oneshot::Sender<()>>,
    /// The round being written, if any. Early delivery and acks go on meanwhile.
    in_flight: Option<InFlight>,
}

/// A commit round handed to the store.
struct Round {
    batch: Vec<NewMessage>,
    origins: Vec<Origin>,
    acks: Vec<(MailboxId, u64)>,
    /// Answered once the round is through.
    waiting: Vec<oneshot::Sender<()>>,
    started: Instant,
}

/// A round being written, on its own task, and what must wait for it.
struct InFlight {
    task: tokio::task::JoinHandle<(Round, Result<Vec<AppendOutcome>, StoreError>)>,
    /// Its recipients: a message to one of them may not go early before the round's messages
    /// have been handed over.
    to: HashSet<MailboxId>,
    /// Its ids: a re-send of one goes to the next round (which finds it stored), not early.
    ids: HashSet<MessageId>,
    /// (mailbox, number delivered under) of the held messages it writes, and the acks of those
    /// that arrive meanwhile: they are mapped to the stored numbers once it is through.
    renumbering: HashSet<(MailboxId, u64)>,
    deferred_acks: Vec<(MailboxId, u64)>,
}

impl Task {
    /// The loop: take what accumulated (at most `max_batch` waiting to be written, so a flood
    /// of sends backs up into its senders' connections), deliver early what may go, and start a
    /// round whenever none is being written and there is something to write. While a round is
    /// written (one at a time: the store has one writer), sends keep being delivered early and
    /// acks keep accepting held messages.
    async fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        let max_batch = self.config.max_batch;
        let mut ops = Vec::with_capacity(max_batch);
        let mut appends = Vec::with_capacity(max_batch);
        let mut closed = false;
        loop {
            let room = self.pending.len() + self.acks.len() < max_batch;
            let due = self.next_due().filter(|_| self.in_flight.is_none());
            tokio::select! {
                n = rx.recv_many(&mut ops, max_batch), if !closed && room => closed = n == 0,
                finished = async { (&mut self.in_flight.as_mut().expect("guarded").task).await }, if self.in_flight.is_some() => {
                    let in_flight = self.in_flight.take().expect("guarded");
                    self.finish(in_flight, finished);
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now).into()), if due.is_some() => {}
            }
            for op in ops.drain(..) {
                match op {
                    Op::Append(message, reply) => appends.push((message, reply)),
                    Op::Ack(mailbox, seq) => self.on_ack(mailbox, seq),
                    Op::Flush(mailboxes, done) => {
                        self.flushed.extend(mailboxes);
                        self.waiting.push(done);
                    }
                    Op::Sync(done) => self.waiting.push(done),
                }
            }
            if !appends.is_empty() {
                self.deliver_early(&mut appends, closed).await;
            }
            if self.in_flight.is_none() {
                self.start_round(closed).await;
            }
            if closed && self.in_flight.is_none() && self.held.is_empty() && self.pending.is_empty() && self.acks.is_empty() {
                break;
            }
        }
        for done in self.waiting.drain(..) {
            let _ = done.send(());
        }
        tracing::debug!("committer drained and stopped");
    }

    /// Held messages fall due in the order they were numbered (each `hold` after its
    /// delivery): the first is the earliest.
    fn next_due(&self) -> Option<Instant> {
        self.held.values().next().map(|h| h.due)
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
                answer_all(held.replies, Ok(AppendOutcome::Delivered { seq }));
            }
            return;
        }
        if let Some(in_flight) = &mut self.in_flight
            && in_flight.renumbering.contains(&(mailbox, seq))
        {
            in_flight.deferred_acks.push((mailbox, seq));
            return;
        }
        let seq = self.renumbered.take(&(mailbox, seq)).unwrap_or(seq);
        self.acks.push((mailbox, seq));
    }

    /// Delivers and holds what may go before its commit; queues the rest, in order, for the next
    /// round. A message to a mailbox that an earlier message must be written for (queued, or in
    /// the round being written) is written too, so that none overtakes another on its way to a
    /// mailbox.
    async fn deliver_early(&mut self, appends: &mut Vec<(NewMessage, Reply)>, closing: bool) {
        let Some(store) = self.fast_store().filter(|_| !closing) else {
            for (message, reply) in appends.drain(..) {
                self.queue_for_round(message, reply);
            }
            return;
        };
        let fast = store.fast_path().expect("checked by fast_store");
        let writing = |m: &MailboxId| self.pending_to.contains(m) || self.in_flight.as_ref().is_some_and(|f| f.to.contains(m));
        // Not an MLS commit (the epoch rule needs the stored group state), every recipient read
        // on this node (the only connections that could ack it), none with a message being
        // written, and not an id being written.
        let candidate: Vec<bool> = appends
            .iter()
            .map(|(m, _)| {
                !m.group.as_ref().is_some_and(|g| g.check.commit)
                    && m.to.iter().all(|mb| self.hub.is_read_here(mb) && !writing(mb))
                    && !self.in_flight.as_ref().is_some_and(|f| f.ids.contains(&m.id))
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
                    for (message, reply) in appends.drain(..) {
                        self.queue_for_round(message, reply);
                    }
                    return;
                }
            }
        };
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
                && message.to.iter().all(|mb| lookup.mailboxes.contains(mb) && !self.pending_to.contains(mb))
                && group_allows(&message, &lookup);
            let seq = match early {
                true => self.numbers.take(fast).await,
                false => None,
            };
            let Some(seq) = seq else {
                self.queue_for_round(message, reply);
                continue;
            };
            for mailbox in &message.to {
                self.hub.deliver_early(QueuedMessage { mailbox: *mailbox, seq, id: message.id, payload: message.payload.clone() });
            }
            self.held_ids.insert(message.id, seq);
            let due = Instant::now() + self.config.hold;
            self.held.insert(seq, Held { unacked: message.to.clone(), message, replies: vec![reply], due });
        }
    }

    fn queue_for_round(&mut self, message: NewMessage, reply: Reply) {
        self.pending_to.extend(message.to.iter().copied());
        self.pending.push((message, reply));
    }

    /// Starts writing, in one transaction on its own task: the queued messages, the held messages
    /// that are due (all if `closing`; those to flushed mailboxes; those that a queued message
    /// must not overtake to a mailbox) and the acks of stored copies. With nothing to write,
    /// answers who waits at once: everything before them is through.
    async fn start_round(&mut self, closing: bool) {
        let now = Instant::now();
        // Every held message is looked at only when some must be written for a mailbox's sake;
        // otherwise those due are the first ones (see `next_due`), and the loop, which runs
        // for every batch, does not walk all that is held.
        let due: Vec<u64> = if closing || !self.pending_to.is_empty() || !self.flushed.is_empty() {
            self.held
                .iter()
                .filter(|(_, h)| {
                    closing
                        || h.due <= now
                        || h.unacked.iter().any(|mb| self.pending_to.contains(mb) || self.flushed.contains(mb))
                })
                .map(|(seq, _)| *seq)
                .collect()
        } else {
            self.held.iter().take_while(|(_, h)| h.due <= now).map(|(seq, _)| *seq).collect()
        };
        self.flushed.clear();
        if self.pending.is_empty() && due.is_empty() && self.acks.is_empty() {
            for done in self.waiting.drain(..) {
                let _ = done.send(());
            }
            return;
        }
        let mut batch = Vec::with_capacity(due.len() + self.pending.len());
        let mut origins = Vec::with_capacity(batch.capacity());
        let mut renumbering = HashSet::new();
        for delivered_as in due {
            let held = self.held.remove(&delivered_as).expect("listed above");
            self.held_ids.remove(&held.message.id);
            renumbering.extend(held.unacked.iter().map(|mb| (*mb, delivered_as)));
            batch.push(NewMessage { to: held.unacked, ..held.message });
            origins.push(Origin::Held { delivered_as, replies: held.replies });
        }
        for (message, reply) in self.pending.drain(..) {
            batch.push(message);
            origins.push(Origin::Sent(reply));
        }
        self.pending_to.clear();
        if let Some(store) = self.fast_store() {
            let fast = store.fast_path().expect("checked by fast_store");
            for message in &mut batch {
                message.seq = self.numbers.take(fast).await;
            }
        }
        let to = batch.iter().flat_map(|m| m.to.iter().copied()).collect();
        let ids = batch.iter().map(|m| m.id).collect();
        let round = Round {
            batch,
            origins,
            acks: std::mem::take(&mut self.acks),
            waiting: std::mem::take(&mut self.waiting),
            started: Instant::now(),
        };
        let store = self.store.clone();
        let quota = self.config.queue_quota;
        let task = tokio::spawn(async move {
            let result = store.commit_round(&round.acks, &round.batch, quota).await;
            (round, result)
        });
        self.in_flight = Some(InFlight { task, to, ids, renumbering, deferred_acks: Vec::new() });
    }

    /// Once a round is through: answers its senders, hands the stored messages to the hub, and
    /// applies the acks that waited for its new numbers.
    fn finish(&mut self, in_flight: InFlight, finished: Result<(Round, Result<Vec<AppendOutcome>, StoreError>), tokio::task::JoinError>) {
        let (round, result) = match finished {
            Ok(finished) => finished,
            Err(err) => {
                // The round's task panicked: its senders' replies were dropped with it (they
                // hear that the committer stopped and re-send), and who waited is let go.
                tracing::error!(error = %err, "a group commit round panicked");
                self.acks.extend(in_flight.deferred_acks);
                return;
            }
        };
        let Round { batch, origins, acks, waiting, started } = round;
        match result {
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
                        Origin::Held { replies, .. } => answer_all(replies, Ok(outcome)),
                    }
                }
                if !woken.is_empty() {
                    woken.sort_unstable();
                    woken.dedup();
                    let (store, node) = (self.store.clone(), self.config.node_id.clone());
                    // Off the loop: other nodes' wake-ups need not hold up the next round.
                    tokio::spawn(async move {
                        if let Err(err) = store.notify_mailboxes(&node, &woken).await {
                            // Other nodes catch up by polling.
                            tracing::warn!(error = %err, "could not notify other nodes");
                        }
                    });
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
        for (mailbox, seq) in in_flight.deferred_acks {
            self.on_ack(mailbox, seq);
        }
        self.metrics.commits.fetch_add(1, Relaxed);
        self.metrics.committed_ops.fetch_add((batch.len() + acks.len()) as u64, Relaxed);
        self.metrics.commit_latency.observe(started.elapsed());
        for done in waiting {
            let _ = done.send(());
        }
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

/// Answers a held message's sender, and any re-sends of its id that came meanwhile: those are
/// duplicates (one delivery, one charge to the sender's share).
fn answer_all(replies: Vec<Reply>, outcome: Result<AppendOutcome, StoreError>) {
    let again = match &outcome {
        Ok(AppendOutcome::Stored { seq } | AppendOutcome::Delivered { seq }) => Ok(AppendOutcome::Duplicate { seq: *seq }),
        other => other.clone(),
    };
    let mut replies = replies.into_iter();
    if let Some(first) = replies.next() {
        let _ = first.send(outcome);
    }
    for reply in replies {
        let _ = reply.send(again.clone());
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
    use crate::store::{GroupCheck, GroupMessage, Hash32, WriteLock, sha256};
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
        setup_on("sqlite::memory:", 64).await
    }

    async fn setup_on(url: &str, max_batch: usize) -> Setup {
        let store = crate::store::connect(url).await.unwrap();
        let mailbox = MailboxId::random();
        store.create_mailbox(&mailbox, &sha256(b"secret"), NOW).await.unwrap();
        let hub = Arc::new(Hub::default());
        let (tx, events) = crate::relay::queue::channel(64);
        hub.subscribe(mailbox, 1, tx, Arc::new(AtomicBool::new(false)));
        let config = CommitterConfig {
            node_id: "test".into(),
            max_batch,
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
            SessionEvent::Deliver(message) | SessionEvent::Early(message) => *message,
            _ => panic!("expected a delivery"),
        }
    }

    #[tokio::test]
    async fn a_send_to_a_full_committer_queue_waits_for_room_and_hears_if_it_stopped() {
        let (tx, mut rx) = mpsc::channel(1);
        let committer = Committer { tx };
        let Queued::Now(_first) = committer.append(message(MailboxId::random(), None)) else {
            panic!("an empty queue takes a send at once");
        };
        let second = committer.append(message(MailboxId::random(), None));
        assert!(matches!(second, Queued::Later(_)), "a full queue makes the send wait");
        let ack = committer.ack(MailboxId::random(), 1);
        let waiting = tokio::spawn(second.queued());
        let waiting_ack = tokio::spawn(ack);
        assert!(matches!(rx.recv().await, Some(Op::Append(..))));
        let reply = tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("room was made").unwrap();
        let Some(Op::Append(_, answer)) = rx.recv().await else { panic!("the waiting send was queued") };
        answer.send(Ok(AppendOutcome::Stored { seq: 7 })).unwrap();
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::Stored { seq: 7 }));
        tokio::time::timeout(Duration::from_secs(10), waiting_ack).await.expect("the ack was queued").unwrap();
        assert!(matches!(rx.recv().await, Some(Op::Ack(_, 1))));

        // Stopped: the send is answered with an error, whether or not it had to wait.
        drop(rx);
        let reply = committer.append(message(MailboxId::random(), None)).queued().await;
        assert!(matches!(reply.await.unwrap(), Err(StoreError::Other(_))));
    }

    #[tokio::test]
    async fn a_message_behind_a_commit_to_the_same_mailbox_does_not_overtake_it() {
        let mut s = setup().await;
        let group = sha256(b"group");
        let commit = message(s.mailbox, Some(group_message(group, 0, true, s.mailbox, vec![s.mailbox])));
        let plain = message(s.mailbox, None);
        // Queued together, so that one batch takes both (the test runtime has one thread).
        let first = s.committer.append(commit.clone()).queued().await;
        let second = s.committer.append(plain.clone()).queued().await;
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
        let reply = s.committer.append(message(gone, None)).queued().await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::UnknownMailbox { mailbox: gone }));
        assert!(gone_events.try_recv().is_none(), "not delivered");
        // The mailbox that exists still gets early delivery.
        let mut reply = s.committer.append(message(s.mailbox, None)).queued().await;
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
        let reply = s.committer.append(commit).queued().await;
        assert!(matches!(reply.await.unwrap(), Ok(AppendOutcome::Stored { .. })));
        delivered(s.events.recv().await.unwrap());

        // From a member, at the recorded epoch: delivered before any commit, accepted by the ack.
        let app = message(s.mailbox, Some(group_message(group, 1, false, s.mailbox, Vec::new())));
        let mut reply = s.committer.append(app.clone()).queued().await;
        let early = delivered(s.events.recv().await.unwrap());
        assert_eq!(early.id, app.id);
        assert!(reply.try_recv().is_err(), "not accepted before its ack");
        s.committer.ack(s.mailbox, early.seq).await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::Delivered { seq: early.seq }));

        // From a connection that reads no member's mailbox: refused by the round, never delivered.
        let outsider = message(s.mailbox, Some(group_message(group, 1, false, MailboxId::random(), Vec::new())));
        let reply = s.committer.append(outsider).queued().await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::NotAMember));
        // At an epoch the group has not reached: refused too.
        let ahead = message(s.mailbox, Some(group_message(group, 7, false, s.mailbox, Vec::new())));
        let reply = s.committer.append(ahead).queued().await;
        assert_eq!(reply.await.unwrap(), Ok(AppendOutcome::StaleEpoch { current: 1 }));
        assert!(s.events.try_recv().is_none(), "neither was delivered");
    }

    /// A committer on a SQLite file, and a second connection to it holding the write lock: the
    /// committer's next round waits for it until `release`. Batches of one operation, so that
    /// each send is taken on its own and the first starts a round before the next is taken.
    async fn setup_with_a_stalled_writer() -> (Setup, tempfile::TempDir, WriteLock) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        let mut s = setup_on(&url, 1).await;
        // One early delivery first: it reserves the block of numbers (a write) before the lock.
        let reply = s.committer.append(message(s.mailbox, None)).queued().await;
        let early = delivered(s.events.recv().await.unwrap());
        s.committer.ack(s.mailbox, early.seq).await;
        assert!(matches!(reply.await.unwrap(), Ok(AppendOutcome::Delivered { .. })));
        let lock = WriteLock::take(&url).await;
        (s, dir, lock)
    }

    #[tokio::test]
    async fn messages_between_connected_readers_go_on_while_a_round_is_written() {
        let (mut s, _dir, lock) = setup_with_a_stalled_writer().await;
        // A message to a mailbox no connection reads must be written: its round waits for the lock.
        let offline = MailboxId::random();
        let stalled = s.committer.append(message(offline, None)).queued().await;
        // Meanwhile a message to the connected reader is delivered and accepted by its ack.
        let mut reply = s.committer.append(message(s.mailbox, None)).queued().await;
        let early = tokio::time::timeout(Duration::from_secs(3), s.events.recv())
            .await
            .expect("delivered while the round waits for the disk")
            .unwrap();
        let early = delivered(early);
        assert!(reply.try_recv().is_err(), "not accepted before its ack");
        s.committer.ack(s.mailbox, early.seq).await;
        let accepted = tokio::time::timeout(Duration::from_secs(3), reply).await.expect("accepted while the round waits");
        assert_eq!(accepted.unwrap(), Ok(AppendOutcome::Delivered { seq: early.seq }));
        let mut stalled = stalled;
        assert!(stalled.try_recv().is_err(), "the written message's round is still waiting");
        lock.release().await;
        // The unknown mailbox is refused by the round once it runs.
        assert_eq!(stalled.await.unwrap(), Ok(AppendOutcome::UnknownMailbox { mailbox: offline }));
    }

    #[tokio::test]
    async fn a_message_does_not_overtake_one_being_written_to_the_same_mailbox() {
        let (mut s, _dir, lock) = setup_with_a_stalled_writer().await;
        let group = sha256(b"group");
        // An MLS commit is always written: its round waits for the lock.
        let commit = message(s.mailbox, Some(group_message(group, 0, true, s.mailbox, vec![s.mailbox])));
        let first = s.committer.append(commit.clone()).queued().await;
        let plain = message(s.mailbox, None);
        let second = s.committer.append(plain.clone()).queued().await;
        // Wait until the committer has taken the plain send (while the commit's round waits).
        while s.committer.tx.capacity() < s.committer.tx.max_capacity() {
            tokio::task::yield_now().await;
        }
        assert!(s.events.try_recv().is_none(), "nothing is delivered before the commit is written");
        lock.release().await;
        let first = first.await.unwrap();
        let Ok(AppendOutcome::Stored { seq: a }) = first else { panic!("commit stored: {first:?}") };
        let Ok(AppendOutcome::Stored { seq: b }) = second.await.unwrap() else { panic!("written behind the commit") };
        assert!(a < b);
        let got: Vec<(MessageId, u64)> =
            [s.events.recv().await.unwrap(), s.events.recv().await.unwrap()].into_iter().map(delivered).map(|m| (m.id, m.seq)).collect();
        assert_eq!(got, vec![(commit.id, a), (plain.id, b)], "in the order sent");
    }
}
