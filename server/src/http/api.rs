//! The REST API the web app uses (protocol/README.md §11): configuration, the caller, the
//! directory of people, and administration. Everything but `/v1/config` is [`Signed`].

use crate::clock::now_ms;
use crate::error::ApiError;
use crate::http::auth::Signed;
use crate::invitations;
use crate::state::AppState;
use crate::store::{DeviceRecord, StoreError};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, ErrorCode, MailboxId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings key of the agency's EAP line (JSON [`CrisisLine`]).
const EAP_LINE_SETTING: &str = "eap_line";
/// Settings key of the administrator's confidentiality notice (UTF-8 text).
pub const CONFIDENTIALITY_NOTICE_SETTING: &str = "confidentiality_notice";

/// How long an invitation made in the app stays valid.
const INVITATION_TTL_HOURS: u32 = 72;

/// One line to call or text in a crisis, shown on every screen of the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisLine {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A number for a `tel:` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// A number for an `sms:` link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

fn line(name: &str, description: &str, call: &str, text: Option<&str>) -> CrisisLine {
    CrisisLine {
        name: name.to_owned(),
        description: description.to_owned(),
        call: Some(call.to_owned()),
        text: text.map(str::to_owned),
    }
}

/// The national lines every deployment shows.
pub fn default_crisis_lines() -> Vec<CrisisLine> {
    vec![
        line("988 Suicide & Crisis Lifeline", "Call or text, 24/7", "988", Some("988")),
        line("Safe Call Now", "Confidential line for public safety staff, 24/7", "1-206-459-3020", None),
        line("CopLine", "Peer line for law enforcement and corrections, 24/7", "1-800-267-5463", None),
    ]
}

/// The default notice shown before a person's first support request; administrators replace it.
pub const DEFAULT_CONFIDENTIALITY_NOTICE: &str = "What you say to a peer supporter stays between you and them. \
Messages are end-to-end encrypted: the agency, the administrators and the people who run this server cannot \
read them, and the server does not record who asked for help. Peer supporters keep conversations confidential, \
with these exceptions, where they must get help or report: a risk that you will seriously harm yourself or \
someone else; abuse or neglect of a child or a vulnerable adult; a crime that must be reported by law; and a \
court order. A peer supporter is not a therapist; they can help you reach one.";

#[derive(Debug, Serialize)]
pub struct ConfigBody {
    pub crisis_lines: Vec<CrisisLine>,
    pub vapid_public_key: String,
    pub confidentiality_notice: String,
}

async fn config_body(state: &AppState) -> Result<ConfigBody, ApiError> {
    let mut crisis_lines = default_crisis_lines();
    if let Some(bytes) = state.store.setting(EAP_LINE_SETTING).await?.filter(|b| !b.is_empty()) {
        match serde_json::from_slice::<CrisisLine>(&bytes) {
            Ok(eap) => crisis_lines.push(eap),
            Err(_) => tracing::warn!("the stored EAP line is unreadable; showing the national lines only"),
        }
    }
    let confidentiality_notice = match state.store.setting(CONFIDENTIALITY_NOTICE_SETTING).await? {
        Some(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| DEFAULT_CONFIDENTIALITY_NOTICE.to_owned()),
        None => DEFAULT_CONFIDENTIALITY_NOTICE.to_owned(),
    };
    Ok(ConfigBody { crisis_lines, vapid_public_key: state.settings.vapid_public_key.clone(), confidentiality_notice })
}

/// `GET /v1/config` (public).
pub async fn config(State(state): State<AppState>) -> Result<Json<ConfigBody>, ApiError> {
    Ok(Json(config_body(&state).await?))
}

#[derive(Debug, Serialize)]
pub struct MeBody {
    account: AccountId,
    device: DeviceId,
    mailbox: MailboxId,
    display_name: String,
    roles: Vec<Role>,
}

/// `GET /v1/me`.
pub async fn me(signed: Signed) -> Json<MeBody> {
    let c = signed.caller;
    Json(MeBody { account: c.account, device: c.device, mailbox: c.mailbox, display_name: c.display_name, roles: c.roles })
}

#[derive(Debug, Serialize)]
pub struct Person {
    account: AccountId,
    display_name: String,
    roles: Vec<Role>,
    mailboxes: Vec<MailboxId>,
}

#[derive(Debug, Serialize)]
pub struct DirectoryBody {
    people: Vec<Person>,
}

