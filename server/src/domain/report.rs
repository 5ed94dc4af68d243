//! The programme report (protocol/README.md §19), pure: completed ISO weeks and calendar months
//! (UTC), their counts and delays from the day-level events, and the suppression of small cells —
//! computed over the whole history, weekly and monthly tables together, before any slice of it
//! leaves the server, so no two requests can be combined to undo it.

use std::collections::HashMap;

/// What one `report_events` row counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    RequestNow,
    RequestToday,
    RequestWeek,
    /// A support request was accepted; value: seconds from the request.
    Accepted,
    /// A support request went a step past the on-call peer supporters.
    Escalated,
    /// A (non-test) critical incident was declared.
    PageDeclared,
    /// An incident's first `responding`; value: seconds after its declaration.
    FirstResponder,
    /// An incident's quorum; value: seconds after its declaration.
    Quorum,
    /// A follow-up check-in pushed to one person.
    FollowupSent,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::RequestNow,
        EventKind::RequestToday,
        EventKind::RequestWeek,
        EventKind::Accepted,
        EventKind::Escalated,
        EventKind::PageDeclared,
        EventKind::FirstResponder,
        EventKind::Quorum,
        EventKind::FollowupSent,
    ];

    /// The `report_events.kind` text.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RequestNow => "request_now",
            EventKind::RequestToday => "request_today",
            EventKind::RequestWeek => "request_week",
            EventKind::Accepted => "accepted",
            EventKind::Escalated => "escalated",
            EventKind::PageDeclared => "page_declared",
            EventKind::FirstResponder => "first_responder",
            EventKind::Quorum => "quorum",
            EventKind::FollowupSent => "followup_sent",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One counted event: its UTC day number (days since 1970-01-01) and, for a delay, its seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub day: i64,
    pub kind: EventKind,
    pub value: Option<i64>,
}

/// A defusing or a debriefing held (not cancelled, its time past), by its UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub day: i64,
    pub debriefing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// ISO weeks, Monday to Sunday (UTC).
    Week,
    /// Calendar months (UTC).
    Month,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

/// How many periods a report shows.
pub const DEFAULT_PERIODS: usize = 12;

/// A count smaller than this (and more than 0) is not shown; nor is a median or percentile of
/// fewer delays than this.
pub const THRESHOLD: u64 = 10;

/// The count columns, in table order: the cells suppression works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Count {
    RequestsNow,
    RequestsToday,
    RequestsWeek,
    RequestsTotal,
    Escalations,
    PagesDeclared,
    DefusingsHeld,
    DebriefingsHeld,
    FollowupsSent,
}

impl Count {
    pub const ALL: [Count; 9] = [
        Count::RequestsNow,
        Count::RequestsToday,
        Count::RequestsWeek,
        Count::RequestsTotal,
        Count::Escalations,
        Count::PagesDeclared,
        Count::DefusingsHeld,
        Count::DebriefingsHeld,
        Count::FollowupsSent,
    ];
}

/// The delay columns, each a median and a 90th percentile, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delay {
    Accepted,
    FirstResponder,
    Quorum,
}

impl Delay {
    pub const ALL: [Delay; 3] = [Delay::Accepted, Delay::FirstResponder, Delay::Quorum];
}

/// A count as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Shown(u64),
    /// 1 to 9.
    FewerThan10,
    /// Hidden so that no `FewerThan10` cell can be worked out from a total (it is at least 10).
    Complementary,
}

/// A median or a percentile as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayCell {
    /// No delays in the period.
    None,
    /// Seconds.
    Shown(i64),
    /// Over 1 to 9 delays: not shown.
    FewerThan10,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// First and last day (inclusive), UTC day numbers.
    pub first_day: i64,
    pub last_day: i64,
    /// In `Count::ALL` order.
    pub counts: [Cell; 9],
    /// `(median, p90)` in `Delay::ALL` order.
    pub delays: [(DelayCell, DelayCell); 3],
}

// ---- calendar (Howard Hinnant's civil-date algorithms, days since 1970-01-01)

