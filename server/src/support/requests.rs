//! Support requests (protocol/README.md §13.2): a staff member reaches out from a fresh unlinked
//! mailbox; on-call supporters are pushed; the first to claim gets the mailbox; either side
//! closes. The server never records who asked: the create call is signed (only enrolled staff may
//! reach out) but nothing about the signer is stored or logged, and the rate limit lives in
//! memory. The requester later proves only the unlinked mailbox's secret.

use super::routing;
use crate::error::ApiError;
use crate::http::auth::Signed;
use crate::push::routes::{check_auth, check_endpoint, check_p256dh};
use crate::state::AppState;
use crate::store::support::{ClaimOutcome, HandOffOutcome, NewSupportRequest, RequestState, SupportRequestRecord};
use crate::store::{MailboxAccess, PushSubscription, StoreError, sha256};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use sallyport_protocol::rest::Role;
use sallyport_protocol::support::{
    ClaimedSupportRequest, CreateSupportRequest, CreatedSupportRequest, MAILBOX_SECRET_HEADER, MailboxPushSubscription,
    QueuedSupportRequest, SupportQueue, SupportRequestStatus, SupportStatus, Urgency,
};
use sallyport_protocol::{AccountId, DeviceId, ErrorCode, MAX_KEY_PACKAGE_BYTES, MailboxId, MailboxSecret, RequestId};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// Devices remembered by the rate limiter before stale entries are swept.
const MAX_LIMITED_DEVICES: usize = 100_000;

/// Peer support options of `sallyport serve`.
#[derive(Debug, Clone, Args)]
pub struct SupportArgs {
    /// An unclaimed "now" request is offered to every peer supporter after this long, and to the
    /// coordinators after as long again (e.g. 300s, 5m, 1h).
    #[arg(long, env = "SALLYPORT_ESCALATE_NOW_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub escalate_now_after: Duration,

    /// Escalation delay of a "today" request.
    #[arg(long, env = "SALLYPORT_ESCALATE_TODAY_AFTER", default_value = "60m", value_parser = parse_duration)]
    pub escalate_today_after: Duration,

    /// Escalation delay of a "this week" request.
    #[arg(long, env = "SALLYPORT_ESCALATE_WEEK_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub escalate_week_after: Duration,

    /// Support requests one device may make per hour (counted in memory only, never stored).
    #[arg(long, env = "SALLYPORT_SUPPORT_REQUESTS_PER_HOUR", default_value_t = 5)]
    pub support_requests_per_hour: u32,

    /// A file holding a number of milliseconds added to the clock of peer support (escalations,
    /// on call), re-read on every use: tests move time without waiting.
    #[arg(long, hide = true)]
    pub clock_offset_file: Option<PathBuf>,

    /// How often the escalation scheduler looks for due timers, in milliseconds.
    #[arg(long, hide = true, default_value_t = 1_000)]
    pub support_scheduler_interval_ms: u64,
}

/// `300`, `300s`, `500ms`, `5m`, `5min`, `1h`, `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 300s, 5m or 24h"))?;
    let ms = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("unknown duration unit `{other}` (ms, s, m, h, d)")),
    };
    n.checked_mul(ms).map(Duration::from_millis).ok_or_else(|| format!("`{text}` is too long"))
}

/// The clock of peer support: wall-clock time plus the offset in `--clock-offset-file`.
#[derive(Debug, Clone, Default)]
pub struct SupportClock {
    offset_file: Option<PathBuf>,
}

impl SupportClock {
    pub fn now(&self) -> i64 {
        let offset = self
            .offset_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        crate::clock::now_ms().saturating_add(offset)
    }
}

/// Peer support requests' settings and in-memory state, shared by handlers and the scheduler.
pub struct Support {
    pub args: SupportArgs,
    pub clock: SupportClock,
    /// Creation times of each device's recent requests. Memory only: lost on restart by design.
    recent: Mutex<HashMap<DeviceId, VecDeque<i64>>>,
}

impl Support {
    pub fn new(args: SupportArgs) -> Support {
        let clock = SupportClock { offset_file: args.clock_offset_file.clone() };
        Support { args, clock, recent: Mutex::default() }
    }

