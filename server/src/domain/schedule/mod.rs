//! The on-call schedule as pure functions, one for every team (the Peer Support Team and each
//! crisis-response team): rotation periods whose boundaries are a local hand-off time in the
//! rotation's IANA zone (DST included), accepted swaps, then overrides on top. No I/O: everything
//! takes a [`Schedule`] and an instant (Unix ms), so tests drive time freely.

use super::roster::{Roster, Supporter, Switch};

use chrono::offset::LocalResult;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeDelta, TimeZone as _};
use chrono_tz::Tz;
use sallyport_protocol::AccountId;
pub use sallyport_protocol::roster::{Source, SwapStatus};

const DAY_MS: i64 = 86_400_000;
/// Most periods one computation walks through (bounds every loop on client-chosen values).
const MAX_PERIODS: i64 = 5_000;

/// A rotation: `members[k mod len]` is on call for period `k`; period 0 begins at `handoff` on
/// `start_date` in `time_zone`, and each period lasts `period_days` local days.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub id: String,
    /// The team whose members it rotates (`peer-support` or a crisis team's id).
    pub team: String,
    pub name: String,
    pub members: Vec<AccountId>,
    pub handoff: NaiveTime,
    pub time_zone: Tz,
    pub period_days: u32,
    pub start_date: NaiveDate,
    pub created_at: i64,
}

/// `account` covers `[start, end)` of a rotation instead of whoever is scheduled. When overrides
/// overlap, the most recently created one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub id: String,
    pub rotation: String,
    pub account: AccountId,
    pub start: i64,
    pub end: i64,
    pub created_at: i64,
}

/// "You take my shift starting `proposer_shift`, I take yours starting `counterpart_shift`"
/// (both shifts of `rotation`). Applies once accepted, in the order swaps were answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    pub id: String,
    pub rotation: String,
    pub proposer: AccountId,
    pub counterpart: AccountId,
    pub proposer_shift: i64,
    pub counterpart_shift: i64,
    pub status: SwapStatus,
    pub created_at: i64,
    pub answered_at: Option<i64>,
}

/// Rotations, overrides and swaps: of one team, or of several (each rotation names its team;
/// overrides and swaps name their rotation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub rotations: Vec<Rotation>,
    pub overrides: Vec<Override>,
    pub swaps: Vec<Swap>,
}

impl Schedule {
    pub fn rotation(&self, id: &str) -> Option<&Rotation> {
        self.rotations.iter().find(|r| r.id == id)
    }

    /// The part of the schedule that belongs to `team`.
    pub fn of_team(&self, team: &str) -> Schedule {
        let rotations: Vec<Rotation> = self.rotations.iter().filter(|r| r.team == team).cloned().collect();
        let ours = |rotation: &str| rotations.iter().any(|r| r.id == rotation);
        Schedule {
            overrides: self.overrides.iter().filter(|o| ours(&o.rotation)).cloned().collect(),
            swaps: self.swaps.iter().filter(|s| ours(&s.rotation)).cloned().collect(),
            rotations,
        }
    }
}

/// A stretch `[start, end)` of one rotation held by `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub rotation: String,
    pub start: i64,
    pub end: i64,
    pub account: AccountId,
    pub source: Source,
}

/// Local date and time in `tz` to an instant. An ambiguous time (clocks go back) is its first
/// occurrence; a time in a gap (clocks go forward) uses the offset in force before the gap, so it
/// lands as far after the gap's start as the local time is (02:30 in a 02:00→03:00 gap is 03:30).
pub fn local_to_ms(tz: Tz, local: NaiveDateTime) -> i64 {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.timestamp_millis(),
        LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
        LocalResult::None => {
            // Step back to a local time that exists (gaps are at most a day long).
            for hours in 1..=48 {
                let earlier = local - TimeDelta::hours(hours);
                if let LocalResult::Single(t) | LocalResult::Ambiguous(t, _) = tz.from_local_datetime(&earlier) {
                    let offset = i64::from(t.offset().fix().local_minus_utc());
                    return (local - TimeDelta::seconds(offset)).and_utc().timestamp_millis();
                }
            }
            local.and_utc().timestamp_millis()
        }
    }
}

