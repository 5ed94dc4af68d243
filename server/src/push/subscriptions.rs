//! What a Web Push subscription must look like before it is stored: an https endpoint (no
//! credentials, no fragment; loopback http only in tests) at a push service this server sends to
//! (`AllowList`), an uncompressed P-256 key and a 16-byte authentication secret.

use super::AllowList;
use super::allow_list::is_loopback;
use crate::store::PushSubscription;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::rest::PushSubscriptionBody;

/// Longest endpoint URL accepted (real ones are a few hundred characters).
pub const MAX_ENDPOINT_LEN: usize = 1024;

/// Why a subscription was refused, to show the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidSubscription {
    /// A field breaks its rule; the message says which and how.
    Malformed(String),
    /// A well-formed endpoint at a host this server does not push to; the message names the host.
    HostNotAllowed(String),
}

fn invalid(message: impl Into<String>) -> InvalidSubscription {
    InvalidSubscription::Malformed(message.into())
}

/// The subscription a client sent, checked field by field.
pub fn check(body: &PushSubscriptionBody, allow_list: &AllowList) -> Result<PushSubscription, InvalidSubscription> {
    Ok(PushSubscription {
        endpoint: check_endpoint(&body.endpoint, allow_list)?,
        p256dh: check_p256dh(&body.p256dh)?,
        auth: check_auth(&body.auth)?,
    })
}

/// An https URL with a host and no credentials or fragment, at an allowed push service; http
/// only on the loopback host when the allow-list allows it (tests). Returned as given.
pub fn check_endpoint(endpoint: &str, allow_list: &AllowList) -> Result<String, InvalidSubscription> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(invalid(format!("endpoint is longer than {MAX_ENDPOINT_LEN} characters")));
    }
    let url = url::Url::parse(endpoint).map_err(|_| invalid("endpoint is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() || !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(invalid("endpoint must be a URL with a host and without credentials or fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_list.allows_insecure_loopback() && is_loopback(&url) => {}
        _ => return Err(invalid("endpoint must be an https:// URL")),
    }
    allow_list.check(&url).map_err(|refused| InvalidSubscription::HostNotAllowed(refused.0))?;
    Ok(endpoint.to_owned())
}

/// The subscriber's key: base64url (padding allowed) of an uncompressed point on P-256.
pub fn check_p256dh(text: &str) -> Result<Vec<u8>, InvalidSubscription> {
    let bytes = decode(text).ok_or_else(|| invalid("p256dh is not base64url"))?;
    if bytes.len() != 65 || bytes[0] != 4 || p256::PublicKey::from_sec1_bytes(&bytes).is_err() {
        return Err(invalid("p256dh must be an uncompressed P-256 public key (65 bytes)"));
    }
    Ok(bytes)
}

/// The subscriber's authentication secret: base64url of 16 bytes.
pub fn check_auth(text: &str) -> Result<Vec<u8>, InvalidSubscription> {
    match decode(text) {
        Some(bytes) if bytes.len() == 16 => Ok(bytes),
        _ => Err(invalid("auth must be 16 bytes in base64url")),
    }
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text.len() > 200 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_is_allowed_for_tests() {
        let strict = AllowList::default();
        let tests = AllowList::new::<&str>(&[], true).unwrap();
        let extra = AllowList::new(&["push.example.net"], false).unwrap();
        let malformed = |r: Result<String, InvalidSubscription>| matches!(r, Err(InvalidSubscription::Malformed(_)));
        let not_allowed = |r: Result<String, InvalidSubscription>| matches!(r, Err(InvalidSubscription::HostNotAllowed(_)));
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc", &strict).is_ok());
        assert!(check_endpoint("https://push.example.net/wpush/v2/abc", &extra).is_ok());
        assert!(not_allowed(check_endpoint("https://push.example.net/wpush/v2/abc", &strict)));
        assert!(not_allowed(check_endpoint("https://127.0.0.1:4000/push/t", &strict)));
        assert!(malformed(check_endpoint("http://push.example.net/x", &extra)));
        assert!(malformed(check_endpoint("http://127.0.0.1:4000/push/t", &strict)));
        assert!(check_endpoint("http://127.0.0.1:4000/push/t", &tests).is_ok());
        assert!(check_endpoint("http://localhost:4000/push/t", &tests).is_ok());
        assert!(check_endpoint("http://[::1]:4000/push/t", &tests).is_ok());
        assert!(malformed(check_endpoint("http://10.0.0.1/push/t", &tests)));
        assert!(not_allowed(check_endpoint("https://10.0.0.1/push/t", &tests)));
        assert!(malformed(check_endpoint("https://user:pw@fcm.googleapis.com/x", &strict)));
        assert!(malformed(check_endpoint("https://fcm.googleapis.com/x#frag", &strict)));
        assert!(malformed(check_endpoint("ftp://fcm.googleapis.com/x", &strict)));
        assert!(malformed(check_endpoint("not a url", &strict)));
        let long = format!("https://fcm.googleapis.com/{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(malformed(check_endpoint(&long, &strict)));
    }

    #[test]
    fn keys_must_have_the_right_form() {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        let good = URL_SAFE_NO_PAD.encode(point.as_bytes());
        assert_eq!(check_p256dh(&good).unwrap().len(), 65);
        assert!(check_p256dh(&format!("{good}=")).is_ok(), "padding is tolerated");
        let compressed = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(true).as_bytes());
        assert!(check_p256dh(&compressed).is_err());
        let mut off_curve = point.as_bytes().to_vec();
        off_curve[64] ^= 1;
        assert!(check_p256dh(&URL_SAFE_NO_PAD.encode(&off_curve)).is_err());
        assert!(check_p256dh("!!!").is_err());
        assert_eq!(check_auth(&URL_SAFE_NO_PAD.encode([9u8; 16])).unwrap(), vec![9u8; 16]);
        assert!(check_auth(&URL_SAFE_NO_PAD.encode([9u8; 15])).is_err());
    }
}
