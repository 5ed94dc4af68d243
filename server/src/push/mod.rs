//! Web Push (RFC 8030, VAPID RFC 8292, payload encryption RFC 8291): wakes a device whose linked
//! mailbox got a message while no connection on this node reads it, and carries support requests
//! (and later pages) to the people who must see them. No push carries content (protocol/README.md
//! §12). `vapid` owns the server's key, `allow_list` the push services it sends to, `sender` the
//! intake, sending, retries and gone subscriptions, `scheduler` which push goes next (by kind and
//! push service), `subscriptions` what a subscription must look like before it is stored.

mod allow_list;
mod scheduler;
mod sender;
pub mod subscriptions;
pub mod vapid;

pub use allow_list::{AllowList, HostKey, NotAllowed};

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;
use anyhow::Context as _;
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use sallyport_protocol::MailboxId;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Settings key of the secret that keys the `Topic` tokens (32 random bytes, shared by all nodes
/// so a conversation's topic is the same whichever node sends).
pub const TOPIC_KEY_SETTING: &str = "push_topic_key";

/// Most subscriptions one device may register.
pub const MAX_SUBSCRIPTIONS_PER_DEVICE: u32 = 10;

pub use crate::domain::push::{DropReason, PushKind, PushOutcome};

/// Pushes of a kind waiting for the sender. When one is full, new pushes of that kind are dropped
/// and counted: whoever offers a push (the committer, a workflow) never waits for push.
fn intake_capacity(kind: PushKind) -> usize {
    match kind {
        PushKind::Crisis | PushKind::Support => 1_024,
        PushKind::WakeUp => 4_096,
    }
}

/// How this node sends Web Push (from `sallyport serve`'s options).
#[derive(Debug, Clone, Default)]
pub struct PushSettings {
    /// The VAPID private key file; without one, a key is generated on first start and kept in
    /// the database (shared by every node).
    pub vapid_private_key_file: Option<PathBuf>,
    /// The VAPID `sub` claim; default: the public URL if https, else mailto:push@HOST.
    pub vapid_subject: Option<String>,
    /// Accept endpoints on the loopback host, http:// too (tests with a local push service emulator).
    pub allow_insecure_endpoints: bool,
    /// Push services allowed on top of the browsers' own (`--push-allow-host`).
    pub allow_hosts: Vec<String>,
    /// A device is pushed at most once per conversation within this long.
    pub min_interval: Duration,
}

/// A push offered to the sender.
struct Offer {
    mailbox: MailboxId,
    what: What,
    /// Told how the push ended, once, for all of the mailbox's subscriptions together.
    report: Option<Arc<Report>>,
}

/// Hears how one offered push ended: called once, with the best outcome among the mailbox's
/// subscriptions, after the last of them has ended (or at once, when there is none).
pub struct Report {
    state: std::sync::Mutex<ReportState>,
}

type Done = Box<dyn FnOnce(PushOutcome) + Send>;

struct ReportState {
    /// Pushes that have yet to end.
    pending: usize,
    /// The best outcome so far.
    best: Option<PushOutcome>,
    /// Taken when the report is made.
    done: Option<Done>,
}

impl Report {
    pub fn new(done: impl FnOnce(PushOutcome) + Send + 'static) -> Arc<Report> {
        Arc::new(Report { state: std::sync::Mutex::new(ReportState { pending: 0, best: None, done: Some(Box::new(done)) }) })
    }

    /// One more push will end (one not offered through the sender: see [`Report::ended_now`]).
    pub fn expect_one_more(&self) {
        self.expect(1);
    }

    /// Reports an outcome known without pushing (no subscription at all).
    pub fn ended_now(&self, outcome: PushOutcome) {
        self.ended(outcome);
    }

    /// `n` more pushes will end.
    fn expect(&self, n: usize) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).pending += n;
    }

    /// One push ended so; the report is made when none is left.
    fn ended(&self, outcome: PushOutcome) {
        let done = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.pending = state.pending.saturating_sub(1);
            let best = state.best.map_or(outcome, |b| b.max(outcome));
            state.best = Some(best);
            if state.pending > 0 { None } else { state.done.take().map(|done| (done, best)) }
        };
        if let Some((done, best)) = done {
            done(best);
        }
    }
}

