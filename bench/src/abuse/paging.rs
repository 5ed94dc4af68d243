//! The page that must get through: a peer supporter on call (roster, current training, a daily
//! rotation of one) with a push subscription at a healthy push-service emulator, and requesters
//! who make "now" support requests. A probe times one request from `POST /v1/support/requests` to
//! the emulator's receipt of the supporter's push, verified (VAPID) and decrypted (RFC 8291).

use crate::server::{Server, http};
use base64::Engine as _;
use sallyport_core::protocol::rest::Role;
use sallyport_core::protocol::{MailboxId, MailboxSecret};
use sallyport_core::{Credentials, MemberInfo, MlsClient, MlsIdentity, api_request_with};
use sallyport_e2e::push_emulator::PushEmulator;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The push an on-call supporter gets for a new "now" request (no id, no requester).
const EXPECTED: &str = r#"{"v":1,"kind":"support_request","urgency":"now"}"#;
/// How often a probe looks at what the emulator has received (the receipt time is the
/// emulator's own timestamp, so this only bounds how soon the probe notices).
const POLL: Duration = Duration::from_millis(5);

pub struct Paging {
    emulator: PushEmulator,
    supporter_token: String,
    /// One device per probe: a device may make a few support requests per hour.
    requesters: Vec<Credentials>,
    used: usize,
    /// Topics of the "now" pushes already matched (each request has its own topic).
    seen_topics: HashSet<String>,
    /// A probe that timed out: when it started, to report its push if it comes later.
    overdue: Option<Instant>,
}

/// One probe's outcome.
pub struct Probe {
    /// When the request was made, seconds after the given origin.
    pub at_s: f64,
    /// The request's own HTTP round trip.
    pub request_ms: Option<f64>,
    /// From the request to the emulator's receipt of the decrypted, checked push.
    pub push_ms: Option<f64>,
    pub error: Option<String>,
}

impl Probe {
    pub fn json(&self) -> Value {
        json!({"at_s": self.at_s, "request_ms": self.request_ms, "push_ms": self.push_ms, "error": self.error})
    }
}

async fn call(creds: &Credentials, method: &str, path: &str, body: Option<Value>, ok: &[u16]) -> anyhow::Result<Value> {
    let (status, answer) = api_request_with(http(), creds, method, path, body.as_ref()).await.map_err(|e| anyhow::anyhow!("{method} {path}: {e}"))?;
    anyhow::ensure!(ok.contains(&status), "{method} {path} answered {status}: {answer}");
    Ok(answer)
}

/// `YYYY-MM-DD` of the UTC day `days` from today.
fn date(days: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64;
    sallyport_e2e::date(now + days * 86_400_000)
}

