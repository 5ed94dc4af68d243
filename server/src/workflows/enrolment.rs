//! Enrolment: one-time invitations (128 random bits, stored only as SHA-256 hashes, expiring)
//! made by an administrator, in the app or on the command line, and redeeming one to register a
//! device's public keys.

use super::{Outcome, WorkflowError, require};
use crate::clock::Clock;
use crate::domain::names::check_name;
use crate::domain::roles;
use crate::domain::signatures;
use crate::domain::{HOUR_MS, secrets::sha256};
use crate::metrics::Metrics;
use crate::store::{DeviceRecord, Enrolled, NewDevice, NewInvitation, Store, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sallyport_protocol::rest::{EnrolRequest, EnrolResponse, InvitationBody, InvitationRequest, Role};
use sallyport_protocol::{AccountId, DeviceId, MailboxId, PublicKey};
use std::sync::atomic::Ordering::Relaxed;

/// Settings key under which the last announced public URL is kept for the admin commands.
pub const PUBLIC_URL_SETTING: &str = "public_url";

/// How long an invitation made in the app stays valid.
pub const INVITATION_TTL_HOURS: u32 = 72;

/// An invitation to create: who, with which roles, and (to add a device) which account.
pub struct Invitation {
    pub display_name: String,
    pub roles: Vec<Role>,
    pub account: Option<AccountId>,
    pub ttl_hours: u32,
}

impl Invitation {
    /// Checks the name (1–100 characters, no control characters) and that at least one role is
    /// given; roles are kept once each, in the canonical order.
    pub fn new(display_name: &str, roles: Vec<Role>, account: Option<AccountId>, ttl_hours: u32) -> Outcome<Invitation> {
        let display_name = check_name(display_name, "display_name").map_err(WorkflowError::Invalid)?;
        let roles = roles::normalized(roles);
        if roles.is_empty() {
            return Err(WorkflowError::Invalid("choose at least one role".into()));
        }
        Ok(Invitation { display_name, roles, account, ttl_hours })
    }
}

/// `POST /v1/admin/invitations` (administrators): a link valid 72 hours.
pub async fn invite(
    store: &dyn Store,
    clock: &Clock,
    public_url: &str,
    caller: &DeviceRecord,
    request: InvitationRequest,
) -> Outcome<InvitationBody> {
    require(caller, Role::Admin)?;
    let invitation = Invitation::new(&request.display_name, request.roles, request.account, INVITATION_TTL_HOURS)?;
    let now = clock.now();
    let link = create_invitation(store, public_url, &invitation, now).await?;
    tracing::info!("an administrator created an invitation");
    Ok(InvitationBody { link, expires_at: now + i64::from(INVITATION_TTL_HOURS) * HOUR_MS })
}

/// `POST /v1/enrol`: redeems the code in `request` for a device with its public keys.
pub async fn enrol(store: &dyn Store, clock: &Clock, metrics: &Metrics, request: EnrolRequest) -> Outcome<EnrolResponse> {
    let code = parse_code(&request.code).ok_or(WorkflowError::InvalidInvitation)?;
    // A small-order key would let a trivial signature verify for any message under a lax check.
    if !signatures::usable_signing_key(&request.signing_key.0) {
        return Err(WorkflowError::Invalid("signing_key is not a usable Ed25519 public key".into()));
    }
    let enrolled = redeem(store, &code, request.signing_key, request.notification_key, clock.now())
        .await
        .map_err(|err| match err {
            StoreError::NotFound => WorkflowError::InvalidInvitation,
            other => other.into(),
        })?;
    metrics.enrolments.fetch_add(1, Relaxed);
    tracing::info!("a device was enrolled");
    Ok(EnrolResponse {
        account: enrolled.account,
        device: enrolled.device,
        mailbox: enrolled.mailbox,
        display_name: enrolled.display_name,
        roles: enrolled.roles,
        approved: enrolled.approved,
    })
}

/// Creates an invitation and returns the one-time link to hand over. The code appears only in the
/// link's fragment (`#…`), which browsers never send to the server, so it cannot reach access logs.
pub async fn create_invitation(store: &dyn Store, public_url: &str, invitation: &Invitation, now: i64) -> Result<String, StoreError> {
    let mut code = [0u8; 16];
    getrandom(&mut code);
    store
        .create_invitation(NewInvitation {
            code_hash: sha256(&code),
            display_name: invitation.display_name.clone(),
            roles: invitation.roles.clone(),
            account: invitation.account,
            created_at: now,
            expires_at: now + i64::from(invitation.ttl_hours) * HOUR_MS,
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
    now: i64,
) -> Result<Enrolled, StoreError> {
    store
        .redeem_invitation(
            &sha256(code),
            NewDevice {
                device: DeviceId::random(),
                mailbox: MailboxId::random(),
                new_account: AccountId::random(),
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
    fn an_invitation_needs_a_name_and_a_role() {
        let ok = Invitation::new(" Dana ", vec![Role::Admin, Role::Staff, Role::Admin], None, 72).unwrap();
        assert_eq!((ok.display_name.as_str(), ok.roles), ("Dana", vec![Role::Staff, Role::Admin]));
        assert!(matches!(Invitation::new("", vec![Role::Staff], None, 72), Err(WorkflowError::Invalid(_))));
        assert!(matches!(Invitation::new("Dana", vec![], None, 72), Err(WorkflowError::Invalid(_))));
    }

    #[test]
    fn codes_parse_from_links_and_bare() {
        let code = [9u8; 16];
        let text = URL_SAFE_NO_PAD.encode(code);
        assert_eq!(parse_code(&link("http://h:1/", &text)), Some(code));
        assert_eq!(parse_code(&text), Some(code));
        assert_eq!(parse_code("http://h/enrol#nope"), None);
    }
}
