//! REST endpoints of the roster and the on-call schedule (protocol/README.md §13.1): coordinators
//! keep the roster, training, rotations and overrides; supporters read their record and shifts,
//! set their switch and propose or answer swaps. Every endpoint is [`Signed`].

use super::roster::{Roster, Supporter, Switch, Training, TrainingKind, utc_day};
use super::schedule::{self, Override, Rotation, Segment, Source, Swap, SwapStatus};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::auth::Signed;
use crate::state::AppState;
use crate::store::StoreError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, ErrorCode, MessageId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

const DAY_MS: i64 = 86_400_000;
/// Most members in one rotation, and most rotations.
const MAX_MEMBERS: usize = 200;
const MAX_ROTATIONS: usize = 100;
/// Longest override, and how far ahead one may start.
const MAX_OVERRIDE_MS: i64 = 92 * DAY_MS;
const MAX_AHEAD_MS: i64 = 366 * DAY_MS;
/// Upcoming stretches shown with each rotation.
const UPCOMING: usize = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/roster", get(list_roster))
        .route("/v1/support/roster/me", get(my_record))
        .route("/v1/support/roster/{account}", put(add_supporter).delete(remove_supporter))
        .route("/v1/support/roster/{account}/training/{kind}", put(set_training))
        .route("/v1/support/switch", put(set_switch))
        .route("/v1/support/rotations", get(list_rotations).post(create_rotation))
        .route("/v1/support/rotations/{id}", put(replace_rotation).delete(delete_rotation))
        .route("/v1/support/overrides", post(create_override))
        .route("/v1/support/overrides/{id}", delete(delete_override))
        .route("/v1/support/swaps", get(list_swaps).post(propose_swap))
        .route("/v1/support/swaps/{id}/{answer}", post(answer_swap))
        .route("/v1/support/oncall", get(on_call))
        .route("/v1/support/shifts/me", get(my_shifts))
}

// ---- errors and lookups

fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into() }
}

fn not_found(what: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("no such {what}"))
}

fn caller_not_on_roster() -> ApiError {
    error(StatusCode::FORBIDDEN, ErrorCode::NotOnRoster, "you are not on the peer supporter roster")
}

fn not_on_roster(who: &str) -> ApiError {
    error(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NotOnRoster, format!("{who} is not on the peer supporter roster"))
}

fn training_not_current(name: &str, gaps: &[TrainingKind]) -> ApiError {
    let gaps: Vec<&str> = gaps.iter().map(|k| k.as_str()).collect();
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::TrainingNotCurrent,
        format!("{name} cannot be put on call: training not current: {}", gaps.join(", ")),
    )
}

fn account_path(text: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(text).ok_or_else(|| not_found("account"))
}

/// Rotation, override and swap ids: 16 random bytes, unpadded base64url.
fn new_id() -> String {
    MessageId::random().to_text()
}

fn id_path(text: &str, what: &str) -> Result<String, ApiError> {
    MessageId::parse(text).map(|_| text.to_owned()).ok_or_else(|| not_found(what))
}

/// Display names of every account (by account, whatever the state of its devices).
async fn names(state: &AppState) -> Result<HashMap<AccountId, String>, ApiError> {
    Ok(state.store.list_devices().await?.into_iter().map(|d| (d.account, d.display_name)).collect())
}

fn name_of(names: &HashMap<AccountId, String>, account: &AccountId) -> String {
    names.get(account).cloned().unwrap_or_default()
}

async fn roster(state: &AppState) -> Result<Roster, ApiError> {
    Ok(state.store.roster().roster().await?)
}

/// The caller's own roster record (`403 not_on_roster` otherwise).
fn me<'a>(roster: &'a Roster, signed: &Signed) -> Result<&'a Supporter, ApiError> {
    roster.supporter(&signed.caller.account).ok_or_else(caller_not_on_roster)
}

