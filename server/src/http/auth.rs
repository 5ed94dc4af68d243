//! Signed REST requests (protocol/README.md §11): the device signs method, target, time and a hash
//! of the body with its Ed25519 key. [`Signed`] verifies that and yields the calling device.

use super::error::ApiError;
use super::state::AppState;
use crate::domain::signatures;
use crate::store::DeviceRecord;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use sallyport_protocol::{DeviceId, ErrorCode, Signature, auth};
use serde::de::DeserializeOwned;
use sha2::Digest as _;

/// How far a request's signing time may be from the server's clock (as for `auth`).
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// A request signed by an enrolled, unrevoked device, with its raw body.
pub struct Signed {
    pub caller: DeviceRecord,
    body: Bytes,
}

impl Signed {
    /// The body as JSON of type `T` (`bad_request` with the reason otherwise).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing or malformed Sallyport-Device, Sallyport-Time or Sallyport-Signature header"))
}

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let device = DeviceId::parse(header(&parts.headers, auth::DEVICE_HEADER)?)
            .ok_or_else(|| unauthorized("Sallyport-Device is not a device id"))?;
        let timestamp: i64 =
            header(&parts.headers, auth::TIME_HEADER)?.parse().map_err(|_| unauthorized("Sallyport-Time is not a number"))?;
        let signature = Signature::parse(header(&parts.headers, auth::SIGNATURE_HEADER)?)
            .ok_or_else(|| unauthorized("Sallyport-Signature is not a signature"))?;
        // Against the real time: the device signed with its own clock, which no test offset moves.
        let now = state.clock.wall();
        if (now - timestamp).abs() > MAX_SKEW_MS {
            return Err(unauthorized("the signing time is more than 5 minutes from the server's clock"));
        }
        // Bounded while reading, before the device is looked up: a client with no account cannot
        // make the server hold more than this (the limit layer does not cover a raw body read).
        let body = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::bad_request("the body is larger than 16 KiB, or could not be read"))?;
        let target = parts.uri.path_and_query().map_or(parts.uri.path(), |pq| pq.as_str());
        let body_hash: [u8; 32] = sha2::Sha256::digest(&body).into();
        let message =
            auth::request_message(&device, timestamp, &state.settings.origin, parts.method.as_str(), target, &body_hash);

        let record = state.store.device(&device).await?.ok_or_else(|| unauthorized("this device is not enrolled"))?;
        if !signatures::verifies(&record.signing_key.0, &message, &signature.0) {
            return Err(unauthorized("the signature does not verify"));
        }
        if record.revoked_at.is_some() {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::DeviceRevoked));
        }
        // The device's budget first: a flood from one device costs no database write.
        if !state.relay.budgets.signed_request(&device, now) {
            return Err(ApiError::rate_limited("this device made too many requests in the last minute; try again shortly"));
        }
        let first_use = if parts.method == axum::http::Method::GET {
            state.replay.first_use(&device, &signature.0, timestamp, now)
        } else {
            let hash: [u8; 32] = sha2::Sha256::digest(signature.0).into();
            state.store.claim_signature(&hash, super::replay::expiry(timestamp), now).await?
        };
        if !first_use {
            return Err(unauthorized("this signature was used before"));
        }
        Ok(Signed { caller: record, body })
    }
}