/// `GET /v1/directory`: accounts with at least one active device, by name.
pub async fn directory(State(state): State<AppState>, _signed: Signed) -> Result<Json<DirectoryBody>, ApiError> {
    let mut people: BTreeMap<AccountId, Person> = BTreeMap::new();
    for d in state.store.list_devices().await? {
        if d.revoked_at.is_some() {
            continue;
        }
        people
            .entry(d.account)
            .or_insert_with(|| Person { account: d.account, display_name: d.display_name, roles: d.roles, mailboxes: vec![] })
            .mailboxes
            .push(d.mailbox);
    }
    let mut people: Vec<Person> = people.into_values().collect();
    people.sort_by(|a, b| a.display_name.to_lowercase().cmp(&b.display_name.to_lowercase()));
    Ok(Json(DirectoryBody { people }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InvitationRequest {
    display_name: String,
    roles: Vec<Role>,
    #[serde(default)]
    account: Option<AccountId>,
}

#[derive(Debug, Serialize)]
pub struct InvitationBody {
    link: String,
    expires_at: i64,
}

/// `POST /v1/admin/invitations` (admin).
pub async fn create_invitation(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<(StatusCode, Json<InvitationBody>), ApiError> {
    signed.require(Role::Admin)?;
    let request: InvitationRequest = signed.json()?;
    let name = request.display_name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("display_name must be 1 to 100 characters, without control characters"));
    }
    let mut roles = request.roles;
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(ApiError::bad_request("choose at least one role"));
    }
    let now = now_ms();
    let link = invitations::create(
        &*state.store,
        &state.settings.public_url,
        name,
        roles,
        request.account,
        INVITATION_TTL_HOURS,
        now,
    )
    .await?;
    tracing::info!("an administrator created an invitation");
    Ok((StatusCode::CREATED, Json(InvitationBody { link, expires_at: now + i64::from(INVITATION_TTL_HOURS) * 3_600_000 })))
}

#[derive(Debug, Serialize)]
pub struct DeviceBody {
    device: DeviceId,
    account: AccountId,
    display_name: String,
    roles: Vec<Role>,
    created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

impl From<DeviceRecord> for DeviceBody {
    fn from(d: DeviceRecord) -> Self {
        DeviceBody {
            device: d.device,
            account: d.account,
            display_name: d.display_name,
            roles: d.roles,
            created_at: d.created_at,
            revoked_at: d.revoked_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DevicesBody {
    devices: Vec<DeviceBody>,
}

/// `GET /v1/admin/devices` (admin), newest first.
pub async fn devices(State(state): State<AppState>, signed: Signed) -> Result<Json<DevicesBody>, ApiError> {
    signed.require(Role::Admin)?;
    let mut devices: Vec<DeviceBody> = state.store.list_devices().await?.into_iter().map(DeviceBody::from).collect();
    devices.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(Json(DevicesBody { devices }))
}

#[derive(Debug, Serialize)]
pub struct RevokedBody {
    revoked: bool,
}

/// `POST /v1/admin/devices/{device}/revoke` (admin).
pub async fn revoke_device(
    State(state): State<AppState>,
    Path(device): Path<String>,
    signed: Signed,
) -> Result<Json<RevokedBody>, ApiError> {
    signed.require(Role::Admin)?;
    let device = DeviceId::parse(&device).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound))?;
    match state.store.revoke_device(&device, now_ms()).await {
        Ok(revoked) => {
            if revoked {
                tracing::info!("an administrator revoked a device");
            }
            Ok(Json(RevokedBody { revoked }))
        }
        Err(StoreError::NotFound) => Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound)),
        Err(other) => Err(other.into()),
    }
}

fn valid_phone(number: &str) -> bool {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    (3..=20).contains(&digits) && number.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// `PUT /v1/admin/eap-line` (admin): sets the agency's EAP line; answers the new configuration.
pub async fn set_eap_line(State(state): State<AppState>, signed: Signed) -> Result<Json<ConfigBody>, ApiError> {
    signed.require(Role::Admin)?;
    let mut eap: CrisisLine = signed.json()?;
    eap.name = eap.name.trim().to_owned();
    eap.description = eap.description.trim().to_owned();
    let text_ok = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    if eap.name.is_empty() || !text_ok(&eap.name, 100) || !text_ok(&eap.description, 200) {
        return Err(ApiError::bad_request("name must be 1 to 100 characters and description at most 200"));
    }
    let Some(call) = eap.call.as_deref().map(str::trim).filter(|c| valid_phone(c)) else {
        return Err(ApiError::bad_request("call must be a phone number (digits, spaces, + - ( ) .)"));
    };
    eap.call = Some(call.to_owned());
    if let Some(text) = eap.text.as_deref().map(str::trim) {
        if text.is_empty() {
            eap.text = None;
        } else if !valid_phone(text) {
            return Err(ApiError::bad_request("text must be a phone number (digits, spaces, + - ( ) .)"));
        } else {
            eap.text = Some(text.to_owned());
        }
    }
    let json = serde_json::to_vec(&eap).expect("a crisis line serialises");
    state.store.set_setting(EAP_LINE_SETTING, &json).await?;
    Ok(Json(config_body(&state).await?))
}

/// `DELETE /v1/admin/eap-line` (admin).
pub async fn delete_eap_line(State(state): State<AppState>, signed: Signed) -> Result<Json<ConfigBody>, ApiError> {
    signed.require(Role::Admin)?;
    state.store.set_setting(EAP_LINE_SETTING, b"").await?;
    Ok(Json(config_body(&state).await?))
}
