//! The rules every change to a team's roster and schedule must follow, as pure functions of the
//! team and an instant: what a rotation, an override, a training record or a swap must look
//! like, who may be put on call ([`OnCallTeam::eligible`]: for the Peer Support Team, on the
//! roster with current training; for a crisis team, a member), and who may answer a swap. One set
//! of rules for every team: only eligibility differs.

use super::names::check_name;
use super::roster::{Roster, Training, TrainingKind};
use super::schedule::{self, Override, Rotation, Schedule, Swap, SwapStatus};
use super::DAY_MS;
use chrono::{Datelike as _, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use sallyport_protocol::roster::{OverrideRequest, RotationRequest, SwapRequest, TrainingRequest};
use sallyport_protocol::{AccountId, MessageId};
use std::collections::HashSet;

/// Most members in one rotation, and most rotations.
pub const MAX_MEMBERS: usize = 200;
pub const MAX_ROTATIONS: usize = 100;
/// Longest override, and how far ahead one may start.
pub const MAX_OVERRIDE_MS: i64 = 92 * DAY_MS;
pub const MAX_AHEAD_MS: i64 = 366 * DAY_MS;
/// Most shifts one "my next shifts" answer lists.
pub const MAX_SHIFTS: usize = 50;

/// Why a change breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// A field is malformed or out of range; the message says which and how.
    Invalid(String),
    /// No such thing (`"rotation"`, `"swap"`, …).
    NotFound(&'static str),
    /// The caller is not on the roster.
    CallerNotOnRoster,
    /// Someone else is not on the roster; names who (`"the other supporter"`, `"member …"`).
    NotOnRoster(String),
    /// This supporter's training is missing or lapsed in these kinds.
    TrainingNotCurrent { account: AccountId, gaps: Vec<TrainingKind> },
    /// The caller may not do this; the message says who may.
    Forbidden(&'static str),
    /// A swap names a time that does not begin a shift its side holds.
    NotAShift,
    /// The swap was answered already.
    SwapNotPending,
}

/// Rotation, override and swap ids: 16 random bytes, unpadded base64url. `NotFound(what)` for
/// anything else.
pub fn record_id(text: &str, what: &'static str) -> Result<String, RuleError> {
    MessageId::parse(text).map(|_| text.to_owned()).ok_or(RuleError::NotFound(what))
}

/// A calendar date `YYYY-MM-DD` between 1970 and 2200.
pub fn date(value: &str, field: &str) -> Result<NaiveDate, RuleError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=2200).contains(&d.year()))
        .ok_or_else(|| RuleError::Invalid(format!("{field} must be a date YYYY-MM-DD between 1970 and 2200")))
}

/// A team as the schedule rules see it.
pub trait OnCallTeam {
    /// Its id among teams (rotations name it).
    fn team_id(&self) -> &str;
    /// Its rotations, overrides and swaps.
    fn schedule(&self) -> &Schedule;
    /// Whether `account` is on the team at all.
    fn has_member(&self, account: &AccountId) -> bool;
    /// Whether `account` may be put on call at `now`; `who` names them in the error.
    fn eligible(&self, account: &AccountId, who: &str, now: i64) -> Result<(), RuleError>;
}

impl OnCallTeam for Roster {
    fn team_id(&self) -> &str {
        super::roster::PEER_SUPPORT_TEAM
    }

    fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn has_member(&self, account: &AccountId) -> bool {
        self.supporter(account).is_some()
    }

    fn eligible(&self, account: &AccountId, who: &str, now: i64) -> Result<(), RuleError> {
        trained(self, account, who, now)
    }
}

/// `account` is on the roster with current training at `now`.
pub fn trained(roster: &Roster, account: &AccountId, who: &str, now: i64) -> Result<(), RuleError> {
    let supporter = roster.supporter(account).ok_or_else(|| RuleError::NotOnRoster(who.to_owned()))?;
    let gaps = supporter.training_gaps(now);
    if gaps.is_empty() { Ok(()) } else { Err(RuleError::TrainingNotCurrent { account: *account, gaps }) }
}

