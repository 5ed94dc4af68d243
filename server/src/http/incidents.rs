//! Critical incidents and crisis paging (protocol/README.md §16). Every endpoint is signed but
//! `POST /v1/incidents/answer`, where the page's single-use token is the proof.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use sallyport_protocol::incidents::{AnsweredBody, IncidentBody, IncidentsBody, RecipientsBody, TokenAnswerRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/incidents", get(list).post(declare))
        .route("/v1/incidents/recipients", get(recipients))
        .route("/v1/incidents/answer", post(answer_with_token))
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

async fn resolve(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<IncidentBody> {
    Ok(Json(s.paging.resolve(&signed.caller, &id).await?))
}
