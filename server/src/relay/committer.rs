//! Group commit: the one place a message becomes durable. Sends and acks from every connection
//! queue here; one task writes whatever has accumulated in a single transaction, and only then
//! answers the senders and hands the messages to the hub for immediate delivery.

use super::hub::Hub;
use crate::metrics::Metrics;
use crate::store::{AppendOutcome, NewMessage, QueuedMessage, Store, StoreError};
use sallyport_protocol::MailboxId;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Operations waiting for the committer. Bounded, so a flood of sends slows its senders down
/// (their connections stop being read) rather than growing memory.
const QUEUE_CAPACITY: usize = 16_384;

pub type AppendReply = oneshot::Receiver<Result<AppendOutcome, StoreError>>;

enum Op {
    Append(NewMessage, oneshot::Sender<Result<AppendOutcome, StoreError>>),
    Ack(MailboxId, u64),
    /// Answered once everything queued before it has been committed (or failed).
    Flush(oneshot::Sender<()>),
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
}

impl Committer {
    /// Starts the committer task. It ends once every `Committer` handle is dropped and all queued
    /// operations are committed: awaiting the handle is how shutdown finishes in-flight writes.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        config: CommitterConfig,
    ) -> (Committer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(run(rx, store, hub, metrics, config));
        (Committer { tx }, task)
    }

    /// Queues a message; the reply comes once it is committed (or refused).
    pub async fn append(&self, message: NewMessage) -> AppendReply {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Op::Append(_, reply))) = self.tx.send(Op::Append(message, reply)).await {
            let _ = reply.send(Err(StoreError::Other("the committer has stopped".into())));
        }
        rx
    }

    /// Queues the deletion of an acknowledged copy. Losing it is harmless: the copy is delivered
    /// again and the client acks it again.
    pub async fn ack(&self, mailbox: MailboxId, seq: u64) {
        let _ = self.tx.send(Op::Ack(mailbox, seq)).await;
    }

    /// Waits until every operation queued before this call has been through a commit round. A
    /// device's new connection calls it before reading its queue, so acks its previous
    /// connection sent are applied first and it is not handed again what it acknowledged.
    pub async fn flush(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Op::Flush(done)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Op>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    config: CommitterConfig,
) {
    let mut appends: Vec<NewMessage> = Vec::with_capacity(config.max_batch);
    let mut replies = Vec::with_capacity(config.max_batch);
    let mut acks = Vec::with_capacity(config.max_batch);
    let mut ops = Vec::with_capacity(config.max_batch);
    let mut flushes = Vec::new();
    // `recv_many` takes everything that accumulated while the previous batch was committing:
    // that is the group commit.
    while rx.recv_many(&mut ops, config.max_batch).await > 0 {
        let batch_ops = ops.len();
        for op in ops.drain(..) {
            match op {
                Op::Append(message, reply) => {
                    appends.push(message);
                    replies.push(reply);
                }
                Op::Ack(mailbox, seq) => acks.push((mailbox, seq)),
                Op::Flush(done) => flushes.push(done),
            }
        }
        let started = Instant::now();
        // Acks and sends in one transaction. Acks are applied first: they free quota for the
        // sends in the same round, and a send can never be acked in the round that stores it (it
        // is delivered only after its commit).
        match store.commit_round(&acks, &appends, config.queue_quota).await {
            Ok(outcomes) => {
                metrics.acks.fetch_add(acks.len() as u64, Relaxed);
                let mut woken: Vec<MailboxId> = Vec::new();
                for ((message, reply), outcome) in appends.drain(..).zip(replies.drain(..)).zip(outcomes) {
                    if let AppendOutcome::Stored { seq } = outcome {
                        for mailbox in &message.to {
                            let read_here = hub.deliver(QueuedMessage {
                                mailbox: *mailbox,
                                seq,
                                id: message.id,
                                payload: message.payload.clone(),
                            });
                            if !read_here && let Some(push) = &config.push {
                                push.offer(*mailbox, message.group.is_some().then_some(&message.payload));
                            }
                        }
                        woken.extend_from_slice(&message.to);
                    }
                    let _ = reply.send(Ok(outcome));
                }
                if !woken.is_empty() {
                    woken.sort_unstable();
                    woken.dedup();
                    if let Err(err) = store.notify_mailboxes(&config.node_id, &woken).await {
                        // Other nodes catch up by polling.
                        tracing::warn!(error = %err, "could not notify other nodes");
                    }
                }
            }
            Err(err) => {
                // Lost acks are harmless: those copies are delivered again and acked again.
                tracing::error!(error = %err, messages = appends.len(), acks = acks.len(), "group commit failed; senders are told to retry");
                appends.clear();
                for reply in replies.drain(..) {
                    let _ = reply.send(Err(StoreError::Other("commit failed".into())));
                }
            }
        }
        acks.clear();
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
        metrics.commits.fetch_add(1, Relaxed);
        metrics.committed_ops.fetch_add(batch_ops as u64, Relaxed);
        metrics.commit_latency.observe(started.elapsed());
    }
    tracing::debug!("committer drained and stopped");
}
