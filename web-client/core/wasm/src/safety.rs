//! Safety codes for the browser: the 60 digits and QR payload two members compare to check their
//! credentials: keys (`MlsMember.signingKey`) and mailboxes (`MlsMember.mailbox`).

use crate::convert::parse;
use sallyport_core::protocol::MailboxId;
use sallyport_core::safety::{self, Party};
use wasm_bindgen::prelude::*;

/// The safety code between me and them, from my side (the digits are the same on both sides).
#[wasm_bindgen]
pub struct SafetyCode {
    inner: safety::SafetyCode,
}

#[wasm_bindgen]
impl SafetyCode {
    /// From both parties' 32-byte Ed25519 credential keys and mailboxes.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = myKey)] my_key: &[u8],
        #[wasm_bindgen(js_name = myMailbox)] my_mailbox: &str,
        #[wasm_bindgen(js_name = theirKey)] their_key: &[u8],
        #[wasm_bindgen(js_name = theirMailbox)] their_mailbox: &str,
    ) -> Result<SafetyCode, JsError> {
        let key = |k: &[u8]| <[u8; 32]>::try_from(k).map_err(|_| JsError::new("a credential key is 32 bytes"));
        let (mine, theirs) = (key(my_key)?, key(their_key)?);
        let my_mailbox = parse("mailbox", my_mailbox, MailboxId::parse)?;
        let their_mailbox = parse("mailbox", their_mailbox, MailboxId::parse)?;
        let me = Party { signing_key: &mine, mailbox: &my_mailbox };
        let them = Party { signing_key: &theirs, mailbox: &their_mailbox };
        Ok(SafetyCode { inner: safety::SafetyCode::new(me, them) })
    }

    /// The 60 digits.
    #[wasm_bindgen(getter)]
    pub fn digits(&self) -> String {
        self.inner.digits()
    }

    /// The digits in 12 groups of five.
    #[wasm_bindgen(getter)]
    pub fn display(&self) -> String {
        self.inner.display()
    }

    /// The bytes to show as a QR code.
    #[wasm_bindgen(js_name = qrPayload)]
    pub fn qr_payload(&self) -> Vec<u8> {
        self.inner.qr_payload()
    }

    /// Whether a QR payload scanned from the other party's screen matches.
    #[wasm_bindgen(js_name = verifyQr)]
    pub fn verify_qr(&self, scanned: &[u8]) -> bool {
        self.inner.verify_qr(scanned)
    }
}
