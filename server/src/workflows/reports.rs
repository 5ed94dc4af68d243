//! The programme report (protocol/README.md §19), for coordinators: the last completed weeks or
//! months from the day-level events, suppressed by `domain::report` before they leave, as JSON or
//! as CSV.

use crate::clock::Clock;
use crate::domain::report::{self, Cell, DelayCell, Period, Row};
use crate::store::report::event_day;
use crate::store::{DeviceRecord, Store};
use crate::workflows::{Outcome, WorkflowError, require};
use sallyport_protocol::report::{CSV_COLUMNS, ReportBody, ReportCell, ReportCells, ReportRow, Suppressed};
use sallyport_protocol::rest::Role;

/// `period=week|month`, or `Invalid`.
pub fn parse_period(text: Option<&str>) -> Outcome<Period> {
    text.and_then(Period::parse).ok_or_else(|| WorkflowError::Invalid("give the period: ?period=week or ?period=month".into()))
}

/// A day is reported only this long after it ends: a transaction that read the clock just before
/// midnight (or on a node whose clock is a little behind) has committed by then, so a reported day
/// never changes.
pub const SETTLE_MS: i64 = 10 * 60 * 1000;

/// `GET /v1/reports/programme` (coordinators).
pub async fn programme(store: &dyn Store, clock: &Clock, caller: &DeviceRecord, period: Period) -> Outcome<ReportBody> {
    require(caller, Role::Coordinator)?;
    let today = event_day(clock.now() - SETTLE_MS);
    let events = store.report_events(today).await?;
    let held = store.held_debriefs(today).await?;
    let rows = report::report(&events, &held, today, period, report::DEFAULT_PERIODS);
    Ok(ReportBody { period: period.as_str().to_owned(), rows: rows.iter().map(row_body).collect() })
}

fn count(cell: Cell) -> ReportCell {
    match cell {
        Cell::Shown(n) => ReportCell::Value(n),
        Cell::FewerThan10 => ReportCell::Suppressed { suppressed: Suppressed::FewerThan10 },
        Cell::Complementary => ReportCell::Suppressed { suppressed: Suppressed::Complementary },
    }
}

fn delay(cell: DelayCell) -> Option<ReportCell> {
    match cell {
        DelayCell::None => None,
        DelayCell::Shown(s) => Some(ReportCell::Value(s.max(0) as u64)),
        DelayCell::FewerThan10 => Some(ReportCell::Suppressed { suppressed: Suppressed::FewerThan10 }),
    }
}

fn row_body(row: &Row) -> ReportRow {
    let [now, today, week, total, escalations, pages, defusings, debriefings, followups] = row.counts.map(count);
    let [(am, ap), (fm, fp), (qm, qp)] = row.delays;
    ReportRow {
        start: report::iso_date(row.first_day),
        end: report::iso_date(row.last_day),
        cells: ReportCells {
            requests_now: now,
            requests_today: today,
            requests_week: week,
            requests_total: total,
            escalations,
            accepted_median_seconds: delay(am),
            accepted_p90_seconds: delay(ap),
            pages_declared: pages,
            first_responder_median_seconds: delay(fm),
            first_responder_p90_seconds: delay(fp),
            quorum_median_seconds: delay(qm),
            quorum_p90_seconds: delay(qp),
            defusings_held: defusings,
            debriefings_held: debriefings,
            followups_sent: followups,
        },
    }
}

/// The file name a CSV download is saved as.
pub fn csv_file_name(period: Period) -> &'static str {
    match period {
        Period::Week => "sallyport-report-weekly.csv",
        Period::Month => "sallyport-report-monthly.csv",
    }
}

/// One CSV field, quoted if it holds a comma, a quote or a line break (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// The report as CSV (RFC 4180, CRLF): a header row of readable names, then one row per period,
/// a hidden cell as "fewer than 10" or "suppressed" and a period without delays left empty.
pub fn csv(body: &ReportBody) -> String {
    let text = |cell: &Option<ReportCell>| match cell {
        None => String::new(),
        Some(ReportCell::Value(n)) => n.to_string(),
        Some(ReportCell::Suppressed { suppressed: Suppressed::FewerThan10 }) => "fewer than 10".to_owned(),
        Some(ReportCell::Suppressed { suppressed: Suppressed::Complementary }) => "suppressed".to_owned(),
    };
    let mut out = String::new();
    let header: Vec<String> = CSV_COLUMNS.iter().map(|(_, h)| field(h)).collect();
    out.push_str(&header.join(","));
    out.push_str("\r\n");
    for row in &body.rows {
        let c = &row.cells;
        let cells = [
            Some(c.requests_now),
            Some(c.requests_today),
            Some(c.requests_week),
            Some(c.requests_total),
            Some(c.escalations),
            c.accepted_median_seconds,
            c.accepted_p90_seconds,
            Some(c.pages_declared),
            c.first_responder_median_seconds,
            c.first_responder_p90_seconds,
            c.quorum_median_seconds,
            c.quorum_p90_seconds,
            Some(c.defusings_held),
            Some(c.debriefings_held),
            Some(c.followups_sent),
        ];
        let mut fields = vec![field(&row.start), field(&row.end)];
        fields.extend(cells.iter().map(|c| field(&text(c))));
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_readable_headers_and_words_for_hidden_cells() {
        let row = Row {
            first_day: 20_850,
            last_day: 20_856,
            counts: [Cell::FewerThan10, Cell::Complementary, Cell::Shown(12), Cell::Shown(30), Cell::Shown(0), Cell::Shown(0), Cell::Shown(0), Cell::Shown(0), Cell::Shown(0)],
            delays: [(DelayCell::Shown(90), DelayCell::Shown(300)), (DelayCell::FewerThan10, DelayCell::FewerThan10), (DelayCell::None, DelayCell::None)],
        };
        let body = ReportBody { period: "week".into(), rows: vec![row_body(&row)] };
        let text = csv(&body);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("Period start,Period end,Requests: now,"));
        assert_eq!(lines[0].split(',').count(), CSV_COLUMNS.len());
        assert_eq!(lines[1], "2027-02-01,2027-02-07,fewer than 10,suppressed,12,30,0,90,300,0,fewer than 10,fewer than 10,,,0,0,0");
        assert_eq!(lines[2], "");
        assert_eq!(field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }
}