impl Paging {
    /// Enrols a coordinator, a supporter and `probes` requesters, puts the supporter on the roster
    /// with current training and on call around the clock, and subscribes the supporter's device
    /// at a fresh emulator that expects the server's VAPID key.
    pub async fn setup(server: &Server, probes: usize) -> anyhow::Result<Paging> {
        let emulator = PushEmulator::start().await;
        let config: Value = serde_json::from_str(&crate::server::http_get(&server.url, "/v1/config").await?)?;
        let key = config["vapid_public_key"].as_str().ok_or_else(|| anyhow::anyhow!("no vapid_public_key in /v1/config"))?;
        emulator.expect_vapid_key(key);

        let (coordinator, _) = server.enrol_many_with_roles(1, "bench-coordinator", &[Role::Coordinator]).await?;
        let (supporter, _) = server.enrol_many_with_roles(1, "bench-supporter", &[Role::Staff, Role::PeerSupporter]).await?;
        let (requesters, _) = server.enrol_many(probes, "bench-requester").await?;
        let (coordinator, supporter) = (&coordinator[0], &supporter[0]);

        let account = supporter.account.to_text();
        call(coordinator, "PUT", &format!("/v1/support/roster/{account}"), None, &[200, 201]).await?;
        for kind in ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"] {
            let body = json!({"completed_at": date(-30), "expires_at": date(365)});
            call(coordinator, "PUT", &format!("/v1/support/roster/{account}/training/{kind}"), Some(body), &[200]).await?;
        }
        let rota = json!({
            "name": "bench rota",
            "members": [supporter.account],
            "handoff": "00:00",
            "time_zone": "UTC",
            "period_days": 1,
            "start_date": date(-2),
        });
        call(coordinator, "POST", "/v1/support/rotations", Some(rota), &[201]).await?;
        let subscription = emulator.subscribe();
        call(supporter, "POST", "/v1/push/subscriptions", Some(subscription.json()), &[204]).await?;
        Ok(Paging {
            emulator,
            supporter_token: subscription.token,
            requesters,
            used: 0,
            seen_topics: HashSet::new(),
            overdue: None,
        })
    }

    /// Probes left (one requester device each).
    pub fn left(&self) -> usize {
        self.requesters.len() - self.used
    }

    /// A "now" push to the supporter not matched before: its receipt time, or what was wrong with it.
    fn new_push(&mut self) -> Option<Result<Instant, String>> {
        for push in self.emulator.received_for(&self.supporter_token) {
            let topic = push.topic.clone().unwrap_or_default();
            let Ok(body) = serde_json::from_slice::<Value>(&push.plaintext) else { continue };
            if body["urgency"] != "now" || self.seen_topics.contains(&topic) {
                continue;
            }
            self.seen_topics.insert(topic);
            let expected: Value = serde_json::from_str(EXPECTED).expect("constant JSON");
            if body != expected {
                return Some(Err(format!("unexpected push payload {body}")));
            }
            return Some(Ok(push.at));
        }
        None
    }

    /// Makes one "now" support request and waits up to `timeout` for the supporter's push.
    /// Probes are sequential: after one times out, none is made (a late push could not be told
    /// apart from the next one's), and [`Paging::late_arrival`] reports when it came.
    pub async fn probe(&mut self, origin: Instant, timeout: Duration) -> Probe {
        let started = Instant::now();
        let at_s = started.duration_since(origin).as_secs_f64();
        let fail = |error: String| Probe { at_s, request_ms: None, push_ms: None, error: Some(error) };
        if self.overdue.is_some() {
            return fail("not made: an earlier probe's push has not arrived".into());
        }
        let Some(requester) = self.requesters.get(self.used).cloned() else { return fail("no requester device left".into()) };
        self.used += 1;
        let body = match request_body() {
            Ok(body) => body,
            Err(e) => return fail(e),
        };
        let request = tokio::time::timeout(timeout, api_request_with(http(), &requester, "POST", "/v1/support/requests", Some(&body))).await;
        let request_ms = started.elapsed().as_secs_f64() * 1000.0;
        match request {
            Err(_) => {
                self.overdue = Some(started);
                return Probe { at_s, request_ms: None, push_ms: None, error: Some(format!("the request took over {timeout:?}")) };
            }
            Ok(Err(e)) => return fail(format!("the request failed: {e}")),
            Ok(Ok((200, _))) => {}
            Ok(Ok((status, answer))) => return fail(format!("the request was answered {status}: {answer}")),
        }
        let deadline = started + timeout;
        loop {
            match self.new_push() {
                Some(Ok(at)) => {
                    let push_ms = at.saturating_duration_since(started).as_secs_f64() * 1000.0;
                    return Probe { at_s, request_ms: Some(request_ms), push_ms: Some(push_ms), error: None };
                }
                Some(Err(e)) => return Probe { at_s, request_ms: Some(request_ms), push_ms: None, error: Some(e) },
                None if Instant::now() >= deadline => {
                    self.overdue = Some(started);
                    return Probe {
                        at_s,
                        request_ms: Some(request_ms),
                        push_ms: None,
                        error: Some(format!("no push within {timeout:?}")),
                    };
                }
                None => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// For a probe that timed out: how long after its request its push reached the emulator, if
    /// it has by now.
    pub fn late_arrival(&mut self) -> Option<f64> {
        let started = self.overdue?;
        match self.new_push()? {
            Ok(at) => Some(at.saturating_duration_since(started).as_secs_f64()),
            Err(_) => None,
        }
    }

    /// Whether a timed-out probe's push is still outstanding.
    pub fn overdue(&self) -> bool {
        self.overdue.is_some()
    }

    /// Requests the emulator refused (VAPID or decryption failures; none expected).
    pub fn rejections(&self) -> Vec<String> {
        self.emulator.rejections()
    }
}

/// A support request's body: a fresh unlinked mailbox and secret, and a KeyPackage of a fresh
/// pseudonymous MLS identity naming that mailbox (as the app makes it).
fn request_body() -> Result<Value, String> {
    let mailbox = MailboxId::random();
    let secret = MailboxSecret::random();
    let mut mls = MlsClient::new(MlsIdentity::generate(), MemberInfo::new(mailbox), vec![]).map_err(|e| format!("MLS client: {e}"))?;
    let key_package = mls.last_resort_key_package().map_err(|e| format!("key package: {e}"))?;
    Ok(json!({
        "urgency": "now",
        "mailbox": mailbox,
        "mailbox_secret": secret,
        "key_package": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&key_package),
    }))
}
