//! Crisis-response teams and each person's availability (protocol/README.md §15). Every
//! endpoint is signed.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::workflows::teams;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use sallyport_protocol::roster::{DeletedBody, OverrideBody, RemovedBody, RotationBody};
use sallyport_protocol::teams::{AvailabilityBody, ReadinessBody, TeamBody, TeamReadinessBody, TeamsBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/teams", get(list).post(create))
        .route("/v1/teams/{id}", get(show).put(update).delete(remove))
        .route("/v1/teams/{id}/members/{account}", put(put_member).delete(remove_member))
        .route("/v1/teams/{id}/rotations", post(create_rotation))
        .route("/v1/teams/{id}/rotations/{rotation}", put(replace_rotation).delete(delete_rotation))
        .route("/v1/teams/{id}/overrides", post(create_override))
        .route("/v1/teams/{id}/overrides/{override_id}", delete(delete_override))
        .route("/v1/oncall/me", get(availability).put(set_availability))
        .route("/v1/oncall/me/ready", post(confirm_ready))
        .route("/v1/teams/{id}/readiness", get(team_readiness))
        .route("/v1/teams/{id}/readiness/{account}/check", post(check_now))
}

type Answer<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

async fn list(State(s): State<AppState>, signed: Signed) -> Answer<TeamsBody> {
    Ok(Json(teams::list(&*s.store, &s.clock, &signed.caller).await?))
}

async fn create(State(s): State<AppState>, signed: Signed) -> Created<TeamBody> {
    let request = signed.json()?;
    let team = teams::create(&*s.store, &s.clock, &s.settings.team_roles, &signed.caller, request).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

async fn show(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<TeamBody> {
    Ok(Json(teams::get(&*s.store, &s.clock, &s.settings.team_roles, &signed.caller, &id).await?))
}

async fn update(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<TeamBody> {
    let request = signed.json()?;
    Ok(Json(teams::update(&*s.store, &s.clock, &s.settings.team_roles, &signed.caller, &id, request).await?))
}

async fn remove(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DeletedBody> {
    Ok(Json(teams::delete(&*s.store, &signed.caller, &id).await?))
}

/// `201` when added, `200` when a member's tier or role changed.
async fn put_member(State(s): State<AppState>, Path((id, account)): Path<(String, String)>, signed: Signed) -> Created<TeamBody> {
    let request = signed.json()?;
    let (added, team) = teams::put_member(&*s.store, &s.clock, &s.settings.team_roles, &signed.caller, &id, &account, request).await?;
    Ok((if added { StatusCode::CREATED } else { StatusCode::OK }, Json(team)))
}

async fn remove_member(State(s): State<AppState>, Path((id, account)): Path<(String, String)>, signed: Signed) -> Answer<RemovedBody> {
    Ok(Json(teams::remove_member(&*s.store, &signed.caller, &id, &account).await?))
}

async fn create_rotation(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Created<RotationBody> {
    let request = signed.json()?;
    let rotation = teams::put_rotation(&*s.store, &s.clock, &signed.caller, &id, None, request).await?;
    Ok((StatusCode::CREATED, Json(rotation)))
}

async fn replace_rotation(
    State(s): State<AppState>,
    Path((id, rotation)): Path<(String, String)>,
    signed: Signed,
) -> Answer<RotationBody> {
    let request = signed.json()?;
    Ok(Json(teams::put_rotation(&*s.store, &s.clock, &signed.caller, &id, Some(&rotation), request).await?))
}

async fn delete_rotation(State(s): State<AppState>, Path((id, rotation)): Path<(String, String)>, signed: Signed) -> Answer<DeletedBody> {
    Ok(Json(teams::delete_rotation(&*s.store, &signed.caller, &id, &rotation).await?))
}

async fn create_override(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Created<OverrideBody> {
    let request = signed.json()?;
    let o = teams::create_override(&*s.store, &s.clock, &signed.caller, &id, request).await?;
    Ok((StatusCode::CREATED, Json(o)))
}

async fn delete_override(
    State(s): State<AppState>,
    Path((id, override_id)): Path<(String, String)>,
    signed: Signed,
) -> Answer<DeletedBody> {
    Ok(Json(teams::delete_override(&*s.store, &signed.caller, &id, &override_id).await?))
}

async fn availability(State(s): State<AppState>, signed: Signed) -> Answer<AvailabilityBody> {
    let mut body = teams::availability(&*s.store, &s.clock, &signed.caller).await?;
    body.readiness = s.paging.mine(&signed.caller.account).await.map_err(crate::workflows::WorkflowError::from)?;
    Ok(Json(body))
}

async fn set_availability(State(s): State<AppState>, signed: Signed) -> Answer<AvailabilityBody> {
    let request = signed.json()?;
    let mut body = teams::set_availability(&*s.store, &s.clock, &signed.caller, request).await?;
    body.readiness = s.paging.mine(&signed.caller.account).await.map_err(crate::workflows::WorkflowError::from)?;
    Ok(Json(body))
}

async fn confirm_ready(State(s): State<AppState>, signed: Signed) -> Answer<ReadinessBody> {
    Ok(Json(s.paging.confirm_ready(&signed.caller).await?))
}

async fn team_readiness(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<TeamReadinessBody> {
    Ok(Json(s.paging.team_readiness(&signed.caller, &id).await?))
}

async fn check_now(
    State(s): State<AppState>,
    Path((id, account)): Path<(String, String)>,
    signed: Signed,
) -> Answer<TeamReadinessBody> {
    Ok(Json(s.paging.check_now(&signed.caller, &id, &account).await?))
}