/// A training record from its kind's name and dates.
pub fn training(kind: &str, request: &TrainingRequest) -> Result<Training, RuleError> {
    let kind = TrainingKind::parse(kind).ok_or_else(|| {
        RuleError::Invalid(
            "training kind must be active_listening, crisis_intervention, confidentiality_ethics, trauma_informed_care or de_escalation"
                .into(),
        )
    })?;
    let completed_on = date(&request.completed_at, "completed_at")?;
    let expires_on = date(&request.expires_at, "expires_at")?;
    if expires_on <= completed_on {
        return Err(RuleError::Invalid("expires_at must be after completed_at".into()));
    }
    Ok(Training { kind, completed_on, expires_on })
}

/// A new rotation may be added to `team` (at most `MAX_ROTATIONS`).
pub fn room_for_rotation(team: &impl OnCallTeam) -> Result<(), RuleError> {
    if team.schedule().rotations.len() >= MAX_ROTATIONS {
        return Err(RuleError::Invalid(format!("at most {MAX_ROTATIONS} rotations")));
    }
    Ok(())
}

/// The rotation of `team` a request describes. Members not in `already` (the rotation's members
/// before a replacement) must be eligible.
pub fn rotation(
    request: RotationRequest,
    team: &impl OnCallTeam,
    already: &[AccountId],
    id: String,
    created_at: i64,
    now: i64,
) -> Result<Rotation, RuleError> {
    let name = check_name(&request.name, "name").map_err(RuleError::Invalid)?;
    if request.members.is_empty() || request.members.len() > MAX_MEMBERS {
        return Err(RuleError::Invalid(format!("members must list 1 to {MAX_MEMBERS} people")));
    }
    let handoff = NaiveTime::parse_from_str(&request.handoff, "%H:%M")
        .map_err(|_| RuleError::Invalid("handoff must be a local time HH:MM".into()))?;
    let time_zone: Tz = request
        .time_zone
        .parse()
        .map_err(|_| RuleError::Invalid("time_zone must be an IANA time zone, e.g. America/Chicago".into()))?;
    if !(1..=366).contains(&request.period_days) {
        return Err(RuleError::Invalid("period_days must be 1 (daily) to 366; 7 is weekly".into()));
    }
    let start_date = date(&request.start_date, "start_date")?;
    if !(2000..=2100).contains(&start_date.year()) {
        return Err(RuleError::Invalid("start_date must be between 2000 and 2100".into()));
    }
    let mut checked = HashSet::new();
    for member in &request.members {
        if already.contains(member) || !checked.insert(*member) {
            continue;
        }
        team.eligible(member, &format!("member {member}"), now)?;
    }
    let team = team.team_id().to_owned();
    Ok(Rotation { id, team, name, members: request.members, handoff, time_zone, period_days: request.period_days, start_date, created_at })
}

/// The override a request describes: it ends in the future, starts within a year, lasts at most
/// 92 days, and covers an existing rotation of `team` with someone eligible.
pub fn override_of(request: OverrideRequest, team: &impl OnCallTeam, id: String, now: i64) -> Result<Override, RuleError> {
    // Both times come from the client: their distance is taken without overflow.
    if request.end <= request.start || request.end.abs_diff(request.start) > MAX_OVERRIDE_MS.unsigned_abs() {
        return Err(RuleError::Invalid("end must be after start, by at most 92 days".into()));
    }
    if request.end <= now || request.start > now.saturating_add(MAX_AHEAD_MS) {
        return Err(RuleError::Invalid("an override must end in the future and start within a year".into()));
    }
    let rotation = record_id(&request.rotation, "rotation")?;
    team.schedule().rotation(&rotation).ok_or(RuleError::NotFound("rotation"))?;
    team.eligible(&request.account, "the account", now)?;
    Ok(Override { id, rotation, account: request.account, start: request.start, end: request.end, created_at: now })
}

/// The caller's account, if they are on the team.
pub fn on_roster(team: &impl OnCallTeam, caller: &AccountId) -> Result<AccountId, RuleError> {
    if team.has_member(caller) { Ok(*caller) } else { Err(RuleError::CallerNotOnRoster) }
}

