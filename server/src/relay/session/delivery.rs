//! Sends, acks and delivery on one connection: a send is answered once it can no longer be lost;
//! deliveries go out in sequence order within a window per mailbox, from the committer's fast
//! path or, when that falls behind, from the database.

use super::{DELIVERY_WINDOW, Flow, MailboxState, PendingSend, SendResult, Session};
use futures::future::BoxFuture;
use crate::budgets::SendBudget;
use crate::relay::committer::{AppendReply, Queued};
use crate::relay::hub::{Renumbered, SessionEvent};
use crate::domain::mls::{commit_members, inspect_group_envelope};
use crate::store::{AppendOutcome, GroupMessage, NewMessage, QueuedMessage, StoreError};
use sallyport_protocol::{DeviceId, ErrorCode, MAX_RECIPIENTS, MailboxId, MessageId, Payload, ServerFrame};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::Instant;

impl Session {
    /// Reads a `group_send`: its MLS framing (`invalid_mls_message`), its `members`
    /// (`bad_recipients`), and the mailboxes this connection reads, which the storing transaction
    /// compares with the group's members. They are copied from this session's memory into the
    /// message for its commit round only, never stored (the mailboxes one connection reads must
    /// not be linked anywhere that outlives it).
    pub(super) fn group_message(
        &self,
        to: &[MailboxId],
        payload: &Payload,
        members: Vec<MailboxId>,
    ) -> Result<GroupMessage, ErrorCode> {
        let check = inspect_group_envelope(&payload.0)?;
        let members = commit_members(check.commit, to, members, |m| self.mailboxes.contains_key(m))?;
        Ok(GroupMessage { check, sender_reads: self.mailboxes.keys().copied().collect(), members })
    }

