//! The crypto provider for the one cipher suite, `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`
//! ([`crate::mls::CIPHER_SUITE`]): mls-rs's HPKE (`mls-rs-crypto-hpke`, RFC 9180) over X25519,
//! HKDF-SHA256 and ChaCha20-Poly1305, SHA-256, HMAC-SHA256 and Ed25519, each bound at compile time.
//!
//! It does what `mls-rs-crypto-rustcrypto`'s provider does for this suite, call for call, with the
//! same RustCrypto crates and the same checks (the tests check it against that provider and the
//! RFC 9180 and RFC 8032 vectors). That provider picks curves, AEADs and hashes at run time, so it
//! links P-256, P-384, ECDSA, AES-GCM and HKDF over SHA-384 and SHA-512 into the wasm module though
//! this suite never uses them; here they are not linked at all.

use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hkdf::SimpleHkdf;
use hkdf::hmac::{Mac, SimpleHmac};
use mls_rs_core::crypto::{
    CipherSuite, CipherSuiteProvider, CryptoProvider, HpkeCiphertext, HpkePsk, HpkePublicKey, HpkeSecretKey,
    SignaturePublicKey, SignatureSecretKey,
};
use mls_rs_core::error::IntoAnyError;
use mls_rs_crypto_hpke::context::{ContextR, ContextS};
use mls_rs_crypto_hpke::dhkem::DhKem;
use mls_rs_crypto_hpke::hpke::{Hpke, HpkeError};
use mls_rs_crypto_traits::{AeadType, DhType, KdfType, KemId, SamplingMethod};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::mls::CIPHER_SUITE;

/// Why a primitive failed. The messages say which check refused the input, never key material.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("invalid key data")]
    InvalidKey,
    #[error("invalid signature")]
    InvalidSignature,
    #[error("AEAD: {0}")]
    Aead(&'static str),
    #[error("HKDF: {0}")]
    Kdf(&'static str),
    #[error(transparent)]
    Hpke(#[from] HpkeError),
    #[error("random source: {0}")]
    Random(getrandom::Error),
}

impl IntoAnyError for SuiteError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

fn random<const N: usize>() -> Result<[u8; N], SuiteError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(SuiteError::Random)?;
    Ok(bytes)
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], SuiteError> {
    bytes.try_into().map_err(|_| SuiteError::InvalidKey)
}

/// The HPKE KEM's Diffie-Hellman: X25519 with raw 32-byte keys (x25519-dalek).
#[derive(Debug, Clone, Copy)]
pub struct X25519;

impl DhType for X25519 {
    type Error = SuiteError;

    fn dh(&self, secret_key: &HpkeSecretKey, public_key: &HpkePublicKey) -> Result<Vec<u8>, SuiteError> {
        let secret = x25519_dalek::StaticSecret::from(array::<32>(secret_key)?);
        let public = x25519_dalek::PublicKey::from(array::<32>(public_key)?);
        Ok(secret.diffie_hellman(&public).to_bytes().to_vec())
    }

    fn generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), SuiteError> {
        let secret = x25519_dalek::StaticSecret::from(random::<32>()?);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok((secret.to_bytes().to_vec().into(), public.to_bytes().to_vec().into()))
    }

    fn to_public(&self, secret_key: &HpkeSecretKey) -> Result<HpkePublicKey, SuiteError> {
        let secret = x25519_dalek::StaticSecret::from(array::<32>(secret_key)?);
        Ok(x25519_dalek::PublicKey::from(&secret).to_bytes().to_vec().into())
    }

    // RFC 9180 §7.1.3: an X25519 private key is any 32 bytes.
    fn bitmask_for_rejection_sampling(&self) -> SamplingMethod {
        SamplingMethod::HpkeWithoutBitmask
    }

    fn secret_key_size(&self) -> usize {
        32
    }

    fn public_key_size(&self) -> usize {
        32
    }

    fn public_key_validate(&self, key: &HpkePublicKey) -> Result<(), SuiteError> {
        array::<32>(key).map(|_| ())
    }
}