/// Coordinators and peer supporters (on the roster, or holding the role while a coordinator has
/// yet to add them).
fn require_team(roster: &Roster, signed: &Signed) -> Result<(), ApiError> {
    let roles = &signed.caller.roles;
    if roles.contains(&Role::Coordinator) || roles.contains(&Role::PeerSupporter) || roster.supporter(&signed.caller.account).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden))
    }
}

fn check_text(value: &str, field: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!("{field} must be 1 to 100 characters, without control characters")));
    }
    Ok(value.to_owned())
}

fn parse_date(value: &str, field: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=2200).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| ApiError::bad_request(format!("{field} must be a date YYYY-MM-DD between 1970 and 2200")))
}

// ---- the roster

#[derive(Debug, Serialize)]
struct TrainingBody {
    kind: TrainingKind,
    completed_at: String,
    expires_at: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct SupporterBody {
    account: AccountId,
    display_name: String,
    added_at: i64,
    switch: Switch,
    switch_at: i64,
    training: Vec<TrainingBody>,
    /// All five kinds recorded and current now: only then can they be put on call.
    training_current: bool,
    /// Kinds missing or not current now.
    training_missing: Vec<TrainingKind>,
}

fn supporter_body(s: &Supporter, names: &HashMap<AccountId, String>, now: i64) -> SupporterBody {
    let today = utc_day(now);
    let training_missing = s.training_gaps(now);
    SupporterBody {
        account: s.account,
        display_name: name_of(names, &s.account),
        added_at: s.added_at,
        switch: s.switch,
        switch_at: s.switch_at,
        training: s
            .training
            .iter()
            .map(|t| TrainingBody {
                kind: t.kind,
                completed_at: t.completed_on.format("%Y-%m-%d").to_string(),
                expires_at: t.expires_on.format("%Y-%m-%d").to_string(),
                current: t.current_on(today),
            })
            .collect(),
        training_current: training_missing.is_empty(),
        training_missing,
    }
}

#[derive(Debug, Serialize)]
struct SupportersBody {
    supporters: Vec<SupporterBody>,
}

/// `GET /v1/support/roster` (coordinator): every supporter with training and switch, by name.
async fn list_roster(State(state): State<AppState>, signed: Signed) -> Result<Json<SupportersBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    let mut supporters: Vec<SupporterBody> = roster.supporters.iter().map(|s| supporter_body(s, &names, now)).collect();
    supporters.sort_by_key(|s| s.display_name.to_lowercase());
    Ok(Json(SupportersBody { supporters }))
}

/// `GET /v1/support/roster/me` (a supporter): their own record.
async fn my_record(State(state): State<AppState>, signed: Signed) -> Result<Json<SupporterBody>, ApiError> {
    let roster = roster(&state).await?;
    let me = me(&roster, &signed)?;
    Ok(Json(supporter_body(me, &names(&state).await?, now_ms())))
}

async fn supporter_answer(state: &AppState, account: &AccountId) -> Result<Json<SupporterBody>, ApiError> {
    let roster = roster(state).await?;
    let s = roster.supporter(account).ok_or_else(|| not_on_roster("the account"))?;
    Ok(Json(supporter_body(s, &names(state).await?, now_ms())))
}

/// `PUT /v1/support/roster/{account}` (coordinator): `201` when added, `200` if already there.
async fn add_supporter(
    State(state): State<AppState>,
    Path(account): Path<String>,
    signed: Signed,
) -> Result<(StatusCode, Json<SupporterBody>), ApiError> {
    signed.require(Role::Coordinator)?;
    let account = account_path(&account)?;
    let added = match state.store.roster().add_peer_supporter(&account, now_ms()).await {
        Ok(added) => added,
        Err(StoreError::NotFound) => return Err(not_found("account")),
        Err(e) => return Err(e.into()),
    };
    if added {
        tracing::info!("a coordinator added a peer supporter");
    }
    let status = if added { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, supporter_answer(&state, &account).await?))
}

#[derive(Debug, Serialize)]
struct RemovedBody {
    removed: bool,
}

