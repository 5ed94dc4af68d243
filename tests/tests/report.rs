//! The programme report end to end (issue 13, protocol/README.md §19): real `sallyport` processes
//! on SQLite and PostgreSQL, a driven clock, support requests made, escalated and accepted through
//! the real client flow, an incident declared and answered. Once the week is over the coordinator
//! reads it as JSON and CSV: counts of 10 or more shown, 1 to 9 as "fewer than 10", a cell hidden
//! where a total would give a small one away; others are refused; and `report_events` holds no id.

use sallyport_core::{Credentials, api_request, signing_time};
use sallyport_e2e::push_emulator::{PushEmulator, Subscription};
use sallyport_e2e::*;
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

struct Setup {
    server: TestServer,
    database_url: Option<String>,
    emulator: PushEmulator,
    clock: DrivenClock,
}

impl Setup {
    async fn start(postgres: bool) -> Option<Setup> {
        let database_url = if postgres { Some(postgres_database().await?) } else { None };
        let clock = DrivenClock::new();
        let mut args = clock.server_args();
        args.extend(["--escalate-now-after", "5m", "--support-requests-per-hour", "100"].map(String::from));
        let server = TestServer::start_with(ServerOptions { database_url: database_url.clone(), extra_args: args }).await;
        let emulator = emulator_for(&server).await;
        Some(Setup { server, database_url, emulator, clock })
    }

    async fn person(&self, name: &str, roles: &[&str]) -> Credentials {
        let link = self.server.invite(name, roles);
        sallyport_core::enrol(&self.server.url, &link).await.expect("enrolment")
    }

    async fn subscribed(&self, creds: &Credentials) -> Subscription {
        let sub = self.emulator.subscribe();
        call(creds, "POST", "/v1/push/subscriptions", Some(sub.json()), 204).await;
        sub
    }

    /// Moves the server's clock so that it reads `at` now.
    fn set_now(&self, at: i64) {
        self.clock.set_offset(at - now_ms());
    }

    async fn scheduler_passes(&self, n: u64) {
        let name = "sallyport_support_scheduler_runs_total";
        let start = metric(&self.server, name).await;
        wait_for_metric(&self.server, name, |runs| runs >= start + n).await;
    }

    /// `(kind, value)` of every `report_events` row, and the table's column names.
    async fn report_events(&self) -> (Vec<(String, Option<i64>)>, Vec<String>) {
        use sqlx::Connection as _;
        match &self.database_url {
            None => {
                let db = format!("sqlite://{}", self.server.data_dir().join("data/sallyport.db").display());
                let mut conn = sqlx::SqliteConnection::connect(&db).await.expect("the SQLite file");
                let rows = sqlx::query_as("SELECT kind, value FROM report_events").fetch_all(&mut conn).await.unwrap();
                let columns = sqlx::query_scalar("SELECT name FROM pragma_table_info('report_events') ORDER BY cid")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                (rows, columns)
            }
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("the PostgreSQL database");
                let rows = sqlx::query_as("SELECT kind, value FROM report_events").fetch_all(&mut conn).await.unwrap();
                let columns = sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'report_events' ORDER BY ordinal_position",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                (rows, columns)
            }
        }
    }
}

/// A signed GET answered with something other than JSON: `(status, headers, body)`.
async fn signed_get_text(creds: &Credentials, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let now = signing_time(now_ms());
    let signature = creds.keys.sign_request(&creds.device, &creds.server_url, "GET", path, now, b"");
    let response = reqwest::Client::new()
        .get(format!("{}{path}", creds.server_url.trim_end_matches('/')))
        .header(sallyport_protocol::auth::DEVICE_HEADER, creds.device.to_text())
        .header(sallyport_protocol::auth::TIME_HEADER, now.to_string())
        .header(sallyport_protocol::auth::SIGNATURE_HEADER, signature.to_text())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}

/// Puts `supporter` on the roster with all five trainings current.
async fn add_to_roster(coordinator: &Credentials, supporter: &Credentials) {
    let account = supporter.account.to_text();
    let (status, text) = api_request(coordinator, "PUT", &format!("/v1/support/roster/{account}"), None).await.unwrap();
    assert!(status == 201 || status == 200, "adding to the roster: {status} {text}");
    for kind in ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"] {
        let body = json!({"completed_at": date(now_ms() - 30 * DAY), "expires_at": date(now_ms() + 365 * DAY)});
        call(coordinator, "PUT", &format!("/v1/support/roster/{account}/training/{kind}"), Some(body), 200).await;
    }
}

