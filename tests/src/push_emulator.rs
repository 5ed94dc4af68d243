//! A local Web Push service, strict like a real one: `POST /push/{token}` must carry a VAPID
//! `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292) whose ES256 JWT verifies with `k`, where `k`
//! is the server's published key, `aud` is this service's origin, `exp` is in the future and at
//! most 24 h away and `sub` is present; `Content-Encoding: aes128gcm` and `TTL` are required. The
//! body is decrypted (RFC 8291) with the subscriber's private key and auth secret, as a browser
//! would, and recorded with the headers. Tests can make a token answer a given status N times or
//! redirect, make every push answer one status (say `429 Retry-After: 600`), or answer slowly.
//!
//! `aud`: RFC 8292 §2 says the audience is the origin of the push resource, so with this service
//! on `127.0.0.1:PORT` the port belongs in it. A real service listens on 443 where the origin has
//! no port; the emulator checks the full origin, which the server must therefore set itself (the
//! web-push crate's default drops the port).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// A browser's subscription at the emulator: what the web app would `POST /v1/push/subscriptions`.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub token: String,
    pub endpoint: String,
    /// Unpadded base64url of the uncompressed P-256 public key.
    pub p256dh: String,
    /// Unpadded base64url of the 16-byte auth secret.
    pub auth: String,
}

impl Subscription {
    /// The JSON body of `POST /v1/push/subscriptions`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"endpoint": self.endpoint, "p256dh": self.p256dh, "auth": self.auth})
    }
}

/// A push the emulator accepted (verified and decrypted).
#[derive(Debug, Clone)]
pub struct Received {
    pub token: String,
    pub ttl: u64,
    pub topic: Option<String>,
    pub urgency: Option<String>,
    /// Every request header, as sent.
    pub headers: Vec<(String, String)>,
    /// The encrypted body as sent.
    pub body: Vec<u8>,
    pub plaintext: Vec<u8>,
    pub at: Instant,
}

/// Every request that reached a known token, accepted or not.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub token: String,
    pub status: u16,
    pub at: Instant,
}

struct Subscriber {
    keys: ece::EcKeyComponents,
    auth: [u8; 16],
}

#[derive(Default)]
struct Inner {
    vapid_key: Option<String>,
    subscribers: HashMap<String, Subscriber>,
    /// Answers to give next, per token.
    scripted: HashMap<String, VecDeque<Reply>>,
    /// The answer to every verified push without a scripted one (instead of accepting it).
    always: Option<Reply>,
    /// How long every request waits before it is looked at.
    delay: Option<std::time::Duration>,
    /// Requests that arrived, answered yet or not.
    arrived: usize,
    received: Vec<Received>,
    attempts: Vec<Attempt>,
    /// Why requests were refused by verification (none expected from a correct server).
    rejections: Vec<String>,
}

/// A scripted answer: the status, its `Retry-After` seconds, its `Location`.
#[derive(Debug, Clone, Default)]
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    location: Option<String>,
}

struct Shared {
    origin: String,
    inner: Mutex<Inner>,
    changed: Notify,
}

pub struct PushEmulator {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PushEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PushEmulator {
    pub async fn start() -> PushEmulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the push emulator");
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared { origin: origin.clone(), inner: Mutex::default(), changed: Notify::new() });
        let app = Router::new().route("/push/{token}", post(push)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PushEmulator { origin, shared, task }
    }

    /// The VAPID public key (unpadded base64url) the server publishes; pushes signed with any
    /// other key are refused.
    pub fn expect_vapid_key(&self, key: &str) {
        self.shared.inner.lock().unwrap().vapid_key = Some(key.to_owned());
    }

    /// A new subscription, as a browser's `pushManager.subscribe` would make.
    pub fn subscribe(&self) -> Subscription {
        let (pair, auth) = ece::generate_keypair_and_auth_secret().expect("ece key pair");
        let keys = pair.raw_components().expect("key components");
        let p256dh = URL_SAFE_NO_PAD.encode(pair.pub_as_raw().expect("public key"));
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let endpoint = format!("{}/push/{token}", self.origin);
        self.shared.inner.lock().unwrap().subscribers.insert(token.clone(), Subscriber { keys, auth });
        Subscription { token, endpoint, p256dh, auth: URL_SAFE_NO_PAD.encode(auth) }
    }

    /// The next `times` pushes to `token` get `status` (after verification), with `Retry-After`.
    pub fn answer(&self, token: &str, status: u16, times: usize, retry_after: Option<u64>) {
        self.script(token, Reply { status, retry_after, location: None }, times);
    }

