//! Administration in the app (administrators only, signed): invitations, the device list,
//! revoking a device, and the agency's EAP line.

use super::auth::Signed;
use super::error::ApiError;
use super::state::AppState;
use crate::workflows::{admin, app_config, enrolment};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use sallyport_protocol::rest::{ConfigBody, CrisisLine, DevicesBody, InvitationBody, InvitationRequest, RevokeDeviceRequest, RevokedBody};

/// `POST /v1/admin/invitations`: `201` with the one-time link.
pub async fn create_invitation(State(state): State<AppState>, signed: Signed) -> Result<(StatusCode, Json<InvitationBody>), ApiError> {
    let request: InvitationRequest = signed.json()?;
    let body = enrolment::invite(&*state.store, &state.clock, &state.settings.public_url, &signed.caller, request).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /v1/admin/devices`.
pub async fn devices(State(state): State<AppState>, signed: Signed) -> Result<Json<DevicesBody>, ApiError> {
    Ok(Json(admin::devices(&*state.store, &signed.caller).await?))
}

/// `POST /v1/admin/devices/revoke` with `{"device"}` (in the body, so no access log holds it).
pub async fn revoke_device(State(state): State<AppState>, signed: Signed) -> Result<Json<RevokedBody>, ApiError> {
    let body: RevokeDeviceRequest = signed.json()?;
    Ok(Json(admin::revoke(&*state.store, &state.clock, &signed.caller, &body.device).await?))
}

/// `PUT /v1/admin/eap-line`: answers the new configuration.
pub async fn set_eap_line(State(state): State<AppState>, signed: Signed) -> Result<Json<ConfigBody>, ApiError> {
    let eap: CrisisLine = signed.json()?;
    Ok(Json(app_config::set_eap_line(&*state.store, &state.push.vapid_public_key, &signed.caller, Some(eap)).await?))
}

/// `DELETE /v1/admin/eap-line`.
pub async fn delete_eap_line(State(state): State<AppState>, signed: Signed) -> Result<Json<ConfigBody>, ApiError> {
    Ok(Json(app_config::set_eap_line(&*state.store, &state.push.vapid_public_key, &signed.caller, None).await?))
}
