//! The on-call schedule as pure functions: rotation periods whose boundaries are a local hand-off
//! time in the rotation's IANA zone (DST included), accepted swaps, then overrides on top. No I/O:
//! everything takes the roster and an instant (Unix ms), so tests drive time freely.

use super::roster::{Roster, Supporter, Switch};
use chrono::offset::LocalResult;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Offset as _, TimeDelta, TimeZone as _};
use chrono_tz::Tz;
use sallyport_protocol::AccountId;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
/// Most periods one computation walks through (bounds every loop on client-chosen values).
const MAX_PERIODS: i64 = 5_000;

/// A rotation: `members[k mod len]` is on call for period `k`; period 0 begins at `handoff` on
/// `start_date` in `time_zone`, and each period lasts `period_days` local days.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub id: String,
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

/// Why someone holds a stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Their turn in the rotation.
    Rotation,
    /// A shift they took in an accepted swap.
    Swap,
    /// They cover it by an override.
    Override,
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
fn accepted_swaps<'a>(roster: &'a Roster, rotation: &str) -> Vec<&'a Swap> {
    let mut swaps: Vec<&Swap> =
        roster.swaps.iter().filter(|s| s.rotation == rotation && s.status == SwapStatus::Accepted).collect();
    swaps.sort_by_key(|s| (s.answered_at.unwrap_or(s.created_at), s.created_at));
    swaps
}

