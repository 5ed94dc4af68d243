//! Critical incidents and crisis paging (protocol/README.md §16). Every endpoint is signed but
//! `POST /v1/incidents/answer`, where the page's single-use token is the proof.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use crate::workflows::incidents;
use sallyport_protocol::teams::ConfirmCheckRequest;
use sallyport_protocol::incidents::{AnsweredBody, IncidentBody, IncidentsBody, LocationsBody, RecipientsBody, TokenAnswerRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/incidents", get(list).post(declare))
        .route("/v1/incidents/recipients", get(recipients))
        .route("/v1/incidents/locations", get(locations))
        .route("/v1/admin/incident-locations", put(set_locations))
        .route("/v1/incidents/answer", post(answer_with_token))
        .route("/v1/readiness/confirm", post(confirm_check))
        .route("/v1/incidents/{id}", get(show))
        .route("/v1/incidents/{id}/answer", post(answer))
        .route("/v1/incidents/{id}/resolve", post(resolve))
}

type Answer<T> = Result<Json<T>, ApiError>;

#[derive(serde::Deserialize)]
struct TeamQuery {
    team: String,
}

async fn recipients(State(s): State<AppState>, query: Result<Query<TeamQuery>, QueryRejection>, signed: Signed) -> Answer<RecipientsBody> {
    let Query(q) = query.map_err(|_| ApiError::bad_request("give the team: ?team=ID"))?;
    Ok(Json(s.paging.recipients(&signed.caller, &q.team).await?))
}

async fn locations(State(s): State<AppState>, _signed: Signed) -> Answer<LocationsBody> {
    Ok(Json(incidents::locations(&*s.store).await?))
}

async fn set_locations(State(s): State<AppState>, signed: Signed) -> Answer<LocationsBody> {
    let body = signed.json()?;
    Ok(Json(incidents::set_locations(&*s.store, &signed.caller, body).await?))
}

async fn declare(State(s): State<AppState>, signed: Signed) -> Result<(StatusCode, Json<IncidentBody>), ApiError> {
    let request = signed.json()?;
    Ok((StatusCode::CREATED, Json(s.paging.declare(&signed.caller, request).await?)))
}

async fn list(State(s): State<AppState>, signed: Signed) -> Answer<IncidentsBody> {
    Ok(Json(s.paging.list(&signed.caller).await?))
}

async fn show(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<IncidentBody> {
    Ok(Json(s.paging.get(&signed.caller, &id).await?))
}

async fn answer(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<IncidentBody> {
    let request = signed.json()?;
    Ok(Json(s.paging.answer(&signed.caller, &id, request).await?))
}

async fn answer_with_token(State(s): State<AppState>, body: Result<Json<TokenAnswerRequest>, JsonRejection>) -> Answer<AnsweredBody> {
    let Json(request) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(s.paging.answer_with_token(request).await?))
}

async fn confirm_check(State(s): State<AppState>, body: Result<Json<ConfirmCheckRequest>, JsonRejection>) -> Answer<serde_json::Value> {
    let Json(request) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    s.paging.confirm_check(request).await?;
    Ok(Json(serde_json::json!({"confirmed": true})))
}

async fn resolve(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<IncidentBody> {
    Ok(Json(s.paging.resolve(&signed.caller, &id).await?))
}