    /// The next `times` pushes to `token` are redirected (`status` 301, 302, 307 or 308) to
    /// `location`, as a push service never does.
    pub fn redirect(&self, token: &str, status: u16, location: &str, times: usize) {
        self.script(token, Reply { status, retry_after: None, location: Some(location.to_owned()) }, times);
    }

    fn script(&self, token: &str, reply: Reply, times: usize) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.scripted.entry(token.to_owned()).or_default().extend(std::iter::repeat_n(reply, times));
    }

    /// From now on every verified push (to any token, unless scripted) gets `status` with
    /// `Retry-After`, as a push service that is (or pretends to be) overwhelmed.
    pub fn always_answer(&self, status: u16, retry_after: Option<u64>) {
        self.shared.inner.lock().unwrap().always = Some(Reply { status, retry_after, location: None });
    }

    /// From now on every request waits `delay` before it is even looked at, as a push service
    /// that answers slowly (or, with a long delay, not at all).
    pub fn answer_after(&self, delay: std::time::Duration) {
        self.shared.inner.lock().unwrap().delay = Some(delay);
    }

    /// Waits until all tokens together have seen `n` requests (accepted or not).
    pub async fn wait_for_any_attempts(&self, n: usize) -> Vec<Attempt> {
        self.wait_until_count(n, || self.attempts(), |got| format!("{n} push requests to any token (got {got})")).await
    }

    /// Waits until `n` requests have arrived, whether answered yet or not.
    pub async fn wait_for_arrivals(&self, n: usize) -> usize {
        let count = || vec![(); self.shared.inner.lock().unwrap().arrived];
        self.wait_until_count(n, count, |got| format!("{n} requests to arrive (got {got})")).await.len()
    }

    /// Requests that arrived so far, answered yet or not.
    pub fn arrivals(&self) -> usize {
        self.shared.inner.lock().unwrap().arrived
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.inner.lock().unwrap().received.clone()
    }

    pub fn received_for(&self, token: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.token == token).collect()
    }

    pub fn attempts_for(&self, token: &str) -> Vec<Attempt> {
        self.shared.inner.lock().unwrap().attempts.iter().filter(|a| a.token == token).cloned().collect()
    }

    /// Every request to a known token, accepted or not.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.shared.inner.lock().unwrap().attempts.clone()
    }

    pub fn rejections(&self) -> Vec<String> {
        self.shared.inner.lock().unwrap().rejections.clone()
    }

    /// Waits until `token` has received `n` pushes, failing the test after [`crate::WAIT`].
    pub async fn wait_for(&self, token: &str, n: usize) -> Vec<Received> {
        self.wait_until_count(n, || self.received_for(token), |got| {
            format!("{n} pushes to one subscription (got {got}; refused: {:?})", self.rejections())
        })
        .await
    }

    /// Waits until `token` has seen `n` requests (accepted or not).
    pub async fn wait_for_attempts(&self, token: &str, n: usize) -> Vec<Attempt> {
        self.wait_until_count(n, || self.attempts_for(token), |got| format!("{n} push requests (got {got})")).await
    }

    /// Waits until `read` returns at least `n` records, woken by every request the emulator
    /// answers; after [`crate::WAIT`] fails with `what(how many it got)`.
    async fn wait_until_count<T>(&self, n: usize, read: impl Fn() -> Vec<T>, what: impl Fn(usize) -> String) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + crate::WAIT;
        loop {
            // Made before reading, so a request answered in between still wakes the wait.
            let notified = self.shared.changed.notified();
            let got = read();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {}", what(got.len()));
            let _ = tokio::time::timeout(left, notified).await;
        }
    }
}

async fn push(State(shared): State<Arc<Shared>>, Path(token): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = {
        let mut inner = shared.inner.lock().unwrap();
        inner.arrived += 1;
        inner.delay
    };
    shared.changed.notify_waiters();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    // One lock from verification to recording: a test that sees a push received also sees its
    // attempt, and never half of one request.
    let result = {
        let mut inner = shared.inner.lock().unwrap();
        let result = handle(&mut inner, &shared.origin, &token, &headers, &body);
        let status = match &result {
            Ok(reply) => reply.status,
            Err((status, _)) => status.as_u16(),
        };
        if inner.subscribers.contains_key(&token) {
            inner.attempts.push(Attempt { token: token.clone(), status, at: Instant::now() });
        }
        if let Err((_, reason)) = &result {
            inner.rejections.push(reason.clone());
        }
        result
    };
    shared.changed.notify_waiters();
    match result {
        Ok(reply) => {
            let mut response = StatusCode::from_u16(reply.status).unwrap().into_response();
            if let Some(seconds) = reply.retry_after {
                response.headers_mut().insert("retry-after", seconds.into());
            }
            if let Some(location) = reply.location {
                response.headers_mut().insert("location", location.parse().expect("a header value"));
            }
            response
        }
        Err((status, reason)) => (status, reason).into_response(),
    }
}

