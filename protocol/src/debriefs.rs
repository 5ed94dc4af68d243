//! Debriefings, defusings and follow-up check-ins (protocol/README.md §18): scheduling the pushes
//! of one (`PUT /v1/debriefs/{id}`), reading and cancelling it, and the programme's follow-up
//! days. The server sees an opaque id, a kind, times and previews sealed by the coordinator's
//! client to each recipient device: never who, where or what about.

use crate::incidents::SealedForDevice;
use crate::{DebriefId, DeviceId};
use serde::{Deserialize, Serialize};

/// Most notices (reminders, check-ins) one debrief may carry.
pub const MAX_NOTICES: usize = 8;
/// Most devices one notice may be sealed to.
pub const MAX_DEVICES_PER_NOTICE: usize = 512;
/// Most sealed previews one `PUT` may carry in all notices together: 512 previews of at most
/// 2,048 bytes fit the 2 MiB body a coordinator's `PUT` may have (base64 and framing included).
pub const MAX_SEALS_PER_PUT: usize = 512;
/// Most bytes of one sealed preview: the push, with its framing, stays under Web Push's 4,096.
pub const MAX_SEALED_BYTES: usize = 2_048;
/// How far back a debrief's or a notice's time may lie (a follow-up recorded late), in ms.
pub const MAX_PAST_MS: i64 = 90 * 86_400_000;
/// How far ahead a debrief's or a notice's time may lie, in ms.
pub const MAX_AHEAD_MS: i64 = 400 * 86_400_000;

/// Most follow-up days the programme may set, and the latest day.
pub const MAX_FOLLOWUP_DAYS: usize = 8;
pub const MAX_FOLLOWUP_DAY: u16 = 365;
/// The follow-up days until a coordinator sets others: 1 day, 1 week, 2 weeks, 4 weeks.
pub const DEFAULT_FOLLOWUP_DAYS: [u16; 4] = [1, 7, 14, 28];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebriefKind {
    Defusing,
    Debriefing,
    Followup,
}

impl DebriefKind {
    pub const ALL: [DebriefKind; 3] = [DebriefKind::Defusing, DebriefKind::Debriefing, DebriefKind::Followup];

    pub fn as_str(self) -> &'static str {
        match self {
            DebriefKind::Defusing => "defusing",
            DebriefKind::Debriefing => "debriefing",
            DebriefKind::Followup => "followup",
        }
    }

    pub fn parse(s: &str) -> Option<DebriefKind> {
        DebriefKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The HPKE `aad` a debrief's preview is sealed with for one device: binds it to the debrief and
/// the device, so the server cannot move a preview to another debrief or another device.
pub fn debrief_aad(debrief: &DebriefId, device: &DeviceId) -> Vec<u8> {
    let mut aad = b"sallyport-debrief-v1\0".to_vec();
    aad.extend_from_slice(debrief.as_bytes());
    aad.extend_from_slice(device.as_bytes());
    aad
}

/// One push to send at `at` (ms): a reminder or a check-in, sealed to each recipient device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub at: i64,
    pub sealed: Vec<SealedForDevice>,
}

/// `PUT /v1/debriefs/{id}` (coordinators): creates the debrief (`revision` 0) or replaces its
/// time and every push not yet sent (`revision`: the one the client last saw).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutDebriefRequest {
    pub kind: DebriefKind,
    /// When the session starts, or the check-in is (ms).
    pub at: i64,
    pub revision: u64,
    #[serde(default)]
    pub notices: Vec<Notice>,
}

/// A debrief as the server knows it (`PUT`, `GET` and `DELETE /v1/debriefs/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebriefBody {
    pub id: DebriefId,
    pub kind: DebriefKind,
    pub at: i64,
    pub revision: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<i64>,
    /// Pushes not yet sent (one per notice and device).
    pub pending: u64,
}

/// `GET /v1/programme` (anyone enrolled) and `PUT /v1/programme` (coordinators): the days after
/// an incident at which the coordinator's client proposes follow-up check-ins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeBody {
    pub followup_days: Vec<u16>,
}

impl Default for ProgrammeBody {
    fn default() -> Self {
        ProgrammeBody { followup_days: DEFAULT_FOLLOWUP_DAYS.to_vec() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_binds_debrief_and_device() {
        let (a, b) = (DebriefId::random(), DebriefId::random());
        let d = DeviceId::random();
        assert_ne!(debrief_aad(&a, &d), debrief_aad(&b, &d));
        assert!(debrief_aad(&a, &d).starts_with(b"sallyport-debrief-v1\0"));
        assert_eq!(debrief_aad(&a, &d).len(), 21 + 32);
    }

    #[test]
    fn requests_refuse_unknown_fields_and_kinds() {
        let ok = r#"{"kind":"followup","at":5,"revision":0,"notices":[{"at":4,"sealed":[]}]}"#;
        assert_eq!(serde_json::from_str::<PutDebriefRequest>(ok).unwrap().kind, DebriefKind::Followup);
        assert!(serde_json::from_str::<PutDebriefRequest>(r#"{"kind":"party","at":5,"revision":0}"#).is_err());
        assert!(serde_json::from_str::<PutDebriefRequest>(r#"{"kind":"defusing","at":5,"revision":0,"place":"x"}"#).is_err());
        assert!(serde_json::from_str::<ProgrammeBody>(r#"{"followup_days":[1],"x":1}"#).is_err());
        for kind in DebriefKind::ALL {
            assert_eq!(DebriefKind::parse(kind.as_str()), Some(kind));
        }
    }
}
