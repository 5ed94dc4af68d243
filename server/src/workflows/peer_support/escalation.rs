//! Who is offered a support request, and the escalation scheduler. A new request is pushed to the
//! supporters on call now; an unclaimed one escalates (stored timers, `SupportStore::
//! claim_due_escalations`) to every peer supporter with current training (level 1), then to the
//! coordinators (level 2). The push says only `{"v":1,"kind":"support_request","urgency":…}`.

use super::PeerSupport;
use crate::domain::schedule;
use crate::push::{Push, PushKind};
use crate::shutdown::{Shutdown, shutting_down};
use crate::store::support::Escalation;
use crate::store::{Store, StoreResult};
use sallyport_protocol::rest::Role;
use sallyport_protocol::support::Urgency;
use sallyport_protocol::{AccountId, MailboxId, RequestId};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// Escalation timers claimed per transaction.
const CLAIM_BATCH: u32 = 100;
/// Transactions per scheduler pass (bounds one pass; the rest wait for the next).
const MAX_BATCHES: usize = 100;

/// The push payload: no id, no requester, only that there is a request and how urgent it is.
pub fn payload(urgency: Urgency) -> Vec<u8> {
    format!(r#"{{"v":1,"kind":"support_request","urgency":"{}"}}"#, urgency.as_str()).into_bytes()
}

/// The linked mailboxes of the unrevoked devices of `accounts`.
async fn mailboxes_of(store: &dyn Store, accounts: &HashSet<AccountId>) -> StoreResult<Vec<MailboxId>> {
    Ok(store
        .list_devices()
        .await?
        .into_iter()
        .filter(|d| d.revoked_at.is_none() && accounts.contains(&d.account))
        .map(|d| d.mailbox)
        .collect())
}

fn push_to(push: &Push, mailboxes: &[MailboxId], request: RequestId, urgency: Urgency) {
    for mailbox in mailboxes {
        push.offer_payload(PushKind::Support, *mailbox, request.as_bytes(), payload(urgency), urgency == Urgency::Now);
    }
}

/// Pushes a new request to every supporter on call now. Failures are logged, not returned: the
/// request is stored and escalates anyway.
pub async fn offer_to_on_call(support: &PeerSupport, request: RequestId, urgency: Urgency, now: i64) {
    let store = &*support.store;
    let result = async {
        let accounts: HashSet<AccountId> = schedule::on_call_at(&store.roster().await?, now).into_iter().collect();
        mailboxes_of(store, &accounts).await
    }
    .await;
    match result {
        Ok(mailboxes) => push_to(&support.push, &mailboxes, request, urgency),
        Err(err) => tracing::warn!(error = %err, "could not work out who is on call; the request will escalate"),
    }
}

/// The accounts a request reaches at an escalation level.
async fn audience(store: &dyn Store, level: u8, now: i64) -> StoreResult<HashSet<AccountId>> {
    if level >= 2 {
        return Ok(store
            .list_devices()
            .await?
            .into_iter()
            .filter(|d| d.revoked_at.is_none() && d.roles.contains(&Role::Coordinator))
            .map(|d| d.account)
            .collect());
    }
    let roster = store.roster().await?;
    Ok(roster.supporters.iter().filter(|s| s.training_current(now)).map(|s| s.account).collect())
}

async fn escalate(store: &dyn Store, push: &Push, escalation: Escalation, now: i64) -> StoreResult<()> {
    let accounts = audience(store, escalation.level, now).await?;
    let mailboxes = mailboxes_of(store, &accounts).await?;
    push_to(push, &mailboxes, escalation.request, escalation.urgency);
    tracing::info!(level = escalation.level, urgency = escalation.urgency.as_str(), "a support request escalated");
    Ok(())
}

/// One scheduler pass at the clock's now: claims every due timer (in batches) and pushes each
/// escalation. Returns how many fired.
pub async fn run_due(support: &PeerSupport) -> StoreResult<usize> {
    let (store, now) = (&*support.store, support.clock.now());
    let mut fired = 0;
    for _ in 0..MAX_BATCHES {
        let due = store.claim_due_escalations(now, CLAIM_BATCH).await?;
        let n = due.len();
        for escalation in due {
            // The timer has moved on already: a failed push is not retried (at most once).
            if let Err(err) = escalate(store, &support.push, escalation, now).await {
                tracing::warn!(error = %err, "could not push an escalation");
            }
        }
        fired += n;
        if n < CLAIM_BATCH as usize {
            break;
        }
    }
    Ok(fired)
}

/// The escalation scheduler of this node: a pass at start (timers missed while down fire once)
/// and then every `settings.scheduler_interval`, until shutdown.
pub async fn run_scheduler(support: Arc<PeerSupport>, mut shutdown: Shutdown) {
    let interval = support.settings.scheduler_interval.max(std::time::Duration::from_millis(10));
    loop {
        if let Err(err) = run_due(&support).await {
            tracing::warn!(error = %err, "escalation pass failed; retrying");
        }
        support.metrics.support_scheduler_runs.fetch_add(1, Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutting_down(&mut shutdown) => return,
        }
    }
}