/// `(year, month 1–12, day 1–31)` of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
pub fn iso_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The Monday starting the ISO week of `day` (1970-01-01 was a Thursday).
pub fn week_start(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// A month as `year * 12 + (month - 1)`.
fn month_index(day: i64) -> i64 {
    let (y, m, _) = civil_from_days(day);
    y * 12 + i64::from(m) - 1
}

/// First and last day of a month index.
fn month_days(index: i64) -> (i64, i64) {
    let first = days_from_civil(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32, 1);
    let next = index + 1;
    let end = days_from_civil(next.div_euclid(12), (next.rem_euclid(12) + 1) as u32, 1);
    (first, end - 1)
}

// ---- suppression (pure over cells and additive groups, so it can be tested on hand-made tables)

/// How a group's total relates to the sum of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `total = Σ parts`: a period's requests total; a month that is exactly whole ISO weeks.
    Equal,
    /// `total ≥ Σ parts`: a month and the ISO weeks wholly inside it (no count is negative).
    AtLeast,
    /// `total ≤ Σ parts`: a month and every ISO week overlapping it.
    AtMost,
}

/// One relation between counts a reader could use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub total: usize,
    pub parts: Vec<usize>,
    pub relation: Relation,
}

/// How a count is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Shown,
    FewerThan10,
    Complementary,
}

/// Stands for "no upper bound" in feasibility intervals: far above any real count.
const UNBOUNDED: i64 = 1 << 40;

/// Bounds a reader knows for a cell from its mark (and its value, if shown).
fn bounds(mark: Mark, value: u64) -> (i64, i64) {
    match mark {
        Mark::Shown => (value as i64, value as i64),
        Mark::FewerThan10 => (1, THRESHOLD as i64 - 1),
        Mark::Complementary => (THRESHOLD as i64, UNBOUNDED),
    }
}

/// Whether a group lets a reader narrow a `FewerThan10` cell to one value, or (an equation) pins
/// its one hidden cell.
fn leaks(group: &Group, values: &[u64], marks: &[Mark]) -> bool {
    match group.relation {
        Relation::Equal => {}
        Relation::AtLeast => return at_least_leaks(group, values, marks),
        Relation::AtMost => return at_most_leaks(group, values, marks),
    }
    // Coefficients of `total - Σ parts = 0`.
    let terms: Vec<(usize, i64)> = std::iter::once((group.total, 1)).chain(group.parts.iter().map(|&p| (p, -1))).collect();
    let hidden = terms.iter().filter(|(c, _)| marks[*c] != Mark::Shown).count();
    if hidden == 0 {
        return false;
    }
    if hidden == 1 {
        return true;
    }
    terms.iter().enumerate().any(|(j, &(cell, a))| {
        marks[cell] == Mark::FewerThan10 && {
            // a·x = −Σ_{i≠j} a_i·x_i, each x_i within its bounds.
            let (mut lo, mut hi) = (0i64, 0i64);
            for (i, &(c, ai)) in terms.iter().enumerate() {
                if i == j {
                    continue;
                }
                let (l, h) = bounds(marks[c], values[c]);
                let (l, h) = if ai > 0 { (-h, -l) } else { (l, h) };
                lo += l;
                hi += h;
            }
            let (lo, hi) = if a > 0 { (lo, hi) } else { (-hi, -lo) };
            let (own_lo, own_hi) = bounds(Mark::FewerThan10, 0);
            hi.min(own_hi) - lo.max(own_lo) + 1 < 2
        }
    })
}

/// `total ≥ Σ parts`: a `FewerThan10` part is at most the total's upper bound less the others'
/// lower bounds; a `FewerThan10` total at least the parts' lower bounds.
fn at_least_leaks(group: &Group, values: &[u64], marks: &[Mark]) -> bool {
    let few = bounds(Mark::FewerThan10, 0);
    let parts_lo: i64 = group.parts.iter().map(|&p| bounds(marks[p], values[p]).0).sum();
    if marks[group.total] == Mark::FewerThan10 && few.1 - parts_lo.max(few.0) + 1 < 2 {
        return true;
    }
    let total_hi = bounds(marks[group.total], values[group.total]).1;
    group.parts.iter().any(|&p| {
        marks[p] == Mark::FewerThan10 && {
            let hi = total_hi - (parts_lo - bounds(marks[p], values[p]).0);
            hi.min(few.1) - few.0 + 1 < 2
        }
    })
}