/// `start` begins a shift of `rotation` that `who` holds (accepted swaps applied) and that has
/// not ended at `now`.
pub fn holds_shift(schedule: &Schedule, rotation: &Rotation, who: &AccountId, start: i64, now: i64) -> Result<(), RuleError> {
    let k = schedule::period_starting_at(rotation, start);
    let holds = k.is_some_and(|k| {
        rotation.boundary(k + 1) > now && schedule::assignee(schedule, rotation, k).is_some_and(|(a, _)| a == *who)
    });
    if holds { Ok(()) } else { Err(RuleError::NotAShift) }
}

/// Both sides of a swap are eligible and still hold the shifts they give away.
pub fn swap_holds(team: &impl OnCallTeam, swap: &Swap, now: i64) -> Result<(), RuleError> {
    let schedule = team.schedule();
    let rotation = schedule.rotation(&swap.rotation).ok_or(RuleError::NotFound("rotation"))?;
    for who in [swap.proposer, swap.counterpart] {
        team.eligible(&who, "the other supporter", now)?;
    }
    holds_shift(schedule, rotation, &swap.proposer, swap.proposer_shift, now)?;
    holds_shift(schedule, rotation, &swap.counterpart, swap.counterpart_shift, now)
}

/// The swap `caller` proposes.
pub fn proposed_swap(request: SwapRequest, team: &impl OnCallTeam, caller: &AccountId, id: String, now: i64) -> Result<Swap, RuleError> {
    let me = on_roster(team, caller)?;
    if request.counterpart == me {
        return Err(RuleError::Invalid("a swap is with another member of the team".into()));
    }
    if !team.has_member(&request.counterpart) {
        return Err(RuleError::NotOnRoster("the other supporter".into()));
    }
    let rotation = record_id(&request.rotation, "rotation")?;
    let swap = Swap {
        id,
        rotation,
        proposer: me,
        counterpart: request.counterpart,
        proposer_shift: request.my_shift_start,
        counterpart_shift: request.their_shift_start,
        status: SwapStatus::Proposed,
        created_at: now,
        answered_at: None,
    };
    swap_holds(team, &swap, now)?;
    Ok(swap)
}

/// The status an answer (`accept`, `decline`, `cancel`) moves a swap to.
pub fn swap_answer(answer: &str) -> Result<SwapStatus, RuleError> {
    match answer {
        "accept" => Ok(SwapStatus::Accepted),
        "decline" => Ok(SwapStatus::Declined),
        "cancel" => Ok(SwapStatus::Cancelled),
        _ => Err(RuleError::NotFound("swap action")),
    }
}

/// May `caller` move swap `id` to `to` now? Only the counterpart accepts or declines, only the
/// proposer cancels, only a proposed swap is answered, and an accepted swap must still hold.
/// Returns the swap as it would be once answered.
pub fn answered_swap(team: &impl OnCallTeam, id: &str, caller: &AccountId, to: SwapStatus, now: i64) -> Result<Swap, RuleError> {
    let me = on_roster(team, caller)?;
    let swap = team.schedule().swaps.iter().find(|s| s.id == id).ok_or(RuleError::NotFound("swap"))?;
    let allowed = if to == SwapStatus::Cancelled { swap.proposer == me } else { swap.counterpart == me };
    if !allowed {
        return Err(RuleError::Forbidden(
            "only the other supporter accepts or declines a swap; only its proposer cancels it",
        ));
    }
    if swap.status != SwapStatus::Proposed {
        return Err(RuleError::SwapNotPending);
    }
    if to == SwapStatus::Accepted {
        swap_holds(team, swap, now)?;
    }
    Ok(Swap { status: to, answered_at: Some(now), ..swap.clone() })
}