/// `DELETE /v1/support/roster/{account}` (coordinator): off the roster and every rotation.
async fn remove_supporter(
    State(state): State<AppState>,
    Path(account): Path<String>,
    signed: Signed,
) -> Result<Json<RemovedBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let account = account_path(&account)?;
    let removed = state.store.roster().remove_peer_supporter(&account).await?;
    if removed {
        tracing::info!("a coordinator removed a peer supporter");
    }
    Ok(Json(RemovedBody { removed }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainingRequest {
    completed_at: String,
    expires_at: String,
}

/// `PUT /v1/support/roster/{account}/training/{kind}` (coordinator).
async fn set_training(
    State(state): State<AppState>,
    Path((account, kind)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<SupporterBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let account = account_path(&account)?;
    let kind = TrainingKind::parse(&kind).ok_or_else(|| {
        ApiError::bad_request(
            "training kind must be active_listening, crisis_intervention, confidentiality_ethics, trauma_informed_care or de_escalation",
        )
    })?;
    let request: TrainingRequest = signed.json()?;
    let completed_on = parse_date(&request.completed_at, "completed_at")?;
    let expires_on = parse_date(&request.expires_at, "expires_at")?;
    if expires_on <= completed_on {
        return Err(ApiError::bad_request("expires_at must be after completed_at"));
    }
    match state.store.roster().set_training(&account, &Training { kind, completed_on, expires_on }).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(not_on_roster("the account")),
        Err(e) => return Err(e.into()),
    }
    supporter_answer(&state, &account).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchRequest {
    switch: Switch,
}

/// `PUT /v1/support/switch` (a supporter): available / busy / off.
async fn set_switch(State(state): State<AppState>, signed: Signed) -> Result<Json<SupporterBody>, ApiError> {
    let request: SwitchRequest = signed.json()?;
    match state.store.roster().set_switch(&signed.caller.account, request.switch, now_ms()).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(caller_not_on_roster()),
        Err(e) => return Err(e.into()),
    }
    supporter_answer(&state, &signed.caller.account).await
}

// ---- rotations and overrides

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationRequest {
    name: String,
    members: Vec<AccountId>,
    /// Local hand-off time, `HH:MM`.
    handoff: String,
    /// IANA zone, e.g. `America/Chicago`.
    time_zone: String,
    #[serde(default = "weekly")]
    period_days: u32,
    start_date: String,
}

fn weekly() -> u32 {
    7
}

#[derive(Debug, Serialize)]
struct PersonBody {
    account: AccountId,
    display_name: String,
}

#[derive(Debug, Serialize)]
struct StretchBody {
    start: i64,
    end: i64,
    account: AccountId,
    display_name: String,
    source: Source,
}

#[derive(Debug, Serialize)]
struct RotationBody {
    id: String,
    name: String,
    members: Vec<PersonBody>,
    handoff: String,
    time_zone: String,
    period_days: u32,
    start_date: String,
    created_at: i64,
    /// Who holds it from now on (swaps and overrides applied), a few stretches ahead.
    upcoming: Vec<StretchBody>,
}

#[derive(Debug, Serialize)]
struct OverrideBody {
    id: String,
    rotation: String,
    account: AccountId,
    display_name: String,
    start: i64,
    end: i64,
    created_at: i64,
}

fn person(names: &HashMap<AccountId, String>, account: AccountId) -> PersonBody {
    PersonBody { account, display_name: name_of(names, &account) }
}

fn rotation_body(roster: &Roster, r: &Rotation, names: &HashMap<AccountId, String>, now: i64) -> RotationBody {
    let k = r.period_at(now).unwrap_or(0);
    let upcoming = schedule::segments(roster, r, now, r.boundary(k + UPCOMING as i64))
        .into_iter()
        .filter(|s| s.end > now)
        .take(UPCOMING)
        .map(|s| StretchBody { start: s.start, end: s.end, account: s.account, display_name: name_of(names, &s.account), source: s.source })
        .collect();
    RotationBody {
        id: r.id.clone(),
        name: r.name.clone(),
        members: r.members.iter().map(|a| person(names, *a)).collect(),
        handoff: r.handoff.format("%H:%M").to_string(),
        time_zone: r.time_zone.name().to_owned(),
        period_days: r.period_days,
        start_date: r.start_date.format("%Y-%m-%d").to_string(),
        created_at: r.created_at,
        upcoming,
    }
}

fn override_body(o: &Override, names: &HashMap<AccountId, String>) -> OverrideBody {
    OverrideBody {
        id: o.id.clone(),
        rotation: o.rotation.clone(),
        account: o.account,
        display_name: name_of(names, &o.account),
        start: o.start,
        end: o.end,
        created_at: o.created_at,
    }
}

#[derive(Debug, Serialize)]
struct RotationsBody {
    rotations: Vec<RotationBody>,
    overrides: Vec<OverrideBody>,
}

/// `GET /v1/support/rotations` (coordinators and supporters): rotations and overrides that have
/// not ended.
async fn list_rotations(State(state): State<AppState>, signed: Signed) -> Result<Json<RotationsBody>, ApiError> {
    let roster = roster(&state).await?;
    require_team(&roster, &signed)?;
    let (names, now) = (names(&state).await?, now_ms());
    Ok(Json(RotationsBody {
        rotations: roster.rotations.iter().map(|r| rotation_body(&roster, r, &names, now)).collect(),
        overrides: roster.overrides.iter().filter(|o| o.end > now).map(|o| override_body(o, &names)).collect(),
    }))
}

/// Checks a rotation request; members not in `already` must be on the roster with current training.
fn rotation_from(
    request: RotationRequest,
    roster: &Roster,
    names: &HashMap<AccountId, String>,
    already: &[AccountId],
    id: String,
    created_at: i64,
    now: i64,
) -> Result<Rotation, ApiError> {
    let name = check_text(&request.name, "name")?;
    if request.members.is_empty() || request.members.len() > MAX_MEMBERS {
        return Err(ApiError::bad_request(format!("members must list 1 to {MAX_MEMBERS} peer supporters")));
    }
    let handoff = NaiveTime::parse_from_str(&request.handoff, "%H:%M")
        .map_err(|_| ApiError::bad_request("handoff must be a local time HH:MM"))?;
    let time_zone: Tz =
        request.time_zone.parse().map_err(|_| ApiError::bad_request("time_zone must be an IANA time zone, e.g. America/Chicago"))?;
    if !(1..=366).contains(&request.period_days) {
        return Err(ApiError::bad_request("period_days must be 1 (daily) to 366; 7 is weekly"));
    }
    let start_date = parse_date(&request.start_date, "start_date")?;
    if !(2000..=2100).contains(&chrono::Datelike::year(&start_date)) {
        return Err(ApiError::bad_request("start_date must be between 2000 and 2100"));
    }
    let mut checked = HashSet::new();
    for member in &request.members {
        if already.contains(member) || !checked.insert(*member) {
            continue;
        }
        let s = roster.supporter(member).ok_or_else(|| not_on_roster(&format!("member {member}")))?;
        let gaps = s.training_gaps(now);
        if !gaps.is_empty() {
            return Err(training_not_current(&name_of(names, member), &gaps));
        }
    }
    Ok(Rotation { id, name, members: request.members, handoff, time_zone, period_days: request.period_days, start_date, created_at })
}

async fn put_rotation(state: &AppState, rotation: &Rotation) -> Result<(), ApiError> {
    match state.store.roster().put_rotation(rotation).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict("not_on_roster")) => Err(not_on_roster("a member")),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/support/rotations` (coordinator): `201` with the rotation.
async fn create_rotation(State(state): State<AppState>, signed: Signed) -> Result<(StatusCode, Json<RotationBody>), ApiError> {
    signed.require(Role::Coordinator)?;
    let request: RotationRequest = signed.json()?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    if roster.rotations.len() >= MAX_ROTATIONS {
        return Err(ApiError::bad_request(format!("at most {MAX_ROTATIONS} rotations")));
    }
    let rotation = rotation_from(request, &roster, &names, &[], new_id(), now, now)?;
    put_rotation(&state, &rotation).await?;
    tracing::info!("a coordinator created a rotation");
    let roster = self::roster(&state).await?;
    Ok((StatusCode::CREATED, Json(rotation_body(&roster, &rotation, &names, now))))
}

/// `PUT /v1/support/rotations/{id}` (coordinator): replaces name, members and timing.
async fn replace_rotation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Json<RotationBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let id = id_path(&id, "rotation")?;
    let request: RotationRequest = signed.json()?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    let existing = roster.rotation(&id).ok_or_else(|| not_found("rotation"))?;
    let rotation = rotation_from(request, &roster, &names, &existing.members, id, existing.created_at, now)?;
    put_rotation(&state, &rotation).await?;
    let roster = self::roster(&state).await?;
    Ok(Json(rotation_body(&roster, &rotation, &names, now)))
}

#[derive(Debug, Serialize)]
struct DeletedBody {
    deleted: bool,
}

/// `DELETE /v1/support/rotations/{id}` (coordinator), with its overrides and swaps.
async fn delete_rotation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Json<DeletedBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let id = id_path(&id, "rotation")?;
    Ok(Json(DeletedBody { deleted: state.store.roster().delete_rotation(&id).await? }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    rotation: String,
    account: AccountId,
    start: i64,
    end: i64,
}

/// `POST /v1/support/overrides` (coordinator): `account` covers `[start, end)` of a rotation.
async fn create_override(State(state): State<AppState>, signed: Signed) -> Result<(StatusCode, Json<OverrideBody>), ApiError> {
    signed.require(Role::Coordinator)?;
    let request: OverrideRequest = signed.json()?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    if request.end <= request.start || request.end - request.start > MAX_OVERRIDE_MS {
        return Err(ApiError::bad_request("end must be after start, by at most 92 days"));
    }
    if request.end <= now || request.start > now + MAX_AHEAD_MS {
        return Err(ApiError::bad_request("an override must end in the future and start within a year"));
    }
    let rotation = id_path(&request.rotation, "rotation")?;
    roster.rotation(&rotation).ok_or_else(|| not_found("rotation"))?;
    let s = roster.supporter(&request.account).ok_or_else(|| not_on_roster("the account"))?;
    let gaps = s.training_gaps(now);
    if !gaps.is_empty() {
        return Err(training_not_current(&name_of(&names, &request.account), &gaps));
    }
    let o = Override { id: new_id(), rotation, account: request.account, start: request.start, end: request.end, created_at: now };
    match state.store.roster().add_override(&o).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(not_found("rotation")),
        Err(StoreError::Conflict("not_on_roster")) => return Err(not_on_roster("the account")),
        Err(e) => return Err(e.into()),
    }
    tracing::info!("a coordinator added an on-call override");
    Ok((StatusCode::CREATED, Json(override_body(&o, &names))))
}

/// `DELETE /v1/support/overrides/{id}` (coordinator).
async fn delete_override(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Json<DeletedBody>, ApiError> {
    signed.require(Role::Coordinator)?;
    let id = id_path(&id, "override")?;
    Ok(Json(DeletedBody { deleted: state.store.roster().delete_override(&id).await? }))
}

// ---- swaps

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapRequest {
    rotation: String,
    counterpart: AccountId,
    /// Start (Unix ms) of the caller's shift the counterpart takes.
    my_shift_start: i64,
    /// Start of the counterpart's shift the caller takes.
    their_shift_start: i64,
}

#[derive(Debug, Serialize)]
struct SwapBody {
    id: String,
    rotation: String,
    proposer: PersonBody,
    counterpart: PersonBody,
    proposer_shift_start: i64,
    counterpart_shift_start: i64,
    status: SwapStatus,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    answered_at: Option<i64>,
}

fn swap_body(s: &Swap, names: &HashMap<AccountId, String>) -> SwapBody {
    SwapBody {
        id: s.id.clone(),
        rotation: s.rotation.clone(),
        proposer: person(names, s.proposer),
        counterpart: person(names, s.counterpart),
        proposer_shift_start: s.proposer_shift,
        counterpart_shift_start: s.counterpart_shift,
        status: s.status,
        created_at: s.created_at,
        answered_at: s.answered_at,
    }
}

/// `Ok` if `start` begins a shift of `rotation` that `who` holds (accepted swaps applied) and
/// that has not ended at `now`.
fn check_shift(roster: &Roster, rotation: &Rotation, who: &AccountId, start: i64, now: i64) -> Result<(), ApiError> {
    let k = schedule::period_starting_at(rotation, start);
    let holds = k.is_some_and(|k| {
        rotation.boundary(k + 1) > now && schedule::assignee(roster, rotation, k).is_some_and(|(a, _)| a == *who)
    });
    if holds { Ok(()) } else { Err(error(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NotAShift, ErrorCode::NotAShift.default_message())) }
}

/// Both sides of a swap still hold their shifts and both have current training.
fn check_swap(roster: &Roster, swap: &Swap, names: &HashMap<AccountId, String>, now: i64) -> Result<(), ApiError> {
    let rotation = roster.rotation(&swap.rotation).ok_or_else(|| not_found("rotation"))?;
    for who in [swap.proposer, swap.counterpart] {
        let s = roster.supporter(&who).ok_or_else(|| not_on_roster("the other supporter"))?;
        let gaps = s.training_gaps(now);
        if !gaps.is_empty() {
            return Err(training_not_current(&name_of(names, &who), &gaps));
        }
    }
    check_shift(roster, rotation, &swap.proposer, swap.proposer_shift, now)?;
    check_shift(roster, rotation, &swap.counterpart, swap.counterpart_shift, now)
}

/// `POST /v1/support/swaps` (a supporter): proposes a swap to `counterpart`; `201`.
async fn propose_swap(State(state): State<AppState>, signed: Signed) -> Result<(StatusCode, Json<SwapBody>), ApiError> {
    let request: SwapRequest = signed.json()?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    let me = me(&roster, &signed)?.account;
    if request.counterpart == me {
        return Err(ApiError::bad_request("a swap is with another peer supporter"));
    }
    roster.supporter(&request.counterpart).ok_or_else(|| not_on_roster("the other supporter"))?;
    let rotation = id_path(&request.rotation, "rotation")?;
    let swap = Swap {
        id: new_id(),
        rotation,
        proposer: me,
        counterpart: request.counterpart,
        proposer_shift: request.my_shift_start,
        counterpart_shift: request.their_shift_start,
        status: SwapStatus::Proposed,
        created_at: now,
        answered_at: None,
    };
    check_swap(&roster, &swap, &names, now)?;
    match state.store.roster().add_swap(&swap).await {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(not_found("rotation")),
        Err(StoreError::Conflict("not_on_roster")) => return Err(not_on_roster("the other supporter")),
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::CREATED, Json(swap_body(&swap, &names))))
}

#[derive(Debug, Serialize)]
struct SwapsBody {
    swaps: Vec<SwapBody>,
}

/// `GET /v1/support/swaps`: a supporter's own swaps (either side); a coordinator's, all.
async fn list_swaps(State(state): State<AppState>, signed: Signed) -> Result<Json<SwapsBody>, ApiError> {
    let roster = roster(&state).await?;
    require_team(&roster, &signed)?;
    let names = names(&state).await?;
    let all = signed.caller.roles.contains(&Role::Coordinator);
    let me = signed.caller.account;
    let swaps = roster
        .swaps
        .iter()
        .filter(|s| all || s.proposer == me || s.counterpart == me)
        .map(|s| swap_body(s, &names))
        .collect();
    Ok(Json(SwapsBody { swaps }))
}

/// `POST /v1/support/swaps/{id}/accept|decline` (the counterpart) and `…/cancel` (the proposer).
async fn answer_swap(
    State(state): State<AppState>,
    Path((id, answer)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<SwapBody>, ApiError> {
    let to = match answer.as_str() {
        "accept" => SwapStatus::Accepted,
        "decline" => SwapStatus::Declined,
        "cancel" => SwapStatus::Cancelled,
        _ => return Err(not_found("swap action")),
    };
    let id = id_path(&id, "swap")?;
    let (roster, names, now) = (roster(&state).await?, names(&state).await?, now_ms());
    let me = me(&roster, &signed)?.account;
    let swap = roster.swaps.iter().find(|s| s.id == id).ok_or_else(|| not_found("swap"))?;
    let allowed = if to == SwapStatus::Cancelled { swap.proposer == me } else { swap.counterpart == me };
    if !allowed {
        return Err(error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "only the other supporter accepts or declines a swap; only its proposer cancels it",
        ));
    }
    let not_pending = || error(StatusCode::CONFLICT, ErrorCode::SwapNotPending, ErrorCode::SwapNotPending.default_message());
    if swap.status != SwapStatus::Proposed {
        return Err(not_pending());
    }
    if to == SwapStatus::Accepted {
        check_swap(&roster, swap, &names, now)?;
    }
    match state.store.roster().answer_swap(&id, to, now).await {
        Ok(true) => {}
        Ok(false) => return Err(not_pending()),
        Err(StoreError::NotFound) => return Err(not_found("swap")),
        Err(e) => return Err(e.into()),
    }
    let mut answered = swap.clone();
    answered.status = to;
    answered.answered_at = Some(now);
    Ok(Json(swap_body(&answered, &names)))
}

// ---- who is on call, and my shifts

#[derive(Debug, Serialize)]
struct OnCallBody {
    on_call: Vec<PersonBody>,
}

/// `GET /v1/support/oncall` (coordinators and supporters): who is on call now (names only: not
/// why anyone else is not).
async fn on_call(State(state): State<AppState>, signed: Signed) -> Result<Json<OnCallBody>, ApiError> {
    let roster = roster(&state).await?;
    require_team(&roster, &signed)?;
    let names = names(&state).await?;
    let mut on_call: Vec<PersonBody> = schedule::on_call_at(&roster, now_ms()).into_iter().map(|a| person(&names, a)).collect();
    on_call.sort_by_key(|p| p.display_name.to_lowercase());
    Ok(Json(OnCallBody { on_call }))
}

#[derive(Debug, Deserialize)]
struct ShiftsQuery {
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct ShiftBody {
    rotation: String,
    rotation_name: String,
    start: i64,
    end: i64,
    source: Source,
}

#[derive(Debug, Serialize)]
struct ShiftsBody {
    shifts: Vec<ShiftBody>,
}

/// `GET /v1/support/shifts/me?limit=N` (a supporter): their next shifts (default 10, at most 50),
/// the current one first if it has not ended.
async fn my_shifts(
    State(state): State<AppState>,
    Query(query): Query<ShiftsQuery>,
    signed: Signed,
) -> Result<Json<ShiftsBody>, ApiError> {
    let limit = query.limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 50"));
    }
    let roster = roster(&state).await?;
    let me = me(&roster, &signed)?.account;
    let shifts = schedule::next_shifts(&roster, &me, now_ms(), limit)
        .into_iter()
        .map(|s: Segment| ShiftBody {
            rotation_name: roster.rotation(&s.rotation).map(|r| r.name.clone()).unwrap_or_default(),
            rotation: s.rotation,
            start: s.start,
            end: s.end,
            source: s.source,
        })
        .collect();
    Ok(Json(ShiftsBody { shifts }))
}