type Refusal = (StatusCode, String);

fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    (status, reason.into())
}

/// Verifies and decrypts one push; records it when accepted. Returns the answer to give.
fn handle(inner: &mut Inner, origin: &str, token: &str, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let expected_key = inner.vapid_key.clone();

    // VAPID (RFC 8292 §3): Authorization: vapid t=<JWT>, k=<public key>
    let authorization = header("authorization").ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "no Authorization"))?;
    let params = authorization
        .strip_prefix("vapid ")
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "Authorization is not the vapid scheme"))?;
    let mut t = None;
    let mut k = None;
    for part in params.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim().to_owned()),
            Some(("k", v)) => k = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    let (t, k) = t.zip(k).ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "vapid needs t and k"))?;
    if expected_key.as_deref() != Some(k.as_str()) {
        return Err(refuse(StatusCode::FORBIDDEN, "k is not the server's published VAPID key"));
    }
    let key_bytes = URL_SAFE_NO_PAD.decode(&k).map_err(|_| refuse(StatusCode::UNAUTHORIZED, "k is not base64url"))?;
    {
        use jwt_simple::prelude::*;
        let public = ES256PublicKey::from_bytes(&key_bytes).map_err(|_| refuse(StatusCode::UNAUTHORIZED, "k is not a P-256 key"))?;
        let options = VerificationOptions { time_tolerance: Some(jwt_simple::prelude::Duration::from_secs(0)), ..Default::default() };
        public
            .verify_token::<NoCustomClaims>(&t, Some(options))
            .map_err(|e| refuse(StatusCode::UNAUTHORIZED, format!("JWT does not verify: {e}")))?;
    }
    let claims = t.split('.').nth(1).ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "JWT has no claims"))?;
    let claims: serde_json::Value = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "JWT claims are not JSON"))?;
    if claims["aud"].as_str() != Some(origin) {
        return Err(refuse(StatusCode::UNAUTHORIZED, format!("aud {} is not {origin}", claims["aud"])));
    }
    let now = (crate::now_ms() / 1000) as u64;
    let exp = claims["exp"].as_u64().ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "no exp"))?;
    if exp <= now || exp > now + 24 * 3600 {
        return Err(refuse(StatusCode::UNAUTHORIZED, format!("exp {exp} is not within 24 h from now ({now})")));
    }
    if claims["sub"].as_str().is_none_or(|s| !(s.starts_with("mailto:") || s.starts_with("https:"))) {
        return Err(refuse(StatusCode::UNAUTHORIZED, "sub is missing or not a mailto:/https: URL"));
    }

    // RFC 8030 / RFC 8188
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return Err(refuse(StatusCode::BAD_REQUEST, "Content-Encoding is not aes128gcm"));
    }
    let ttl: u64 = header("ttl")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "TTL is missing or not a number"))?;
    let topic = header("topic");
    if let Some(topic) = &topic
        && (topic.len() > 32 || !topic.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
    {
        return Err(refuse(StatusCode::BAD_REQUEST, "Topic is not at most 32 base64url characters"));
    }

    let Some(subscriber) = inner.subscribers.get(token) else {
        return Err(refuse(StatusCode::NOT_FOUND, "unknown subscription"));
    };
    let plaintext = ece::decrypt(&subscriber.keys, &subscriber.auth, body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("body does not decrypt: {e}")))?;
    if let Some(reply) = inner.scripted.get_mut(token).and_then(VecDeque::pop_front).or_else(|| inner.always.clone()) {
        return Ok(reply);
    }
    inner.received.push(Received {
        token: token.to_owned(),
        ttl,
        topic,
        urgency: header("urgency"),
        headers: headers.iter().map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect(),
        body: body.to_vec(),
        plaintext,
        at: Instant::now(),
    });
    Ok(Reply { status: StatusCode::CREATED.as_u16(), ..Reply::default() })
}
