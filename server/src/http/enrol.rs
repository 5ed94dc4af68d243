//! `POST /v1/enrol`: redeem a one-time invitation and register a device's public keys.

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::invitations;
use crate::state::AppState;
use crate::store::StoreError;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use sallyport_protocol::ErrorCode;
use sallyport_protocol::rest::{EnrolRequest, EnrolResponse};
use std::sync::atomic::Ordering::Relaxed;

pub async fn enrol(
    State(state): State<AppState>,
    body: Result<Json<EnrolRequest>, JsonRejection>,
) -> Result<Json<EnrolResponse>, ApiError> {
    let Json(request) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let invalid = || ApiError::new(StatusCode::FORBIDDEN, ErrorCode::InvalidInvitation);
    let code = invitations::parse_code(&request.code).ok_or_else(invalid)?;
    let display_name = match request.display_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) if name.chars().count() > 100 || name.chars().any(char::is_control) => {
            return Err(ApiError::bad_request("display_name must be 1 to 100 characters, without control characters"));
        }
        Some(name) => Some(name.to_owned()),
    };
    let enrolled =
        invitations::redeem(&*state.store, &code, request.signing_key, request.notification_key, display_name, now_ms())
        .await
        .map_err(|err| match err {
            StoreError::NotFound => invalid(),
            other => other.into(),
        })?;
    state.metrics.enrolments.fetch_add(1, Relaxed);
    tracing::info!("a device was enrolled");
    Ok(Json(EnrolResponse {
        account: enrolled.account,
        device: enrolled.device,
        mailbox: enrolled.mailbox,
        display_name: enrolled.display_name,
        roles: enrolled.roles,
    }))
}
