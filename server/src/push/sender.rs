//! The sender: two intake tasks turn offered pushes into one job per subscription (wake-ups skip a
//! device woken about the same conversation moments ago; urgent pushes have their own task, so a
//! slow lookup for a flood of wake-ups never delays them), and the dispatcher starts each job the
//! scheduler lets go, one attempt per task. An attempt that must be retried goes back to the
//! scheduler and waits there, holding no slot. Logs carry counts, status classes and hosts only.

use super::allow_list::AllowList;
use super::scheduler::{Limits, Scheduler, Started};
use super::vapid::Vapid;
use super::{DropReason, Offer, PushKind, PushOutcome, What, payload, topic};
use crate::domain::mls;
use crate::metrics::Metrics;
use crate::shutdown::{Shutdown, shutting_down};
use crate::store::{PushSubscription, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::MailboxId;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use web_push::{ContentEncoding, SubscriptionInfo, Urgency, WebPushMessageBuilder};

/// How long a push service keeps an undelivered wake-up (the `TTL` header): a day; after that the
/// device finds the messages when it next connects anyway.
const TTL_SECONDS: u32 = 86_400;
const LIMITS: Limits = Limits {
    max_in_flight: 64,
    // Wake-ups never take the last 16 slots: however many are slow to answer, an urgent push
    // starts at once.
    urgent_reserve: 16,
    // A quarter of all: a host that answers slowly (or not at all, until REQUEST_TIMEOUT) holds at
    // most this many slots.
    host_max_in_flight: 16,
    host_urgent_reserve: 4,
    max_queued_per_host: 1_024,
    max_queued: 16_384,
};
/// First retry delay; doubles each attempt, up to `MAX_BACKOFF`.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The longest a host is backed off after a 429, whatever its `Retry-After` says. Long enough to
/// relieve a push service that is really busy; short enough that a support request or page queued
/// behind it is still worth delivering, and that an endpoint answering `Retry-After: 600` (any
/// host the client chose, before the allow-list) cannot park the host's pushes for ten minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Offers taken off an intake queue per subscription lookup.
const BATCH: usize = 256;
/// Remembered (device, conversation) pairs before old ones are forgotten.
const MAX_RECENT: usize = 100_000;

impl PushKind {
    /// Attempts per push, the first included. A wake-up is worth less than a support request or a
    /// page, which are tried for longer (about 1 and 3 minutes of backoff, more if the host asks).
    fn max_attempts(self) -> u32 {
        match self {
            PushKind::Crisis => 10,
            PushKind::Support => 8,
            PushKind::WakeUp => 5,
        }
    }
}

/// The receiving ends of the intake queues.
pub(super) struct Intake {
    pub crisis: mpsc::Receiver<Offer>,
    pub support: mpsc::Receiver<Offer>,
    pub wake_ups: mpsc::Receiver<Offer>,
}

pub(super) struct Sender {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    vapid: Vapid,
    allow_list: AllowList,
    topic_key: Vec<u8>,
    min_interval: Duration,
    client: reqwest::Client,
    scheduler: Mutex<Scheduler<Job>>,
    /// Woken when a job is queued or an attempt ends.
    changed: Notify,
}

/// One push to one subscription.
struct Job {
    subscription: PushSubscription,
    topic: String,
    plaintext: Vec<u8>,
    high_urgency: bool,
    /// Attempts made so far.
    attempts: u32,
    /// Told how it ended.
    report: Option<Arc<super::Report>>,
}

/// How a push service answered one attempt.
enum Answer {
    Sent,
    /// 404 or 410: the subscription is deleted.
    Gone,
    /// Any other answer that is not worth repeating (4xx, a redirect), or a push that cannot be
    /// made (unusable keys).
    Refused,
    /// 429, with its `Retry-After`.
    Busy(Option<Duration>),
    /// 5xx, or no answer (timeout, connection refused).
    Unavailable,
}

impl Sender {
    pub(super) fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        vapid: Vapid,
        allow_list: AllowList,
        topic_key: Vec<u8>,
        min_interval: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A push service answers; it does not redirect. Following one would let an endpoint
            // point the server anywhere, past the allow-list.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender {
            store,
            metrics,
            vapid,
            allow_list,
            topic_key,
            min_interval,
            client,
            scheduler: Mutex::new(Scheduler::new(LIMITS)),
            changed: Notify::new(),
        })
    }

    /// Starts the intake tasks and the dispatcher; all stop when the server shuts down.
    pub(super) fn start(self, intake: Intake, shutdown: Shutdown) {
        let sender = Arc::new(self);
        tokio::spawn(sender.clone().take_urgent(intake.crisis, intake.support, shutdown.clone()));
        tokio::spawn(sender.clone().take_wake_ups(intake.wake_ups, shutdown.clone()));
        tokio::spawn(sender.dispatch(shutdown));
    }

    /// Crisis pages before support requests, each batch as soon as it comes. Both queues' senders
    /// belong to `Push`, so they close together.
    async fn take_urgent(self: Arc<Self>, mut crisis: mpsc::Receiver<Offer>, mut support: mpsc::Receiver<Offer>, mut shutdown: Shutdown) {
        let (mut pages, mut requests) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        loop {
            let (kind, batch) = tokio::select! {
                biased;
                _ = shutting_down(&mut shutdown) => return,
                n = crisis.recv_many(&mut pages, BATCH) => {
                    if n == 0 { return }
                    (PushKind::Crisis, &mut pages)
                }
                n = support.recv_many(&mut requests, BATCH) => {
                    if n == 0 { return }
                    (PushKind::Support, &mut requests)
                }
            };
            let wanted = batch.drain(..).map(|offer| self.wanted(offer)).collect();
            self.queue_jobs(kind, wanted).await;
        }
    }

    async fn take_wake_ups(self: Arc<Self>, mut rx: mpsc::Receiver<Offer>, mut shutdown: Shutdown) {
        let mut batch = Vec::with_capacity(BATCH);
        // When each (mailbox, topic) was last pushed.
        let mut recent: HashMap<(MailboxId, String), Instant> = HashMap::new();
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                _ = shutting_down(&mut shutdown) => return,
            }
            let now = Instant::now();
            if recent.len() >= MAX_RECENT {
                recent.retain(|_, at| now.duration_since(*at) < self.min_interval);
                if recent.len() >= MAX_RECENT {
                    recent.clear();
                }
            }
            let mut wanted = Vec::with_capacity(batch.len());
            for offer in batch.drain(..) {
                let one = self.wanted(offer);
                if one.deduplicate {
                    let key = (one.mailbox, one.topic.clone());
                    if recent.get(&key).is_some_and(|at| now.duration_since(*at) < self.min_interval) {
                        continue;
                    }
                    recent.insert(key, now);
                }
                wanted.push(one);
            }
            self.queue_jobs(PushKind::WakeUp, wanted).await;
        }
    }

    /// What one offer asks to push to each subscription of its mailbox.
    fn wanted(&self, offer: Offer) -> Wanted {
        match offer.what {
            What::Payload { topic_tag, plaintext, high_urgency } => {
                let mut tag = b"custom:".to_vec();
                tag.extend_from_slice(&topic_tag);
                let topic = topic(&self.topic_key, &offer.mailbox, Some(&tag));
                Wanted { mailbox: offer.mailbox, topic, plaintext, high_urgency, deduplicate: false, report: offer.report }
            }
            What::Message(group_payload) => {
                let group_id = group_payload.as_deref().and_then(mls::group_id);
                let topic = topic(&self.topic_key, &offer.mailbox, group_id.as_deref());
                Wanted {
                    mailbox: offer.mailbox,
                    topic,
                    plaintext: payload(group_id.as_deref()),
                    high_urgency: false,
                    deduplicate: true,
                    report: offer.report,
                }
            }
        }
    }

    /// Looks up the mailboxes' subscriptions and queues one job per subscription whose push
    /// service is allowed; counts the others and those their host's queue has no room for.
    async fn queue_jobs(&self, kind: PushKind, wanted: Vec<Wanted>) {
        if wanted.is_empty() {
            return;
        }
        let mut mailboxes: Vec<MailboxId> = wanted.iter().map(|w| w.mailbox).collect();
        mailboxes.sort_unstable();
        mailboxes.dedup();
        let Some(by_mailbox) = self.subscriptions_for(&mailboxes, wanted.len()).await else {
            for w in wanted {
                if let Some(report) = w.report {
                    report.expect(1);
                    report.ended(PushOutcome::Failed);
                }
            }
            return;
        };
        let mut jobs = Vec::new();
        let mut not_allowed = 0;
        for w in wanted {
            let subscriptions = by_mailbox.get(&w.mailbox).map_or(&[][..], Vec::as_slice);
            if let Some(report) = &w.report {
                report.expect(subscriptions.len().max(1));
                if subscriptions.is_empty() {
                    report.ended(PushOutcome::NoSubscription);
                }
            }
            for subscription in subscriptions {
                let Some(host) = self.allow_list.host_of(&subscription.endpoint) else {
                    not_allowed += 1;
                    if let Some(report) = &w.report {
                        report.ended(PushOutcome::Dropped);
                    }
                    continue;
                };
                let job = Job {
                    subscription: subscription.clone(),
                    topic: w.topic.clone(),
                    plaintext: w.plaintext.clone(),
                    high_urgency: w.high_urgency,
                    attempts: 0,
                    report: w.report.clone(),
                };
                jobs.push((host, job));
            }
        }
        let mut dropped = [0u64; DropReason::ALL.len()];
        dropped[DropReason::HostNotAllowed.index()] = not_allowed;
        {
            let mut scheduler = self.scheduler.lock().expect("the scheduler lock is never poisoned");
            for (host, job) in jobs {
                let report = job.report.clone();
                if let Err(reason) = scheduler.enqueue(host, kind, job) {
                    dropped[reason.index()] += 1;
                    if let Some(report) = report {
                        report.ended(PushOutcome::Dropped);
                    }
                }
            }
        }
        self.changed.notify_one();
        for reason in DropReason::ALL {
            let n = dropped[reason.index()];
            if n > 0 {
                self.metrics.push_dropped_many(kind, reason, n);
                tracing::warn!(kind = kind.as_str(), reason = reason.as_str(), pushes = n, "pushes dropped");
            }
        }
    }

    /// Devices' subscriptions, then unlinked mailboxes' (support requesters'), by mailbox; `None`
    /// (counted as failed) when the store cannot say.
    async fn subscriptions_for(&self, mailboxes: &[MailboxId], wanted: usize) -> Option<HashMap<MailboxId, Vec<PushSubscription>>> {
        let mut subscriptions = match self.store.push_subscriptions_for(mailboxes).await {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(error = %err, pushes = wanted, "could not read push subscriptions; these pushes are skipped");
                self.metrics.push_failed.fetch_add(wanted as u64, Relaxed);
                return None;
            }
        };
        match self.store.mailbox_push_subscriptions_for(mailboxes).await {
            Ok(unlinked) => subscriptions.extend(unlinked),
            Err(err) => tracing::warn!(error = %err, "could not read unlinked mailboxes' push subscriptions"),
        }
        let mut by_mailbox: HashMap<MailboxId, Vec<PushSubscription>> = HashMap::new();
        for (mailbox, subscription) in subscriptions {
            by_mailbox.entry(mailbox).or_default().push(subscription);
        }
        Some(by_mailbox)
    }

    /// Starts every job the scheduler lets go, then sleeps until one could: a job queued, an
    /// attempt ended, a retry due or a back-off over. Never waits on any one host.
    async fn dispatch(self: Arc<Self>, mut shutdown: Shutdown) {
        loop {
            let due = {
                let mut scheduler = self.scheduler.lock().expect("the scheduler lock is never poisoned");
                let now = Instant::now();
                while let Some(started) = scheduler.next(now) {
                    tokio::spawn(self.clone().attempt(started));
                }
                scheduler.next_due(now)
            };
            let timer = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.changed.notified() => {}
                _ = timer => {}
                _ = shutting_down(&mut shutdown) => return,
            }
        }
    }

    /// One attempt at one job; then it is done, or waits in the scheduler for its retry.
    async fn attempt(self: Arc<Self>, started: Started<Job>) {
        let Started { host, kind, item: mut job } = started;
        let answer = self.send_once(&job).await;
        job.attempts += 1;
        let report = job.report.clone();
        let final_outcome = {
            let mut scheduler = self.scheduler.lock().expect("the scheduler lock is never poisoned");
            let now = Instant::now();
            scheduler.done(&host, kind, now);
            let retry = matches!(answer, Answer::Busy(_) | Answer::Unavailable) && job.attempts < kind.max_attempts();
            let backoff = MAX_BACKOFF.min(BACKOFF_BASE * 2u32.saturating_pow(job.attempts - 1));
            match answer {
                Answer::Sent => Some(PushOutcome::Sent),
                Answer::Gone => Some(PushOutcome::Gone),
                Answer::Refused => Some(PushOutcome::Refused),
                Answer::Busy(retry_after) if retry => {
                    // The host said it is busy: all its pushes wait, not just this one.
                    let wait = retry_after.map_or(backoff, |d| d.min(MAX_RETRY_AFTER));
                    scheduler.back_off(&host, now + wait);
                    tracing::debug!(%host, wait_ms = wait.as_millis() as u64, kind = kind.as_str(), "push service busy; backing off");
                    scheduler.retry(host.clone(), kind, job, now);
                    None
                }
                Answer::Unavailable if retry => {
                    scheduler.retry(host.clone(), kind, job, now + backoff);
                    None
                }
                Answer::Busy(_) | Answer::Unavailable => {
                    tracing::warn!(%host, kind = kind.as_str(), attempts = kind.max_attempts(), "push given up after retries");
                    Some(PushOutcome::Failed)
                }
            }
        };
        if let Some(outcome) = final_outcome {
            let counter = match outcome {
                PushOutcome::Sent => &self.metrics.push_sent,
                PushOutcome::Gone => &self.metrics.push_gone,
                _ => &self.metrics.push_failed,
            };
            counter.fetch_add(1, Relaxed);
            if let Some(report) = report {
                report.ended(outcome);
            }
        }
        self.changed.notify_one();
    }

    /// One request to the push service; deletes the subscription on 404 or 410.
    async fn send_once(&self, job: &Job) -> Answer {
        let Some((url, headers, body)) = build(&self.vapid, job) else {
            tracing::warn!("could not encrypt or sign a push (unusable subscription keys)");
            return Answer::Refused;
        };
        let response = match self.client.post(url).headers(headers).body(body).send().await {
            Ok(response) => response,
            Err(err) => {
                // Only the kind of error: its text would name the endpoint.
                tracing::debug!(timeout = err.is_timeout(), connect = err.is_connect(), attempt = job.attempts, "push request failed");
                return Answer::Unavailable;
            }
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Sent;
        }
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            if let Err(err) = self.store.delete_push_subscription(&job.subscription.endpoint).await {
                tracing::warn!(error = %err, "could not delete a gone push subscription");
            }
            if let Err(err) = self.store.delete_mailbox_push_subscription(&job.subscription.endpoint).await {
                tracing::warn!(error = %err, "could not delete a gone push subscription");
            }
            tracing::debug!(status = status.as_u16(), "push subscription gone; deleted");
            return Answer::Gone;
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Answer::Busy(retry_after(response.headers()));
        }
        if status.is_server_error() {
            tracing::debug!(status = status.as_u16(), attempt = job.attempts, "push service error");
            return Answer::Unavailable;
        }
        tracing::warn!(status = status.as_u16(), "push refused");
        Answer::Refused
    }
}