    /// Takes a send: refused, or handed to the committer and answered once it can no longer be
    /// lost (`answer_send`). Done at once when it can be, which is nearly always; what has to
    /// wait (an error frame, a spent share's queue checks, a full committer queue) comes back
    /// as a boxed future, so that the future every frame's handler is boxed in stays small.
    pub(super) fn on_send(&mut self, id: MessageId, mut to: Vec<MailboxId>, payload: Payload, group: Option<GroupMessage>) -> Option<BoxFuture<'_, ()>> {
        to.sort_unstable();
        to.dedup();
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Some(self.send_error(ServerFrame::error_for_message(ErrorCode::BadRecipients, id)));
        }
        // The sender's own budgets: bytes written for it, and its share of each recipient's
        // queue, so that its flood fills neither the database nor a victim's mailbox.
        if let Some(device) = self.device {
            match self.relay.budgets.send(&device, &to, payload.0.len(), self.relay.clock.wall()) {
                SendBudget::Allowed => {}
                SendBudget::BytesSpent => return Some(self.send_error(ServerFrame::error_for_message(ErrorCode::RateLimited, id))),
                SendBudget::ShareSpent(recipients) => {
                    return Some(Box::pin(async move {
                        if self.share_spent(&device, &to, payload.0.len(), recipients).await {
                            if let Some(wait) = self.hand_to_committer(id, to, payload, group) {
                                wait.await;
                            }
                        } else {
                            self.send_error(ServerFrame::error_for_message(ErrorCode::RateLimited, id)).await;
                        }
                    }));
                }
            }
        }
        self.hand_to_committer(id, to, payload, group)
    }

    /// Queues a send for the committer and its answer among the pending sends.
    fn hand_to_committer(&mut self, id: MessageId, to: Vec<MailboxId>, payload: Payload, group: Option<GroupMessage>) -> Option<BoxFuture<'_, ()>> {
        let now = self.relay.clock.now();
        let message = NewMessage {
            id,
            to,
            payload: payload.0,
            created_at: now,
            expires_at: now + self.relay.settings.message_ttl_ms,
            group,
            seq: None,
        };
        let received = Instant::now();
        let bytes = message.payload.len();
        self.pending_send_bytes += bytes;
        // Kept to charge the sender's share once the send is taken as new (`answer_send`).
        let to = if self.device.is_some() { message.to.clone() } else { Vec::new() };
        let reply = self.relay.committer.append(message);
        let wait = move |reply: AppendReply| -> PendingSend {
            Box::pin(async move {
                let result = reply.await.unwrap_or_else(|_| Err(StoreError::Other("committer stopped".into())));
                SendResult { id, to, received, bytes, result }
            })
        };
        match reply {
            Queued::Now(reply) => {
                self.pending_sends.push(wait(reply));
                None
            }
            Queued::Later(reply) => Some(Box::pin(async move {
                let reply = reply.await;
                self.pending_sends.push(wait(reply));
            })),
        }
    }

    /// `device` sent its day's share to `recipients`: it may send more only while their queues
    /// are less than half full (then their messages are being read, and a flood from this device
    /// cannot lock a mailbox for everyone else).
    async fn share_spent(&self, device: &DeviceId, to: &[MailboxId], bytes: usize, recipients: Vec<MailboxId>) -> bool {
        let budgets = &self.relay.budgets;
        let now = self.relay.clock.wall();
        if !budgets.queue_check(device, now) {
            return false;
        }
        for mailbox in &recipients {
            match self.relay.store.queued(mailbox).await {
                Ok(n) if n.saturating_mul(2) < self.relay.settings.queue_quota => {}
                Ok(_) => return false,
                Err(err) => {
                    tracing::warn!(error = %err, "counting a queue failed");
                    return false;
                }
            }
        }
        budgets.forgive_shares(device, &recipients);
        budgets.send(device, to, bytes, now) == SendBudget::Allowed
    }

    pub(super) async fn answer_send(&mut self, done: SendResult) {
        let SendResult { id, to, received, bytes, result } = done;
        self.pending_send_bytes -= bytes;
        if let (Some(device), Ok(AppendOutcome::Stored { .. } | AppendOutcome::Delivered { .. })) = (&self.device, &result) {
            self.relay.budgets.charge_share(device, &to, self.relay.clock.wall());
        }
        let frame = match result {
            Ok(AppendOutcome::Stored { seq } | AppendOutcome::Delivered { seq }) => {
                self.relay.metrics.messages_accepted.fetch_add(1, Relaxed);
                self.relay.metrics.accept_latency.observe(received.elapsed());
                ServerFrame::Accepted { id, seq }
            }
            Ok(AppendOutcome::Duplicate { seq }) => {
                self.relay.metrics.messages_duplicate.fetch_add(1, Relaxed);
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
            Ok(AppendOutcome::NotAMember) => ServerFrame::error_for_message(ErrorCode::NotAMember, id),
            Err(_) => ServerFrame::error_for_message(ErrorCode::Internal, id),
        };
        if let ServerFrame::Error { code, .. } = &frame {
            self.relay.metrics.error(*code);
        }
        self.send_frame(&frame).await;
    }

    pub(super) async fn on_ack(&mut self, mailbox: MailboxId, seq: u64) {
        let Some(state) = self.mailboxes.get_mut(&mailbox) else {
            // Only a connection that reads a mailbox may delete from it.
            return self.send_error(ServerFrame::error_for_mailbox(ErrorCode::UnknownMailbox, mailbox)).await;
        };
        // An ack names the number this connection delivered the message under; if it has been
        // stored under another since, that is the copy to delete.
        let seq = match state.renumbered.iter().position(|(early, _)| *early == seq) {
            Some(i) => {
                state.inflight.remove(&seq);
                state.renumbered.swap_remove(i).1
            }
            None => {
                state.inflight.remove(&seq);
                seq
            }
        };
        self.acks_unsynced = true;
        self.relay.committer.ack(mailbox, seq).await;
    }

    /// Subscribes in the hub first, then marks the mailbox dirty so the queued backlog is read
    /// from the database: anything committed in between arrives through both paths and is
    /// sent once.
    pub(super) fn add_subscription(&mut self, mailbox: MailboxId) {
        let sub = self.relay.hub.subscribe(mailbox, self.connection, self.events_tx.clone(), self.any_dirty.clone());
        sub.mark_dirty();
        self.mailboxes.insert(mailbox, MailboxState { sub, inflight: BTreeSet::new(), max_sent: 0, renumbered: Vec::new() });
    }

    pub(super) async fn on_event(&mut self, event: SessionEvent) -> Flow {
        match event {
            SessionEvent::Deliver(message) => {
                self.offer(*message).await;
            }
            SessionEvent::Early(message) => {
                // Not in the database yet: one this connection cannot send now must be written
                // before the next read, or a later message would overtake it.
                let mailbox = message.mailbox;
                if !self.offer(*message).await
                    && let Some(state) = self.mailboxes.get(&mailbox)
                {
                    state.sub.mark_missed_early();
                }
            }
            SessionEvent::Renumbered(renumbered) => {
                let Renumbered { message, delivered_as } = *renumbered;
                let Some(state) = self.mailboxes.get_mut(&message.mailbox) else { return Flow::Continue };
                if state.inflight.contains(&delivered_as) {
                    // Sent here under its first number and not acked yet: the ack will name
                    // that number, and a database read must not send it again.
                    state.renumbered.push((delivered_as, message.seq));
                    state.max_sent = state.max_sent.max(message.seq);
                } else {
                    self.offer(message).await;
                }
            }
            SessionEvent::Wake => {}
            SessionEvent::KeyPackagesLow { mailbox, available } => {
                self.send_frame(&ServerFrame::KeyPackagesLow { mailbox: *mailbox, available }).await;
            }
            SessionEvent::IncidentChanged(incident) => {
                self.send_frame(&ServerFrame::IncidentChanged { incident: *incident }).await;
            }
        }
        Flow::Continue
    }

    /// A message from the hub: sent now if this connection's window has room and no database
    /// read is due. Otherwise it waits for that read: a stored message is in the database, and
    /// one delivered before its commit is written (and offered again) once it is due.
    /// Returns whether it was sent, or needs no sending (a mailbox no longer read here).
    async fn offer(&mut self, message: QueuedMessage) -> bool {
        let Some(state) = self.mailboxes.get_mut(&message.mailbox) else { return true };
        if state.sub.dirty.load(Relaxed) {
            return false;
        }
        if message.seq <= state.max_sent || state.inflight.contains(&message.seq) {
            return false;
        }
        if state.inflight.len() >= DELIVERY_WINDOW {
            state.sub.mark_dirty();
            return false;
        }
        state.inflight.insert(message.seq);
        state.max_sent = message.seq;
        self.deliver(message).await;
        true
    }

    pub(super) async fn deliver(&self, message: QueuedMessage) {
        self.relay.metrics.deliveries.fetch_add(1, Relaxed);
        let frame = ServerFrame::Deliver {
            mailbox: message.mailbox,
            seq: message.seq,
            id: message.id,
            payload: Payload(message.payload),
        };
        self.send_frame(&frame).await;
    }

    /// Whether some mailbox must be re-read (checked without allocating, after every event).
    pub(super) fn catch_up_due(&self) -> bool {
        self.any_dirty.load(Acquire)
            && self.mailboxes.values().any(|s| s.inflight.len() <= DELIVERY_WINDOW / 2 && s.sub.dirty.load(Relaxed))
    }

    /// Reads dirty mailboxes from the database while their delivery window has room.
    pub(super) async fn catch_up(&mut self) -> Result<(), ErrorCode> {
        // Cleared before the flags are read: a mailbox marked from now on sets it again. Set
        // again below while any mailbox stays marked (its window full, or more to read).
        self.any_dirty.store(false, Release);
        if self.acks_unsynced {
            // Until its deletes commit, a copy this connection acked is what the read below
            // would return (and send) again: a storm of duplicates and re-acks otherwise.
            self.acks_unsynced = false;
            self.relay.committer.sync().await;
        }
        let mut dirty: Vec<MailboxId> = Vec::new();
        for (mailbox, state) in &self.mailboxes {
            if !state.sub.dirty.load(Acquire) {
                continue;
            }
            // Re-read only once half the window is free, not on every ack.
            if state.inflight.len() <= DELIVERY_WINDOW / 2 {
                dirty.push(*mailbox);
            } else {
                self.any_dirty.store(true, Release);
            }
        }
        // A message held in memory that this connection could not send is not in the database:
        // have it written first (with whatever else is held for the mailbox, in order), so the
        // read returns it ahead of anything sent after it.
        let missed: Vec<MailboxId> =
            dirty.iter().filter(|mailbox| self.mailboxes[*mailbox].sub.missed_early.swap(false, AcqRel)).copied().collect();
        if !missed.is_empty() {
            self.relay.committer.flush(missed).await;
        }
        for mailbox in dirty {
            let state = self.mailboxes.get_mut(&mailbox).expect("listed above");
            state.sub.dirty.swap(false, AcqRel);
            let pending = self
                .relay
                .store
                .pending(&mailbox, DELIVERY_WINDOW as u32, self.relay.clock.now())
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "reading a queue failed");
                    ErrorCode::Internal
                })?;
            let mut out = Vec::new();
            let state = self.mailboxes.get_mut(&mailbox).expect("listed above");
            if pending.len() >= DELIVERY_WINDOW {
                // There may be more behind this page: read again once acks make room.
                state.sub.mark_dirty();
            }
            for message in pending {
                if state.inflight.len() >= DELIVERY_WINDOW {
                    state.sub.mark_dirty();
                    break;
                }
                if !state.renumbered.iter().any(|(_, stored)| *stored == message.seq) && state.inflight.insert(message.seq) {
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