/// HKDF-SHA256 (RFC 5869).
#[derive(Debug, Clone, Copy)]
pub struct HkdfSha256;

impl KdfType for HkdfSha256 {
    type Error = SuiteError;

    fn kdf_id(&self) -> u16 {
        0x0001
    }

    fn expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Vec<u8>, SuiteError> {
        if prk.len() < self.extract_size() {
            return Err(SuiteError::Kdf("the pseudorandom key is too short"));
        }
        let mut out = vec![0u8; len];
        SimpleHkdf::<Sha256>::from_prk(prk)
            .map_err(|_| SuiteError::Kdf("invalid pseudorandom key length"))?
            .expand(info, &mut out)
            .map_err(|_| SuiteError::Kdf("invalid output length"))?;
        Ok(out)
    }

    fn extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, SuiteError> {
        if ikm.is_empty() {
            return Err(SuiteError::Kdf("the input key material is empty"));
        }
        let salt = if salt.is_empty() { None } else { Some(salt) };
        Ok(SimpleHkdf::<Sha256>::extract(salt, ikm).0.to_vec())
    }

    fn extract_size(&self) -> usize {
        32
    }
}

/// ChaCha20-Poly1305 (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag.
#[derive(Debug, Clone, Copy)]
pub struct ChaCha;

const TAG_LEN: usize = 16;

impl ChaCha {
    fn cipher(&self, key: &[u8]) -> Result<ChaCha20Poly1305, SuiteError> {
        ChaCha20Poly1305::new_from_slice(key).map_err(|_| SuiteError::Aead("invalid key length"))
    }
}

impl AeadType for ChaCha {
    type Error = SuiteError;

    fn aead_id(&self) -> u16 {
        0x0003
    }

    fn seal(&self, key: &[u8], data: &[u8], aad: Option<&[u8]>, nonce: &[u8]) -> Result<Vec<u8>, SuiteError> {
        if data.is_empty() {
            return Err(SuiteError::Aead("the plaintext is empty"));
        }
        let nonce = nonce.try_into().map_err(|_| SuiteError::Aead("invalid nonce length"))?;
        self.cipher(key)?
            .encrypt(nonce, Payload { msg: data, aad: aad.unwrap_or_default() })
            .map_err(|_| SuiteError::Aead("sealing failed"))
    }

    fn open(&self, key: &[u8], ciphertext: &[u8], aad: Option<&[u8]>, nonce: &[u8]) -> Result<Vec<u8>, SuiteError> {
        if ciphertext.len() <= TAG_LEN {
            return Err(SuiteError::Aead("the ciphertext is too short"));
        }
        let nonce = nonce.try_into().map_err(|_| SuiteError::Aead("invalid nonce length"))?;
        self.cipher(key)?
            .decrypt(nonce, Payload { msg: ciphertext, aad: aad.unwrap_or_default() })
            .map_err(|_| SuiteError::Aead("the ciphertext does not open"))
    }

    fn key_size(&self) -> usize {
        32
    }

    fn nonce_size(&self) -> usize {
        12
    }
}

type SuiteHpke = Hpke<DhKem<X25519, HkdfSha256>, HkdfSha256, ChaCha>;

/// The [`CryptoProvider`] to build mls-rs clients with: [`CIPHER_SUITE`] and nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct SuiteProvider;

impl CryptoProvider for SuiteProvider {
    type CipherSuiteProvider = Suite;

    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        vec![CIPHER_SUITE]
    }

    fn cipher_suite_provider(&self, cipher_suite: CipherSuite) -> Option<Suite> {
        (cipher_suite == CIPHER_SUITE).then(Suite::new)
    }
}

/// [`CIPHER_SUITE`]'s primitives, for mls-rs and for sealed notifications.
#[derive(Clone)]
pub struct Suite {
    hpke: SuiteHpke,
}

impl Suite {
    pub fn new() -> Self {
        let kem_id = KemId::DhKemX25519Sha256;
        let kem = DhKem::new(X25519, HkdfSha256, kem_id as u16, kem_id.n_secret());
        Suite { hpke: Hpke::new(kem, HkdfSha256, Some(ChaCha)) }
    }
}

