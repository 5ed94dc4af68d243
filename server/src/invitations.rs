//! Invitations: one-time enrolment codes (128 random bits, stored only as SHA-256 hashes,
//! expiring), and redeeming one to register a device.

use crate::store::{Enrolled, NewDevice, NewInvitation, Store, StoreError, sha256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, PublicKey};

/// Creates an invitation and returns the one-time link to hand over. The code appears only in the
/// link's fragment (`#…`), which browsers never send to the server, so it cannot reach access logs.
pub async fn create(
    store: &dyn Store,
    public_url: &str,
    display_name: &str,
    roles: Vec<Role>,
    account: Option<AccountId>,
    ttl_hours: u32,
    now: i64,
) -> Result<String, StoreError> {
    let mut code = [0u8; 16];
    getrandom(&mut code);
    store
        .create_invitation(NewInvitation {
            code_hash: sha256(&code),
            display_name: display_name.to_owned(),
            roles,
            account,
            created_at: now,
            expires_at: now + i64::from(ttl_hours) * 3_600_000,
        })
        .await?;
    Ok(link(public_url, &URL_SAFE_NO_PAD.encode(code)))
}

pub fn link(public_url: &str, code: &str) -> String {
    format!("{}/enrol#{code}", public_url.trim_end_matches('/'))
}

/// Accepts a bare code or a whole link and returns the code's bytes.
pub fn parse_code(code_or_link: &str) -> Option<[u8; 16]> {
    let code = code_or_link.rsplit('#').next()?.trim();
    URL_SAFE_NO_PAD.decode(code).ok()?.try_into().ok()
}

/// Redeems a code for a device with the given public keys. `NotFound` if the code is unknown,
/// used or expired.
pub async fn redeem(
    store: &dyn Store,
    code: &[u8; 16],
    signing_key: PublicKey,
    notification_key: PublicKey,
    display_name: Option<String>,
    now: i64,
) -> Result<Enrolled, StoreError> {
    store
        .redeem_invitation(
            &sha256(code),
            NewDevice {
                device: DeviceId::random(),
                mailbox: MailboxId::random(),
                new_account: AccountId::random(),
                display_name,
                signing_key,
                notification_key,
                now,
            },
        )
        .await
}

fn getrandom(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_from_links_and_bare() {
        let code = [9u8; 16];
        let text = URL_SAFE_NO_PAD.encode(code);
        assert_eq!(parse_code(&link("http://h:1/", &text)), Some(code));
        assert_eq!(parse_code(&text), Some(code));
        assert_eq!(parse_code("http://h/enrol#nope"), None);
    }
}
