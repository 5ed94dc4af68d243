//! The dispatcher: takes wake-ups off the queue, skips a device already woken about the same
//! conversation moments ago, looks up the mailboxes' subscriptions, and sends each push in its own
//! task (a bounded number at once) with retries. Logs carry counts and status classes only.

use super::vapid::Vapid;
use super::{WakeUp, payload, topic};
use crate::metrics::Metrics;
use crate::domain::mls;
use crate::store::{PushSubscription, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::MailboxId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use web_push::{ContentEncoding, SubscriptionInfo, Urgency, WebPushMessageBuilder};

/// How long a push service keeps an undelivered wake-up (the `TTL` header): a day; after that the
/// device finds the messages when it next connects anyway.
const TTL_SECONDS: u32 = 86_400;
/// Pushes in flight at once (each may be waiting out a backoff).
const MAX_IN_FLIGHT: usize = 64;
/// Attempts per push, the first included.
const MAX_ATTEMPTS: u32 = 5;
/// First retry delay; doubles each attempt.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// A `Retry-After` beyond this gives the push up instead of holding it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Wake-ups taken off the queue per subscription lookup.
const BATCH: usize = 256;
/// Remembered (device, conversation) pairs before old ones are forgotten.
const MAX_RECENT: usize = 100_000;

pub(super) struct Dispatcher {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    vapid: Arc<Vapid>,
    topic_key: Vec<u8>,
    min_interval: Duration,
    client: reqwest::Client,
    in_flight: Arc<Semaphore>,
    /// When each (mailbox, topic) was last pushed.
    recent: HashMap<(MailboxId, String), Instant>,
}

/// One push to send: to which subscription, under which topic, with which plaintext.
struct Job {
    subscription: PushSubscription,
    topic: String,
    plaintext: Vec<u8>,
    high_urgency: bool,
}

enum Outcome {
    Sent,
    Gone,
    Failed,
}

impl Dispatcher {
    pub(super) fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        vapid: Vapid,
        topic_key: Vec<u8>,
        min_interval: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            // A push service answers; it does not redirect. Following one would let an endpoint
            // point the server anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Dispatcher {
            store,
            metrics,
            vapid: Arc::new(vapid),
            topic_key,
            min_interval,
            client,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            recent: HashMap::new(),
        })
    }

    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<WakeUp>, mut shutdown: crate::shutdown::Shutdown) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, BATCH) => if n == 0 { return },
                _ = crate::shutdown::shutting_down(&mut shutdown) => return,
            }
            self.dispatch(&mut batch).await;
        }
    }

    async fn dispatch(&mut self, batch: &mut Vec<WakeUp>) {
        let now = Instant::now();
        if self.recent.len() >= MAX_RECENT {
            let interval = self.min_interval;
            self.recent.retain(|_, at| now.duration_since(*at) < interval);
            if self.recent.len() >= MAX_RECENT {
                self.recent.clear();
            }
        }
        // (mailbox, topic, plaintext, high urgency) of each wake-up not sent moments ago.
        let mut wanted: Vec<(MailboxId, String, Vec<u8>, bool)> = Vec::new();
        for wake in batch.drain(..) {
            if let Some(custom) = wake.custom {
                let mut tag = b"custom:".to_vec();
                tag.extend_from_slice(&custom.topic_tag);
                let topic = topic(&self.topic_key, &wake.mailbox, Some(&tag));
                wanted.push((wake.mailbox, topic, custom.plaintext, custom.high_urgency));
                continue;
            }
            let group_id = wake.group_payload.as_deref().and_then(mls::group_id);
            let topic = topic(&self.topic_key, &wake.mailbox, group_id.as_deref());
            let key = (wake.mailbox, topic);
            if self.recent.get(&key).is_some_and(|at| now.duration_since(*at) < self.min_interval) {
                continue;
            }
            self.recent.insert(key.clone(), now);
            wanted.push((key.0, key.1, payload(group_id.as_deref()), false));
        }
        if wanted.is_empty() {
            return;
        }
        let mut mailboxes: Vec<MailboxId> = wanted.iter().map(|w| w.0).collect();
        mailboxes.sort_unstable();
        mailboxes.dedup();
        // Devices' subscriptions, then unlinked mailboxes' (support requesters').
        let subscriptions = match self.store.push_subscriptions_for(&mailboxes).await {
            Ok(mut s) => match self.store.mailbox_push_subscriptions_for(&mailboxes).await {
                Ok(unlinked) => {
                    s.extend(unlinked);
                    s
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not read unlinked mailboxes' push subscriptions");
                    s
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, wake_ups = wanted.len(), "could not read push subscriptions; these wake-ups are skipped");
                self.metrics.push_failed.fetch_add(wanted.len() as u64, Relaxed);
                return;
            }
        };
        let mut by_mailbox: HashMap<MailboxId, Vec<PushSubscription>> = HashMap::new();
        for (mailbox, subscription) in subscriptions {
            by_mailbox.entry(mailbox).or_default().push(subscription);
        }
        for (mailbox, topic, plaintext, high_urgency) in wanted {
            for subscription in by_mailbox.get(&mailbox).into_iter().flatten() {
                // Waits when MAX_IN_FLIGHT pushes are under way; the queue in front absorbs
                // bursts and drops beyond its capacity.
                let Ok(permit) = self.in_flight.clone().acquire_owned().await else { return };
                let job =
                    Job { subscription: subscription.clone(), topic: topic.clone(), plaintext: plaintext.clone(), high_urgency };
                let (client, vapid, store, metrics) =
                    (self.client.clone(), self.vapid.clone(), self.store.clone(), self.metrics.clone());
                tokio::spawn(async move {
                    let outcome = send(&client, &vapid, job, &*store).await;
                    let counter = match outcome {
                        Outcome::Sent => &metrics.push_sent,
                        Outcome::Gone => &metrics.push_gone,
                        Outcome::Failed => &metrics.push_failed,
                    };
                    counter.fetch_add(1, Relaxed);
                    drop(permit);
                });
            }
        }
    }
}