impl Default for Suite {
    fn default() -> Self {
        Suite::new()
    }
}

/// An Ed25519 secret key in the 64-byte form mls-rs keeps (seed · public key; the two must match).
fn signing_key(secret_key: &SignatureSecretKey) -> Result<SigningKey, SuiteError> {
    SigningKey::from_keypair_bytes(&array::<64>(secret_key)?).map_err(|_| SuiteError::InvalidKey)
}

impl CipherSuiteProvider for Suite {
    type Error = SuiteError;
    type HpkeContextS = ContextS<HkdfSha256, ChaCha>;
    type HpkeContextR = ContextR<HkdfSha256, ChaCha>;

    fn cipher_suite(&self) -> CipherSuite {
        CIPHER_SUITE
    }

    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, SuiteError> {
        Ok(Sha256::digest(data).to_vec())
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, SuiteError> {
        let mut mac = SimpleHmac::<Sha256>::new_from_slice(key).map_err(|_| SuiteError::InvalidKey)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn aead_seal(&self, key: &[u8], data: &[u8], aad: Option<&[u8]>, nonce: &[u8]) -> Result<Vec<u8>, SuiteError> {
        ChaCha.seal(key, data, aad, nonce)
    }

    fn aead_open(
        &self,
        key: &[u8],
        ciphertext: &[u8],
        aad: Option<&[u8]>,
        nonce: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
        ChaCha.open(key, ciphertext, aad, nonce).map(Zeroizing::new)
    }

    fn aead_key_size(&self) -> usize {
        ChaCha.key_size()
    }

    fn aead_nonce_size(&self) -> usize {
        ChaCha.nonce_size()
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
        HkdfSha256.extract(salt, ikm).map(Zeroizing::new)
    }

    fn kdf_expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
        HkdfSha256.expand(prk, info, len).map(Zeroizing::new)
    }

    fn kdf_extract_size(&self) -> usize {
        HkdfSha256.extract_size()
    }

    fn hpke_seal(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
    ) -> Result<HpkeCiphertext, SuiteError> {
        Ok(self.hpke.seal(remote_key, info, None, aad, pt)?)
    }

    fn hpke_seal_psk(
        &self,
        remote_key: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        pt: &[u8],
        psk: HpkePsk<'_>,
    ) -> Result<HpkeCiphertext, SuiteError> {
        Ok(self.hpke.seal(remote_key, info, Some(psk), aad, pt)?)
    }

    fn hpke_open(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
    ) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
        Ok(self.hpke.open(ciphertext, local_secret, local_public, info, None, aad)?)
    }

