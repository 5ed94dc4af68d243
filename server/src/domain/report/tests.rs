use super::*;
use proptest::prelude::*;

const FEB_2027: i64 = 20_850; // Monday 2027-02-01

fn day(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d)
}

#[test]
fn calendar() {
    assert_eq!(day(2027, 2, 1), FEB_2027);
    assert_eq!(iso_date(FEB_2027), "2027-02-01");
    assert_eq!(week_start(FEB_2027 + 6), FEB_2027);
    assert_eq!(week_start(FEB_2027 + 7), FEB_2027 + 7);
    assert_eq!(week_start(0), -3); // Thursday 1970-01-01; Monday 1969-12-29
    assert_eq!(month_days(month_index(FEB_2027 + 10)), (FEB_2027, FEB_2027 + 27));
    assert_eq!(month_days(month_index(day(2028, 2, 3))), (day(2028, 2, 1), day(2028, 2, 29)));
    for z in [-800_000, -1, 0, 1, 19_000, 20_850, 2_000_000] {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m, d), z);
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let v: Vec<i64> = (1..=10).collect();
    assert_eq!(percentile(&v, 50), 5);
    assert_eq!(percentile(&v, 90), 9);
    let v: Vec<i64> = (1..=11).collect();
    assert_eq!(percentile(&v, 50), 6);
    assert_eq!(percentile(&v, 90), 10);
}

fn row_group() -> Vec<Group> {
    vec![Group { total: 3, parts: vec![0, 1, 2], relation: Relation::Equal }]
}

#[test]
fn nothing_is_hidden_when_every_count_is_0_or_at_least_10() {
    assert_eq!(suppress(&[0, 10, 25, 35], &row_group(), &[0; 4]), vec![Mark::Shown; 4]);
    assert_eq!(suppress(&[0, 0, 0, 0], &row_group(), &[0; 4]), vec![Mark::Shown; 4]);
}

#[test]
fn one_small_part_hides_the_smallest_other_part_only() {
    let marks = suppress(&[5, 20, 30, 55], &row_group(), &[0; 4]);
    assert_eq!(marks, vec![Mark::FewerThan10, Mark::Complementary, Mark::Shown, Mark::Shown]);
}

#[test]
fn two_small_parts_that_stay_ambiguous_hide_nothing_more() {
    // now = 12 − today − 0 with today in 1..=9: now in 3..=9, seven values.
    assert_eq!(suppress(&[5, 7, 0, 12], &row_group(), &[0; 4]), vec![Mark::FewerThan10, Mark::FewerThan10, Mark::Shown, Mark::Shown]);
}

#[test]
fn two_small_parts_pinned_by_the_total_hide_the_total() {
    // 18 = 9 + 9 would pin both.
    assert_eq!(suppress(&[9, 9, 0, 18], &row_group(), &[0; 4]), vec![Mark::FewerThan10, Mark::FewerThan10, Mark::Shown, Mark::Complementary]);
}

#[test]
fn a_hidden_total_spreads_to_the_group_it_is_a_part_of() {
    // Cells 0–3: one row (total 3); 4–6: a month total (6) = 3 + 4 + 5.
    let groups = vec![Group { total: 3, parts: vec![0, 1, 2], relation: Relation::Equal }, Group { total: 6, parts: vec![3, 4, 5], relation: Relation::Equal }];
    let marks = suppress(&[9, 9, 0, 18, 30, 12, 60], &groups, &[0; 7]);
    assert_eq!(marks[3], Mark::Complementary);
    assert_eq!(marks[5], Mark::Complementary, "the smallest other part");
    assert_eq!(marks[4], Mark::Shown);
    assert_eq!(marks[6], Mark::Shown);
}

#[test]
fn suppression_is_deterministic_with_ties() {
    let values = [3, 15, 15, 33];
    let a = suppress(&values, &row_group(), &[0; 4]);
    assert_eq!(a, suppress(&values, &row_group(), &[0; 4]));
    assert_eq!(a, vec![Mark::FewerThan10, Mark::Complementary, Mark::Shown, Mark::Shown]);
}