/// What one offer asks to push to each subscription of its mailbox.
struct Wanted {
    mailbox: MailboxId,
    topic: String,
    plaintext: Vec<u8>,
    high_urgency: bool,
    /// A message wake-up: skipped if the device was woken about the conversation moments ago.
    deduplicate: bool,
    report: Option<Arc<super::Report>>,
}

/// The encrypted, VAPID-signed request: URL, headers, body.
fn build(vapid: &Vapid, job: &Job) -> Option<(reqwest::Url, reqwest::header::HeaderMap, Vec<u8>)> {
    let sub = &job.subscription;
    let url = reqwest::Url::parse(&sub.endpoint).ok()?;
    let info = SubscriptionInfo::new(sub.endpoint.clone(), URL_SAFE_NO_PAD.encode(&sub.p256dh), URL_SAFE_NO_PAD.encode(&sub.auth));
    let mut signature = vapid.signer.clone().add_sub_info(&info);
    // RFC 8292 §2: `aud` is the origin of the push resource, port included when it is not the
    // scheme's default (web-push's own default drops the port).
    signature.add_claim("aud", url.origin().ascii_serialization());
    signature.add_claim("sub", vapid.subject.clone());
    let signature = signature.build().ok()?;
    let mut message = WebPushMessageBuilder::new(&info);
    message.set_ttl(TTL_SECONDS);
    message.set_urgency(if job.high_urgency { Urgency::High } else { Urgency::Normal });
    message.set_topic(job.topic.clone());
    message.set_vapid_signature(signature);
    message.set_payload(ContentEncoding::Aes128Gcm, &job.plaintext);
    let request = web_push::request_builder::build_request::<Vec<u8>>(message.build().ok()?);
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in request.headers() {
        let name = reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
        let value = reqwest::header::HeaderValue::from_bytes(value.as_bytes()).ok()?;
        headers.insert(name, value);
    }
    Some((url, headers, request.into_body()))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by push services).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}