/// Marks every cell: 1–9 `FewerThan10`; then, release by release (`released[cell]`: the day a
/// cell is first reported, oldest first), the groups whose last cell comes out in that release,
/// to a fixpoint: one more cell of that release `Complementary` in any group that leaks (the
/// smallest shown part ≥ 10, else the total; for an inequality the total first). A cell already
/// released is never hidden later, so no report changes what an earlier one showed. The order of
/// groups and cells decides ties, so the result is a function of its input.
pub fn suppress(values: &[u64], groups: &[Group], released: &[i64]) -> Vec<Mark> {
    let mut marks: Vec<Mark> =
        values.iter().map(|&v| if (1..THRESHOLD).contains(&v) { Mark::FewerThan10 } else { Mark::Shown }).collect();
    let cells_of = |g: &Group| g.parts.iter().chain(std::iter::once(&g.total)).copied().collect::<Vec<usize>>();
    let group_release: Vec<i64> = groups.iter().map(|g| cells_of(g).iter().map(|&c| released[c]).max().unwrap_or(i64::MIN)).collect();
    // The equations each cell is in.
    let mut equations: Vec<Vec<usize>> = vec![Vec::new(); values.len()];
    for (i, g) in groups.iter().enumerate().filter(|(_, g)| g.relation == Relation::Equal) {
        for c in cells_of(g) {
            equations[c].push(i);
        }
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| (group_release[i], i));
    for batch in order.chunk_by(|&a, &b| group_release[a] == group_release[b]) {
        let release = group_release[batch[0]];
        let now: Vec<&Group> = batch.iter().map(|&i| &groups[i]).collect();
        let open = |c: usize, marks: &[Mark]| released[c] == release && marks[c] == Mark::Shown && values[c] >= THRESHOLD;
        // Each pass hides at least one cell or stops: bounded by the number of cells.
        for _ in 0..=values.len() {
            let mut changed = false;
            for group in &now {
                if !leaks(group, values, &marks) {
                    continue;
                }
                // A cell an equation gives away from cells that can no longer be hidden (released
                // before, or under 10) would hide nothing: pass over it while another will do.
                let fixed = |c: usize| released[c] < release || values[c] < THRESHOLD;
                let determined = |c: usize| {
                    equations[c].iter().any(|&i| cells_of(&groups[i]).iter().all(|&o| o == c || (marks[o] == Mark::Shown && fixed(o))))
                };
                let usable = |c: usize| open(c, &marks) && !determined(c);
                let total_open = usable(group.total) || (open(group.total, &marks) && !group.parts.iter().any(|&p| usable(p)));
                let smallest = group
                    .parts
                    .iter()
                    .copied()
                    .filter(|&p| usable(p))
                    .min_by_key(|&p| (values[p], p))
                    .or_else(|| if total_open { None } else { group.parts.iter().copied().filter(|&p| open(p, &marks)).min_by_key(|&p| (values[p], p)) });
                // A part first (hidden, it has no upper bound); for an inequality the total (a
                // month, released with or after its weeks).
                let total_first = group.relation != Relation::Equal;
                let pick = match (total_first, smallest, total_open) {
                    (true, _, true) => Some(group.total),
                    (_, Some(p), _) => Some(p),
                    (_, None, true) => Some(group.total),
                    (_, None, false) => None,
                };
                if let Some(cell) = pick {
                    marks[cell] = Mark::Complementary;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
    marks
}

/// `total ≤ Σ parts`: a `FewerThan10` part is at least the total's lower bound less the others'
/// upper bounds; a `FewerThan10` total at most the parts' upper bounds.
fn at_most_leaks(group: &Group, values: &[u64], marks: &[Mark]) -> bool {
    let few = bounds(Mark::FewerThan10, 0);
    let parts_hi: i64 = group.parts.iter().map(|&p| bounds(marks[p], values[p]).1).sum();
    if marks[group.total] == Mark::FewerThan10 && parts_hi.min(few.1) - few.0 + 1 < 2 {
        return true;
    }
    let total_lo = bounds(marks[group.total], values[group.total]).0;
    group.parts.iter().any(|&p| {
        marks[p] == Mark::FewerThan10 && {
            let lo = total_lo - (parts_hi - bounds(marks[p], values[p]).1);
            few.1 - lo.max(few.0) + 1 < 2
        }
    })
}

// ---- the report

#[derive(Default, Clone)]
struct Tally {
    counts: [u64; 9],
    delays: [Vec<i64>; 3],
}

impl Tally {
    fn add(&mut self, e: &Event) {
        let count = |c: Count| Count::ALL.iter().position(|&x| x == c).expect("a count column");
        let delay = |d: Delay| Delay::ALL.iter().position(|&x| x == d).expect("a delay column");
        let mut bump = |c: Count| self.counts[count(c)] += 1;
        match e.kind {
            EventKind::RequestNow => bump(Count::RequestsNow),
            EventKind::RequestToday => bump(Count::RequestsToday),
            EventKind::RequestWeek => bump(Count::RequestsWeek),
            EventKind::Escalated => bump(Count::Escalations),
            EventKind::PageDeclared => bump(Count::PagesDeclared),
            EventKind::FollowupSent => bump(Count::FollowupsSent),
            EventKind::Accepted => self.delays[delay(Delay::Accepted)].extend(e.value),
            EventKind::FirstResponder => self.delays[delay(Delay::FirstResponder)].extend(e.value),
            EventKind::Quorum => self.delays[delay(Delay::Quorum)].extend(e.value),
        }
        if matches!(e.kind, EventKind::RequestNow | EventKind::RequestToday | EventKind::RequestWeek) {
            self.counts[count(Count::RequestsTotal)] += 1;
        }
    }

    fn add_held(&mut self, h: &Held) {
        let column = if h.debriefing { Count::DebriefingsHeld } else { Count::DefusingsHeld };
        self.counts[Count::ALL.iter().position(|&x| x == column).expect("a count column")] += 1;
    }
}

/// The nearest-rank percentile (`p` in 1..=100) of sorted values.
fn percentile(sorted: &[i64], p: usize) -> i64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn delay_cells(values: &[i64]) -> (DelayCell, DelayCell) {
    if values.is_empty() {
        return (DelayCell::None, DelayCell::None);
    }
    if (values.len() as u64) < THRESHOLD {
        return (DelayCell::FewerThan10, DelayCell::FewerThan10);
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    (DelayCell::Shown(percentile(&sorted, 50)), DelayCell::Shown(percentile(&sorted, 90)))
}

/// Every completed week and month from the first event's, with their tallies.
struct History {
    /// `(first_day, last_day, tally)`, weeks then months, each in order.
    weeks: Vec<(i64, i64, Tally)>,
    months: Vec<(i64, i64, Tally)>,
}

/// The day a month is first reported: the Monday after the ISO week holding its last day, so every
/// week overlapping it is reported no later than it (and a relation between them never appears
/// after one of them was shown).
fn month_release(index: i64) -> i64 {
    week_start(month_days(index).1) + 7
}

/// The last month released by `today`.
fn last_month(today: i64) -> i64 {
    let mut m = month_index(today);
    while month_release(m) > today {
        m -= 1;
    }
    m
}

fn history(events: &[Event], held: &[Held], today: i64) -> History {
    let last_week = week_start(today) - 7;
    let newest_month = last_month(today);
    let first = events.iter().map(|e| e.day).chain(held.iter().map(|h| h.day)).filter(|&d| d < today).min();
    let Some(first) = first else { return History { weeks: vec![], months: vec![] } };
    // From the Monday before the first event's month begins: every week of every month counted is
    // in the history, so no month's weeks are missing from the relations below.
    let first_month = month_index(first);
    let first_week = week_start(month_days(first_month).0);
    let weeks: Vec<(i64, i64, Tally)> =
        (0..).map(|i| first_week + 7 * i).take_while(|&w| w <= last_week).map(|w| (w, w + 6, Tally::default())).collect();
    let months: Vec<(i64, i64, Tally)> = (first_month..=newest_month)
        .map(|m| {
            let (a, b) = month_days(m);
            (a, b, Tally::default())
        })
        .collect();
    let mut h = History { weeks, months };
    let mut each = |day: i64, f: &dyn Fn(&mut Tally)| {
        if day < first_week || day >= today {
            return;
        }
        let w = ((week_start(day) - first_week) / 7) as usize;
        if let Some(t) = h.weeks.get_mut(w) {
            f(&mut t.2);
        }
        let m = (month_index(day) - first_month) as usize;
        if let Some(t) = h.months.get_mut(m) {
            f(&mut t.2);
        }
    };
    for e in events {
        each(e.day, &|t: &mut Tally| t.add(e));
    }
    for x in held {
        each(x.day, &|t: &mut Tally| t.add_held(x));
    }
    h
}

/// The cells of the whole history and its groups: each period's requests total; each month, column
/// by column, with the ISO weeks that tile it, or else at least the weeks wholly inside it and at
/// most the weeks overlapping it.
fn groups_of(h: &History) -> (Vec<u64>, Vec<Group>, Vec<i64>) {
    let n = Count::ALL.len();
    let col = |c: Count| Count::ALL.iter().position(|&x| x == c).expect("a count column");
    let periods: Vec<&(i64, i64, Tally)> = h.weeks.iter().chain(h.months.iter()).collect();
    let values: Vec<u64> = periods.iter().flat_map(|p| p.2.counts).collect();
    let released: Vec<i64> = h
        .weeks
        .iter()
        .map(|w| w.1 + 1)
        .chain(h.months.iter().map(|m| month_release(month_index(m.0))))
        .flat_map(|r| [r; 9])
        .collect();
    let mut groups = Vec::new();
    for i in 0..periods.len() {
        groups.push(Group {
            total: i * n + col(Count::RequestsTotal),
            parts: [Count::RequestsNow, Count::RequestsToday, Count::RequestsWeek].map(|c| i * n + col(c)).to_vec(),
            relation: Relation::Equal,
        });
    }
    let week_at: HashMap<i64, usize> = h.weeks.iter().enumerate().map(|(i, w)| (w.0, i)).collect();
    for (m, (first, last, _)) in h.months.iter().enumerate() {
        let month = h.weeks.len() + m;
        let overlapping: Vec<(i64, usize)> = (0..)
            .map(|k| week_start(*first) + 7 * k)
            .take_while(|d| d <= last)
            .filter_map(|d| week_at.get(&d).map(|&w| (d, w)))
            .collect();
        let inside: Vec<usize> = overlapping.iter().filter(|(d, _)| d >= first && d + 6 <= *last).map(|&(_, w)| w).collect();
        let tiled = inside.len() == overlapping.len() && inside.len() as i64 * 7 == last - first + 1;
        let mut add = |weeks: &[usize], relation| {
            if !weeks.is_empty() {
                for c in 0..n {
                    groups.push(Group { total: month * n + c, parts: weeks.iter().map(|w| w * n + c).collect(), relation });
                }
            }
        };
        if tiled {
            add(&inside, Relation::Equal);
        } else {
            add(&inside, Relation::AtLeast);
            add(&overlapping.iter().map(|&(_, w)| w).collect::<Vec<_>>(), Relation::AtMost);
        }
    }
    (values, groups, released)
}

/// The last `periods` completed weeks or months before `today` (a UTC day number), oldest first,
/// suppressed as described in the module docs.
pub fn report(events: &[Event], held: &[Held], today: i64, period: Period, periods: usize) -> Vec<Row> {
    let h = history(events, held, today);
    let (values, groups, released) = groups_of(&h);
    let marks = suppress(&values, &groups, &released);
    let n = Count::ALL.len();
    let row = |index: usize, (first, last, tally): &(i64, i64, Tally)| Row {
        first_day: *first,
        last_day: *last,
        counts: std::array::from_fn(|c| match marks[index * n + c] {
            Mark::Shown => Cell::Shown(values[index * n + c]),
            Mark::FewerThan10 => Cell::FewerThan10,
            Mark::Complementary => Cell::Complementary,
        }),
        delays: std::array::from_fn(|d| delay_cells(&tally.delays[d])),
    };
    let empty = |first: i64, last: i64| Row {
        first_day: first,
        last_day: last,
        counts: [Cell::Shown(0); 9],
        delays: [(DelayCell::None, DelayCell::None); 3],
    };
    let mut out = Vec::with_capacity(periods);
    match period {
        Period::Week => {
            let last = week_start(today) - 7;
            for k in (0..periods as i64).rev() {
                let first = last - 7 * k;
                out.push(match h.weeks.iter().position(|w| w.0 == first) {
                    Some(i) => row(i, &h.weeks[i]),
                    None => empty(first, first + 6),
                });
            }
        }
        Period::Month => {
            let last = last_month(today);
            for k in (0..periods as i64).rev() {
                let (first, end) = month_days(last - k);
                out.push(match h.months.iter().position(|m| m.0 == first) {
                    Some(i) => row(h.weeks.len() + i, &h.months[i]),
                    None => empty(first, end),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
