//! `GET /v1/config` (public: crisis lines, confidentiality notice, VAPID key), `GET /v1/me` and
//! `GET /v1/directory` (signed), and `POST /v1/devices/approve`.

use super::auth::Signed;
use super::error::ApiError;
use super::state::AppState;
use crate::workflows::{app_config, people};
use axum::Json;
use axum::extract::State;
use sallyport_protocol::rest::{ApproveDeviceRequest, ConfigBody, DirectoryBody, MeBody};

pub async fn config(State(state): State<AppState>) -> Result<Json<ConfigBody>, ApiError> {
    Ok(Json(app_config::config(&*state.store, &state.push.vapid_public_key).await?))
}

pub async fn me(signed: Signed) -> Json<MeBody> {
    Json(people::me(signed.caller))
}

pub async fn directory(State(state): State<AppState>, _signed: Signed) -> Result<Json<DirectoryBody>, ApiError> {
    Ok(Json(people::directory(&*state.store).await?))
}

/// `POST /v1/devices/approve` with `{"device", "signature"}`: answers 204.
pub async fn approve_device(State(state): State<AppState>, signed: Signed) -> Result<axum::http::StatusCode, ApiError> {
    let body: ApproveDeviceRequest = signed.json()?;
    people::approve_device(&*state.store, &state.clock, &signed.caller, body).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
