//! Support requests (protocol/README.md §13.2). Signed by a device, except where the requester
//! proves the unlinked mailbox's secret (`Sallyport-Mailbox-Secret` header, or the status body).
//! Request and mailbox ids travel in JSON bodies, never in paths or query strings, so a reverse
//! proxy's access log cannot tie one to a client address and a time.

use crate::http::auth::Signed;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use sallyport_protocol::MailboxSecret;
use sallyport_protocol::support::{
    ClaimedSupportRequest, CreateSupportRequest, CreatedSupportRequest, HandOffRequest, HandedOff, MAILBOX_SECRET_HEADER,
    MailboxPushSubscription, RequestRef, RequestStatusQuery, SupportQueue, SupportRequestStatus,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/support/requests", post(create))
        .route("/v1/support/requests/status", post(status))
        .route("/v1/support/requests/claim", post(claim))
        .route("/v1/support/requests/close", post(close))
        .route("/v1/support/requests/handoff", post(handoff))
        .route("/v1/support/queue", get(queue))
        .route("/v1/support/mailboxes/push", post(register_push))
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

/// An unsigned JSON body, refused as `bad_request` with axum's reason.
fn unsigned<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(body)| body).map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `POST /v1/support/requests` (signed by any enrolled device; nothing about it is stored).
async fn create(State(state): State<AppState>, signed: Signed) -> Result<Json<CreatedSupportRequest>, ApiError> {
    let body: CreateSupportRequest = signed.json()?;
    Ok(Json(state.peer_support.reach_out(&signed.caller, body).await?))
}

/// `POST /v1/support/requests/status` with `{"id", "mailbox_secret"}`: the requester's status.
async fn status(
    State(state): State<AppState>,
    body: Result<Json<RequestStatusQuery>, JsonRejection>,
) -> Result<Json<SupportRequestStatus>, ApiError> {
    let query = unsigned(body)?;
    Ok(Json(state.peer_support.status(&query.id, &query.mailbox_secret).await?))
}

/// `GET /v1/support/queue` (peer supporters and coordinators).
async fn queue(State(state): State<AppState>, signed: Signed) -> Result<Json<SupportQueue>, ApiError> {
    Ok(Json(state.peer_support.queue(&signed.caller).await?))
}

/// `POST /v1/support/requests/claim` with `{"id"}`.
async fn claim(State(state): State<AppState>, signed: Signed) -> Result<Json<ClaimedSupportRequest>, ApiError> {
    let body: RequestRef = signed.json()?;
    Ok(Json(state.peer_support.claim(&body.id, &signed.caller).await?))
}

/// `POST /v1/support/requests/close` with `{"id"}`: by the requester (mailbox secret header) or,
/// signed, by the supporter who holds it or a coordinator. `204`.
async fn close(State(state): State<AppState>, request: Request) -> Result<StatusCode, ApiError> {
    match secret_from(request.headers()) {
        Some(secret) => {
            let secret = secret?;
            let body = unsigned(Json::<RequestRef>::from_request(request, &state).await)?;
            state.peer_support.close_as_requester(&body.id, &secret).await?
        }
        None => {
            let signed = Signed::from_request(request, &state).await?;
            let body: RequestRef = signed.json()?;
            state.peer_support.close_as_holder(&body.id, &signed.caller).await?
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/support/requests/handoff` with `{"id", "to": account}`.
async fn handoff(State(state): State<AppState>, signed: Signed) -> Result<Json<HandedOff>, ApiError> {
    let body: HandOffRequest = signed.json()?;
    Ok(Json(state.peer_support.hand_off(&body.id, &signed.caller, body.to).await?))
}

/// `POST /v1/support/mailboxes/push` with the mailbox secret header and `{"mailbox", "endpoint",
/// "p256dh", "auth"}`. `204`.
async fn register_push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<MailboxPushSubscription>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let secret = required_secret(&headers)?;
    let body = unsigned(body)?;
    state.peer_support.register_mailbox_push(&body.mailbox, &secret, &body.subscription()).await?;
    Ok(StatusCode::NO_CONTENT)
}