/// The first Wednesday, noon UTC, at least a day after `ms`: far enough from midnight that the
/// test's events all fall on one day.
fn a_wednesday_noon_after(ms: i64) -> i64 {
    let day = (1..=8).map(|k| ms.div_euclid(DAY) + k).find(|d| (d + 3).rem_euclid(7) == 2).expect("a Wednesday within a week");
    day * DAY + 12 * 60 * MINUTE
}

/// The row of `report` whose period holds the day `date`.
fn row_with<'a>(report: &'a Value, date: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["start"].as_str().unwrap() <= date && date <= r["end"].as_str().unwrap())
        .unwrap_or_else(|| panic!("no row holds {date}: {report}"))
}

fn fewer_than_10() -> Value {
    json!({"suppressed": "fewer_than_10"})
}

async fn the_report_counts_what_happened_and_hides_small_cells(postgres: bool) {
    let Some(s) = Setup::start(postgres).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let supporter = s.person("Pat Supporter", &["staff", "peer_supporter"]).await;
    add_to_roster(&coordinator, &supporter).await;
    let requester = s.person("Officer", &["staff"]).await;
    let member = s.person("Ana", &["staff"]).await;
    s.subscribed(&member).await;
    let team = call(&coordinator, "POST", "/v1/teams", Some(json!({"name": "North yard CRT"})), 201).await;
    let team = team["id"].as_str().unwrap().to_owned();
    call(&coordinator, "PUT", &format!("/v1/teams/{team}/members/{}", member.account), Some(json!({"tier": 1, "role": "peer"})), 201)
        .await;

    // Wednesday noon: twelve requests "now" and three "today".
    let wednesday = a_wednesday_noon_after(now_ms());
    let day = date(wednesday);
    s.set_now(wednesday);
    let mut ids = Vec::new();
    for urgency in ["now"; 12].into_iter().chain(["today"; 3]) {
        let request = SupportRequest::new(urgency);
        let answer = call(&requester, "POST", "/v1/support/requests", Some(request.body), 200).await;
        ids.push(answer["id"].as_str().expect("an id").to_owned());
    }
    // Seven minutes on, each "now" request has escalated once (level 2 is due at ten); then the
    // supporter accepts all fifteen.
    s.set_now(wednesday + 7 * MINUTE);
    s.scheduler_passes(2).await;
    for id in &ids {
        call(&supporter, "POST", "/v1/support/requests/claim", Some(json!({"id": id})), 200).await;
    }
    // One incident, answered by one member: its first responder, no quorum.
    let (incident, _) = declare_incident(&coordinator, &team, false, "report test").await;
    call(&member, "POST", &format!("/v1/incidents/{incident}/answer"), Some(json!({"answer": "responding"})), 200).await;

    // Before the week is over it is not reported.
    let report = call(&coordinator, "GET", "/v1/reports/programme?period=week", None, 200).await;
    assert_eq!(report["rows"].as_array().unwrap().len(), 12);
    assert!(report["rows"].as_array().unwrap().iter().all(|r| r["end"].as_str().unwrap() < day.as_str()), "{report}");

    // Past the week's end, and the month's (a month is out once the week holding its last day is).
    let week_over = wednesday.div_euclid(DAY) + 5;
    let last_of_month = (wednesday.div_euclid(DAY)..).find(|d| date((d + 1) * DAY)[..7] != day[..7]).unwrap();
    let month_out = last_of_month - (last_of_month + 3).rem_euclid(7) + 7;
    s.set_now(week_over.max(month_out) * DAY + 12 * 60 * MINUTE);

    let report = call(&coordinator, "GET", "/v1/reports/programme?period=week", None, 200).await;
    assert_eq!(report["period"], "week");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let week = &row_with(&report, &day)["cells"];
    assert_eq!(week["requests_total"], 15, "{week}");
    assert_eq!(week["requests_today"], fewer_than_10(), "{week}");
    assert_eq!(week["requests_week"], 0, "{week}");
    // 15 − 0 − "now" would give "today" away: "now" (the smallest other part ≥ 10) is hidden.
    assert_eq!(week["requests_now"], json!({"suppressed": "complementary"}), "{week}");
    assert_eq!(week["escalations"], 12, "{week}");
    let median = week["accepted_median_seconds"].as_u64().expect("a median of 15 delays");
    let p90 = week["accepted_p90_seconds"].as_u64().expect("a p90 of 15 delays");
    assert!((6 * 60..=10 * 60).contains(&median) && median <= p90, "{week}");
    assert_eq!(week["pages_declared"], fewer_than_10(), "{week}");
    assert_eq!(week["first_responder_median_seconds"], fewer_than_10(), "{week}");
    assert_eq!(week["quorum_median_seconds"], Value::Null, "no quorum: {week}");
    for quiet in ["defusings_held", "debriefings_held", "followups_sent"] {
        assert_eq!(week[quiet], 0, "{week}");
    }
    // No other week has anything.
    for row in rows.iter().filter(|r| r["start"] != row_with(&report, &day)["start"]) {
        assert_eq!(row["cells"]["requests_total"], 0, "{row}");
    }

    let months = call(&coordinator, "GET", "/v1/reports/programme?period=month", None, 200).await;
    assert_eq!(months["period"], "month");
    assert_eq!(months["rows"].as_array().unwrap().len(), 12);
    let month = &row_with(&months, &day)["cells"];
    assert_eq!(month["requests_total"], 15, "{month}");
    assert_eq!(month["requests_today"], fewer_than_10(), "{month}");
    assert_ne!(month["requests_now"], 12, "{month}");

    // The CSV: the same cells, readable.
    let (status, headers, csv) = signed_get_text(&coordinator, "/v1/reports/programme.csv?period=week").await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(headers["content-disposition"], "attachment; filename=\"sallyport-report-weekly.csv\"");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 13, "a header and twelve weeks: {csv}");
    assert!(lines[0].starts_with("Period start,Period end,Requests: now,Requests: today,Requests: this week,Requests: total,Escalations"));
    let line = lines.iter().find(|l| { let start = &l[..10]; start <= day.as_str() && day.as_str() <= &l[11..21] }).expect("the week's line");
    let fields: Vec<&str> = line.split(',').collect();
    assert_eq!(&fields[2..7], ["suppressed", "fewer than 10", "0", "15", "12"], "{line}");
    assert_eq!(fields[9], "fewer than 10", "{line}");
    let (status, headers, _) = signed_get_text(&coordinator, "/v1/reports/programme.csv?period=month").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-disposition"], "attachment; filename=\"sallyport-report-monthly.csv\"");

    // Others are refused; a bad period is a clear 400.
    for other in [&supporter, &requester, &member] {
        let answer = call(other, "GET", "/v1/reports/programme?period=week", None, 403).await;
        assert_eq!(answer["code"], "forbidden");
        let (status, _, _) = signed_get_text(other, "/v1/reports/programme.csv?period=week").await;
        assert_eq!(status, 403);
    }
    for bad in ["?period=year", "", "?period=", "?period=week&period=month"] {
        let answer = call(&coordinator, "GET", &format!("/v1/reports/programme{bad}"), None, 400).await;
        assert_eq!(answer["code"], "bad_request", "{bad}: {answer}");
    }

    // What the database keeps: a day, a kind and a delay — nothing that names a request, a
    // mailbox, an account or an incident.
    let (events, columns) = s.report_events().await;
    assert_eq!(columns, ["day", "kind", "value"]);
    let count = |kind: &str| events.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(
        [count("request_now"), count("request_today"), count("request_week"), count("accepted"), count("escalated")],
        [12, 3, 0, 15, 12]
    );
    assert_eq!([count("page_declared"), count("first_responder"), count("quorum")], [1, 1, 0]);
    assert!(events.iter().all(|(k, v)| v.is_some() == ["accepted", "first_responder", "quorum"].contains(&k.as_str())), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_what_happened_and_hides_small_cells_on_sqlite() {
    the_report_counts_what_happened_and_hides_small_cells(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_what_happened_and_hides_small_cells_on_postgres() {
    the_report_counts_what_happened_and_hides_small_cells(true).await;
}
