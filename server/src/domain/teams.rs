//! Crisis-response teams (issue 12): members in tiers with a team role, a quorum policy, and the
//! same on-call schedule as the Peer Support Team (`schedule`, `roster_rules`: one set of rules,
//! only who is eligible differs). A team without rotations has every member on call; with
//! rotations, whoever holds one. Either way only members whose switch is `available` are paged,
//! and members inside the perimeter are paged when they come out (`paging`).

use super::paging::{Candidate, QuorumPolicy, TeamRole};
use super::roster::Switch;
use super::roster_rules::{OnCallTeam, RuleError};
use super::schedule::{self, Schedule};
use sallyport_protocol::AccountId;
use std::collections::{BTreeMap, HashSet};

/// Most crisis teams, and most members in one.
pub const MAX_TEAMS: usize = 50;
pub const MAX_TEAM_MEMBERS: usize = 500;
/// Tiers are 1 (paged first) to this.
pub const MAX_TIER: u8 = 9;
/// "Inside until" may be at most this far ahead (a long shift).
pub const MAX_INSIDE_MS: i64 = 16 * super::HOUR_MS;

/// A person's own state across teams: their switch and, if they said so, when they come out
/// from inside the perimeter (where phones are contraband).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub switch: Switch,
    pub switch_at: i64,
    pub inside_until: Option<i64>,
}

impl Default for Availability {
    fn default() -> Self {
        Availability { switch: Switch::Available, switch_at: 0, inside_until: None }
    }
}

impl Availability {
    /// Inside until this instant, if that has not passed at `now`.
    pub fn inside_at(&self, now: i64) -> Option<i64> {
        self.inside_until.filter(|&until| until > now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub account: AccountId,
    pub tier: u8,
    pub role: TeamRole,
    pub added_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CrisisTeam {
    pub id: String,
    pub name: String,
    pub policy: QuorumPolicy,
    /// By tier, then in the order they were added.
    pub members: Vec<Member>,
    pub schedule: Schedule,
    /// The members' switches (absent: available, not inside).
    pub availability: BTreeMap<AccountId, Availability>,
    pub created_at: i64,
}

impl CrisisTeam {
    pub fn member(&self, account: &AccountId) -> Option<&Member> {
        self.members.iter().find(|m| m.account == *account)
    }

    pub fn availability_of(&self, account: &AccountId) -> Availability {
        self.availability.get(account).copied().unwrap_or_default()
    }

    /// Members who hold the team's schedule at `now` (everyone, if it has no rotations),
    /// whatever their switch.
    pub fn holders_at(&self, now: i64) -> Vec<AccountId> {
        if self.schedule.rotations.is_empty() {
            return self.members.iter().map(|m| m.account).collect();
        }
        let holders = schedule::holders_at(&self.schedule, now);
        self.members.iter().map(|m| m.account).filter(|a| holders.contains(a)).collect()
    }

    /// Members on call at `now`: holding the schedule with their switch at `available`.
    pub fn on_call_at(&self, now: i64) -> Vec<AccountId> {
        self.holders_at(now).into_iter().filter(|a| self.availability_of(a).switch == Switch::Available).collect()
    }

    /// Every member as the paging rules see them at `now`, in the team's order; `done` are those
    /// already paged for the incident, or who answered it.
    pub fn candidates(&self, now: i64, done: &HashSet<AccountId>) -> Vec<Candidate> {
        let on_call: HashSet<AccountId> = self.on_call_at(now).into_iter().collect();
        self.members
            .iter()
            .map(|m| Candidate {
                account: m.account,
                role: m.role.clone(),
                tier: m.tier,
                on_call: on_call.contains(&m.account),
                inside_until: self.availability_of(&m.account).inside_at(now),
                paged_or_answered: done.contains(&m.account),
            })
            .collect()
    }

    /// The highest tier with a member (0 without members).
    pub fn last_tier(&self) -> u8 {
        self.members.iter().map(|m| m.tier).max().unwrap_or(0)
    }

    /// Puts members in the team's order: by tier, then as added.
    pub fn sort_members(&mut self) {
        self.members.sort_by_key(|m| (m.tier, m.added_at, m.account));
    }
}

impl OnCallTeam for CrisisTeam {
    fn team_id(&self) -> &str {
        &self.id
    }

    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn has_member(&self, account: &AccountId) -> bool {
        self.member(account).is_some()
    }

    fn eligible(&self, account: &AccountId, who: &str, _now: i64) -> Result<(), RuleError> {
        if self.has_member(account) { Ok(()) } else { Err(RuleError::NotOnRoster(who.to_owned())) }
    }
}

/// Every crisis team, read in one go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Teams {
    pub teams: Vec<CrisisTeam>,
}

impl Teams {
    pub fn team(&self, id: &str) -> Option<&CrisisTeam> {
        self.teams.iter().find(|t| t.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::Rotation;
    use chrono::{NaiveDate, NaiveTime};

    fn team(members: &[(AccountId, u8, &str)]) -> CrisisTeam {
        let mut t = CrisisTeam {
            id: "t".into(),
            name: "North CRT".into(),
            policy: QuorumPolicy::default(),
            members: members
                .iter()
                .enumerate()
                .map(|(i, (account, tier, role))| Member { account: *account, tier: *tier, role: TeamRole::parse(role).unwrap(), added_at: i as i64 })
                .collect(),
            schedule: Schedule::default(),
            availability: BTreeMap::new(),
            created_at: 0,
        };
        t.sort_members();
        t
    }

    #[test]
    fn without_rotations_every_available_member_is_on_call() {
        let (a, b, c) = (AccountId::random(), AccountId::random(), AccountId::random());
        let mut t = team(&[(a, 2, "peer"), (b, 1, "clinician"), (c, 1, "peer")]);
        assert_eq!(t.members.iter().map(|m| m.account).collect::<Vec<_>>(), vec![b, c, a], "by tier, then as added");
        assert_eq!(t.on_call_at(5), vec![b, c, a]);
        t.availability.insert(c, Availability { switch: Switch::Busy, switch_at: 1, inside_until: None });
        assert_eq!(t.on_call_at(5), vec![b, a], "busy is not on call");
        assert_eq!(t.last_tier(), 2);
    }

    #[test]
    fn with_a_rotation_only_its_holder_is_on_call_and_inside_is_until_its_time() {
        let (a, b) = (AccountId::random(), AccountId::random());
        let mut t = team(&[(a, 1, "peer"), (b, 1, "clinician")]);
        t.schedule.rotations.push(Rotation {
            id: "r".into(),
            team: "t".into(),
            name: "Days".into(),
            members: vec![a, b],
            handoff: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            time_zone: chrono_tz::UTC,
            period_days: 1,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            created_at: 0,
        });
        let day1 = t.schedule.rotations[0].boundary(0) + 1;
        assert_eq!(t.on_call_at(day1), vec![a]);
        t.availability.insert(a, Availability { switch: Switch::Available, switch_at: 0, inside_until: Some(day1 + 10) });
        let cands = t.candidates(day1, &HashSet::from([b]));
        assert_eq!(cands[0].inside_until, Some(day1 + 10));
        assert!(cands[0].on_call && !cands[1].on_call && cands[1].paged_or_answered);
        assert_eq!(t.candidates(day1 + 10, &HashSet::new())[0].inside_until, None, "out at the time they said");
    }
}