    /// The escalation delay for an urgency, in milliseconds (at least a minute's worth of
    /// rounding is added when due times are rounded up to the minute).
    pub fn delay_ms(&self, urgency: Urgency) -> i64 {
        let d = match urgency {
            Urgency::Now => self.args.escalate_now_after,
            Urgency::Today => self.args.escalate_today_after,
            Urgency::Week => self.args.escalate_week_after,
        };
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Records a request by `device` at `now` unless it made the hourly maximum already.
    fn admit(&self, device: &DeviceId, now: i64) -> bool {
        let mut recent = self.recent.lock().expect("rate limiter poisoned");
        if recent.len() >= MAX_LIMITED_DEVICES {
            recent.retain(|_, times| times.back().is_some_and(|t| now - t < HOUR_MS));
        }
        let times = recent.entry(*device).or_default();
        while times.front().is_some_and(|t| now - t >= HOUR_MS) {
            times.pop_front();
        }
        if times.len() >= self.args.support_requests_per_hour as usize {
            return false;
        }
        times.push_back(now);
        true
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/requests", post(create))
        .route("/v1/support/requests/{id}", get(status).post(status_by_body))
        .route("/v1/support/requests/{id}/claim", post(claim))
        .route("/v1/support/requests/{id}/close", post(close))
        .route("/v1/support/requests/{id}/handoff", post(handoff))
        .route("/v1/support/queue", get(queue))
        .route("/v1/support/mailboxes/{mailbox}/push", post(register_push))
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound)
}

fn request_id(text: &str) -> Result<RequestId, ApiError> {
    RequestId::parse(text).ok_or_else(not_found)
}

/// `POST /v1/support/requests` (signed by any enrolled device).
async fn create(State(state): State<AppState>, signed: Signed) -> Result<Json<CreatedSupportRequest>, ApiError> {
    let body: CreateSupportRequest = signed.json()?;
    let key_package = URL_SAFE_NO_PAD
        .decode(body.key_package.trim_end_matches('='))
        .map_err(|_| ApiError::bad_request("key_package is not base64url"))?;
    if key_package.len() > MAX_KEY_PACKAGE_BYTES || !crate::relay::delivery_service::is_key_package(&key_package) {
        return Err(ApiError::bad_request(format!("key_package must be an MLS KeyPackage of at most {MAX_KEY_PACKAGE_BYTES} bytes")));
    }
    // A KeyPackage made with the device's own key would name the device to whoever claims it.
    let device_key = signed.caller.signing_key.as_bytes();
    if key_package.windows(device_key.len()).any(|w| w == device_key) {
        return Err(ApiError::bad_request("key_package must come from a fresh pseudonymous identity, not the device's key"));
    }
    let support = &state.support;
    let now = support.clock.now();
    if !support.admit(&signed.caller.device, now) {
        return Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::RateLimited,
            message: "too many support requests from this device in the last hour; the crisis lines are always open".into(),
        });
    }
    drop(signed);
    let id = RequestId::random();
    let delay = support.delay_ms(body.urgency);
    let request = NewSupportRequest {
        id,
        urgency: body.urgency,
        mailbox: body.mailbox,
        secret_hash: sha256(body.mailbox_secret.as_bytes()),
        key_package: key_package.into(),
        created_at: now - now.rem_euclid(MINUTE_MS),
        first_due_at: round_up_to_minute(now.saturating_add(delay)),
        step_ms: round_up_to_minute(delay).max(MINUTE_MS),
    };
    match state.store.support().create_support_request(request).await {
        Ok(()) => {}
        Err(StoreError::Conflict("mailbox_exists")) => return Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::MailboxExists)),
        Err(err) => return Err(err.into()),
    }
    state.metrics.support_requests.fetch_add(1, Relaxed);
    tracing::info!(urgency = body.urgency.as_str(), "a support request was created");
    routing::offer_to_on_call(&state, id, body.urgency, now).await;
    Ok(Json(CreatedSupportRequest { id }))
}

fn round_up_to_minute(ms: i64) -> i64 {
    let rem = ms.rem_euclid(MINUTE_MS);
    if rem == 0 { ms } else { ms.saturating_add(MINUTE_MS - rem) }
}

/// The mailbox secret from the `Sallyport-Mailbox-Secret` header.
fn secret_from(headers: &HeaderMap) -> Option<Result<MailboxSecret, ApiError>> {
    let value = headers.get(MAILBOX_SECRET_HEADER)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|t| MailboxSecret::parse(t.trim()))
            .ok_or_else(|| ApiError::bad_request("Sallyport-Mailbox-Secret is not a mailbox secret")),
    )
}

fn secret_matches(secret: &MailboxSecret, hash: &[u8; 32]) -> bool {
    let given = sha256(secret.as_bytes());
    given.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The request, if `secret` opens its mailbox.
async fn as_requester(state: &AppState, id: &RequestId, secret: &MailboxSecret) -> Result<SupportRequestRecord, ApiError> {
    let record = state.store.support().support_request(id).await?.ok_or_else(not_found)?;
    if !secret_matches(secret, &record.secret_hash) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::WrongMailboxSecret));
    }
    Ok(record)
}

fn status_body(record: &SupportRequestRecord) -> SupportRequestStatus {
    let status = match record.state {
        RequestState::Waiting => SupportStatus::Waiting,
        RequestState::Accepted { .. } => SupportStatus::Accepted,
    };
    SupportRequestStatus { status, urgency: record.urgency, created_at: record.created_at }
}

