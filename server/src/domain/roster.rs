//! The peer supporter roster: who is a peer supporter, their training (five kinds, each with a
//! completion and an expiry date) and their own available / busy / off switch. Only supporters
//! whose training is current may be put on call.

use super::schedule::{Rotation, Schedule};
use chrono::{DateTime, NaiveDate};
use sallyport_protocol::AccountId;
pub use sallyport_protocol::roster::{Switch, TrainingKind};

/// One training record. Dates are calendar dates; the training counts from `completed_on` and
/// has lapsed from `expires_on` on (both read as UTC days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Training {
    pub kind: TrainingKind,
    pub completed_on: NaiveDate,
    pub expires_on: NaiveDate,
}

impl Training {
    pub fn current_on(&self, today: NaiveDate) -> bool {
        self.completed_on <= today && today < self.expires_on
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Supporter {
    pub account: AccountId,
    pub added_at: i64,
    pub switch: Switch,
    /// When the switch was last set.
    pub switch_at: i64,
    pub training: Vec<Training>,
}

/// The UTC calendar day of a Unix-ms instant.
pub fn utc_day(now_ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(now_ms).map_or(NaiveDate::MIN, |t| t.date_naive())
}

impl Supporter {
    /// Training kinds not recorded or not current at `now`, in the canonical order.
    pub fn training_gaps(&self, now_ms: i64) -> Vec<TrainingKind> {
        let today = utc_day(now_ms);
        TrainingKind::ALL
            .into_iter()
            .filter(|kind| !self.training.iter().any(|t| t.kind == *kind && t.current_on(today)))
            .collect()
    }

    /// All five kinds recorded and current at `now`.
    pub fn training_current(&self, now_ms: i64) -> bool {
        self.training_gaps(now_ms).is_empty()
    }
}

/// The Peer Support Team's id among teams.
pub const PEER_SUPPORT_TEAM: &str = "peer-support";

/// The Peer Support Team and its schedule, read in one go (a facility's team is small).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    pub supporters: Vec<Supporter>,
    pub schedule: Schedule,
}

impl Roster {
    pub fn supporter(&self, account: &AccountId) -> Option<&Supporter> {
        self.supporters.iter().find(|s| s.account == *account)
    }

    pub fn rotation(&self, id: &str) -> Option<&Rotation> {
        self.schedule.rotation(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_is_current_from_completion_until_the_expiry_day() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let t = Training { kind: TrainingKind::DeEscalation, completed_on: d(2026, 1, 10), expires_on: d(2027, 1, 10) };
        assert!(!t.current_on(d(2026, 1, 9)));
        assert!(t.current_on(d(2026, 1, 10)));
        assert!(t.current_on(d(2027, 1, 9)));
        assert!(!t.current_on(d(2027, 1, 10)), "lapsed on its expiry date");
    }
}