fn events(day: i64, kind: EventKind, n: usize) -> Vec<Event> {
    vec![Event { day, kind, value: None }; n]
}

#[test]
fn only_completed_periods_are_reported_oldest_first() {
    let today = FEB_2027 + 7 * 8 + 2; // a Wednesday in March
    let mut all = events(today, EventKind::RequestNow, 12); // today: not in a completed period
    all.extend(events(today - 3, EventKind::RequestNow, 12)); // last Sunday: the last completed week
    let rows = report(&all, &[], today, Period::Week, DEFAULT_PERIODS);
    assert_eq!(rows.len(), 12);
    let last = rows.last().expect("rows");
    assert_eq!(last.last_day, week_start(today) - 1);
    assert!(rows.windows(2).all(|w| w[0].last_day + 1 == w[1].first_day));
    assert_eq!(last.counts[0], Cell::Shown(12));
    let months = report(&all, &[], today, Period::Month, 3);
    assert_eq!(months.iter().map(|r| iso_date(r.first_day)).collect::<Vec<_>>(), ["2026-12-01", "2027-01-01", "2027-02-01"]);
    assert_eq!(months[2].counts[0], Cell::Shown(0), "March is not over");
}

#[test]
fn delays_under_ten_are_not_shown() {
    let today = FEB_2027 + 30;
    let d = |n: i64| (0..n).map(|i| Event { day: FEB_2027, kind: EventKind::Accepted, value: Some(60 * (i + 1)) }).collect::<Vec<_>>();
    let rows = report(&d(9), &[], today, Period::Week, 4);
    assert_eq!(rows[0].delays[0], (DelayCell::FewerThan10, DelayCell::FewerThan10));
    assert_eq!(rows[1].delays[0], (DelayCell::None, DelayCell::None));
    let rows = report(&d(10), &[], today, Period::Week, 4);
    assert_eq!(rows[0].delays[0], (DelayCell::Shown(300), DelayCell::Shown(540)));
}

#[test]
fn a_february_of_whole_weeks_cannot_be_differenced() {
    // Three weeks of 10 escalations and one of 3: the month (33) would reveal the 3.
    let mut all = Vec::new();
    for (w, n) in [10, 10, 10, 3].into_iter().enumerate() {
        all.extend(events(FEB_2027 + 7 * w as i64, EventKind::Escalated, n));
    }
    let today = FEB_2027 + 40;
    let weeks = report(&all, &[], today, Period::Week, 6);
    let months = report(&all, &[], today, Period::Month, 1);
    let esc = 4;
    let feb: Vec<Cell> = weeks.iter().filter(|r| r.first_day >= FEB_2027 && r.last_day < FEB_2027 + 28).map(|r| r.counts[esc]).collect();
    // 33 − 10 − 10 − 10 would give the 3 away. The first three weeks were shown when they ended,
    // and the last is the small one: February, released with it, is hidden.
    assert_eq!(feb, [Cell::Shown(10), Cell::Shown(10), Cell::Shown(10), Cell::FewerThan10]);
    assert_eq!(months[0].counts[esc], Cell::Complementary);
    // Every other column of February is 0 and shown.
    assert!(months[0].counts.iter().enumerate().all(|(c, cell)| c == esc || *cell == Cell::Shown(0)));

    // The small week first: the last week, released with February, is the one hidden with it.
    let mut all = Vec::new();
    for (w, n) in [3, 10, 10, 12].into_iter().enumerate() {
        all.extend(events(FEB_2027 + 7 * w as i64, EventKind::Escalated, n));
    }
    let weeks = report(&all, &[], today, Period::Week, 6);
    let feb: Vec<Cell> = weeks.iter().filter(|r| r.first_day >= FEB_2027 && r.last_day < FEB_2027 + 28).map(|r| r.counts[esc]).collect();
    assert_eq!(feb, [Cell::FewerThan10, Cell::Shown(10), Cell::Shown(10), Cell::Complementary]);
    assert_eq!(report(&all, &[], today, Period::Month, 1)[0].counts[esc], Cell::Shown(35));
}