/// `GET /v1/support/requests/{id}` with the mailbox secret header: the requester's status. A
/// closed request is forgotten: `404 not_found`.
async fn status(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<SupportRequestStatus>, ApiError> {
    let id = request_id(&id)?;
    let secret = secret_from(&headers).ok_or_else(|| ApiError::bad_request("Sallyport-Mailbox-Secret is missing"))??;
    Ok(Json(status_body(&as_requester(&state, &id, &secret).await?)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    mailbox_secret: MailboxSecret,
}

/// `POST /v1/support/requests/{id}` with `{"mailbox_secret"}`: the same, for clients that would
/// rather not put the secret in a header.
async fn status_by_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<SecretBody>,
) -> Result<Json<SupportRequestStatus>, ApiError> {
    let id = request_id(&id)?;
    Ok(Json(status_body(&as_requester(&state, &id, &body.mailbox_secret).await?)))
}

/// May this signed caller take support requests? Coordinators always; peer supporters on the
/// roster with current training.
async fn may_take_requests(state: &AppState, signed: &Signed, now: i64) -> Result<(), ApiError> {
    if signed.caller.roles.contains(&Role::Coordinator) {
        return Ok(());
    }
    signed.require(Role::PeerSupporter)?;
    let roster = state.store.roster().roster().await?;
    match roster.supporter(&signed.caller.account) {
        Some(s) if s.training_current(now) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::TrainingNotCurrent)),
        None => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::NotOnRoster)),
    }
}

/// `GET /v1/support/queue` (peer supporters and coordinators): waiting requests, oldest first.
async fn queue(State(state): State<AppState>, signed: Signed) -> Result<Json<SupportQueue>, ApiError> {
    if !signed.caller.roles.contains(&Role::Coordinator) {
        signed.require(Role::PeerSupporter)?;
    }
    let requests = state
        .store
        .support()
        .waiting_support_requests()
        .await?
        .into_iter()
        .map(|r| QueuedSupportRequest { id: r.id, urgency: r.urgency, created_at: r.created_at, level: r.level })
        .collect();
    Ok(Json(SupportQueue { requests }))
}

/// `POST /v1/support/requests/{id}/claim` (a trained peer supporter, or a coordinator): the first
/// caller wins the requester's mailbox; everyone after gets `409 already_claimed`.
async fn claim(State(state): State<AppState>, Path(id): Path<String>, signed: Signed) -> Result<Json<ClaimedSupportRequest>, ApiError> {
    let id = request_id(&id)?;
    let now = state.support.clock.now();
    may_take_requests(&state, &signed, now).await?;
    match state.store.support().claim_support_request(&id, &signed.caller.account, now).await? {
        ClaimOutcome::Won { mailbox, urgency } => {
            tracing::info!("a support request was accepted");
            Ok(Json(ClaimedSupportRequest { id, mailbox, urgency }))
        }
        ClaimOutcome::AlreadyClaimed => Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadyClaimed)),
        ClaimOutcome::NotFound => Err(not_found()),
    }
}

/// `POST /v1/support/requests/{id}/close`: by the requester (mailbox secret header) or, signed,
/// by the supporter who accepted it or a coordinator. Deletes the request, its timer and its
/// unlinked mailbox (with anything still queued for it). `204`.
async fn close(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Result<StatusCode, ApiError> {
    let id = request_id(&id)?;
    if let Some(secret) = secret_from(request.headers()) {
        as_requester(&state, &id, &secret?).await?;
    } else {
        let signed = Signed::from_request(request, &state).await?;
        let record = state.store.support().support_request(&id).await?.ok_or_else(not_found)?;
        let own = matches!(record.state, RequestState::Accepted { by } if by == signed.caller.account);
        if !own && !signed.caller.roles.contains(&Role::Coordinator) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden));
        }
    }
    if !state.store.support().close_support_request(&id).await? {
        return Err(not_found());
    }
    tracing::info!("a support request was closed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HandOffBody {
    to: AccountId,
}

#[derive(serde::Serialize)]
struct HandedOff {
    claimed_by: AccountId,
}

/// May `account` be handed a support request? It needs a device that is not revoked, and to be
/// an EAP clinician, a coordinator, or a peer supporter on the roster with current training.
async fn may_receive_hand_off(state: &AppState, account: &AccountId, now: i64) -> Result<(), ApiError> {
    let devices = state.store.list_devices().await?;
    let active: Vec<_> = devices.iter().filter(|d| d.account == *account && d.revoked_at.is_none()).collect();
    if active.is_empty() {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: ErrorCode::NotFound,
            message: "no account with an active device has this id".into(),
        });
    }
    let has = |role: Role| active.iter().any(|d| d.roles.contains(&role));
    if has(Role::Clinician) || has(Role::Coordinator) {
        return Ok(());
    }
    let roster = state.store.roster().roster().await?;
    match roster.supporter(account) {
        Some(s) if has(Role::PeerSupporter) && s.training_current(now) => Ok(()),
        Some(s) if has(Role::PeerSupporter) && !s.training_current(now) => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::TrainingNotCurrent,
            message: "that peer supporter's training is not current, so they cannot take this request".into(),
        }),
        _ => Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: ErrorCode::NotOnRoster,
            message: "that person is not a trained peer supporter, an EAP clinician or a coordinator".into(),
        }),
    }
}