impl Rotation {
    /// The instant period `k` begins (`k` may be negative: before the start).
    pub fn boundary(&self, k: i64) -> i64 {
        let days = k.saturating_mul(i64::from(self.period_days.max(1)));
        match TimeDelta::try_days(days).and_then(|d| self.start_date.checked_add_signed(d)) {
            Some(date) => local_to_ms(self.time_zone, date.and_time(self.handoff)),
            None if days < 0 => i64::MIN / 2,
            None => i64::MAX / 2,
        }
    }

    /// The period holding instant `t`, or `None` before the rotation starts.
    pub fn period_at(&self, t: i64) -> Option<i64> {
        let first = self.boundary(0);
        if t < first {
            return None;
        }
        let length = i64::from(self.period_days.max(1)) * DAY_MS;
        // DST moves a boundary by hours, never by a whole period: a step or two corrects the guess.
        let mut k = (t - first) / length;
        for _ in 0..4 {
            if self.boundary(k) > t {
                k -= 1;
            } else if self.boundary(k + 1) <= t {
                k += 1;
            } else {
                break;
            }
        }
        Some(k.max(0))
    }

    /// Who the rotation itself names for period `k` (before swaps and overrides).
    pub fn scheduled(&self, k: i64) -> Option<AccountId> {
        if self.members.is_empty() || k < 0 {
            return None;
        }
        Some(self.members[(k % self.members.len() as i64) as usize])
    }
}

/// Accepted swaps of `rotation`, in the order they were accepted.
fn accepted_swaps<'a>(schedule: &'a Schedule, rotation: &str) -> Vec<&'a Swap> {
    let mut swaps: Vec<&Swap> =
        schedule.swaps.iter().filter(|s| s.rotation == rotation && s.status == SwapStatus::Accepted).collect();
    swaps.sort_by_key(|s| (s.answered_at.unwrap_or(s.created_at), s.created_at));
    swaps
}

/// Who holds period `k` of `rotation` after accepted swaps (but before overrides), and how.
pub fn assignee(schedule: &Schedule, rotation: &Rotation, k: i64) -> Option<(AccountId, Source)> {
    let start = rotation.boundary(k);
    let mut who = rotation.scheduled(k)?;
    let mut source = Source::Rotation;
    for swap in accepted_swaps(schedule, &rotation.id) {
        if swap.proposer_shift == start && who == swap.proposer {
            who = swap.counterpart;
            source = Source::Swap;
        } else if swap.counterpart_shift == start && who == swap.counterpart {
            who = swap.proposer;
            source = Source::Swap;
        }
    }
    Some((who, source))
}

/// The period of `rotation` that starts exactly at `start`, if any.
pub fn period_starting_at(rotation: &Rotation, start: i64) -> Option<i64> {
    rotation.period_at(start).filter(|k| rotation.boundary(*k) == start)
}

/// Who holds `rotation` at instant `t`, overrides included.
pub fn holder_at(schedule: &Schedule, rotation: &Rotation, t: i64) -> Option<AccountId> {
    let covering = schedule
        .overrides
        .iter()
        .filter(|o| o.rotation == rotation.id && o.start <= t && t < o.end)
        .max_by_key(|o| (o.created_at, o.id.as_str()));
    if let Some(o) = covering {
        return Some(o.account);
    }
    assignee(schedule, rotation, rotation.period_at(t)?).map(|(who, _)| who)
}

/// `[start, end)` of one period and who holds it (before overrides); `None`: nobody.
type Piece = (i64, i64, Option<(AccountId, Source)>);