enum What {
    /// A message was stored: the group envelope, for a group message (its MLS group id names the
    /// conversation).
    Message(Option<Bytes>),
    /// A payload of the server's own.
    Payload {
        /// Names the subject for the `Topic` header (keyed and per mailbox like a conversation's).
        topic_tag: Vec<u8>,
        plaintext: Vec<u8>,
        high_urgency: bool,
    },
}

/// The node's Web Push sender. Cheap to share; offering a push never blocks.
pub struct Push {
    /// The VAPID public key: uncompressed P-256 point, unpadded base64url. `GET /v1/config`
    /// publishes it as `vapid_public_key` (the browser's `applicationServerKey`).
    pub vapid_public_key: String,
    /// The push services this node sends to: subscriptions elsewhere are refused.
    pub allow_list: AllowList,
    /// One intake queue per kind, by `PushKind::index`.
    intake: [mpsc::Sender<Offer>; PushKind::ALL.len()],
    metrics: Arc<Metrics>,
}

impl Push {
    /// Loads or creates the VAPID key and the topic key, and starts the sender, which stops
    /// when the server shuts down.
    pub async fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        settings: &PushSettings,
        public_url: &str,
        shutdown: Shutdown,
    ) -> anyhow::Result<Arc<Push>> {
        let allow_list = AllowList::new(&settings.allow_hosts, settings.allow_insecure_endpoints)
            .map_err(anyhow::Error::msg)
            .context("--push-allow-host")?;
        let vapid = vapid::Vapid::load(&*store, settings, public_url).await?;
        let topic_key = store.init_setting(TOPIC_KEY_SETTING, &rand::random::<[u8; 32]>()).await?;
        let channels = PushKind::ALL.map(|kind| mpsc::channel(intake_capacity(kind)));
        let [(crisis_tx, crisis_rx), (support_tx, support_rx), (wake_tx, wake_rx)] = channels;
        let push = Arc::new(Push {
            vapid_public_key: vapid.public_key.clone(),
            allow_list: allow_list.clone(),
            intake: [crisis_tx, support_tx, wake_tx],
            metrics: metrics.clone(),
        });
        let sender = sender::Sender::new(store, metrics, vapid, allow_list, topic_key, settings.min_interval)?;
        sender.start(sender::Intake { crisis: crisis_rx, support: support_rx, wake_ups: wake_rx }, shutdown);
        Ok(push)
    }

    /// A message was committed for `mailbox` and no connection on this node reads it: wake the
    /// mailbox's device, if it is a device's linked mailbox with push subscriptions. Called by
    /// the committer; drops (and counts) the wake-up rather than wait when the queue is full.
    pub fn offer(&self, mailbox: MailboxId, group_payload: Option<&Bytes>) {
        self.enqueue(PushKind::WakeUp, Offer { mailbox, what: What::Message(group_payload.cloned()), report: None });
    }

    /// Pushes `plaintext` (JSON without content, e.g. `{"v":1,"kind":"support_request",…}`) to
    /// every subscription of `mailbox` (a device's linked mailbox or an unlinked one), whether or
    /// not a connection reads it, as a push of `kind` (`Support` for a support request, `Crisis`
    /// for a page). `topic_tag` names the subject: a second push with the same tag replaces an
    /// undelivered first one at the push service. Never blocks; drops and counts when the kind's
    /// queue is full, which other kinds cannot fill.
    pub fn offer_payload(&self, kind: PushKind, mailbox: MailboxId, topic_tag: &[u8], plaintext: Vec<u8>, high_urgency: bool) {
        let what = What::Payload { topic_tag: topic_tag.to_vec(), plaintext, high_urgency };
        self.enqueue(kind, Offer { mailbox, what, report: None });
    }

    /// A critical-incident page (`PushKind::Crisis`, `Urgency: high`) to every subscription of
    /// a device's `mailbox`, with `report` told how it ended. Never blocks.
    pub fn offer_page(&self, mailbox: MailboxId, topic_tag: &[u8], plaintext: Vec<u8>, report: Arc<Report>) {
        let what = What::Payload { topic_tag: topic_tag.to_vec(), plaintext, high_urgency: true };
        self.enqueue(PushKind::Crisis, Offer { mailbox, what, report: Some(report) });
    }

    /// A readiness check (`PushKind::Support`: before wake-ups, after pages; normal urgency) to
    /// every subscription of a device's `mailbox`, with `report` told how it ended.
    pub fn offer_check(&self, mailbox: MailboxId, plaintext: Vec<u8>, report: Arc<Report>) {
        let what = What::Payload { topic_tag: b"readiness".to_vec(), plaintext, high_urgency: false };
        self.enqueue(PushKind::Support, Offer { mailbox, what, report: Some(report) });
    }

    /// A debrief's reminder or check-in (`PushKind::Support`, normal urgency) to every
    /// subscription of a device's `mailbox`, with `report` told how it ended. `topic_tag` names
    /// the debrief. Never blocks.
    pub fn offer_debrief(&self, mailbox: MailboxId, topic_tag: &[u8], plaintext: Vec<u8>, report: Arc<Report>) {
        let what = What::Payload { topic_tag: topic_tag.to_vec(), plaintext, high_urgency: false };
        self.enqueue(PushKind::Support, Offer { mailbox, what, report: Some(report) });
    }

    fn enqueue(&self, kind: PushKind, offer: Offer) {
        if let Err(err) = self.intake[kind.index()].try_send(offer) {
            self.metrics.push_dropped(kind, DropReason::QueueFull);
            let offer = match err {
                mpsc::error::TrySendError::Full(o) | mpsc::error::TrySendError::Closed(o) => o,
            };
            if let Some(report) = offer.report {
                report.expect(1);
                report.ended(PushOutcome::Dropped);
            }
        }
    }
}

