//! Unit tests of the on-call schedule: periods, DST, overrides, swaps, training and the switch.

use super::*;
use crate::domain::roster::{Training, TrainingKind};

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
        team: "peer-support".into(),
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
    Roster { supporters: members.iter().copied().map(supporter).collect(), schedule: Schedule { rotations, ..Schedule::default() } }
}

#[test]
fn weekly_rotation_cycles_through_members_at_the_hand_off_time() {
    let p = people(3);
    let tz: Tz = "America/Chicago".parse().unwrap();
    let r = rotation(&p, tz, (8, 0), 7, (2026, 1, 5));
    let roster = roster_of(&p, vec![r.clone()]);
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 5, 7, 59)), None, "before the start nobody is on call");
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 5, 8, 0)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 12, 7, 59)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 12, 8, 0)), Some(p[1]));
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 19, 9, 0)), Some(p[2]));
    assert_eq!(holder_at(&roster.schedule, &r, ms(tz, 2026, 1, 26, 8, 0)), Some(p[0]), "wraps around");
    assert_eq!(r.period_at(ms(tz, 2026, 2, 2, 8, 0)), Some(4));
}

#[test]
fn daily_and_n_day_periods() {
    let p = people(2);
    let daily = rotation(&p, chrono_tz::UTC, (18, 30), 1, (2026, 3, 1));
    let roster = roster_of(&p, vec![daily.clone()]);
    assert_eq!(holder_at(&roster.schedule, &daily, utc(2026, 3, 1, 18, 30)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &daily, utc(2026, 3, 2, 18, 29)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &daily, utc(2026, 3, 2, 18, 30)), Some(p[1]));
    assert_eq!(holder_at(&roster.schedule, &daily, utc(2026, 3, 3, 18, 30)), Some(p[0]));
    let three = rotation(&p, chrono_tz::UTC, (0, 0), 3, (2026, 3, 1));
    let roster = roster_of(&p, vec![three.clone()]);
    assert_eq!(holder_at(&roster.schedule, &three, utc(2026, 3, 3, 23, 59)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &three, utc(2026, 3, 4, 0, 0)), Some(p[1]));
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
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 3, 8, 12, 30)), Some(p[0]), "period 2 belongs to member 0");
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 3, 8, 11, 59)), Some(p[1]));

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
    let mine: Vec<_> = next_shifts(&roster.schedule, &p[0], utc(2026, 3, 23, 0, 0), 3).iter().map(|s| (s.start, s.end)).collect();
    assert_eq!(mine, vec![
        (utc(2026, 3, 23, 7, 0), utc(2026, 3, 26, 7, 0)),
        (utc(2026, 3, 29, 6, 0), utc(2026, 4, 1, 6, 0)),
        (utc(2026, 4, 4, 6, 0), utc(2026, 4, 7, 6, 0)),
    ], "07:00 GMT, then 07:00 BST (06:00 UTC)");
    let theirs = next_shifts(&roster.schedule, &p[1], utc(2026, 3, 27, 0, 0), 1);
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
    roster.schedule.overrides.push(o("a", p[2], utc(2026, 1, 6, 0, 0), utc(2026, 1, 7, 0, 0), 1));
    roster.schedule.overrides.push(o("b", p[1], utc(2026, 1, 6, 12, 0), utc(2026, 1, 6, 18, 0), 2));
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 1, 5, 23, 0)), Some(p[0]));
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 1, 6, 1, 0)), Some(p[2]));
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 1, 6, 13, 0)), Some(p[1]), "the newer override wins");
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 1, 6, 19, 0)), Some(p[2]));
    assert_eq!(holder_at(&roster.schedule, &r, utc(2026, 1, 7, 0, 0)), Some(p[0]), "the end is exclusive");

    let segs = segments(&roster.schedule, &r, utc(2026, 1, 5, 9, 0), utc(2026, 1, 12, 0, 0));
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
    let mine = next_shifts(&roster.schedule, &p[2], utc(2026, 1, 1, 0, 0), 5);
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
    roster.schedule.swaps.push(swap);
    assert_eq!(assignee(&roster.schedule, &r, 2), Some((p[0], Source::Rotation)), "a proposal changes nothing");
    roster.schedule.swaps[0].status = SwapStatus::Accepted;
    roster.schedule.swaps[0].answered_at = Some(2);
    assert_eq!(assignee(&roster.schedule, &r, 2), Some((p[1], Source::Swap)));
    assert_eq!(assignee(&roster.schedule, &r, 3), Some((p[0], Source::Swap)));
    assert_eq!(assignee(&roster.schedule, &r, 4), Some((p[0], Source::Rotation)), "other shifts stay");
    let mine: Vec<_> = next_shifts(&roster.schedule, &p[0], r.boundary(0), 4).iter().map(|s| (s.start, s.source)).collect();
    assert_eq!(mine, vec![
        (r.boundary(0), Source::Rotation),
        (r.boundary(3), Source::Swap),
        (r.boundary(4), Source::Rotation),
        (r.boundary(6), Source::Rotation),
    ]);
    roster.schedule.swaps[0].status = SwapStatus::Declined;
    assert_eq!(assignee(&roster.schedule, &r, 2), Some((p[0], Source::Rotation)));
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
    assert_eq!(holders_at(&roster.schedule, now), both);
}

#[test]
fn absurd_inputs_stay_bounded() {
    let p = people(1);
    let r = rotation(&p, chrono_tz::UTC, (0, 0), 366, (2000, 1, 1));
    assert_eq!(r.period_at(i64::MAX / 4).map(|k| k > 0), Some(true));
    assert_eq!(r.period_at(i64::MIN / 4), None);
    let roster = roster_of(&p, vec![r.clone()]);
    assert!(next_shifts(&roster.schedule, &p[0], utc(2026, 1, 1, 0, 0), 1000).len() <= 1000);
}