/// How many shifts a "my next shifts" answer lists: 10 unless asked, at most `MAX_SHIFTS`.
pub fn shift_limit(limit: Option<usize>) -> Result<usize, RuleError> {
    let limit = limit.unwrap_or(10);
    if !(1..=MAX_SHIFTS).contains(&limit) {
        return Err(RuleError::Invalid(format!("limit must be 1 to {MAX_SHIFTS}")));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::roster::{Supporter, Switch};

    const NOW: i64 = 1_767_600_000_000; // 2026-01-05T08:00:00Z, a Monday

    fn trained_supporter(account: AccountId) -> Supporter {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let training = TrainingKind::ALL
            .into_iter()
            .map(|kind| Training { kind, completed_on: d(2025, 1, 1), expires_on: d(2027, 1, 1) })
            .collect();
        Supporter { account, added_at: 0, switch: Switch::Available, switch_at: 0, training }
    }

    /// Two trained supporters `a` and `b` on a weekly UTC rotation from 2026-01-05 08:00 (`a`
    /// first), and `c`, on the roster without training.
    fn team() -> (Roster, AccountId, AccountId, AccountId, String) {
        let (a, b, c) = (AccountId::random(), AccountId::random(), AccountId::random());
        let id = MessageId::random().to_text();
        let request = rotation_request(vec![a, b]);
        let mut roster = Roster { supporters: vec![trained_supporter(a), trained_supporter(b)], ..Roster::default() };
        roster.supporters.push(Supporter { training: vec![], ..trained_supporter(c) });
        let rotation = rotation(request, &roster, &[], id.clone(), NOW, NOW).unwrap();
        roster.schedule.rotations.push(rotation);
        (roster, a, b, c, id)
    }

    fn rotation_request(members: Vec<AccountId>) -> RotationRequest {
        RotationRequest {
            name: " Night team ".into(),
            members,
            handoff: "08:00".into(),
            time_zone: "UTC".into(),
            period_days: 7,
            start_date: "2026-01-05".into(),
        }
    }

    #[test]
    fn a_rotation_needs_sane_fields() {
        let (roster, a, _, _, _) = team();
        let ok = rotation(rotation_request(vec![a]), &roster, &[], "r".into(), 1, NOW).unwrap();
        assert_eq!(ok.name, "Night team");
        let bad = |edit: fn(&mut RotationRequest)| {
            let mut request = rotation_request(vec![a]);
            edit(&mut request);
            rotation(request, &roster, &[], "r".into(), 1, NOW).unwrap_err()
        };
        assert!(matches!(bad(|r| r.name = "\u{7}".into()), RuleError::Invalid(m) if m.starts_with("name")));
        assert!(matches!(bad(|r| r.members.clear()), RuleError::Invalid(m) if m.contains("members")));
        assert!(matches!(bad(|r| r.handoff = "25:00".into()), RuleError::Invalid(m) if m.contains("handoff")));
        assert!(matches!(bad(|r| r.time_zone = "Mars/Olympus".into()), RuleError::Invalid(m) if m.contains("time_zone")));
        assert!(matches!(bad(|r| r.period_days = 0), RuleError::Invalid(m) if m.contains("period_days")));
        assert!(matches!(bad(|r| r.period_days = 367), RuleError::Invalid(m) if m.contains("period_days")));
        assert!(matches!(bad(|r| r.start_date = "1999-12-31".into()), RuleError::Invalid(m) if m.contains("2000")));
        assert!(matches!(bad(|r| r.start_date = "05/01/2026".into()), RuleError::Invalid(m) if m.contains("YYYY-MM-DD")));
    }

    #[test]
    fn new_rotation_members_must_be_trained_but_existing_ones_may_stay() {
        let (roster, a, _, c, _) = team();
        let err = rotation(rotation_request(vec![a, c]), &roster, &[], "r".into(), 1, NOW).unwrap_err();
        assert_eq!(err, RuleError::TrainingNotCurrent { account: c, gaps: TrainingKind::ALL.to_vec() });
        assert!(rotation(rotation_request(vec![a, c]), &roster, &[c], "r".into(), 1, NOW).is_ok(), "already a member");
        let stranger = AccountId::random();
        let err = rotation(rotation_request(vec![stranger]), &roster, &[], "r".into(), 1, NOW).unwrap_err();
        assert_eq!(err, RuleError::NotOnRoster(format!("member {stranger}")));
    }

    #[test]
    fn at_most_max_rotations() {
        let (mut roster, ..) = team();
        assert!(room_for_rotation(&roster).is_ok());
        let one = roster.schedule.rotations[0].clone();
        roster.schedule.rotations = vec![one; MAX_ROTATIONS];
        assert!(matches!(room_for_rotation(&roster), Err(RuleError::Invalid(_))));
    }

    #[test]
    fn an_override_is_bounded_in_time_and_needs_a_trained_supporter() {
        let (roster, a, _, c, id) = team();
        let request = |account, start, end| OverrideRequest { rotation: id.clone(), account, start, end };
        let o = override_of(request(a, NOW, NOW + DAY_MS), &roster, "o".into(), NOW).unwrap();
        assert_eq!((o.start, o.end, o.created_at), (NOW, NOW + DAY_MS, NOW));
        let invalid = |r| matches!(override_of(r, &roster, "o".into(), NOW), Err(RuleError::Invalid(_)));
        assert!(invalid(request(a, NOW, NOW)), "empty");
        assert!(invalid(request(a, NOW, NOW + MAX_OVERRIDE_MS + 1)), "too long");
        assert!(invalid(request(a, NOW - DAY_MS, NOW)), "already over");
        assert!(invalid(request(a, NOW + MAX_AHEAD_MS + 1, NOW + MAX_AHEAD_MS + DAY_MS)), "too far ahead");
        assert_eq!(
            override_of(request(c, NOW, NOW + DAY_MS), &roster, "o".into(), NOW),
            Err(RuleError::TrainingNotCurrent { account: c, gaps: TrainingKind::ALL.to_vec() })
        );
        let elsewhere = OverrideRequest { rotation: MessageId::random().to_text(), ..request(a, NOW, NOW + DAY_MS) };
        assert_eq!(override_of(elsewhere, &roster, "o".into(), NOW), Err(RuleError::NotFound("rotation")));
        let malformed = OverrideRequest { rotation: "-".into(), ..request(a, NOW, NOW + DAY_MS) };
        assert_eq!(override_of(malformed, &roster, "o".into(), NOW), Err(RuleError::NotFound("rotation")));
    }

    /// Found by fuzzing (fuzz/README.md): `end - start` overflowed for client-chosen times far
    /// apart (a panic with overflow checks; without them the difference wrapped negative, and an
    /// override from ~292 million years ago to just after now passed as "at most 92 days").
    #[test]
    fn an_override_with_extreme_times_is_refused_without_overflow() {
        let (roster, a, _, _, id) = team();
        let request = |start, end| OverrideRequest { rotation: id.clone(), account: a, start, end };
        let invalid = |r| matches!(override_of(r, &roster, "o".into(), NOW), Err(RuleError::Invalid(_)));
        assert!(invalid(request(i64::MIN, i64::MAX)));
        assert!(invalid(request(NOW - i64::MAX, NOW + 1)), "wrapped to a negative length");
        assert!(invalid(request(i64::MIN, NOW + DAY_MS)));
        assert!(invalid(request(NOW, i64::MAX)));
    }

    #[test]
    fn a_swap_exchanges_shifts_each_side_holds() {
        let (roster, a, b, _, id) = team();
        let week = 7 * DAY_MS;
        let request = |mine, theirs| SwapRequest { rotation: id.clone(), counterpart: b, my_shift_start: mine, their_shift_start: theirs };
        // a holds weeks 0, 2, …; b holds weeks 1, 3, …
        let swap = proposed_swap(request(NOW + 2 * week, NOW + week), &roster, &a, "s".into(), NOW).unwrap();
        assert_eq!((swap.proposer, swap.counterpart, swap.status), (a, b, SwapStatus::Proposed));
        assert_eq!(proposed_swap(request(NOW + week, NOW + 2 * week), &roster, &a, "s".into(), NOW), Err(RuleError::NotAShift));
        assert_eq!(proposed_swap(request(NOW + 2 * week + 1, NOW + week), &roster, &a, "s".into(), NOW), Err(RuleError::NotAShift));
        assert_eq!(
            proposed_swap(request(NOW - 2 * week, NOW + week), &roster, &a, "s".into(), NOW),
            Err(RuleError::NotAShift),
            "a shift that has ended"
        );
        let with_self = SwapRequest { counterpart: a, ..request(NOW + 2 * week, NOW + week) };
        assert!(matches!(proposed_swap(with_self, &roster, &a, "s".into(), NOW), Err(RuleError::Invalid(_))));
        let stranger = AccountId::random();
        assert_eq!(
            proposed_swap(request(NOW + 2 * week, NOW + week), &roster, &stranger, "s".into(), NOW),
            Err(RuleError::CallerNotOnRoster)
        );
    }

    #[test]
    fn only_the_counterpart_answers_and_only_the_proposer_cancels_once() {
        let (mut roster, a, b, c, id) = team();
        let week = 7 * DAY_MS;
        let request = SwapRequest { rotation: id, counterpart: b, my_shift_start: NOW + 2 * week, their_shift_start: NOW + week };
        let swap = proposed_swap(request, &roster, &a, MessageId::random().to_text(), NOW).unwrap();
        roster.schedule.swaps.push(swap.clone());
        let forbidden = |r: Result<Swap, RuleError>| matches!(r, Err(RuleError::Forbidden(_)));
        assert!(forbidden(answered_swap(&roster, &swap.id, &a, SwapStatus::Accepted, NOW)));
        assert!(forbidden(answered_swap(&roster, &swap.id, &b, SwapStatus::Cancelled, NOW)));
        assert!(forbidden(answered_swap(&roster, &swap.id, &c, SwapStatus::Declined, NOW)));
        let accepted = answered_swap(&roster, &swap.id, &b, SwapStatus::Accepted, NOW + 1).unwrap();
        assert_eq!((accepted.status, accepted.answered_at), (SwapStatus::Accepted, Some(NOW + 1)));
        assert!(answered_swap(&roster, &swap.id, &a, SwapStatus::Cancelled, NOW).is_ok());
        roster.schedule.swaps[0] = accepted;
        assert_eq!(answered_swap(&roster, &swap.id, &b, SwapStatus::Declined, NOW), Err(RuleError::SwapNotPending));
        assert_eq!(answered_swap(&roster, "nope", &b, SwapStatus::Declined, NOW), Err(RuleError::NotFound("swap")));
        assert_eq!(swap_answer("accept"), Ok(SwapStatus::Accepted));
        assert_eq!(swap_answer("maybe"), Err(RuleError::NotFound("swap action")));
    }

    #[test]
    fn accepting_a_swap_rechecks_that_it_still_holds() {
        let (mut roster, a, b, _, id) = team();
        let week = 7 * DAY_MS;
        let request = SwapRequest { rotation: id, counterpart: b, my_shift_start: NOW + 2 * week, their_shift_start: NOW + week };
        let swap = proposed_swap(request, &roster, &a, MessageId::random().to_text(), NOW).unwrap();
        roster.schedule.swaps.push(swap.clone());
        // b's training lapses before b answers.
        roster.supporters[1].training.clear();
        assert!(matches!(
            answered_swap(&roster, &swap.id, &b, SwapStatus::Accepted, NOW),
            Err(RuleError::TrainingNotCurrent { account, .. }) if account == b
        ));
        assert!(answered_swap(&roster, &swap.id, &b, SwapStatus::Declined, NOW).is_ok(), "declining needs nothing");
    }

    #[test]
    fn training_needs_a_known_kind_and_ordered_dates() {
        let request = |c: &str, e: &str| TrainingRequest { completed_at: c.into(), expires_at: e.into() };
        let t = training("de_escalation", &request("2026-01-01", "2027-01-01")).unwrap();
        assert_eq!(t.kind, TrainingKind::DeEscalation);
        assert!(matches!(training("juggling", &request("2026-01-01", "2027-01-01")), Err(RuleError::Invalid(_))));
        assert!(matches!(training("de_escalation", &request("2027-01-01", "2027-01-01")), Err(RuleError::Invalid(_))));
        assert!(matches!(training("de_escalation", &request("1969-12-31", "2027-01-01")), Err(RuleError::Invalid(_))));
    }

    #[test]
    fn shift_limits() {
        assert_eq!(shift_limit(None), Ok(10));
        assert_eq!(shift_limit(Some(50)), Ok(50));
        assert!(shift_limit(Some(0)).is_err());
        assert!(shift_limit(Some(51)).is_err());
    }
}