    fn hpke_open_psk(
        &self,
        ciphertext: &HpkeCiphertext,
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
        aad: Option<&[u8]>,
        psk: HpkePsk<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, SuiteError> {
        Ok(self.hpke.open(ciphertext, local_secret, local_public, info, Some(psk), aad)?)
    }

    fn hpke_setup_s(&self, remote_key: &HpkePublicKey, info: &[u8]) -> Result<(Vec<u8>, Self::HpkeContextS), SuiteError> {
        Ok(self.hpke.setup_sender(remote_key, info, None)?)
    }

    fn hpke_setup_r(
        &self,
        enc: &[u8],
        local_secret: &HpkeSecretKey,
        local_public: &HpkePublicKey,
        info: &[u8],
    ) -> Result<Self::HpkeContextR, SuiteError> {
        Ok(self.hpke.setup_receiver(enc, local_secret, local_public, info, None)?)
    }

    fn kem_derive(&self, ikm: &[u8]) -> Result<(HpkeSecretKey, HpkePublicKey), SuiteError> {
        Ok(self.hpke.derive(ikm)?)
    }

    fn kem_generate(&self) -> Result<(HpkeSecretKey, HpkePublicKey), SuiteError> {
        Ok(self.hpke.generate()?)
    }

    fn kem_public_key_validate(&self, key: &HpkePublicKey) -> Result<(), SuiteError> {
        Ok(self.hpke.public_key_validate(key)?)
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), SuiteError> {
        getrandom::fill(out).map_err(SuiteError::Random)
    }

    fn signature_key_generate(&self) -> Result<(SignatureSecretKey, SignaturePublicKey), SuiteError> {
        let key = SigningKey::from_bytes(&random::<32>()?);
        let public = key.verifying_key().to_bytes().to_vec();
        Ok((SignatureSecretKey::new(key.to_keypair_bytes().to_vec()), SignaturePublicKey::new(public)))
    }

    fn signature_key_derive_public(&self, secret_key: &SignatureSecretKey) -> Result<SignaturePublicKey, SuiteError> {
        Ok(SignaturePublicKey::new(signing_key(secret_key)?.verifying_key().to_bytes().to_vec()))
    }

    fn sign(&self, secret_key: &SignatureSecretKey, data: &[u8]) -> Result<Vec<u8>, SuiteError> {
        Ok(signing_key(secret_key)?.sign(data).to_bytes().to_vec())
    }

    fn verify(&self, public_key: &SignaturePublicKey, signature: &[u8], data: &[u8]) -> Result<(), SuiteError> {
        let key = VerifyingKey::from_bytes(&array::<32>(public_key)?).map_err(|_| SuiteError::InvalidKey)?;
        let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| SuiteError::InvalidSignature)?;
        key.verify(data, &signature).map_err(|_| SuiteError::InvalidSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mls_rs_core::crypto::{HpkeContextR as _, HpkeContextS as _};
    use mls_rs_crypto_rustcrypto::RustCryptoProvider;

    /// The provider the core used before, for this suite: the oracle the suite must match.
    fn reference() -> impl CipherSuiteProvider {
        RustCryptoProvider::with_enabled_cipher_suites(vec![CIPHER_SUITE]).cipher_suite_provider(CIPHER_SUITE).unwrap()
    }

    /// Runs `$e` with `$cs` bound to the suite, then to the reference provider, and asserts the same
    /// outcome: the same bytes, or an error from both. Evaluates to the suite's bytes.
    macro_rules! same {
        (|$cs:ident| $e:expr) => {{
            let ours = {
                let $cs = &Suite::new();
                $e.ok().map(|v| v.to_vec())
            };
            let theirs = {
                let $cs = &reference();
                $e.ok().map(|v| v.to_vec())
            };
            assert_eq!(ours, theirs, "{}", stringify!($e));
            ours
        }};
    }

    /// Like `same!` for calls that answer only success or failure.
    macro_rules! same_ok {
        (|$cs:ident| $e:expr) => {{
            let ours = {
                let $cs = &Suite::new();
                $e.is_ok()
            };
            let theirs = {
                let $cs = &reference();
                $e.is_ok()
            };
            assert_eq!(ours, theirs, "{}", stringify!($e));
            ours
        }};
    }

    fn hex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    #[test]
    fn opens_the_rfc_9180_x25519_chacha20poly1305_vector() {
        // RFC 9180 appendix A.2.1: base mode, the first encryption.
        let suite = Suite::new();
        let (sk, pk) = suite.kem_derive(&hex("1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df")).unwrap();
        assert_eq!(sk.as_ref(), hex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb"));
        assert_eq!(pk.as_ref(), hex("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"));
        let ct = HpkeCiphertext {
            kem_output: hex("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a"),
            ciphertext: hex("1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"),
        };
        let info = hex("4f6465206f6e2061204772656369616e2055726e");
        let opened = suite.hpke_open(&ct, &sk, &pk, &info, Some(&hex("436f756e742d30"))).unwrap();
        assert_eq!(*opened, hex("4265617574792069732074727574682c20747275746820626561757479"));
    }

    #[test]
    fn signs_the_rfc_8032_ed25519_vector() {
        // RFC 8032 §7.1, test 1 (the empty message); mls-rs keeps the secret as seed · public key.
        let suite = Suite::new();
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let secret = SignatureSecretKey::new([hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), public.clone()].concat());
        let signature = hex(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        );
        assert_eq!(suite.signature_key_derive_public(&secret).unwrap().as_bytes(), public);
        assert_eq!(suite.sign(&secret, b"").unwrap(), signature);
        suite.verify(&SignaturePublicKey::new(public), &signature, b"").unwrap();
    }

    #[test]
    fn computes_what_the_rustcrypto_provider_computes() {
        for len in [0usize, 1, 12, 16, 17, 31, 32, 33, 64, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let key: Vec<u8> = (0..32).map(|i| (i * 5 + len) as u8).collect();
            let nonce = [len as u8; 12];
            same!(|cs| cs.hash(&data));
            same!(|cs| cs.mac(&key, &data));
            same!(|cs| cs.mac(&data, &key));
            same!(|cs| cs.kdf_extract(&data, &key));
            same!(|cs| cs.kdf_extract(&key, &data));
            same!(|cs| cs.kdf_expand(&key, &data, len));
            same!(|cs| cs.kdf_expand(&data, &key, 42));
            same!(|cs| cs.aead_seal(&key, &data, None, &nonce));
            if let Some(sealed) = same!(|cs| cs.aead_seal(&key, &data, Some(&key), &nonce)) {
                same!(|cs| cs.aead_open(&key, &sealed, Some(&key), &nonce));
                same!(|cs| cs.aead_open(&key, &sealed, None, &nonce));
            }
            same!(|cs| cs.aead_open(&key, &data, None, &nonce));
            same!(|cs| cs.aead_seal(&data, &key, None, &nonce));
            same!(|cs| cs.aead_seal(&key, &key, None, &data));
            let derived = same!(|cs| cs.kem_derive(&data).map(|(sk, pk)| [sk.to_vec(), pk.to_vec()].concat()));
            let (sk, pk) = match derived {
                Some(pair) => (HpkeSecretKey::from(pair[..32].to_vec()), HpkePublicKey::from(pair[32..].to_vec())),
                None => continue,
            };
            same_ok!(|cs| cs.kem_public_key_validate(&pk));
            same_ok!(|cs| cs.kem_public_key_validate(&HpkePublicKey::from(data.clone())));
            let export = same!(|cs| cs.hpke_setup_r(&data, &sk, &pk, &key).map(|ctx| ctx.export(&data, 32).unwrap()));
            assert_eq!(export.is_some(), len == 32, "setup_r takes a 32-byte enc only");
            let psk = || HpkePsk::new(b"psk id", &key);
            // Sealing draws an ephemeral key: each provider opens what the other sealed.
            let plaintext = [data.clone(), b"!".to_vec()].concat();
            let sealed = Suite::new().hpke_seal(&pk, &data, Some(&key), &plaintext).unwrap();
            assert_eq!(*reference().hpke_open(&sealed, &sk, &pk, &data, Some(&key)).unwrap(), plaintext);
            let sealed = reference().hpke_seal(&pk, &data, Some(&key), &plaintext).unwrap();
            assert_eq!(*Suite::new().hpke_open(&sealed, &sk, &pk, &data, Some(&key)).unwrap(), plaintext);
            let sealed = Suite::new().hpke_seal_psk(&pk, &data, None, &plaintext, psk()).unwrap();
            assert_eq!(*reference().hpke_open_psk(&sealed, &sk, &pk, &data, None, psk()).unwrap(), plaintext);
            assert!(reference().hpke_open(&sealed, &sk, &pk, &data, None).is_err(), "the PSK is bound");
            let sealed = reference().hpke_seal_psk(&pk, &data, None, &plaintext, psk()).unwrap();
            assert_eq!(*Suite::new().hpke_open_psk(&sealed, &sk, &pk, &data, None, psk()).unwrap(), plaintext);
            let (enc, mut ctx) = Suite::new().hpke_setup_s(&pk, &key).unwrap();
            let mut other = reference().hpke_setup_r(&enc, &sk, &pk, &key).unwrap();
            assert_eq!(*ctx.export(&data, 48).unwrap(), *other.export(&data, 48).unwrap());
            for _ in 0..3 {
                assert_eq!(*other.open(Some(&data), &ctx.seal(Some(&data), &plaintext).unwrap()).unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn its_keys_work_with_the_rustcrypto_provider() {
        let (ours, theirs) = (Suite::new(), reference());
        for _ in 0..4 {
            let (sk, pk) = ours.kem_generate().unwrap();
            theirs.kem_public_key_validate(&pk).unwrap();
            let sealed = theirs.hpke_seal(&pk, b"info", None, b"hello").unwrap();
            assert_eq!(*ours.hpke_open(&sealed, &sk, &pk, b"info", None).unwrap(), b"hello");
            let (secret, public) = ours.signature_key_generate().unwrap();
            assert_eq!(theirs.signature_key_derive_public(&secret).unwrap(), public);
            for data in [&b""[..], b"x", &[7u8; 300]] {
                let signature = ours.sign(&secret, data).unwrap();
                assert_eq!(theirs.sign(&secret, data).unwrap(), signature, "Ed25519 signatures are deterministic");
                theirs.verify(&public, &signature, data).unwrap();
                ours.verify(&public, &signature, data).unwrap();
            }
        }
    }

    #[test]
    fn refuses_what_the_rustcrypto_provider_refuses() {
        let (secret, public) = Suite::new().signature_key_generate().unwrap();
        let signature = Suite::new().sign(&secret, b"data").unwrap();
        let mut flipped = signature.clone();
        flipped[5] ^= 1;
        let mut other_half = secret.to_vec();
        other_half[40] ^= 1;
        let short_secret = SignatureSecretKey::new(secret[..32].to_vec());
        let not_a_point = SignaturePublicKey::new([0xff; 32].to_vec());
        for (what, ours, theirs) in [
            ("verifies", Suite::new().verify(&public, &signature, b"data").is_ok(), reference().verify(&public, &signature, b"data").is_ok()),
            ("other data", Suite::new().verify(&public, &signature, b"datA").is_ok(), reference().verify(&public, &signature, b"datA").is_ok()),
            ("flipped bit", Suite::new().verify(&public, &flipped, b"data").is_ok(), reference().verify(&public, &flipped, b"data").is_ok()),
            ("63 bytes", Suite::new().verify(&public, &signature[..63], b"data").is_ok(), reference().verify(&public, &signature[..63], b"data").is_ok()),
            ("bad key", Suite::new().verify(&not_a_point, &signature, b"data").is_ok(), reference().verify(&not_a_point, &signature, b"data").is_ok()),
            ("32-byte secret", Suite::new().sign(&short_secret, b"data").is_ok(), reference().sign(&short_secret, b"data").is_ok()),
            (
                "public half mismatch",
                Suite::new().sign(&SignatureSecretKey::new(other_half.clone()), b"data").is_ok(),
                reference().sign(&SignatureSecretKey::new(other_half.clone()), b"data").is_ok(),
            ),
        ] {
            assert_eq!(ours, theirs, "{what}");
        }
        assert!(Suite::new().verify(&public, &signature, b"data").is_ok());
        assert!(Suite::new().verify(&public, &flipped, b"data").is_err());
        // The all-zero (low-order) X25519 point: both compute the all-zero secret; sealing refuses it
        // before this (seal.rs).
        assert!(same_ok!(|cs| cs.hpke_seal(&HpkePublicKey::from(vec![0; 32]), b"", None, b"x")));
        let too_long = 255 * 32 + 1;
        assert_eq!(same!(|cs| cs.kdf_expand(&[1; 32], b"", too_long)), None);
        assert_eq!(same!(|cs| cs.kdf_extract(b"salt", b"")), None);
        assert_eq!(same!(|cs| cs.aead_seal(&[1; 32], b"", None, &[0; 12])), None);
        assert_eq!(same!(|cs| cs.aead_open(&[1; 32], &[0; 16], None, &[0; 12])), None);
    }
}