/// The `Topic` header for one device's wake-ups about one conversation: 24 bytes of
/// HMAC-SHA256(topic key, mailbox, conversation) in base64url, 32 characters (RFC 8030 §5.4's
/// limit). Keyed and per mailbox, so the push service can neither read a group id from it nor
/// tell which devices share a conversation.
pub fn topic(key: &[u8], mailbox: &MailboxId, group_id: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"sallyport-push-topic-v1\0");
    mac.update(mailbox.as_bytes());
    match group_id {
        Some(id) => {
            mac.update(&[1]);
            mac.update(id);
        }
        None => mac.update(&[0]),
    }
    let tag = mac.finalize().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..24])
}

/// The push payload (before RFC 8291 encryption): `{"v":1,"kind":"message","group":"<hex>"}`,
/// or without `group` for a plain send. No content, no sender, no mailbox.
pub fn payload(group_id: Option<&[u8]>) -> Vec<u8> {
    match group_id {
        Some(id) => {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            format!(r#"{{"v":1,"kind":"message","group":"{hex}"}}"#).into_bytes()
        }
        None => br#"{"v":1,"kind":"message"}"#.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_32_url_safe_chars_stable_and_distinct() {
        let key = [7u8; 32];
        let (a, b) = (MailboxId::random(), MailboxId::random());
        let t = topic(&key, &a, Some(b"group-1"));
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(t, topic(&key, &a, Some(b"group-1")));
        assert_ne!(t, topic(&key, &a, Some(b"group-2")));
        assert_ne!(t, topic(&key, &b, Some(b"group-1")), "another device's topic differs");
        assert_ne!(t, topic(&[8u8; 32], &a, Some(b"group-1")));
        assert_ne!(topic(&key, &a, None), topic(&key, &a, Some(b"")));
    }

    #[test]
    fn payloads_name_only_the_conversation() {
        assert_eq!(payload(None), br#"{"v":1,"kind":"message"}"#);
        assert_eq!(payload(Some(&[0xab, 0x01])), br#"{"v":1,"kind":"message","group":"ab01"}"#);
    }
}
