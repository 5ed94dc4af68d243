//! The signed-request headers (http/auth.rs) through the checks `Signed` makes before and around
//! the database: `SignedHeaders::parse` (device, time, signature, in that order), the time window,
//! the message the device signed (method, request target, body hash), its verification, and the
//! in-memory replay guard of signed GETs.
//!
//! Input, lines separated by `\n`: the server's clock (Unix ms; clamped to 1970–2200, where a real
//! clock is), method, request target, `Sallyport-Device`, `Sallyport-Time`, `Sallyport-Signature`,
//! then the body (the rest, newlines included). Missing lines are missing headers. A signature
//! line of `!sign` is replaced by a real signature of the request by the device key below, which
//! must then verify.

#![no_main]

use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use ed25519_dalek::{Signer as _, SigningKey};
use libfuzzer_sys::fuzz_target;
use sallyport_protocol::{DeviceId, Signature, auth};
use sallyport_server::http::auth::{MAX_SKEW_MS, SignedHeaders, request_target};
use sallyport_server::http::replay::{ReplayGuard, expiry};
use sha2::Digest as _;

/// The origin the server binds into every signed message.
const ORIGIN: &str = "https://sallyport.example";
/// The seed of the enrolled device's Ed25519 key (the seeds are signed with it too).
const DEVICE_SEED: [u8; 32] = [7; 32];
/// Latest clock reading considered: 2200-01-01.
const LAST_CLOCK: i64 = 7_258_118_400_000;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(7, |b| *b == b'\n');
    let now = fields
        .next()
        .and_then(|f| std::str::from_utf8(f).ok())
        .and_then(|f| f.trim().parse::<i64>().ok())
        .map_or(1_796_515_200_000, |n| n.clamp(0, LAST_CLOCK));
    let Some(Ok(method)) = fields.next().map(Method::from_bytes) else { return };
    let Some(Ok(uri)) = fields.next().map(Uri::try_from) else { return };
    let values: Vec<&[u8]> = fields.by_ref().take(3).collect();
    let body = fields.next().unwrap_or_default();

    let key = SigningKey::from_bytes(&DEVICE_SEED);
    let mut headers = HeaderMap::new();
    let names = [auth::DEVICE_HEADER, auth::TIME_HEADER, auth::SIGNATURE_HEADER];
    for (name, value) in names.into_iter().zip(&values) {
        let value = if *value == b"!sign" { sign(&key, &values, &method, &uri, body) } else { value.to_vec() };
        // hyper refuses what HeaderValue refuses: such a request never reaches the extractor.
        let Ok(value) = HeaderValue::from_bytes(&value) else { return };
        headers.append(name, value);
    }

    let Ok(signed) = SignedHeaders::parse(&headers) else { return };
    // The parsed headers are what a client writes: rendered again, they parse to the same.
    let mut rendered = HeaderMap::new();
    rendered.insert(auth::DEVICE_HEADER, HeaderValue::from_str(&signed.device.to_text()).unwrap());
    rendered.insert(auth::TIME_HEADER, HeaderValue::from_str(&signed.timestamp.to_string()).unwrap());
    rendered.insert(auth::SIGNATURE_HEADER, HeaderValue::from_str(&signed.signature.to_text()).unwrap());
    assert_eq!(SignedHeaders::parse(&rendered).ok(), Some(signed));

    // The window is five minutes either side, whatever the time sent.
    let inside = (i128::from(signed.timestamp) - i128::from(now)).abs() <= i128::from(MAX_SKEW_MS);
    assert_eq!(signed.check_time(now).is_ok(), inside, "signed at {} with the clock at {now}", signed.timestamp);
    if !inside {
        return;
    }

    let message = signed.message(ORIGIN, &method, &uri, body);
    let verifies = signed.verifies(&key.verifying_key().to_bytes(), &message);
    if values.get(2) == Some(&b"!sign".as_slice()) {
        assert!(verifies, "a signature made by the device over this request does not verify");
        let other = signed.message(ORIGIN, &method, &uri, &[body, b"!"].concat());
        assert!(!signed.verifies(&key.verifying_key().to_bytes(), &other), "a signature verifies for another body");
    }
    if verifies {
        // A GET is remembered in memory; a write's claim expires no earlier than the window.
        let guard = ReplayGuard::default();
        assert!(guard.first_use(&signed.device, &signed.signature.0, signed.timestamp, now));
        assert!(!guard.first_use(&signed.device, &signed.signature.0, signed.timestamp, now));
        assert!(expiry(signed.timestamp) > signed.timestamp + MAX_SKEW_MS);
    }
});

/// The signature the device's key makes over the request the other fields describe, as the
/// client core signs one; `!sign` itself if they do not describe one.
fn sign(key: &SigningKey, values: &[&[u8]], method: &Method, uri: &Uri, body: &[u8]) -> Vec<u8> {
    let text = |i: usize| values.get(i).and_then(|v| std::str::from_utf8(v).ok());
    let device = text(0).and_then(DeviceId::parse);
    let timestamp = text(1).and_then(|t| t.parse::<i64>().ok());
    let (Some(device), Some(timestamp)) = (device, timestamp) else { return b"!sign".to_vec() };
    let body_hash: [u8; 32] = sha2::Sha256::digest(body).into();
    let message = auth::request_message(&device, timestamp, ORIGIN, method.as_str(), request_target(uri), &body_hash);
    Signature(key.sign(&message).to_bytes()).to_text().into_bytes()
}
