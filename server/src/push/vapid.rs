//! The server's VAPID identity (RFC 8292): a P-256 key pair that signs every push request, from a
//! configured file or generated once and kept in the database, and the `sub` contact claim.

use super::PushSettings;
use crate::store::Store;
use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use web_push::{PartialVapidSignatureBuilder, VapidSignatureBuilder};

/// Settings key of the generated VAPID private key (the raw 32-byte P-256 scalar).
pub const PRIVATE_KEY_SETTING: &str = "vapid_private_key";

pub struct Vapid {
    /// Signs with the private key; cloned per push.
    pub signer: PartialVapidSignatureBuilder,
    /// Uncompressed public point, unpadded base64url.
    pub public_key: String,
    /// The `sub` claim.
    pub subject: String,
}

impl Vapid {
    pub async fn load(store: &dyn Store, settings: &PushSettings, public_url: &str) -> anyhow::Result<Vapid> {
        let signer = match &settings.vapid_private_key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading the VAPID private key file {}", path.display()))?;
                parse_private_key(&text)
                    .with_context(|| format!("the VAPID private key file {} holds no usable P-256 private key (PEM, or the raw scalar in base64url)", path.display()))?
            }
            None => {
                let stored = store
                    .init_setting(PRIVATE_KEY_SETTING, &generate_scalar()?)
                    .await
                    .context("storing the generated VAPID key")?;
                VapidSignatureBuilder::from_base64_no_sub(&URL_SAFE_NO_PAD.encode(&stored))
                    .map_err(|_| anyhow::anyhow!("the VAPID key in the database ({PRIVATE_KEY_SETTING}) is not a P-256 private key"))?
            }
        };
        let subject = match &settings.vapid_subject {
            Some(s) => s.trim().to_owned(),
            None => default_subject(public_url),
        };
        anyhow::ensure!(
            subject.starts_with("mailto:") || subject.starts_with("https://"),
            "--vapid-subject must be a mailto: or https: URL (RFC 8292 §2.1)"
        );
        let public_key = URL_SAFE_NO_PAD.encode(signer.get_public_key());
        Ok(Vapid { signer, public_key, subject })
    }
}

/// A PEM key (SEC1 or PKCS#8), or a raw base64url scalar (padding and surrounding space allowed).
pub fn parse_private_key(text: &str) -> anyhow::Result<PartialVapidSignatureBuilder> {
    if text.contains("-----BEGIN") {
        // Parsed here rather than by web-push, whose SEC1 reader panics on some valid files.
        use p256::pkcs8::DecodePrivateKey as _;
        let secret = p256::SecretKey::from_sec1_pem(text.trim())
            .or_else(|_| p256::SecretKey::from_pkcs8_pem(text.trim()))
            .map_err(|_| anyhow::anyhow!("not a P-256 private key in PEM (SEC1 or PKCS#8)"))?;
        return VapidSignatureBuilder::from_base64_no_sub(&URL_SAFE_NO_PAD.encode(secret.to_bytes()))
            .map_err(|_| anyhow::anyhow!("not a valid P-256 private key"));
    }
    let raw = text.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD.decode(raw).context("not base64url")?;
    anyhow::ensure!(bytes.len() == 32, "a raw P-256 private key has 32 bytes, this has {}", bytes.len());
    VapidSignatureBuilder::from_base64_no_sub(raw).map_err(|_| anyhow::anyhow!("not a valid P-256 private scalar"))
}

/// A random valid P-256 private scalar (a random 32-byte string is one but for a ~2^-32 chance).
fn generate_scalar() -> anyhow::Result<[u8; 32]> {
    for _ in 0..16 {
        let candidate: [u8; 32] = rand::random();
        if VapidSignatureBuilder::from_base64_no_sub(&URL_SAFE_NO_PAD.encode(candidate)).is_ok() {
            return Ok(candidate);
        }
    }
    anyhow::bail!("could not generate a VAPID key")
}

fn default_subject(public_url: &str) -> String {
    if public_url.starts_with("https://") {
        return public_url.to_owned();
    }
    let host = url::Url::parse(public_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_else(|| "localhost".into());
    format!("mailto:push@{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_pem_keys_parse_and_garbage_does_not() {
        let scalar = generate_scalar().unwrap();
        let b64 = URL_SAFE_NO_PAD.encode(scalar);
        let a = parse_private_key(&format!("  {b64}\n")).unwrap();
        assert_eq!(a.get_public_key().len(), 65);
        assert_eq!(a.get_public_key()[0], 4, "uncompressed point");
        assert!(parse_private_key("not a key").is_err());
        assert!(parse_private_key(&URL_SAFE_NO_PAD.encode([1u8; 31])).is_err());
        assert!(parse_private_key("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").is_err());
    }

    #[test]
    fn sec1_and_pkcs8_pem_keys_give_their_public_key() {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let public = secret.public_key().to_encoded_point(false).as_bytes().to_vec();
        let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_private_key(&sec1).unwrap().get_public_key(), public);
        let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_private_key(&pkcs8).unwrap().get_public_key(), public);
        let raw = URL_SAFE_NO_PAD.encode(secret.to_bytes());
        assert_eq!(parse_private_key(&raw).unwrap().get_public_key(), public);
    }

    #[test]
    fn default_subject_is_https_public_url_or_a_mailto() {
        assert_eq!(default_subject("https://support.example.org"), "https://support.example.org");
        assert_eq!(default_subject("http://127.0.0.1:8080"), "mailto:push@127.0.0.1");
    }
}
