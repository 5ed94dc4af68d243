//! The roster and the on-call schedule (protocol/README.md §13.1). Every endpoint is signed.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::workflows::peer_support::{schedule, team};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use sallyport_protocol::roster::{
    DeletedBody, OnCallBody, OverrideBody, RemovedBody, RotationBody, RotationsBody, ShiftsBody, SupporterBody, SupportersBody,
    SwapBody, SwapsBody,
};

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

type Answer<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

async fn list_roster(State(s): State<AppState>, signed: Signed) -> Answer<SupportersBody> {
    Ok(Json(team::roster(&*s.store, &s.clock, &signed.caller).await?))
}

async fn my_record(State(s): State<AppState>, signed: Signed) -> Answer<SupporterBody> {
    Ok(Json(team::my_record(&*s.store, &s.clock, &signed.caller).await?))
}

/// `201` when added, `200` if already there.
async fn add_supporter(State(s): State<AppState>, Path(account): Path<String>, signed: Signed) -> Created<SupporterBody> {
    let (added, record) = team::add(&*s.store, &s.clock, &signed.caller, &account).await?;
    Ok((if added { StatusCode::CREATED } else { StatusCode::OK }, Json(record)))
}

async fn remove_supporter(State(s): State<AppState>, Path(account): Path<String>, signed: Signed) -> Answer<RemovedBody> {
    Ok(Json(team::remove(&*s.store, &signed.caller, &account).await?))
}

async fn set_training(
    State(s): State<AppState>,
    Path((account, kind)): Path<(String, String)>,
    signed: Signed,
) -> Answer<SupporterBody> {
    let request = signed.json()?;
    Ok(Json(team::set_training(&*s.store, &s.clock, &signed.caller, &account, &kind, &request).await?))
}

async fn set_switch(State(s): State<AppState>, signed: Signed) -> Answer<SupporterBody> {
    let request = signed.json()?;
    Ok(Json(team::set_switch(&*s.store, &s.clock, &signed.caller, &request).await?))
}

async fn list_rotations(State(s): State<AppState>, signed: Signed) -> Answer<RotationsBody> {
    Ok(Json(schedule::rotations(&*s.store, &s.clock, &signed.caller).await?))
}

async fn create_rotation(State(s): State<AppState>, signed: Signed) -> Created<RotationBody> {
    let request = signed.json()?;
    Ok((StatusCode::CREATED, Json(schedule::create_rotation(&*s.store, &s.clock, &signed.caller, request).await?)))
}

async fn replace_rotation(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<RotationBody> {
    let request = signed.json()?;
    Ok(Json(schedule::replace_rotation(&*s.store, &s.clock, &signed.caller, &id, request).await?))
}

async fn delete_rotation(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DeletedBody> {
    Ok(Json(schedule::delete_rotation(&*s.store, &signed.caller, &id).await?))
}

async fn create_override(State(s): State<AppState>, signed: Signed) -> Created<OverrideBody> {
    let request = signed.json()?;
    Ok((StatusCode::CREATED, Json(schedule::create_override(&*s.store, &s.clock, &signed.caller, request).await?)))
}

async fn delete_override(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DeletedBody> {
    Ok(Json(schedule::delete_override(&*s.store, &signed.caller, &id).await?))
}

async fn propose_swap(State(s): State<AppState>, signed: Signed) -> Created<SwapBody> {
    let request = signed.json()?;
    Ok((StatusCode::CREATED, Json(schedule::propose_swap(&*s.store, &s.clock, &signed.caller, request).await?)))
}

async fn list_swaps(State(s): State<AppState>, signed: Signed) -> Answer<SwapsBody> {
    Ok(Json(schedule::swaps(&*s.store, &signed.caller).await?))
}

async fn answer_swap(State(s): State<AppState>, Path((id, answer)): Path<(String, String)>, signed: Signed) -> Answer<SwapBody> {
    Ok(Json(schedule::answer_swap(&*s.store, &s.clock, &signed.caller, &id, &answer).await?))
}

async fn on_call(State(s): State<AppState>, signed: Signed) -> Answer<OnCallBody> {
    Ok(Json(schedule::on_call(&*s.store, &s.clock, &signed.caller).await?))
}

#[derive(Debug, serde::Deserialize)]
struct ShiftsQuery {
    limit: Option<usize>,
}

async fn my_shifts(State(s): State<AppState>, Query(query): Query<ShiftsQuery>, signed: Signed) -> Answer<ShiftsBody> {
    Ok(Json(schedule::my_shifts(&*s.store, &s.clock, &signed.caller, query.limit).await?))
}
