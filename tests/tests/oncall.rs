//! The peer supporter roster and on-call schedule against a real server (SQLite, and PostgreSQL
//! when a cluster is configured): a coordinator builds the roster with training, rotations, an
//! override; supporters swap a shift and flip their switch; `GET /v1/support/oncall` offers only
//! current, on-call, available supporters, and `/v1/support/shifts/me` lists each one's shifts.

use sallyport_core::{Credentials, api_request, enrol};
use sallyport_e2e::{ServerOptions, TestServer, date, now_ms, postgres_database};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// `HH:MM` (UTC) of `ms`.
fn clock(ms: i64) -> String {
    let minutes = ms.rem_euclid(DAY) / MINUTE;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

async fn call(who: &Credentials, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    api_request(who, method, path, body.as_ref()).await.expect("request")
}

/// Asserts an error answer's status and stable code.
async fn refused(who: &Credentials, method: &str, path: &str, body: Option<Value>, status: u16, code: &str) {
    let (got, answer) = call(who, method, path, body).await;
    assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path}: {answer}");
}

async fn ok(who: &Credentials, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(who, method, path, body).await;
    assert!(status == 200 || status == 201, "{method} {path} answered {status}: {answer}");
    answer
}

/// Display names of who is on call now, as `who` sees them; also checks the answer carries names
/// and accounts only.
async fn on_call(who: &Credentials) -> Vec<String> {
    let answer = ok(who, "GET", "/v1/support/oncall", None).await;
    answer["on_call"]
        .as_array()
        .expect("on_call list")
        .iter()
        .map(|p| {
            let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["account", "display_name"], "names only: {p}");
            p["display_name"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// `(start, end, source)` of `who`'s next `n` shifts.
async fn shifts(who: &Credentials, n: usize) -> Vec<(i64, i64, String)> {
    let answer = ok(who, "GET", &format!("/v1/support/shifts/me?limit={n}"), None).await;
    answer["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].as_i64().unwrap(), s["end"].as_i64().unwrap(), s["source"].as_str().unwrap().to_owned()))
        .collect()
}

fn all_training(completed: &str, expires: &str) -> Vec<(&'static str, Value)> {
    ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"]
        .into_iter()
        .map(|kind| (kind, json!({"completed_at": completed, "expires_at": expires})))
        .collect()
}

async fn scenario(server: &TestServer) {
    let coordinator = enrol(&server.url, &server.invite("Casey Coordinator", &["coordinator"])).await.unwrap();
    let ana = server.enrol("Ana").await;
    let ben = server.enrol("Ben").await;
    let cy = server.enrol("Cy").await;
    let dee = server.enrol("Dee").await;
    let staff = server.enrol("Sam Staff").await;

    // Only coordinators keep the roster; staff see none of it.
    refused(&ana, "PUT", &format!("/v1/support/roster/{}", ana.account), None, 403, "forbidden").await;
    refused(&staff, "GET", "/v1/support/oncall", None, 403, "forbidden").await;
    refused(&ana, "GET", "/v1/support/roster/me", None, 403, "not_on_roster").await;
    refused(&coordinator, "PUT", &format!("/v1/support/roster/{}", sallyport_protocol::AccountId::random()), None, 404, "not_found").await;

    for who in [&ana, &ben, &cy, &dee] {
        let (status, body) = call(&coordinator, "PUT", &format!("/v1/support/roster/{}", who.account), None).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["training_current"], false, "no training yet: {body}");
        assert_eq!(body["training_missing"].as_array().unwrap().len(), 5);
    }
    let (status, _) = call(&coordinator, "PUT", &format!("/v1/support/roster/{}", ana.account), None).await;
    assert_eq!(status, 200, "adding again changes nothing");
    let me = ok(&ana, "GET", "/v1/me", None).await;
    assert!(me["roles"].as_array().unwrap().contains(&json!("peer_supporter")), "the roster gives the role: {me}");

    // Training: validated, then all five current for everyone.
    let training = |who: &Credentials, kind: &str| format!("/v1/support/roster/{}/training/{kind}", who.account);
    refused(&coordinator, "PUT", &training(&ana, "juggling"), Some(json!({"completed_at": "2025-01-01", "expires_at": "2027-01-01"})), 400, "bad_request").await;
    refused(&coordinator, "PUT", &training(&ana, "de_escalation"), Some(json!({"completed_at": "2025-01-01", "expires_at": "2025-01-01"})), 400, "bad_request").await;
    refused(&coordinator, "PUT", &training(&ana, "de_escalation"), Some(json!({"completed_at": "2025-13-01", "expires_at": "2027-01-01"})), 400, "bad_request").await;
    refused(&coordinator, "PUT", &training(&staff, "de_escalation"), Some(json!({"completed_at": "2025-01-01", "expires_at": "2027-01-01"})), 422, "not_on_roster").await;
    let now = now_ms();
    let (completed, expires) = (date(now - 100 * DAY), date(now + 700 * DAY));
    for who in [&ana, &ben, &cy, &dee] {
        for (kind, body) in all_training(&completed, &expires) {
            ok(&coordinator, "PUT", &training(who, kind), Some(body)).await;
        }
    }
    let mine = ok(&ana, "GET", "/v1/support/roster/me", None).await;
    assert_eq!((mine["display_name"].as_str(), mine["training_current"].as_bool(), mine["switch"].as_str()), (Some("Ana"), Some(true), Some("available")));
    refused(&ana, "GET", "/v1/support/roster", None, 403, "forbidden").await;
    let roster = ok(&coordinator, "GET", "/v1/support/roster", None).await;
    let names: Vec<&str> = roster["supporters"].as_array().unwrap().iter().map(|s| s["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ana", "Ben", "Cy", "Dee"]);

    // Primary: daily in UTC, Ana then Ben, the current shift began 12 hours ago (s0) and the
    // next hand-off is in 12 hours (s1). Backup: Cy every week.
    let s1 = (now + 12 * HOUR) / MINUTE * MINUTE;
    let s0 = s1 - DAY;
    let rotation = |name: &str, members: Vec<&Credentials>, period_days: u32, start_days_before: i64| {
        json!({
            "name": name,
            "members": members.iter().map(|m| m.account.to_text()).collect::<Vec<_>>(),
            "handoff": clock(s1),
            "time_zone": "UTC",
            "period_days": period_days,
            "start_date": date(s0 - start_days_before * DAY),
        })
    };
    refused(&ana, "POST", "/v1/support/rotations", Some(rotation("Primary", vec![&ana, &ben], 1, 2)), 403, "forbidden").await;
    refused(&coordinator, "POST", "/v1/support/rotations", Some(rotation("Primary", vec![&ana, &staff], 1, 2)), 422, "not_on_roster").await;
    let mut bad_zone = rotation("Primary", vec![&ana, &ben], 1, 2);
    bad_zone["time_zone"] = json!("Mars/Olympus_Mons");
    refused(&coordinator, "POST", "/v1/support/rotations", Some(bad_zone), 400, "bad_request").await;
    let primary = ok(&coordinator, "POST", "/v1/support/rotations", Some(rotation("Primary", vec![&ana, &ben], 1, 2))).await;
    let primary_id = primary["id"].as_str().unwrap().to_owned();
    assert_eq!(primary["upcoming"][0]["display_name"], "Ana", "{primary}");
    assert_eq!((primary["upcoming"][0]["start"].as_i64(), primary["upcoming"][0]["end"].as_i64()), (Some(s0), Some(s1)));
    assert_eq!(primary["upcoming"][1]["display_name"], "Ben");
    ok(&coordinator, "POST", "/v1/support/rotations", Some(rotation("Backup", vec![&cy], 7, 7))).await;
    let nights = ok(&coordinator, "POST", "/v1/support/rotations", Some(rotation("Nights", vec![&dee], 7, 7))).await;

    let mut expected = vec!["Ana", "Cy", "Dee"];
    assert_eq!(on_call(&coordinator).await, expected);
    assert_eq!(on_call(&ben).await, expected, "supporters see it too");

    // Dee's crisis-intervention training turns out to have lapsed: off call at once, and she
    // cannot be put on call again.
    let lapsed = json!({"completed_at": date(now - 800 * DAY), "expires_at": date(now - DAY)});
    let record = ok(&coordinator, "PUT", &training(&dee, "crisis_intervention"), Some(lapsed)).await;
    assert_eq!((record["training_current"].as_bool(), &record["training_missing"]), (Some(false), &json!(["crisis_intervention"])));
    expected.retain(|n| *n != "Dee");
    assert_eq!(on_call(&coordinator).await, expected, "lapsed training: not offered requests");
    refused(&coordinator, "POST", "/v1/support/rotations", Some(rotation("Other", vec![&dee], 7, 7)), 422, "training_not_current").await;
    let cover = |who: &Credentials, rotation: &str, start: i64, end: i64| {
        json!({"rotation": rotation, "account": who.account.to_text(), "start": start, "end": end})
    };
    refused(&coordinator, "POST", "/v1/support/overrides", Some(cover(&dee, &primary_id, now - MINUTE, now + HOUR)), 422, "training_not_current").await;
    // Keeping her on an existing rotation is allowed (renaming it); she stays off call.
    let renamed = rotation("Nights (Dee)", vec![&dee], 7, 7);
    ok(&coordinator, "PUT", &format!("/v1/support/rotations/{}", nights["id"].as_str().unwrap()), Some(renamed)).await;
    assert_eq!(on_call(&coordinator).await, expected);

    // An override now: Ben covers Primary for the next hour instead of Ana.
    refused(&coordinator, "POST", "/v1/support/overrides", Some(cover(&ben, &primary_id, now + HOUR, now)), 400, "bad_request").await;
    let now_cover = ok(&coordinator, "POST", "/v1/support/overrides", Some(cover(&ben, &primary_id, now - MINUTE, now + HOUR))).await;
    assert_eq!(on_call(&coordinator).await, ["Ben", "Cy"]);
    let deleted = ok(&coordinator, "DELETE", &format!("/v1/support/overrides/{}", now_cover["id"].as_str().unwrap()), None).await;
    assert_eq!(deleted["deleted"], true);
    assert_eq!(on_call(&coordinator).await, ["Ana", "Cy"]);
    // And one ahead: Cy covers the first half of the day after tomorrow's Primary shift.
    ok(&coordinator, "POST", "/v1/support/overrides", Some(cover(&cy, &primary_id, s1 + DAY, s1 + DAY + 12 * HOUR))).await;

    // A swap: Ana offers Ben her shift from s1 + 1 day for his from s1.
    let proposal = |mine: i64, theirs: i64| {
        json!({"rotation": primary_id, "counterpart": ben.account.to_text(), "my_shift_start": mine, "their_shift_start": theirs})
    };
    refused(&ana, "POST", "/v1/support/swaps", Some(proposal(s1 + DAY + MINUTE, s1)), 422, "not_a_shift").await;
    refused(&ana, "POST", "/v1/support/swaps", Some(proposal(s1, s1 + DAY)), 422, "not_a_shift").await;
    refused(&staff, "POST", "/v1/support/swaps", Some(proposal(s1 + DAY, s1)), 403, "not_on_roster").await;
    let swap = ok(&ana, "POST", "/v1/support/swaps", Some(proposal(s1 + DAY, s1))).await;
    assert_eq!(swap["status"], "proposed");
    let swap_id = swap["id"].as_str().unwrap().to_owned();
    let listed = ok(&ben, "GET", "/v1/support/swaps", None).await;
    assert_eq!(listed["swaps"][0]["id"], swap_id.as_str());
    assert!(ok(&cy, "GET", "/v1/support/swaps", None).await["swaps"].as_array().unwrap().is_empty(), "not Cy's swap");
    refused(&cy, "POST", &format!("/v1/support/swaps/{swap_id}/accept"), None, 403, "forbidden").await;
    refused(&ana, "POST", &format!("/v1/support/swaps/{swap_id}/accept"), None, 403, "forbidden").await;
    let accepted = ok(&ben, "POST", &format!("/v1/support/swaps/{swap_id}/accept"), None).await;
    assert_eq!(accepted["status"], "accepted");
    refused(&ben, "POST", &format!("/v1/support/swaps/{swap_id}/decline"), None, 409, "swap_not_pending").await;

    // My next shifts, after the swap and the override.
    assert_eq!(shifts(&ana, 3).await, vec![
        (s0, s1, "rotation".to_owned()),
        (s1, s1 + DAY, "swap".to_owned()),
        (s1 + 3 * DAY, s1 + 4 * DAY, "rotation".to_owned()),
    ]);
    assert_eq!(shifts(&ben, 2).await, vec![
        (s1 + DAY + 12 * HOUR, s1 + 2 * DAY, "swap".to_owned()),
        (s1 + 2 * DAY, s1 + 3 * DAY, "rotation".to_owned()),
    ]);
    let cy_shifts = shifts(&cy, 2).await;
    assert_eq!(cy_shifts[0], (s0, s0 + 7 * DAY, "rotation".to_owned()), "Backup, this week");
    assert_eq!(cy_shifts[1], (s1 + DAY, s1 + DAY + 12 * HOUR, "override".to_owned()));
    refused(&staff, "GET", "/v1/support/shifts/me", None, 403, "not_on_roster").await;
    refused(&ana, "GET", "/v1/support/shifts/me?limit=0", None, 400, "bad_request").await;

    // The switch: busy and off are not offered requests.
    refused(&ana, "PUT", "/v1/support/switch", Some(json!({"switch": "asleep"})), 400, "bad_request").await;
    refused(&staff, "PUT", "/v1/support/switch", Some(json!({"switch": "busy"})), 403, "not_on_roster").await;
    let busy = ok(&ana, "PUT", "/v1/support/switch", Some(json!({"switch": "busy"}))).await;
    assert_eq!(busy["switch"], "busy");
    assert_eq!(on_call(&coordinator).await, ["Cy"]);
    ok(&cy, "PUT", "/v1/support/switch", Some(json!({"switch": "off"}))).await;
    assert!(on_call(&coordinator).await.is_empty(), "nobody available");
    ok(&ana, "PUT", "/v1/support/switch", Some(json!({"switch": "available"}))).await;
    ok(&cy, "PUT", "/v1/support/switch", Some(json!({"switch": "available"}))).await;
    assert_eq!(on_call(&coordinator).await, ["Ana", "Cy"]);

    // Removing Cy takes him off Backup and his override; he no longer sees the schedule.
    let removed = ok(&coordinator, "DELETE", &format!("/v1/support/roster/{}", cy.account), None).await;
    assert_eq!(removed["removed"], true);
    assert_eq!(on_call(&coordinator).await, ["Ana"]);
    refused(&cy, "GET", "/v1/support/roster/me", None, 403, "not_on_roster").await;
    refused(&cy, "GET", "/v1/support/oncall", None, 403, "forbidden").await;
    let rotations = ok(&coordinator, "GET", "/v1/support/rotations", None).await;
    let backup = rotations["rotations"].as_array().unwrap().iter().find(|r| r["name"] == "Backup").unwrap();
    assert!(backup["members"].as_array().unwrap().is_empty(), "{backup}");
    assert!(rotations["overrides"].as_array().unwrap().is_empty(), "{rotations}");
}

#[tokio::test]
async fn the_schedule_offers_only_current_on_call_available_supporters() {
    let server = TestServer::start().await;
    scenario(&server).await;
}

#[tokio::test]
async fn the_schedule_offers_only_current_on_call_available_supporters_on_postgres() {
    let Some(database_url) = postgres_database().await else { return };
    let server = TestServer::start_with(ServerOptions { database_url: Some(database_url), ..Default::default() }).await;
    scenario(&server).await;
}