/// Sends one push, retrying 429, 5xx and network errors with exponential backoff (honouring
/// `Retry-After`); deletes the subscription on 404 or 410.
async fn send(client: &reqwest::Client, vapid: &Vapid, job: Job, store: &dyn Store) -> Outcome {
    let Some(request) = build(vapid, &job) else {
        tracing::warn!("could not encrypt or sign a push (unusable subscription keys)");
        return Outcome::Failed;
    };
    let (url, headers, body) = request;
    for attempt in 0..MAX_ATTEMPTS {
        let wait = match client.post(url.clone()).headers(headers.clone()).body(body.clone()).send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return Outcome::Sent;
                }
                if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                    if let Err(err) = store.delete_push_subscription(&job.subscription.endpoint).await {
                        tracing::warn!(error = %err, "could not delete a gone push subscription");
                    }
                    if let Err(err) = store.delete_mailbox_push_subscription(&job.subscription.endpoint).await {
                        tracing::warn!(error = %err, "could not delete a gone push subscription");
                    }
                    tracing::debug!(status = status.as_u16(), "push subscription gone; deleted");
                    return Outcome::Gone;
                }
                if status != reqwest::StatusCode::TOO_MANY_REQUESTS && !status.is_server_error() {
                    tracing::warn!(status = status.as_u16(), "push refused");
                    return Outcome::Failed;
                }
                tracing::debug!(status = status.as_u16(), attempt, "push service busy; will retry");
                retry_after(response.headers())
            }
            Err(err) => {
                // Only the kind of error: its text would name the endpoint.
                tracing::debug!(timeout = err.is_timeout(), connect = err.is_connect(), attempt, "push request failed; will retry");
                None
            }
        };
        let wait = wait.unwrap_or(BACKOFF_BASE * 2u32.pow(attempt));
        if wait > MAX_RETRY_AFTER || attempt + 1 == MAX_ATTEMPTS {
            break;
        }
        tokio::time::sleep(wait).await;
    }
    tracing::warn!(attempts = MAX_ATTEMPTS, "push given up after retries");
    Outcome::Failed
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