#[test]
fn a_reported_period_never_changes() {
    // Each week's and month's report, taken on every day from when it is first out, is the same.
    let mut all = Vec::new();
    for (i, n) in [3, 10, 10, 12, 1, 0, 25, 9, 11, 4].into_iter().enumerate() {
        all.extend(events(FEB_2027 - 10 + 5 * i as i64, EventKind::RequestNow, n));
        all.extend(events(FEB_2027 - 8 + 5 * i as i64, EventKind::RequestToday, (n * 7) % 13));
    }
    let first = report(&all, &[], FEB_2027 + 60, Period::Week, 12);
    let months = report(&all, &[], FEB_2027 + 60, Period::Month, 3);
    for later in FEB_2027 + 61..FEB_2027 + 120 {
        let weeks = report(&all, &[], later, Period::Week, 30);
        for r in &first {
            assert_eq!(weeks.iter().find(|w| w.first_day == r.first_day), Some(r), "{}", iso_date(later));
        }
        let now = report(&all, &[], later, Period::Month, 8);
        for r in &months {
            assert_eq!(now.iter().find(|m| m.first_day == r.first_day), Some(r), "{}", iso_date(later));
        }
    }
}

#[test]
fn a_month_bounds_the_weeks_inside_it() {
    // March 2027: weeks of 1–7, 8–14, 15–21, 22–28 (Mondays) wholly inside. 10 + 10 + 10 + 1 = 31
    // in the month would say the small week is 1 (nothing else in March): the month is hidden.
    let march = FEB_2027 + 28;
    let mut all = Vec::new();
    for (w, n) in [10, 10, 10, 1].into_iter().enumerate() {
        all.extend(events(march + 7 * w as i64, EventKind::PageDeclared, n));
    }
    let today = march + 40;
    let months = report(&all, &[], today, Period::Month, 1);
    assert_eq!(iso_date(months[0].first_day), "2027-03-01");
    let pages = 5;
    assert_eq!(months[0].counts[pages], Cell::Complementary);
    let weeks = report(&all, &[], today, Period::Week, 6);
    let shown: Vec<Cell> = weeks.iter().filter(|r| r.first_day >= march && r.last_day <= march + 30).map(|r| r.counts[pages]).collect();
    assert_eq!(shown, [Cell::Shown(10), Cell::Shown(10), Cell::Shown(10), Cell::FewerThan10]);
    // With 12 in the small week's place nothing is hidden.
    let mut all = Vec::new();
    for (w, n) in [10, 10, 10, 12].into_iter().enumerate() {
        all.extend(events(march + 7 * w as i64, EventKind::PageDeclared, n));
    }
    assert_eq!(report(&all, &[], today, Period::Month, 1)[0].counts[pages], Cell::Shown(42));
}

// ---- the property: an independent checker over what a reader sees

/// The interval of values a reader can find for one hidden cell of `total = Σ parts`, from the
/// shown cells and every hidden cell's bounds (1..=9 or ≥ 10).
fn feasible(cells: &[Cell], total: usize, target: usize) -> (i64, i64) {
    const BIG: i64 = 1 << 40;
    let b = |c: &Cell| match c {
        Cell::Shown(v) => (*v as i64, *v as i64),
        Cell::FewerThan10 => (1, 9),
        Cell::Complementary => (10, BIG),
    };
    let own = b(&cells[target]);
    let (lo, hi) = if target == total {
        // total = Σ parts
        cells.iter().enumerate().filter(|(i, _)| *i != total).fold((0, 0), |(l, h), (_, c)| (l + b(c).0, h + b(c).1))
    } else {
        // part = total − Σ other parts
        let (tl, th) = b(&cells[total]);
        let (ol, oh) = cells
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != total && *i != target)
            .fold((0, 0), |(l, h), (_, c)| (l + b(c).0, h + b(c).1));
        (tl - oh, th - ol)
    };
    (lo.max(own.0), hi.min(own.1))
}

