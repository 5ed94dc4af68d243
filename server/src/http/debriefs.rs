//! Debriefings, defusings and follow-ups (protocol/README.md §18), and the programme's follow-up
//! days. Every route is signed.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::workflows::debriefs;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use sallyport_protocol::debriefs::{DebriefBody, ProgrammeBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/debriefs/{id}", get(show).put(put).delete(cancel))
        .route("/v1/programme", get(programme).put(set_programme))
}

type Answer<T> = Result<Json<T>, ApiError>;

async fn put(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DebriefBody> {
    let request = signed.json()?;
    Ok(Json(s.paging.put_debrief(&signed.caller, &id, request).await?))
}

async fn show(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DebriefBody> {
    Ok(Json(s.paging.get_debrief(&signed.caller, &id).await?))
}

async fn cancel(State(s): State<AppState>, Path(id): Path<String>, signed: Signed) -> Answer<DebriefBody> {
    Ok(Json(s.paging.cancel_debrief(&signed.caller, &id).await?))
}

async fn programme(State(s): State<AppState>, _signed: Signed) -> Answer<ProgrammeBody> {
    Ok(Json(debriefs::programme(&*s.store).await?))
}

async fn set_programme(State(s): State<AppState>, signed: Signed) -> Answer<ProgrammeBody> {
    let body = signed.json()?;
    Ok(Json(debriefs::set_programme(&*s.store, &signed.caller, body).await?))
}
