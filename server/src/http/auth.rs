//! Signed REST requests (protocol/README.md §11): the device signs method, target, time and a hash
//! of the body with its Ed25519 key. [`Signed`] verifies that and yields the calling device.

use super::error::ApiError;
use super::state::AppState;
use crate::domain::signatures;
use crate::store::DeviceRecord;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use sallyport_protocol::rest::Role;
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
        json_body(&self.body)
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message)
}

/// The body of a signed request as JSON of type `T` (`bad_request` with the reason otherwise).
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing or malformed Sallyport-Device, Sallyport-Time or Sallyport-Signature header"))
}

/// The `Sallyport-Device`, `Sallyport-Time` and `Sallyport-Signature` headers of a request, parsed;
/// nothing is verified yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHeaders {
    pub device: DeviceId,
    /// When the device signed, in Unix ms by its own clock.
    pub timestamp: i64,
    pub signature: Signature,
}

impl SignedHeaders {
    /// Reads the device, time and signature headers in that order; the first one missing or
    /// malformed is the one refused (`401 unauthorized`).
    pub fn parse(headers: &HeaderMap) -> Result<SignedHeaders, ApiError> {
        let device = DeviceId::parse(header(headers, auth::DEVICE_HEADER)?)
            .ok_or_else(|| unauthorized("Sallyport-Device is not a device id"))?;
        let timestamp: i64 =
            header(headers, auth::TIME_HEADER)?.parse().map_err(|_| unauthorized("Sallyport-Time is not a number"))?;
        let signature = Signature::parse(header(headers, auth::SIGNATURE_HEADER)?)
            .ok_or_else(|| unauthorized("Sallyport-Signature is not a signature"))?;
        Ok(SignedHeaders { device, timestamp, signature })
    }

    /// Refuses a signing time more than `MAX_SKEW_MS` from `now` (`401 unauthorized`).
    pub fn check_time(&self, now: i64) -> Result<(), ApiError> {
        if !signatures::signed_within(self.timestamp, now, MAX_SKEW_MS.unsigned_abs()) {
            return Err(unauthorized("the signing time is more than 5 minutes from the server's clock"));
        }
        Ok(())
    }

    /// What the device must have signed for this request to the server at `origin`
    /// (`auth::request_message` over the request target and the body's SHA-256).
    pub fn message(&self, origin: &str, method: &Method, uri: &Uri, body: &[u8]) -> Vec<u8> {
        let body_hash: [u8; 32] = sha2::Sha256::digest(body).into();
        auth::request_message(&self.device, self.timestamp, origin, method.as_str(), request_target(uri), &body_hash)
    }

    /// Whether the signature is `key`'s over `message` (strict Ed25519, as for the socket).
    pub fn verifies(&self, key: &[u8; 32], message: &[u8]) -> bool {
        signatures::verifies(key, message, &self.signature.0)
    }
}

/// The request target a device signs: the path and query as sent.
pub fn request_target(uri: &Uri) -> &str {
    uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
}

/// Large request bodies (declarations) being read at once, server-wide: at most this many times
/// 2 MiB is held for them.
static LARGE_BODIES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(8);

