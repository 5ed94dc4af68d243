//! `POST` and `DELETE /v1/push/subscriptions` (protocol/README.md §12): a signed device registers
//! or removes a browser push subscription for itself. `204`.

use super::auth::Signed;
use super::error::ApiError;
use super::state::AppState;
use crate::workflows::push_subscriptions;
use axum::extract::State;
use axum::http::StatusCode;
use sallyport_protocol::rest::{PushSubscriptionBody, UnsubscribeBody};

pub async fn subscribe(State(state): State<AppState>, signed: Signed) -> Result<StatusCode, ApiError> {
    let body: PushSubscriptionBody = signed.json()?;
    push_subscriptions::subscribe(&*state.store, &state.clock, &state.push.allow_list, &signed.caller, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unsubscribe(State(state): State<AppState>, signed: Signed) -> Result<StatusCode, ApiError> {
    let body: UnsubscribeBody = signed.json()?;
    push_subscriptions::unsubscribe(&*state.store, &signed.caller, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}
