//! Critical incidents and crisis paging (protocol/README.md §16): declaring an incident, the
//! board, answers (signed, or with a single-use token from the notification) and resolving. The
//! server holds only the team, the severity, times and, per recipient device, a preview sealed by
//! the declarer's client (§3 of docs/privacy.md): never the incident's type, place or note.

use crate::roster::PersonBody;
use crate::{AccountId, AnswerToken, DeviceId, IncidentId, Payload, PublicKey};
use serde::{Deserialize, Serialize};

/// Most bytes of one sealed preview (type, location and note, sealed to one device): small
/// enough that the page push, with its token and framing, stays under Web Push's 4,096 bytes.
pub const MAX_SEALED_BYTES: usize = 2_048;

/// Severity levels: 1 (highest) to 3.
pub const MAX_SEVERITY: u8 = 3;

/// Most locations an administrator may list, and the longest name.
pub const MAX_LOCATIONS: usize = 100;
pub const MAX_LOCATION_CHARS: usize = 60;

/// `GET /v1/incidents/locations` (anyone enrolled) and `PUT /v1/admin/incident-locations`
/// (administrators): the facility's places a declarer picks from ("Unit C", "Yard 2"). The
/// server keeps the list (institutional configuration); which one a declarer picked travels only
/// sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationsBody {
    pub locations: Vec<String>,
}

/// One recipient device of a team's pages: the declarer's client seals the preview to its
/// notification key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientBody {
    pub account: AccountId,
    pub device: DeviceId,
    pub notification_key: PublicKey,
}

/// `GET /v1/incidents/recipients?team=ID` (supervisors, coordinators): every device a page of
/// the team could reach (its members' and the coordinators').
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientsBody {
    pub recipients: Vec<RecipientBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedForDevice {
    pub device: DeviceId,
    pub sealed: Payload,
}

/// The HPKE `aad` a page's preview is sealed with for one device: binds it to the incident and
/// the device, so the server cannot move a preview to another incident or another device.
pub fn page_aad(incident: &IncidentId, device: &DeviceId) -> Vec<u8> {
    let mut aad = b"sallyport-page-v1\0".to_vec();
    aad.extend_from_slice(incident.as_bytes());
    aad.extend_from_slice(device.as_bytes());
    aad
}

/// `POST /v1/incidents` (supervisors, coordinators).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    /// Chosen by the declarer's client (random), so the previews can be sealed to it.
    pub id: IncidentId,
    pub team: String,
    /// 1 (highest) to 3.
    pub severity: u8,
    /// A test page: the whole path, marked as a test everywhere.
    #[serde(default)]
    pub test: bool,
    /// A test page for one member of the team: only they are paged, and nothing escalates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<AccountId>,
    /// The preview (type, location, note) sealed to each recipient device; a device without one
    /// is paged with the generic text only.
    #[serde(default)]
    pub sealed: Vec<SealedForDevice>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAnswer {
    Responding,
    Unavailable,
}

impl PageAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            PageAnswer::Responding => "responding",
            PageAnswer::Unavailable => "unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<PageAnswer> {
        [PageAnswer::Responding, PageAnswer::Unavailable].into_iter().find(|a| a.as_str() == s)
    }
}

/// `POST /v1/incidents/{id}/answer` (signed, a person paged or on the team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub answer: PageAnswer,
    /// Minutes until they arrive (responding only), 0 to 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_minutes: Option<u32>,
}

/// `POST /v1/incidents/answer` (unsigned: the token from the page proves who answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAnswerRequest {
    pub token: AnswerToken,
    pub answer: PageAnswer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_minutes: Option<u32>,
}

/// One push attempt to one of a person's devices, as the push service answered it: `sent`,
/// `gone` (the subscription no longer exists), `refused`, `failed` (no answer after retries),
/// `no_subscription` (the device cannot be pushed), `dropped` (the server's queue was full).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptBody {
    pub at: i64,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PagedBody {
    pub person: PersonBody,
    /// Their team role, or `coordinator`.
    pub role: String,
    /// Their tier (0 for a coordinator).
    pub tier: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged_at: Option<i64>,
    /// Times paged (the first page and its repeats).
    pub pages: u32,
    /// Passed over while inside the perimeter: paged when they come out, if still needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_until: Option<i64>,
    pub attempts: Vec<AttemptBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PageAnswer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBody {
    pub at: i64,
    /// `tier 1`, `tier 2 (gap)`, `tier 2`, …, `coordinators`.
    pub step: String,
}

/// An incident's board: `GET /v1/incidents/{id}` (its declarer, coordinators and the team).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentBody {
    pub id: IncidentId,
    pub team: String,
    pub team_name: String,
    pub severity: u8,
    pub test: bool,
    pub declared_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_by: Option<PersonBody>,
    /// Responders still needed: 0 once the quorum is met.
    pub short_by: u32,
    /// Of which, per team role.
    pub short_roles: std::collections::BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    pub paged: Vec<PagedBody>,
    pub steps: Vec<StepBody>,
    /// The caller's device's sealed preview, if the declarer sealed one to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Payload>,
}

/// `GET /v1/incidents`: the open incidents the caller may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentsBody {
    pub incidents: Vec<IncidentBody>,
}

/// What `POST /v1/incidents/answer` answers: the incident and the answer recorded, nothing else
/// (the token is all the caller proved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnsweredBody {
    pub incident: IncidentId,
    pub answer: PageAnswer,
}