/// Who holds period `k` of `rotation` after accepted swaps (but before overrides), and how.
pub fn assignee(roster: &Roster, rotation: &Rotation, k: i64) -> Option<(AccountId, Source)> {
    let start = rotation.boundary(k);
    let mut who = rotation.scheduled(k)?;
    let mut source = Source::Rotation;
    for swap in accepted_swaps(roster, &rotation.id) {
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
pub fn holder_at(roster: &Roster, rotation: &Rotation, t: i64) -> Option<AccountId> {
    let covering = roster
        .overrides
        .iter()
        .filter(|o| o.rotation == rotation.id && o.start <= t && t < o.end)
        .max_by_key(|o| (o.created_at, o.id.as_str()));
    if let Some(o) = covering {
        return Some(o.account);
    }
    assignee(roster, rotation, rotation.period_at(t)?).map(|(who, _)| who)
}

/// `[start, end)` of one period and who holds it (before overrides); `None`: nobody.
type Piece = (i64, i64, Option<(AccountId, Source)>);

/// The stretches of `rotation` from the shift holding `from` up to `to` (whole shifts: the first
/// may begin before `from`), after swaps and overrides. A shift split by an override gives
/// several stretches; consecutive shifts of one person stay separate.
pub fn segments(roster: &Roster, rotation: &Rotation, from: i64, to: i64) -> Vec<Segment> {
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
        base.push((start, rotation.boundary(k + 1), assignee(roster, rotation, k)));
    }

    let overrides: Vec<_> = roster.overrides.iter().filter(|o| o.rotation == rotation.id).collect();
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

/// Everyone who holds some rotation at `now` (after swaps and overrides), whatever their switch
/// or training; sorted, without repeats.
pub fn holders_at(roster: &Roster, now: i64) -> Vec<AccountId> {
    let mut who: Vec<AccountId> = roster.rotations.iter().filter_map(|r| holder_at(roster, r, now)).collect();
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
    holders_at(roster, now)
        .into_iter()
        .filter(|a| roster.supporter(a).is_some_and(|s| reachable(s, now)))
        .collect()
}

/// The next `limit` stretches `account` holds that have not ended by `now`, across rotations,
/// by start time.
pub fn next_shifts(roster: &Roster, account: &AccountId, now: i64, limit: usize) -> Vec<Segment> {
    let mut found = Vec::new();
    for rotation in &roster.rotations {
        let len = rotation.members.len().max(1) as i64;
        let periods = (limit as i64).saturating_mul(len).saturating_add(1).min(MAX_PERIODS);
        let from_k = rotation.period_at(now).unwrap_or(0);
        let mut to = rotation.boundary(from_k + periods).max(now);
        for o in roster.overrides.iter().filter(|o| o.rotation == rotation.id && o.account == *account) {
            to = to.max(o.end);
        }
        found.extend(segments(roster, rotation, now, to).into_iter().filter(|s| s.account == *account && s.end > now));
    }
    found.sort_by_key(|s| (s.start, s.end));
    found.truncate(limit);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::roster::{Training, TrainingKind};

    fn ms(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        local_to_ms(tz, NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap())
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms(chrono_tz::UTC, y, mo, d, h, mi)
    }

    fn people(n: usize) -> Vec<AccountId> {
        let mut v: Vec<AccountId> = (0..n).map(|_| AccountId::random()).collect();
        v.sort();
        v
    }

    fn current_training() -> Vec<Training> {
        TrainingKind::ALL
            .into_iter()
            .map(|kind| Training {
                kind,
                completed_on: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
                expires_on: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            })
            .collect()
    }

    fn supporter(account: AccountId) -> Supporter {
        Supporter { account, added_at: 0, switch: Switch::Available, switch_at: 0, training: current_training() }
    }

    fn rotation(members: &[AccountId], tz: Tz, handoff: (u32, u32), period_days: u32, start: (i32, u32, u32)) -> Rotation {
        Rotation {
            id: "rot".into(),
            name: "Primary".into(),
            members: members.to_vec(),
            handoff: NaiveTime::from_hms_opt(handoff.0, handoff.1, 0).unwrap(),
            time_zone: tz,
            period_days,
            start_date: NaiveDate::from_ymd_opt(start.0, start.1, start.2).unwrap(),
            created_at: 0,
        }
    }

    fn roster_of(members: &[AccountId], rotations: Vec<Rotation>) -> Roster {
        Roster { supporters: members.iter().copied().map(supporter).collect(), rotations, overrides: vec![], swaps: vec![] }
    }

    #[test]
    fn weekly_rotation_cycles_through_members_at_the_hand_off_time() {
        let p = people(3);
        let tz: Tz = "America/Chicago".parse().unwrap();
        let r = rotation(&p, tz, (8, 0), 7, (2026, 1, 5));
        let roster = roster_of(&p, vec![r.clone()]);
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 5, 7, 59)), None, "before the start nobody is on call");
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 5, 8, 0)), Some(p[0]));
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 12, 7, 59)), Some(p[0]));
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 12, 8, 0)), Some(p[1]));
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 19, 9, 0)), Some(p[2]));
        assert_eq!(holder_at(&roster, &r, ms(tz, 2026, 1, 26, 8, 0)), Some(p[0]), "wraps around");
        assert_eq!(r.period_at(ms(tz, 2026, 2, 2, 8, 0)), Some(4));
    }

    #[test]
    fn daily_and_n_day_periods() {
        let p = people(2);
        let daily = rotation(&p, chrono_tz::UTC, (18, 30), 1, (2026, 3, 1));
        let roster = roster_of(&p, vec![daily.clone()]);
        assert_eq!(holder_at(&roster, &daily, utc(2026, 3, 1, 18, 30)), Some(p[0]));
        assert_eq!(holder_at(&roster, &daily, utc(2026, 3, 2, 18, 29)), Some(p[0]));
        assert_eq!(holder_at(&roster, &daily, utc(2026, 3, 2, 18, 30)), Some(p[1]));
        assert_eq!(holder_at(&roster, &daily, utc(2026, 3, 3, 18, 30)), Some(p[0]));
        let three = rotation(&p, chrono_tz::UTC, (0, 0), 3, (2026, 3, 1));
        let roster = roster_of(&p, vec![three.clone()]);
        assert_eq!(holder_at(&roster, &three, utc(2026, 3, 3, 23, 59)), Some(p[0]));
        assert_eq!(holder_at(&roster, &three, utc(2026, 3, 4, 0, 0)), Some(p[1]));
    }

    #[test]
    fn the_hand_off_stays_at_local_time_across_daylight_saving_changes() {
        let p = people(2);
        let tz: Tz = "America/New_York".parse().unwrap();
        // Daily at 08:00 New York; clocks go forward on 2026-03-08 and back on 2026-11-01.
        let r = rotation(&p, tz, (8, 0), 1, (2026, 3, 6));
        assert_eq!(r.boundary(1), utc(2026, 3, 7, 13, 0), "08:00 EST is 13:00 UTC");
        assert_eq!(r.boundary(2), utc(2026, 3, 8, 12, 0), "08:00 EDT is 12:00 UTC");
        assert_eq!(r.boundary(2) - r.boundary(1), 23 * 3_600_000, "the shift across spring-forward lasts 23 h");
        let roster = roster_of(&p, vec![r.clone()]);
        // 12:30 UTC on 8 March is 08:30 EDT: the hand-off has happened although it is not 13:00 UTC.
        assert_eq!(holder_at(&roster, &r, utc(2026, 3, 8, 12, 30)), Some(p[0]), "period 2 belongs to member 0");
        assert_eq!(holder_at(&roster, &r, utc(2026, 3, 8, 11, 59)), Some(p[1]));

        // Weekly across fall-back: one hour longer than 7 × 24 h.
        let w = rotation(&p, tz, (8, 0), 7, (2026, 10, 26));
        assert_eq!(w.boundary(1) - w.boundary(0), 7 * DAY_MS + 3_600_000, "the week across fall-back lasts 169 h");
        assert_eq!(w.period_at(utc(2026, 11, 2, 12, 59)), Some(0));
        assert_eq!(w.period_at(utc(2026, 11, 2, 13, 0)), Some(1));
    }

    #[test]
    fn my_next_shifts_follow_local_hand_offs_across_a_dst_change() {
        let p = people(2);
        let tz: Tz = "Europe/London".parse().unwrap();
        // Every 3 days at 07:00 London; clocks go forward on 2026-03-29 (GMT -> BST).
        let r = rotation(&p, tz, (7, 0), 3, (2026, 3, 23));
        let roster = roster_of(&p, vec![r.clone()]);
        let mine: Vec<_> = next_shifts(&roster, &p[0], utc(2026, 3, 23, 0, 0), 3).iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(mine, vec![
            (utc(2026, 3, 23, 7, 0), utc(2026, 3, 26, 7, 0)),
            (utc(2026, 3, 29, 6, 0), utc(2026, 4, 1, 6, 0)),
            (utc(2026, 4, 4, 6, 0), utc(2026, 4, 7, 6, 0)),
        ], "07:00 GMT, then 07:00 BST (06:00 UTC)");
        let theirs = next_shifts(&roster, &p[1], utc(2026, 3, 27, 0, 0), 1);
        assert_eq!((theirs[0].start, theirs[0].end), (utc(2026, 3, 26, 7, 0), utc(2026, 3, 29, 6, 0)), "the shift across the change is an hour short");
    }

    #[test]
    fn a_hand_off_in_a_skipped_or_repeated_hour() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let gap = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(local_to_ms(tz, gap), utc(2026, 3, 8, 7, 30), "02:30 does not exist: it is 03:30 EDT");
        let repeated = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 30, 0).unwrap();
        assert_eq!(local_to_ms(tz, repeated), utc(2026, 11, 1, 5, 30), "01:30 happens twice: the first (EDT)");
    }

    #[test]
    fn overrides_cover_part_of_a_shift_and_the_newest_wins() {
        let p = people(3);
        let r = rotation(&p[..2], chrono_tz::UTC, (8, 0), 7, (2026, 1, 5));
        let mut roster = roster_of(&p, vec![r.clone()]);
        let o = |id: &str, who, start, end, created_at| Override { id: id.into(), rotation: "rot".into(), account: who, start, end, created_at };
        roster.overrides.push(o("a", p[2], utc(2026, 1, 6, 0, 0), utc(2026, 1, 7, 0, 0), 1));
        roster.overrides.push(o("b", p[1], utc(2026, 1, 6, 12, 0), utc(2026, 1, 6, 18, 0), 2));
        assert_eq!(holder_at(&roster, &r, utc(2026, 1, 5, 23, 0)), Some(p[0]));
        assert_eq!(holder_at(&roster, &r, utc(2026, 1, 6, 1, 0)), Some(p[2]));
        assert_eq!(holder_at(&roster, &r, utc(2026, 1, 6, 13, 0)), Some(p[1]), "the newer override wins");
        assert_eq!(holder_at(&roster, &r, utc(2026, 1, 6, 19, 0)), Some(p[2]));
        assert_eq!(holder_at(&roster, &r, utc(2026, 1, 7, 0, 0)), Some(p[0]), "the end is exclusive");

        let segs = segments(&roster, &r, utc(2026, 1, 5, 9, 0), utc(2026, 1, 12, 0, 0));
        let summary: Vec<_> = segs.iter().map(|s| (s.start, s.end, s.account, s.source)).collect();
        assert_eq!(
            summary,
            vec![
                (utc(2026, 1, 5, 8, 0), utc(2026, 1, 6, 0, 0), p[0], Source::Rotation),
                (utc(2026, 1, 6, 0, 0), utc(2026, 1, 6, 12, 0), p[2], Source::Override),
                (utc(2026, 1, 6, 12, 0), utc(2026, 1, 6, 18, 0), p[1], Source::Override),
                (utc(2026, 1, 6, 18, 0), utc(2026, 1, 7, 0, 0), p[2], Source::Override),
                (utc(2026, 1, 7, 0, 0), utc(2026, 1, 12, 8, 0), p[0], Source::Rotation),
            ]
        );
        // p[2] is in no rotation, yet the override is their shift.
        let mine = next_shifts(&roster, &p[2], utc(2026, 1, 1, 0, 0), 5);
        assert_eq!(mine.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(), vec![
            (utc(2026, 1, 6, 0, 0), utc(2026, 1, 6, 12, 0)),
            (utc(2026, 1, 6, 18, 0), utc(2026, 1, 7, 0, 0)),
        ]);
    }

    #[test]
    fn an_accepted_swap_exchanges_exactly_the_two_shifts() {
        let p = people(2);
        let r = rotation(&p, chrono_tz::UTC, (8, 0), 7, (2026, 1, 5));
        let mut roster = roster_of(&p, vec![r.clone()]);
        // p0 holds periods 0, 2, 4…; p1 holds 1, 3, 5…
        let swap = Swap {
            id: "s".into(),
            rotation: "rot".into(),
            proposer: p[0],
            counterpart: p[1],
            proposer_shift: r.boundary(2),
            counterpart_shift: r.boundary(3),
            status: SwapStatus::Proposed,
            created_at: 1,
            answered_at: None,
        };
        roster.swaps.push(swap);
        assert_eq!(assignee(&roster, &r, 2), Some((p[0], Source::Rotation)), "a proposal changes nothing");
        roster.swaps[0].status = SwapStatus::Accepted;
        roster.swaps[0].answered_at = Some(2);
        assert_eq!(assignee(&roster, &r, 2), Some((p[1], Source::Swap)));
        assert_eq!(assignee(&roster, &r, 3), Some((p[0], Source::Swap)));
        assert_eq!(assignee(&roster, &r, 4), Some((p[0], Source::Rotation)), "other shifts stay");
        let mine: Vec<_> = next_shifts(&roster, &p[0], r.boundary(0), 4).iter().map(|s| (s.start, s.source)).collect();
        assert_eq!(mine, vec![
            (r.boundary(0), Source::Rotation),
            (r.boundary(3), Source::Swap),
            (r.boundary(4), Source::Rotation),
            (r.boundary(6), Source::Rotation),
        ]);
        roster.swaps[0].status = SwapStatus::Declined;
        assert_eq!(assignee(&roster, &r, 2), Some((p[0], Source::Rotation)));
    }

    #[test]
    fn on_call_needs_current_training_and_the_switch_at_available() {
        let p = people(3);
        let primary = rotation(&p[..1], chrono_tz::UTC, (8, 0), 7, (2026, 1, 5));
        let mut backup = rotation(&p[1..], chrono_tz::UTC, (8, 0), 7, (2026, 1, 5));
        backup.id = "backup".into();
        let mut roster = roster_of(&p, vec![primary, backup]);
        let now = utc(2026, 1, 6, 0, 0);
        let mut both = vec![p[0], p[1]];
        both.sort();
        assert_eq!(on_call_at(&roster, now), both);

        roster.supporters[1].switch = Switch::Busy;
        assert_eq!(on_call_at(&roster, now), vec![p[0]], "busy is not offered");
        roster.supporters[1].switch = Switch::Off;
        assert_eq!(on_call_at(&roster, now), vec![p[0]], "off is not offered");
        roster.supporters[1].switch = Switch::Available;

        // p0's crisis-intervention training expires on 2026-01-06: from that day it has lapsed.
        roster.supporters[0].training[1].expires_on = NaiveDate::from_ymd_opt(2026, 1, 6).unwrap();
        assert_eq!(on_call_at(&roster, utc(2026, 1, 5, 23, 59)), both, "current the day before");
        assert_eq!(on_call_at(&roster, now), vec![p[1]], "lapsed training takes them off call");
        roster.supporters[0].training.remove(1);
        assert_eq!(on_call_at(&roster, utc(2026, 1, 5, 23, 59)), vec![p[1]], "all five kinds are required");

        // Someone removed from the roster is never on call, even if a rotation still names them.
        roster.supporters.remove(1);
        assert!(on_call_at(&roster, now).is_empty());
        assert_eq!(holders_at(&roster, now), both);
    }

    #[test]
    fn absurd_inputs_stay_bounded() {
        let p = people(1);
        let r = rotation(&p, chrono_tz::UTC, (0, 0), 366, (2000, 1, 1));
        assert_eq!(r.period_at(i64::MAX / 4).map(|k| k > 0), Some(true));
        assert_eq!(r.period_at(i64::MIN / 4), None);
        let roster = roster_of(&p, vec![r.clone()]);
        assert!(next_shifts(&roster, &p[0], utc(2026, 1, 1, 0, 0), 1000).len() <= 1000);
    }
}
