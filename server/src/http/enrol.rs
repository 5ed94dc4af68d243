//! `POST /v1/enrol`: redeem a one-time invitation and register a device's public keys.

use super::error::ApiError;
use super::state::AppState;
use crate::workflows::enrolment;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use sallyport_protocol::rest::{EnrolRequest, EnrolResponse};

pub async fn enrol(State(state): State<AppState>, body: Result<Json<EnrolRequest>, JsonRejection>) -> Result<Json<EnrolResponse>, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(enrolment::enrol(&*state.store, &state.clock, &state.metrics, request).await?))
}
