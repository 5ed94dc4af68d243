//! The programme report (protocol/README.md §19): per completed week or month, counts and delays
//! with small cells suppressed by the server. Nothing here says who or which.

use serde::{Deserialize, Serialize};

/// Why a cell is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppressed {
    /// A count from 1 to 9, or a median or percentile of 1 to 9 delays.
    #[serde(rename = "fewer_than_10")]
    FewerThan10,
    /// A count of 10 or more hidden so that no `fewer_than_10` cell can be worked out from a total.
    Complementary,
}

/// One cell: a number (a count, or seconds), `{"suppressed": …}`, or for a delay `null` when the
/// period had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReportCell {
    Value(u64),
    Suppressed { suppressed: Suppressed },
}

/// One period's cells. Delays are whole seconds (median and 90th percentile, nearest rank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportCells {
    pub requests_now: ReportCell,
    pub requests_today: ReportCell,
    pub requests_week: ReportCell,
    pub requests_total: ReportCell,
    pub escalations: ReportCell,
    pub accepted_median_seconds: Option<ReportCell>,
    pub accepted_p90_seconds: Option<ReportCell>,
    pub pages_declared: ReportCell,
    pub first_responder_median_seconds: Option<ReportCell>,
    pub first_responder_p90_seconds: Option<ReportCell>,
    pub quorum_median_seconds: Option<ReportCell>,
    pub quorum_p90_seconds: Option<ReportCell>,
    pub defusings_held: ReportCell,
    pub debriefings_held: ReportCell,
    pub followups_sent: ReportCell,
}

/// One completed period: its first and last day (`YYYY-MM-DD`, UTC, inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRow {
    pub start: String,
    pub end: String,
    pub cells: ReportCells,
}

/// `GET /v1/reports/programme?period=week|month`: the last 12 completed periods, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// `week` or `month`.
    pub period: String,
    pub rows: Vec<ReportRow>,
}

/// The CSV columns, in order: `(field, header)`. The header row is the readable names.
pub const CSV_COLUMNS: [(&str, &str); 17] = [
    ("start", "Period start"),
    ("end", "Period end"),
    ("requests_now", "Requests: now"),
    ("requests_today", "Requests: today"),
    ("requests_week", "Requests: this week"),
    ("requests_total", "Requests: total"),
    ("escalations", "Escalations"),
    ("accepted_median_seconds", "Median time to acceptance (s)"),
    ("accepted_p90_seconds", "90th percentile time to acceptance (s)"),
    ("pages_declared", "Pages declared"),
    ("first_responder_median_seconds", "Median time to first responder (s)"),
    ("first_responder_p90_seconds", "90th percentile time to first responder (s)"),
    ("quorum_median_seconds", "Median time to quorum (s)"),
    ("quorum_p90_seconds", "90th percentile time to quorum (s)"),
    ("defusings_held", "Defusings held"),
    ("debriefings_held", "Debriefings held"),
    ("followups_sent", "Follow-ups sent"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_numbers_or_a_reason() {
        let cells = [ReportCell::Value(12), ReportCell::Suppressed { suppressed: Suppressed::FewerThan10 }, ReportCell::Suppressed { suppressed: Suppressed::Complementary }];
        let text = serde_json::to_string(&cells).unwrap();
        assert_eq!(text, r#"[12,{"suppressed":"fewer_than_10"},{"suppressed":"complementary"}]"#);
        assert_eq!(serde_json::from_str::<Vec<ReportCell>>(&text).unwrap(), cells);
    }
}
