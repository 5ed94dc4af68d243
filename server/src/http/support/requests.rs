//! Support requests (protocol/README.md §13.2). Signed by a device, except where the requester
//! proves the unlinked mailbox's secret in the `Sallyport-Mailbox-Secret` header (or body).

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::workflows::peer_support::requests::request_id;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use sallyport_protocol::MailboxSecret;
use sallyport_protocol::support::{
    ClaimedSupportRequest, CreateSupportRequest, CreatedSupportRequest, HandOffRequest, HandedOff, MAILBOX_SECRET_HEADER,
    MailboxPushSubscription, SecretBody, SupportQueue, SupportRequestStatus,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/requests", post(create))
        .route("/v1/support/requests/{id}", get(status).post(status_by_body))
        .route("/v1/support/requests/{id}/claim", post(claim))
        .route("/v1/support/requests/{id}/close", post(close))
        .route("/v1/support/requests/{id}/handoff", post(handoff))
        .route("/v1/support/queue", get(queue))
        .route("/v1/support/mailboxes/{mailbox}/push", post(register_push))
}

/// The mailbox secret from the `Sallyport-Mailbox-Secret` header, if one was sent.
fn secret_from(headers: &HeaderMap) -> Option<Result<MailboxSecret, ApiError>> {
    let value = headers.get(MAILBOX_SECRET_HEADER)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|t| MailboxSecret::parse(t.trim()))
            .ok_or_else(|| ApiError::bad_request("Sallyport-Mailbox-Secret is not a mailbox secret")),
    )
}

fn required_secret(headers: &HeaderMap) -> Result<MailboxSecret, ApiError> {
    secret_from(headers).ok_or_else(|| ApiError::bad_request("Sallyport-Mailbox-Secret is missing"))?
}

/// `POST /v1/support/requests` (signed by any enrolled device; nothing about it is stored).
async fn create(State(state): State<AppState>, signed: Signed) -> Result<Json<CreatedSupportRequest>, ApiError> {
    let body: CreateSupportRequest = signed.json()?;
    Ok(Json(state.peer_support.reach_out(&signed.caller, body).await?))
}

/// `GET /v1/support/requests/{id}` with the mailbox secret header: the requester's status.
async fn status(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<SupportRequestStatus>, ApiError> {
    let id = request_id(&id)?;
    Ok(Json(state.peer_support.status(&id, &required_secret(&headers)?).await?))
}

/// `POST /v1/support/requests/{id}` with `{"mailbox_secret"}`: the same, for clients that would
/// rather not put the secret in a header.
async fn status_by_body(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<SecretBody>,
) -> Result<Json<SupportRequestStatus>, ApiError> {
    let id = request_id(&id)?;
    Ok(Json(state.peer_support.status(&id, &body.mailbox_secret).await?))
}

/// `GET /v1/support/queue` (peer supporters and coordinators).
async fn queue(State(state): State<AppState>, signed: Signed) -> Result<Json<SupportQueue>, ApiError> {
    Ok(Json(state.peer_support.queue(&signed.caller).await?))
}

/// `POST /v1/support/requests/{id}/claim`.
async fn claim(State(state): State<AppState>, Path(id): Path<String>, signed: Signed) -> Result<Json<ClaimedSupportRequest>, ApiError> {
    let id = request_id(&id)?;
    Ok(Json(state.peer_support.claim(&id, &signed.caller).await?))
}

/// `POST /v1/support/requests/{id}/close`: by the requester (mailbox secret header) or, signed,
/// by the supporter who holds it or a coordinator. `204`.
async fn close(State(state): State<AppState>, Path(id): Path<String>, request: Request) -> Result<StatusCode, ApiError> {
    let id = request_id(&id)?;
    match secret_from(request.headers()) {
        Some(secret) => state.peer_support.close_as_requester(&id, &secret?).await?,
        None => {
            let signed = Signed::from_request(request, &state).await?;
            state.peer_support.close_as_holder(&id, &signed.caller).await?
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/support/requests/{id}/handoff` with `{"to": account}`.
async fn handoff(State(state): State<AppState>, Path(id): Path<String>, signed: Signed) -> Result<Json<HandedOff>, ApiError> {
    let id = request_id(&id)?;
    let body: HandOffRequest = signed.json()?;
    Ok(Json(state.peer_support.hand_off(&id, &signed.caller, body.to).await?))
}

/// `POST /v1/support/mailboxes/{mailbox}/push` with the mailbox secret header. `204`.
async fn register_push(
    State(state): State<AppState>,
    Path(mailbox): Path<String>,
    headers: HeaderMap,
    Json(body): Json<MailboxPushSubscription>,
) -> Result<StatusCode, ApiError> {
    state.peer_support.register_mailbox_push(&mailbox, &required_secret(&headers)?, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