/// Checks one group (cell 0 the total): no `FewerThan10` cell narrowed below two values, never
/// exactly one hidden cell.
fn check_group(cells: &[Cell], what: &str) -> Result<(), TestCaseError> {
    let hidden: Vec<usize> = (0..cells.len()).filter(|&i| !matches!(cells[i], Cell::Shown(_))).collect();
    prop_assert!(hidden.len() != 1, "{what}: one hidden cell {cells:?}");
    for &i in &hidden {
        if cells[i] == Cell::FewerThan10 {
            let (lo, hi) = feasible(cells, 0, i);
            prop_assert!(hi - lo + 1 >= 2, "{what}: cell {i} narrowed to {lo}..={hi} in {cells:?}");
        }
    }
    Ok(())
}

fn true_count(all: &[Event], held: &[Held], first: i64, last: i64, column: usize) -> u64 {
    let r = |k: EventKind| all.iter().filter(|e| e.kind == k && (first..=last).contains(&e.day)).count() as u64;
    match Count::ALL[column] {
        Count::RequestsNow => r(EventKind::RequestNow),
        Count::RequestsToday => r(EventKind::RequestToday),
        Count::RequestsWeek => r(EventKind::RequestWeek),
        Count::RequestsTotal => r(EventKind::RequestNow) + r(EventKind::RequestToday) + r(EventKind::RequestWeek),
        Count::Escalations => r(EventKind::Escalated),
        Count::PagesDeclared => r(EventKind::PageDeclared),
        Count::FollowupsSent => r(EventKind::FollowupSent),
        Count::DefusingsHeld => held.iter().filter(|h| !h.debriefing && (first..=last).contains(&h.day)).count() as u64,
        Count::DebriefingsHeld => held.iter().filter(|h| h.debriefing && (first..=last).contains(&h.day)).count() as u64,
    }
}

