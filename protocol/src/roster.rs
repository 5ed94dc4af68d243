//! The Peer Support Team's roster and on-call schedule (protocol/README.md §13.1): training
//! kinds, each supporter's switch, swaps, and the REST bodies of the roster, rotation, override,
//! swap and shift endpoints. These records are about supporters; none names anyone who asks for help.

use crate::AccountId;
use serde::{Deserialize, Serialize};

/// The training every peer supporter must hold, current, to be on call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingKind {
    ActiveListening,
    CrisisIntervention,
    ConfidentialityEthics,
    TraumaInformedCare,
    DeEscalation,
}

impl TrainingKind {
    pub const ALL: [TrainingKind; 5] = [
        TrainingKind::ActiveListening,
        TrainingKind::CrisisIntervention,
        TrainingKind::ConfidentialityEthics,
        TrainingKind::TraumaInformedCare,
        TrainingKind::DeEscalation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainingKind::ActiveListening => "active_listening",
            TrainingKind::CrisisIntervention => "crisis_intervention",
            TrainingKind::ConfidentialityEthics => "confidentiality_ethics",
            TrainingKind::TraumaInformedCare => "trauma_informed_care",
            TrainingKind::DeEscalation => "de_escalation",
        }
    }

    pub fn parse(s: &str) -> Option<TrainingKind> {
        TrainingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A supporter's own switch: only `available` supporters are offered requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    Available,
    Busy,
    Off,
}

impl Switch {
    pub fn as_str(self) -> &'static str {
        match self {
            Switch::Available => "available",
            Switch::Busy => "busy",
            Switch::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<Switch> {
        [Switch::Available, Switch::Busy, Switch::Off].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwapStatus {
    Proposed,
    Accepted,
    Declined,
    Cancelled,
}

impl SwapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SwapStatus::Proposed => "proposed",
            SwapStatus::Accepted => "accepted",
            SwapStatus::Declined => "declined",
            SwapStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<SwapStatus> {
        [SwapStatus::Proposed, SwapStatus::Accepted, SwapStatus::Declined, SwapStatus::Cancelled]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Why someone holds a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Their turn in the rotation.
    Rotation,
    /// A shift they took in an accepted swap.
    Swap,
    /// They cover it by an override.
    Override,
}

// ---- the roster

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingBody {
    pub kind: TrainingKind,
    /// `YYYY-MM-DD`.
    pub completed_at: String,
    /// `YYYY-MM-DD`: lapsed from this day on.
    pub expires_at: String,
    pub current: bool,
}

/// One supporter's roster record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupporterBody {
    pub account: AccountId,
    pub display_name: String,
    pub added_at: i64,
    pub switch: Switch,
    pub switch_at: i64,
    pub training: Vec<TrainingBody>,
    /// All five kinds recorded and current now: only then can they be put on call.
    pub training_current: bool,
    /// Kinds missing or not current now.
    pub training_missing: Vec<TrainingKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportersBody {
    pub supporters: Vec<SupporterBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedBody {
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedBody {
    pub deleted: bool,
}

/// `PUT /v1/support/roster/{account}/training/{kind}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRequest {
    pub completed_at: String,
    pub expires_at: String,
}

/// `PUT /v1/support/switch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    pub switch: Switch,
}

// ---- rotations and overrides

/// `POST /v1/support/rotations` and `PUT /v1/support/rotations/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    pub name: String,
    pub members: Vec<AccountId>,
    /// Local hand-off time, `HH:MM`.
    pub handoff: String,
    /// IANA zone, e.g. `America/Chicago`.
    pub time_zone: String,
    #[serde(default = "weekly")]
    pub period_days: u32,
    /// `YYYY-MM-DD`.
    pub start_date: String,
}

fn weekly() -> u32 {
    7
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonBody {
    pub account: AccountId,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StretchBody {
    pub start: i64,
    pub end: i64,
    pub account: AccountId,
    pub display_name: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationBody {
    pub id: String,
    pub name: String,
    pub members: Vec<PersonBody>,
    pub handoff: String,
    pub time_zone: String,
    pub period_days: u32,
    pub start_date: String,
    pub created_at: i64,
    /// Who holds it from now on (swaps and overrides applied), a few stretches ahead.
    pub upcoming: Vec<StretchBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideBody {
    pub id: String,
    pub rotation: String,
    pub account: AccountId,
    pub display_name: String,
    pub start: i64,
    pub end: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationsBody {
    pub rotations: Vec<RotationBody>,
    pub overrides: Vec<OverrideBody>,
}

/// `POST /v1/support/overrides`: `account` covers `[start, end)` of a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    pub rotation: String,
    pub account: AccountId,
    pub start: i64,
    pub end: i64,
}

// ---- swaps

/// `POST /v1/support/swaps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    pub rotation: String,
    pub counterpart: AccountId,
    /// Start (Unix ms) of the caller's shift the counterpart takes.
    pub my_shift_start: i64,
    /// Start of the counterpart's shift the caller takes.
    pub their_shift_start: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapBody {
    pub id: String,
    pub rotation: String,
    pub proposer: PersonBody,
    pub counterpart: PersonBody,
    pub proposer_shift_start: i64,
    pub counterpart_shift_start: i64,
    pub status: SwapStatus,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapsBody {
    pub swaps: Vec<SwapBody>,
}

// ---- who is on call, and my shifts

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnCallBody {
    pub on_call: Vec<PersonBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftBody {
    pub rotation: String,
    pub rotation_name: String,
    pub start: i64,
    pub end: i64,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftsBody {
    pub shifts: Vec<ShiftBody>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in TrainingKind::ALL {
            assert_eq!(TrainingKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for switch in [Switch::Available, Switch::Busy, Switch::Off] {
            assert_eq!(Switch::parse(switch.as_str()), Some(switch));
        }
        for status in [SwapStatus::Proposed, SwapStatus::Accepted, SwapStatus::Declined, SwapStatus::Cancelled] {
            assert_eq!(SwapStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn a_rotation_is_weekly_unless_told() {
        let r: RotationRequest = serde_json::from_str(
            r#"{"name":"A","members":[],"handoff":"08:00","time_zone":"UTC","start_date":"2026-01-05"}"#,
        )
        .unwrap();
        assert_eq!(r.period_days, 7);
    }
}