impl FromRequest<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let signed = SignedHeaders::parse(&parts.headers)?;
        // Against the real time: the device signed with its own clock, which no test offset moves.
        let now = state.clock.wall();
        signed.check_time(now)?;
        // Bounded while reading, before the device is looked up: a client with no account cannot
        // make the server hold more than 16 KiB (the limit layer does not cover a raw body read).
        // The one larger body (a declaration, 2 MiB) is read only for an enrolled, unrevoked
        // device whose account may declare, and only a few at a time (`LARGE_BODIES`).
        let mut limit = super::body_limit(&parts.method, parts.uri.path());
        let mut looked_up = None;
        let mut _permit = None;
        if limit > super::MAX_BODY_BYTES {
            let record = state.store.device(&signed.device).await?.ok_or_else(|| unauthorized("this device is not enrolled"))?;
            let may = record.revoked_at.is_none() && (record.roles.contains(&Role::Supervisor) || record.roles.contains(&Role::Coordinator));
            if may {
                _permit = Some(LARGE_BODIES.acquire().await.map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Internal))?);
            } else {
                limit = super::MAX_BODY_BYTES;
            }
            looked_up = Some(record);
        }
        let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::bad_request(format!("the body is larger than {} KiB, or could not be read", limit / 1024))
        })?;
        let message = signed.message(&state.settings.origin, &parts.method, &parts.uri, &body);

        let device = signed.device;
        let record = match looked_up {
            Some(record) => record,
            None => state.store.device(&device).await?.ok_or_else(|| unauthorized("this device is not enrolled"))?,
        };
        if !signed.verifies(&record.signing_key.0, &message) {
            return Err(unauthorized("the signature does not verify"));
        }
        if record.revoked_at.is_some() {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::DeviceRevoked));
        }
        // The device's budget first: a flood from one device costs no database write.
        if !state.relay.budgets.signed_request(&device, now) {
            return Err(ApiError::rate_limited("this device made too many requests in the last minute; try again shortly"));
        }
        let first_use = if parts.method == Method::GET {
            state.replay.first_use(&device, &signed.signature.0, signed.timestamp, now)
        } else {
            let hash: [u8; 32] = sha2::Sha256::digest(signed.signature.0).into();
            state.store.claim_signature(&hash, super::replay::expiry(signed.timestamp), now).await?
        };
        if !first_use {
            return Err(unauthorized("this signature was used before"));
        }
        Ok(Signed { caller: record, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(device: Option<&str>, time: Option<&str>, signature: Option<&str>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in [(auth::DEVICE_HEADER, device), (auth::TIME_HEADER, time), (auth::SIGNATURE_HEADER, signature)] {
            if let Some(value) = value {
                map.insert(name, HeaderValue::from_str(value).unwrap());
            }
        }
        map
    }

    fn refusal(result: Result<SignedHeaders, ApiError>) -> String {
        let err = result.unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized));
        err.message
    }

    #[test]
    fn headers_are_read_in_order_and_the_first_bad_one_is_named() {
        let device = DeviceId([3; 16]).to_text();
        let signature = Signature([5; 64]).to_text();
        let parsed = SignedHeaders::parse(&headers(Some(&device), Some("-17"), Some(&signature))).unwrap();
        assert_eq!(parsed, SignedHeaders { device: DeviceId([3; 16]), timestamp: -17, signature: Signature([5; 64]) });

        let missing = "missing or malformed Sallyport-Device, Sallyport-Time or Sallyport-Signature header";
        assert_eq!(refusal(SignedHeaders::parse(&headers(None, Some("1"), Some(&signature)))), missing);
        assert_eq!(refusal(SignedHeaders::parse(&headers(Some("x"), None, None))), "Sallyport-Device is not a device id");
        assert_eq!(refusal(SignedHeaders::parse(&headers(Some(&device), None, Some("x")))), missing);
        assert_eq!(refusal(SignedHeaders::parse(&headers(Some(&device), Some("1.5"), None))), "Sallyport-Time is not a number");
        assert_eq!(refusal(SignedHeaders::parse(&headers(Some(&device), Some("1"), None))), missing);
        assert_eq!(
            refusal(SignedHeaders::parse(&headers(Some(&device), Some("1"), Some(&device)))),
            "Sallyport-Signature is not a signature"
        );
        let mut not_text = headers(Some(&device), Some("1"), Some(&signature));
        not_text.insert(auth::TIME_HEADER, HeaderValue::from_bytes(b"1\xff").unwrap());
        assert_eq!(refusal(SignedHeaders::parse(&not_text)), missing);
    }

    #[test]
    fn the_signing_time_may_be_five_minutes_either_side() {
        let at = |timestamp| SignedHeaders { device: DeviceId([1; 16]), timestamp, signature: Signature([0; 64]) };
        let now = 1_796_593_538_252;
        assert!(at(now - MAX_SKEW_MS).check_time(now).is_ok());
        assert!(at(now + MAX_SKEW_MS).check_time(now).is_ok());
        let late = at(now - MAX_SKEW_MS - 1).check_time(now).unwrap_err();
        assert_eq!((late.status, late.code), (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized));
        assert!(at(now + MAX_SKEW_MS + 1).check_time(now).is_err());
    }

    /// The time comes from the client: `now - timestamp` overflowed for a timestamp near
    /// `i64::MIN` (a panic with overflow checks; without them `i64::MIN + now` wrapped to a
    /// difference whose `abs()` is negative, and the check let it through).
    #[test]
    fn an_extreme_signing_time_is_refused_without_overflow() {
        let at = |timestamp| SignedHeaders { device: DeviceId([1; 16]), timestamp, signature: Signature([0; 64]) };
        for now in [0, 1_796_593_538_252] {
            for timestamp in [i64::MIN, i64::MIN + now, i64::MIN + now + 1, i64::MAX, i64::MAX - now, -now] {
                if timestamp.abs_diff(now) > MAX_SKEW_MS.unsigned_abs() {
                    assert!(at(timestamp).check_time(now).is_err(), "{timestamp} at {now}");
                }
            }
        }
    }

    #[test]
    fn the_signed_target_is_the_path_and_query_as_sent() {
        let uri: Uri = "/v1/support/shifts/me?limit=3".parse().unwrap();
        assert_eq!(request_target(&uri), "/v1/support/shifts/me?limit=3");
        let absolute: Uri = "http://relay.example/v1/me".parse().unwrap();
        assert_eq!(request_target(&absolute), "/v1/me");
    }

    #[test]
    fn a_signature_over_the_request_verifies_and_one_over_another_does_not() {
        use ed25519_dalek::{Signer as _, SigningKey};
        let key = SigningKey::from_bytes(&[7; 32]);
        let (origin, uri): (&str, Uri) = ("https://relay.example", "/v1/admin/devices/revoke".parse().unwrap());
        let mut signed = SignedHeaders { device: DeviceId([2; 16]), timestamp: 1_000, signature: Signature([0; 64]) };
        let body_hash: [u8; 32] = sha2::Sha256::digest(b"{}").into();
        let expected = auth::request_message(&signed.device, 1_000, origin, "POST", "/v1/admin/devices/revoke", &body_hash);
        assert_eq!(signed.message(origin, &Method::POST, &uri, b"{}"), expected);
        signed.signature = Signature(key.sign(&expected).to_bytes());
        let public = key.verifying_key().to_bytes();
        assert!(signed.verifies(&public, &signed.message(origin, &Method::POST, &uri, b"{}")));
        assert!(!signed.verifies(&public, &signed.message(origin, &Method::POST, &uri, b"{ }")));
        assert!(!signed.verifies(&public, &signed.message(origin, &Method::PUT, &uri, b"{}")));
    }
}