/// `POST /v1/support/requests/{id}/handoff` with `{"to": account}` (signed, by the supporter who
/// holds the request or a coordinator): the request is now held by `to`, who may close it; the
/// old holder may not. `200 {"claimed_by"}`; `409 not_claimed` if it is still waiting.
async fn handoff(State(state): State<AppState>, Path(id): Path<String>, signed: Signed) -> Result<Json<HandedOff>, ApiError> {
    let id = request_id(&id)?;
    let body: HandOffBody = signed.json()?;
    let now = state.support.clock.now();
    let record = state.store.support().support_request(&id).await?.ok_or_else(not_found)?;
    let coordinator = signed.caller.roles.contains(&Role::Coordinator);
    let from = match record.state {
        RequestState::Accepted { by } if by == signed.caller.account || coordinator => by,
        RequestState::Waiting if coordinator => return Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::NotClaimed)),
        _ => return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
    };
    let caller = signed.caller.account;
    drop(signed);
    may_receive_hand_off(&state, &body.to, now).await?;
    match state.store.support().hand_off_support_request(&id, &from, &body.to).await? {
        HandOffOutcome::HandedOff => {
            tracing::info!("a support request was handed off");
            Ok(Json(HandedOff { claimed_by: body.to }))
        }
        HandOffOutcome::NotClaimed => Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::NotClaimed)),
        // Someone handed it off meanwhile: the caller no longer holds it (a coordinator may retry).
        HandOffOutcome::NotClaimer if caller != from => Err(ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadyClaimed)),
        HandOffOutcome::NotClaimer => Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden)),
        HandOffOutcome::NotFound => Err(not_found()),
    }
}

/// `POST /v1/support/mailboxes/{mailbox}/push` with the mailbox secret header: a push
/// subscription for an unlinked mailbox, stored against the mailbox only. `204`.
async fn register_push(
    State(state): State<AppState>,
    Path(mailbox): Path<String>,
    headers: HeaderMap,
    Json(body): Json<MailboxPushSubscription>,
) -> Result<StatusCode, ApiError> {
    let mailbox = MailboxId::parse(&mailbox).ok_or_else(not_found)?;
    let secret = secret_from(&headers).ok_or_else(|| ApiError::bad_request("Sallyport-Mailbox-Secret is missing"))??;
    match state.store.mailbox_access(&mailbox).await? {
        Some(MailboxAccess::Unlinked { secret_hash }) if secret_matches(&secret, &secret_hash) => {}
        Some(_) => return Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::WrongMailboxSecret)),
        None => return Err(not_found()),
    }
    let subscription = PushSubscription {
        endpoint: check_endpoint(&body.endpoint, state.push.allow_insecure_endpoints)?,
        p256dh: check_p256dh(&body.p256dh)?,
        auth: check_auth(&body.auth)?,
    };
    match state.store.support().add_mailbox_push_subscription(&mailbox, &subscription).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(StoreError::Conflict("endpoint_in_use")) => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: ErrorCode::BadRequest,
            message: "this endpoint is a device's push subscription; subscribe from a separate service-worker registration".into(),
        }),
        Err(StoreError::Conflict(_)) => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: ErrorCode::BadRequest,
            message: "this mailbox has the most push subscriptions allowed; remove one first".into(),
        }),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5min").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn due_times_round_up_to_the_minute() {
        assert_eq!(round_up_to_minute(120_000), 120_000);
        assert_eq!(round_up_to_minute(120_001), 180_000);
    }

    #[test]
    fn the_rate_limit_counts_an_hour_per_device() {
        let args = SupportArgs {
            escalate_now_after: Duration::from_secs(300),
            escalate_today_after: Duration::from_secs(3600),
            escalate_week_after: Duration::from_secs(86_400),
            support_requests_per_hour: 2,
            clock_offset_file: None,
            support_scheduler_interval_ms: 1000,
        };
        let support = Support::new(args);
        let (a, b) = (DeviceId::random(), DeviceId::random());
        assert!(support.admit(&a, 0));
        assert!(support.admit(&a, 1_000));
        assert!(!support.admit(&a, 2_000));
        assert!(support.admit(&b, 2_000), "another device has its own budget");
        assert!(support.admit(&a, HOUR_MS), "the first one has aged out");
    }
}
