//! `GET /v1/config` (public: crisis lines, confidentiality notice, VAPID key), `GET /v1/me` and
//! `GET /v1/directory` (signed).

use super::auth::Signed;
use super::error::ApiError;
use super::state::AppState;
use crate::workflows::{app_config, people};
use axum::Json;
use axum::extract::State;
use sallyport_protocol::rest::{ConfigBody, DirectoryBody, MeBody};

pub async fn config(State(state): State<AppState>) -> Result<Json<ConfigBody>, ApiError> {
    Ok(Json(app_config::config(&*state.store, &state.push.vapid_public_key).await?))
}

pub async fn me(signed: Signed) -> Json<MeBody> {
    Json(people::me(signed.caller))
}

pub async fn directory(State(state): State<AppState>, _signed: Signed) -> Result<Json<DirectoryBody>, ApiError> {
    Ok(Json(people::directory(&*state.store).await?))
}