/// The stretches of `rotation` from the shift holding `from` up to `to` (whole shifts: the first
/// may begin before `from`), after swaps and overrides. A shift split by an override gives
/// several stretches; consecutive shifts of one person stay separate.
pub fn segments(schedule: &Schedule, rotation: &Rotation, from: i64, to: i64) -> Vec<Segment> {
    // Base pieces: each period with its holder; before the start, nobody.
    let mut base: Vec<Piece> = Vec::new();
    let first = rotation.boundary(0);
    let first_k = match rotation.period_at(from) {
        Some(k) => k,
        None => {
            base.push((from, first.min(to).max(from), None));
            0
        }
    };
    for k in first_k..first_k.saturating_add(MAX_PERIODS) {
        let start = rotation.boundary(k);
        if start >= to {
            break;
        }
        base.push((start, rotation.boundary(k + 1), assignee(schedule, rotation, k)));
    }

    let overrides: Vec<_> = schedule.overrides.iter().filter(|o| o.rotation == rotation.id).collect();
    let mut out: Vec<Segment> = Vec::new();
    // What each output segment came from: a base piece (by index) or an override (by id); only
    // adjacent stretches of one origin merge, so consecutive shifts of one person stay apart.
    let mut origins: Vec<Result<usize, &str>> = Vec::new();
    for (index, (start, end, holder)) in base.into_iter().enumerate() {
        if start >= end {
            continue;
        }
        let mut cuts = vec![start, end];
        for o in overrides.iter().filter(|o| o.start < end && o.end > start) {
            cuts.extend([o.start.max(start), o.end.min(end)]);
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let covering =
                overrides.iter().filter(|o| o.start <= a && b <= o.end).max_by_key(|o| (o.created_at, o.id.as_str()));
            let (account, source, origin) = match (covering, holder) {
                (Some(o), _) => (o.account, Source::Override, Err(o.id.as_str())),
                (None, Some((account, source))) => (account, source, Ok(index)),
                (None, None) => continue,
            };
            match (out.last_mut(), origins.last()) {
                (Some(last), Some(o)) if last.end == a && *o == origin => last.end = b,
                _ => {
                    out.push(Segment { rotation: rotation.id.clone(), start: a, end: b, account, source });
                    origins.push(origin);
                }
            }
        }
    }
    out
}

/// Everyone who holds some rotation of `schedule` at `now` (after swaps and overrides), whatever
/// their switch or training; sorted, without repeats.
pub fn holders_at(schedule: &Schedule, now: i64) -> Vec<AccountId> {
    let mut who: Vec<AccountId> = schedule.rotations.iter().filter_map(|r| holder_at(schedule, r, now)).collect();
    who.sort();
    who.dedup();
    who
}

/// Whether `supporter` may be offered requests at `now`: training current and switch available.
pub fn reachable(supporter: &Supporter, now: i64) -> bool {
    supporter.switch == Switch::Available && supporter.training_current(now)
}

/// Peer supporters on call at `now`: holding a rotation (swaps and overrides applied), on the
/// roster, with current training and their switch at `available`. Sorted.
pub fn on_call_at(roster: &Roster, now: i64) -> Vec<AccountId> {
    holders_at(&roster.schedule, now)
        .into_iter()
        .filter(|a| roster.supporter(a).is_some_and(|s| reachable(s, now)))
        .collect()
}

/// The next `limit` stretches `account` holds that have not ended by `now`, across rotations,
/// by start time.
pub fn next_shifts(schedule: &Schedule, account: &AccountId, now: i64, limit: usize) -> Vec<Segment> {
    let mut found = Vec::new();
    for rotation in &schedule.rotations {
        let len = rotation.members.len().max(1) as i64;
        let periods = (limit as i64).saturating_mul(len).saturating_add(1).min(MAX_PERIODS);
        let from_k = rotation.period_at(now).unwrap_or(0);
        let mut to = rotation.boundary(from_k + periods).max(now);
        for o in schedule.overrides.iter().filter(|o| o.rotation == rotation.id && o.account == *account) {
            to = to.max(o.end);
        }
        found.extend(segments(schedule, rotation, now, to).into_iter().filter(|s| s.account == *account && s.end > now));
    }
    found.sort_by_key(|s| (s.start, s.end));
    found.truncate(limit);
    found
}

#[cfg(test)]
mod tests;