fn arb_history() -> impl Strategy<Value = (Vec<Event>, Vec<Held>, i64)> {
    // Days from mid-January to the end of March 2027 (February: four whole weeks). Few distinct
    // days and kinds, so counts land on both sides of 10 and on 0.
    let kinds = prop::sample::select(EventKind::ALL.to_vec());
    let event = (0i64..75, kinds, 0i64..2_000).prop_map(|(d, kind, v)| Event {
        day: FEB_2027 - 17 + d,
        kind,
        value: matches!(kind, EventKind::Accepted | EventKind::FirstResponder | EventKind::Quorum).then_some(v),
    });
    let burst = (0i64..75, prop::sample::select(EventKind::ALL.to_vec()), 5usize..14).prop_map(|(d, kind, n)| {
        vec![Event { day: FEB_2027 - 17 + d, kind, value: Some(d).filter(|_| kind == EventKind::Accepted) }; n]
    });
    let held = (0i64..75, any::<bool>()).prop_map(|(d, debriefing)| Held { day: FEB_2027 - 17 + d, debriefing });
    (
        prop::collection::vec(event, 0..300),
        prop::collection::vec(burst, 0..12),
        prop::collection::vec(held, 0..40),
        0i64..60,
    )
        .prop_map(|(mut events, bursts, held, t)| {
            events.extend(bursts.into_iter().flatten());
            (events, held, FEB_2027 + 28 + t)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn no_small_count_is_shown_or_recoverable((all, held, today) in arb_history()) {
        let weeks = report(&all, &held, today, Period::Week, 20);
        let months = report(&all, &held, today, Period::Month, 6);
        for r in weeks.iter().chain(months.iter()) {
            for (c, cell) in r.counts.iter().enumerate() {
                let truth = true_count(&all, &held, r.first_day, r.last_day, c);
                match cell {
                    Cell::Shown(v) => prop_assert!(*v == truth && (*v == 0 || *v >= 10), "shown {v}, truth {truth}"),
                    Cell::FewerThan10 => prop_assert!((1..=9).contains(&truth)),
                    Cell::Complementary => prop_assert!(truth >= 10),
                }
            }
            // total = now + today + week
            check_group(&[r.counts[3], r.counts[0], r.counts[1], r.counts[2]], "requests total")?;
        }
        // Each month that is exactly whole weeks = those weeks, column by column.
        for m in &months {
            if week_start(m.first_day) != m.first_day || week_start(m.last_day) + 6 != m.last_day {
                continue;
            }
            let parts: Vec<&Row> = weeks.iter().filter(|w| w.first_day >= m.first_day && w.last_day <= m.last_day).collect();
            prop_assert_eq!(parts.len() as i64, (m.last_day - m.first_day + 1) / 7);
            for c in 0..Count::ALL.len() {
                let cells: Vec<Cell> = std::iter::once(m.counts[c]).chain(parts.iter().map(|w| w.counts[c])).collect();
                check_group(&cells, &format!("month of whole weeks, column {c}, weeks {:?}", parts.iter().map(|w| w.counts).collect::<Vec<_>>()))?;
            }
        }
    }

    #[test]
    fn no_small_count_is_bounded_by_a_month_and_its_weeks((all, held, today) in arb_history()) {
        // A month is at least the weeks wholly inside it (no count is negative).
        let weeks = report(&all, &held, today, Period::Week, 30);
        let months = report(&all, &held, today, Period::Month, 6);
        for m in &months {
            let inside: Vec<&Row> = weeks.iter().filter(|w| w.first_day >= m.first_day && w.last_day <= m.last_day).collect();
            for c in 0..Count::ALL.len() {
                let lo = |cell: &Cell| match cell { Cell::Shown(v) => *v as i64, Cell::FewerThan10 => 1, Cell::Complementary => 10 };
                let hi = |cell: &Cell| match cell { Cell::Shown(v) => *v as i64, Cell::FewerThan10 => 9, Cell::Complementary => i64::MAX / 4 };
                let parts_lo: i64 = inside.iter().map(|w| lo(&w.counts[c])).sum();
                if m.counts[c] == Cell::FewerThan10 {
                    prop_assert!(9 - parts_lo.max(1) + 1 >= 2, "month {} column {c}: at least {parts_lo}", iso_date(m.first_day));
                }
                for w in &inside {
                    if w.counts[c] == Cell::FewerThan10 {
                        let at_most = hi(&m.counts[c]) - (parts_lo - 1);
                        prop_assert!(at_most.min(9) >= 2, "week {} column {c}: at most {at_most}", iso_date(w.first_day));
                    }
                }
            }
        }
    }

    #[test]
    fn what_was_reported_is_reported_the_same_later((all, held, today) in arb_history(), later in 1i64..50) {
        for period in [Period::Week, Period::Month] {
            let before = report(&all, &held, today, period, 12);
            let after = report(&all, &held, today + later, period, 24);
            for r in &before {
                prop_assert_eq!(after.iter().find(|a| a.first_day == r.first_day), Some(r));
            }
        }
    }

    #[test]
    fn suppression_does_not_depend_on_the_order_of_events((mut all, held, today) in arb_history()) {
        let a = report(&all, &held, today, Period::Week, 20);
        all.reverse();
        prop_assert_eq!(a, report(&all, &held, today, Period::Week, 20));
    }

    #[test]
    fn a_shorter_slice_is_a_slice_of_the_longer((all, held, today) in arb_history()) {
        let long = report(&all, &held, today, Period::Month, 6);
        let short = report(&all, &held, today, Period::Month, 2);
        prop_assert_eq!(&long[4..], &short[..]);
    }
}

/// The property tests above mean something only if their histories hide cells: this checks that
/// the generator's histories often have `complementary` cells, in a February's weeks too.
#[test]
fn generated_histories_exercise_complementary_suppression() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut any, mut in_february) = (0, 0);
    for _ in 0..200 {
        let (all, held, today) = arb_history().new_tree(&mut runner).expect("a history").current();
        let weeks = report(&all, &held, today, Period::Week, 20);
        let hidden = |r: &Row| r.counts.contains(&Cell::Complementary);
        any += usize::from(weeks.iter().any(hidden));
        in_february += usize::from(weeks.iter().filter(|r| r.first_day >= FEB_2027 && r.last_day < FEB_2027 + 28).any(hidden));
    }
    assert!(any >= 50 && in_february >= 20, "{any} histories with a complementary cell, {in_february} in February");
}

