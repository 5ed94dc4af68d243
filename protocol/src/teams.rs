//! Crisis-response teams (protocol/README.md §15): their members (tier and team role), quorum
//! policy and on-call schedule, and each person's "inside the perimeter until". These records
//! are about responders; none names anyone who asked for help or anything about an incident.

use crate::AccountId;
use crate::roster::{OverrideBody, RotationBody, Switch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many must respond, and of which roles, before paging stops, and its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Responders needed in all.
    pub responders: u32,
    /// At least this many of each team role, counted within `responders`.
    #[serde(default)]
    pub at_least: BTreeMap<String, u32>,
    /// A page repeats this often to those paged who have not answered.
    pub repeat_every_minutes: u32,
    /// While short, the next tier is paged this long after the previous step.
    pub escalate_after_minutes: u32,
}

/// `POST /v1/teams` and `PUT /v1/teams/{id}`: a team's name and, optionally, its policy (the
/// default, 3 responding with a `peer` and a `clinician`, repeat every 3 minutes, escalate after
/// 10, when a new team gives none; unchanged when an update gives none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyBody>,
}

/// `PUT /v1/teams/{id}/members/{account}`: puts a person on the team, or changes their tier
/// and role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// 1 (paged first) to 9.
    pub tier: u8,
    /// One of the server's team roles (`roles` in a team body).
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberBody {
    pub account: AccountId,
    pub display_name: String,
    pub tier: u8,
    pub role: String,
    pub added_at: i64,
    pub switch: Switch,
    /// Inside the perimeter until this instant (Unix ms), if they said so and it has not passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_until: Option<i64>,
    /// On call now: holding the schedule (every member, if the team has no rotation) with the
    /// switch at `available`.
    pub on_call: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamBody {
    pub id: String,
    pub name: String,
    pub policy: PolicyBody,
    /// By tier, then as added.
    pub members: Vec<MemberBody>,
    pub rotations: Vec<RotationBody>,
    /// Overrides that have not ended.
    pub overrides: Vec<OverrideBody>,
    /// The team roles a member may have.
    pub roles: Vec<String>,
    pub created_at: i64,
}

/// One line of `GET /v1/teams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamSummaryBody {
    pub id: String,
    pub name: String,
    pub members: u32,
    pub on_call_now: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamsBody {
    pub teams: Vec<TeamSummaryBody>,
}

/// `PUT /v1/oncall/me`: a person's own switch and "inside the perimeter until", across teams.
/// A field left out is unchanged; `inside_until: null` says they are out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<Switch>,
    /// Unix ms, at most 16 hours ahead; `null`: not inside.
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub inside_until: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityBody {
    pub switch: Switch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside_until: Option<i64>,
    /// The crisis teams the person is on (not the Peer Support Team).
    pub teams: Vec<PersonTeamBody>,
    /// Whether pages reach their phone, if they are on a crisis team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessBody>,
}

/// One person's readiness (protocol/README.md §17): `status` is `ready`, `pending` (a check
/// waits for its tap), `not_checked`, `unconfirmed`, `push_failing` or `no_subscription`;
/// `fix` says what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessBody {
    pub status: String,
    pub reachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberReadinessBody {
    pub person: crate::roster::PersonBody,
    pub tier: u8,
    pub role: String,
    pub on_call: bool,
    pub readiness: ReadinessBody,
}

/// `GET /v1/teams/{id}/readiness` (coordinators): "reachable now: 7 of 9".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamReadinessBody {
    pub reachable_now: u32,
    pub members: u32,
    /// Worst first.
    pub people: Vec<MemberReadinessBody>,
}

/// `POST /v1/readiness/confirm` (unsigned): the token from a readiness check's push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmCheckRequest {
    pub token: crate::AnswerToken,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonTeamBody {
    pub id: String,
    pub name: String,
    pub tier: u8,
    pub role: String,
    pub on_call: bool,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(value: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}




#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_until_tells_absent_from_null() {
        let absent: AvailabilityRequest = serde_json::from_str(r#"{"switch":"busy"}"#).unwrap();
        assert_eq!(absent.inside_until, None);
        let null: AvailabilityRequest = serde_json::from_str(r#"{"inside_until":null}"#).unwrap();
        assert_eq!(null.inside_until, Some(None));
        let set: AvailabilityRequest = serde_json::from_str(r#"{"inside_until":5}"#).unwrap();
        assert_eq!(set.inside_until, Some(Some(5)));
        assert!(serde_json::from_str::<AvailabilityRequest>(r#"{"inside":5}"#).is_err(), "unknown fields are refused");
    }
}
