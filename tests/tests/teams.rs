//! Crisis-response teams against a real server (SQLite, and PostgreSQL when a cluster is
//! configured): a coordinator creates a team with the default quorum policy, puts people on it
//! in tiers with team roles, gives it a rotation and an override (the same schedule rules as the
//! Peer Support Team's, kept apart from it); a member's switch is theirs across teams, and
//! "inside the perimeter until" is set and cleared; who is on call follows all of it. A shift
//! supervisor lists every team (to declare an incident for one) but sees none of their members.

use sallyport_core::{Credentials, api_request, enrol};
use sallyport_e2e::{ServerOptions, TestServer, date, now_ms, postgres_database};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

async fn call(who: &Credentials, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    api_request(who, method, path, body.as_ref()).await.expect("request")
}

async fn refused(who: &Credentials, method: &str, path: &str, body: Option<Value>, status: u16, code: &str) -> Value {
    let (got, answer) = call(who, method, path, body).await;
    assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path}: {answer}");
    answer
}

async fn ok(who: &Credentials, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(who, method, path, body).await;
    assert!(status == 200 || status == 201, "{method} {path} answered {status}: {answer}");
    answer
}

/// Display names of the team's members on call now, in the team's order.
fn on_call(team: &Value) -> Vec<String> {
    team["members"].as_array().unwrap().iter().filter(|m| m["on_call"] == true).map(|m| m["display_name"].as_str().unwrap().to_owned()).collect()
}

fn member<'a>(team: &'a Value, name: &str) -> &'a Value {
    team["members"].as_array().unwrap().iter().find(|m| m["display_name"] == name).unwrap_or_else(|| panic!("{name} in {team}"))
}

/// `HH:MM` (UTC) of `ms`.
fn clock(ms: i64) -> String {
    let minutes = ms.rem_euclid(DAY) / MINUTE;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

async fn scenario(server: &TestServer) {
    let coordinator = enrol(&server.url, &server.invite("Casey Coordinator", &["coordinator"])).await.unwrap();
    let ana = server.enrol("Ana").await;
    let ben = server.enrol("Ben").await;
    let cy = server.enrol("Cy").await;
    let dee = server.enrol("Dee").await;
    let staff = server.enrol("Sam Staff").await;

    // Only coordinators create teams; the policy is checked.
    refused(&staff, "POST", "/v1/teams", Some(json!({"name": "Mine"})), 403, "forbidden").await;
    refused(&coordinator, "POST", "/v1/teams", Some(json!({"name": " "})), 400, "bad_request").await;
    let quotas = json!({"responders": 1, "at_least": {"peer": 1, "clinician": 1}, "repeat_every_minutes": 3, "escalate_after_minutes": 10});
    refused(&coordinator, "POST", "/v1/teams", Some(json!({"name": "X", "policy": quotas})), 400, "bad_request").await;
    let unknown = json!({"responders": 2, "at_least": {"wizard": 1}, "repeat_every_minutes": 3, "escalate_after_minutes": 10});
    refused(&coordinator, "POST", "/v1/teams", Some(json!({"name": "X", "policy": unknown})), 400, "bad_request").await;
    let team = ok(&coordinator, "POST", "/v1/teams", Some(json!({"name": "North yard CRT"}))).await;
    assert_eq!(
        team["policy"],
        json!({"responders": 3, "at_least": {"clinician": 1, "peer": 1}, "repeat_every_minutes": 3, "escalate_after_minutes": 10}),
        "the default policy"
    );
    assert_eq!(team["roles"], json!(["peer", "clinician", "chaplain", "lead"]));
    let id = team["id"].as_str().unwrap().to_owned();
    let path = |rest: &str| format!("/v1/teams/{id}{rest}");
    let put_member = |who: &Credentials| path(&format!("/members/{}", who.account));

    // Members in tiers with roles; bad tiers, roles and accounts are refused.
    refused(&coordinator, "PUT", &put_member(&ana), Some(json!({"tier": 0, "role": "peer"})), 400, "bad_request").await;
    refused(&coordinator, "PUT", &put_member(&ana), Some(json!({"tier": 10, "role": "peer"})), 400, "bad_request").await;
    refused(&coordinator, "PUT", &put_member(&ana), Some(json!({"tier": 1, "role": "wizard"})), 400, "bad_request").await;
    let nobody = format!("/v1/teams/{id}/members/{}", sallyport_protocol::AccountId::random());
    refused(&coordinator, "PUT", &nobody, Some(json!({"tier": 1, "role": "peer"})), 404, "not_found").await;
    refused(&ana, "PUT", &put_member(&ana), Some(json!({"tier": 1, "role": "peer"})), 403, "forbidden").await;
    for (who, tier, role) in [(&dee, 2, "clinician"), (&ana, 1, "peer"), (&cy, 2, "chaplain"), (&ben, 1, "clinician")] {
        let (status, body) = call(&coordinator, "PUT", &put_member(who), Some(json!({"tier": tier, "role": role}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, team) = call(&coordinator, "PUT", &put_member(&ana), Some(json!({"tier": 1, "role": "lead"}))).await;
    assert_eq!(status, 200, "a change of role, not an addition: {team}");
    let order: Vec<(&str, u64, &str)> = team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["display_name"].as_str().unwrap(), m["tier"].as_u64().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(order, [("Ana", 1, "lead"), ("Ben", 1, "clinician"), ("Dee", 2, "clinician"), ("Cy", 2, "chaplain")]);
    assert_eq!(on_call(&team), ["Ana", "Ben", "Dee", "Cy"], "a team without rotations has everyone on call");

    // Members see their team; others do not.
    ok(&ana, "GET", &path(""), None).await;
    refused(&staff, "GET", &path(""), None, 404, "not_found").await;
    assert_eq!(ok(&ana, "GET", "/v1/teams", None).await["teams"].as_array().unwrap().len(), 1);
    assert!(ok(&staff, "GET", "/v1/teams", None).await["teams"].as_array().unwrap().is_empty());
    let listed = ok(&coordinator, "GET", "/v1/teams", None).await;
    assert_eq!(listed["teams"][0], json!({"id": id, "name": "North yard CRT", "members": 4, "on_call_now": 4}));
    // A shift supervisor on no team lists every team, to choose the one an incident pages; the
    // team itself (its members) stays the coordinators' and members'.
    let supervisor = enrol(&server.url, &server.invite("Sid Supervisor", &["supervisor"])).await.unwrap();
    assert_eq!(ok(&supervisor, "GET", "/v1/teams", None).await, listed, "a supervisor lists every team as a coordinator does");
    refused(&supervisor, "GET", &path(""), None, 404, "not_found").await;

    // One switch per person across teams: Ana, also a peer supporter, goes busy there.
    ok(&coordinator, "PUT", &format!("/v1/support/roster/{}", ana.account), None).await;
    ok(&ana, "PUT", "/v1/support/switch", Some(json!({"switch": "busy"}))).await;
    let team = ok(&coordinator, "GET", &path(""), None).await;
    assert_eq!(member(&team, "Ana")["switch"], "busy");
    assert_eq!(on_call(&team), ["Ben", "Dee", "Cy"]);
    let mine = ok(&ana, "PUT", "/v1/oncall/me", Some(json!({"switch": "available"}))).await;
    assert_eq!((mine["switch"].as_str(), mine["teams"][0]["role"].as_str()), (Some("available"), Some("lead")));
    assert_eq!(ok(&ana, "GET", "/v1/support/roster/me", None).await["switch"], "available", "the same switch");

    // Inside the perimeter until a time: checked, shown, cleared.
    let now = now_ms();
    refused(&ben, "PUT", "/v1/oncall/me", Some(json!({"inside_until": now - MINUTE})), 400, "bad_request").await;
    refused(&ben, "PUT", "/v1/oncall/me", Some(json!({"inside_until": now + 17 * HOUR})), 400, "bad_request").await;
    refused(&staff, "PUT", "/v1/oncall/me", Some(json!({"switch": "busy"})), 403, "not_on_roster").await;
    let until = now + 2 * HOUR;
    assert_eq!(ok(&ben, "PUT", "/v1/oncall/me", Some(json!({"inside_until": until}))).await["inside_until"], until);
    assert_eq!(member(&ok(&coordinator, "GET", &path(""), None).await, "Ben")["inside_until"], until);
    let cleared = ok(&ben, "PUT", "/v1/oncall/me", Some(json!({"inside_until": null}))).await;
    assert!(cleared.get("inside_until").is_none(), "{cleared}");

    // A rotation of the team (daily in UTC, Cy then Dee, Cy's shift began 12 hours ago): only
    // team members may be on it, and then only its holder is on call.
    let s1 = (now + 12 * HOUR) / MINUTE * MINUTE;
    let rotation = |members: Vec<&Credentials>| {
        json!({"name": "CRT days", "members": members.iter().map(|m| m.account.to_string()).collect::<Vec<_>>(),
               "handoff": clock(s1), "time_zone": "UTC", "period_days": 1, "start_date": date(s1 - DAY)})
    };
    let stranger = refused(&coordinator, "POST", &path("/rotations"), Some(rotation(vec![&cy, &staff])), 422, "not_on_roster").await;
    assert!(stranger["message"].as_str().unwrap().contains("not a member of the team"), "{stranger}");
    let days = ok(&coordinator, "POST", &path("/rotations"), Some(rotation(vec![&cy, &dee]))).await;
    let rid = days["id"].as_str().unwrap().to_owned();
    assert_eq!(days["upcoming"][0]["display_name"], "Cy");
    assert_eq!(on_call(&ok(&coordinator, "GET", &path(""), None).await), ["Cy"]);
    let pst = ok(&coordinator, "GET", "/v1/support/rotations", None).await;
    assert!(pst["rotations"].as_array().unwrap().is_empty(), "the peer support schedule is apart: {pst}");

    // An override: Dee covers the next hour.
    let cover = json!({"rotation": rid, "account": dee.account.to_string(), "start": now - MINUTE, "end": now + HOUR});
    let o = ok(&coordinator, "POST", &path("/overrides"), Some(cover)).await;
    assert_eq!(on_call(&ok(&coordinator, "GET", &path(""), None).await), ["Dee"]);
    let outsider = json!({"rotation": rid, "account": staff.account.to_string(), "start": now, "end": now + HOUR});
    refused(&coordinator, "POST", &path("/overrides"), Some(outsider), 422, "not_on_roster").await;

    // Another team cannot reach this team's rotation.
    let other = ok(&coordinator, "POST", "/v1/teams", Some(json!({"name": "South CRT"}))).await;
    let other_id = other["id"].as_str().unwrap();
    ok(&coordinator, "PUT", &format!("/v1/teams/{other_id}/members/{}", cy.account), Some(json!({"tier": 1, "role": "peer"}))).await;
    refused(&coordinator, "PUT", &format!("/v1/teams/{other_id}/rotations/{rid}"), Some(rotation(vec![&cy])), 404, "not_found").await;
    let gone = ok(&coordinator, "DELETE", &format!("/v1/teams/{other_id}/rotations/{rid}"), None).await;
    assert_eq!(gone["deleted"], false);

    // Removing Dee takes her off the rotation and her override.
    assert_eq!(ok(&coordinator, "DELETE", &put_member(&dee), None).await["removed"], true);
    let team = ok(&coordinator, "GET", &path(""), None).await;
    assert_eq!(on_call(&team), ["Cy"]);
    assert!(team["overrides"].as_array().unwrap().is_empty(), "{team}");
    assert_eq!(team["rotations"][0]["members"].as_array().unwrap().len(), 1);
    assert_eq!(ok(&coordinator, "DELETE", &path(&format!("/overrides/{}", o["id"].as_str().unwrap())), None).await["deleted"], false);

    // The policy is editable; the team can be deleted, and the peer support roster stays.
    let policy = json!({"responders": 2, "at_least": {"chaplain": 1}, "repeat_every_minutes": 5, "escalate_after_minutes": 15});
    let updated = ok(&coordinator, "PUT", &path(""), Some(json!({"name": "North CRT", "policy": policy}))).await;
    assert_eq!((updated["name"].as_str(), &updated["policy"]), (Some("North CRT"), &policy));
    let renamed = ok(&coordinator, "PUT", &path(""), Some(json!({"name": "North yard CRT"}))).await;
    assert_eq!(renamed["policy"], policy, "a rename keeps the policy");
    assert_eq!(ok(&coordinator, "DELETE", &path(""), None).await["deleted"], true);
    refused(&coordinator, "GET", &path(""), None, 404, "not_found").await;
    refused(&coordinator, "GET", "/v1/teams/not-an-id", None, 404, "not_found").await;
    assert_eq!(ok(&ana, "GET", "/v1/support/roster/me", None).await["display_name"], "Ana");
    assert!(ok(&ana, "GET", "/v1/oncall/me", None).await["teams"].as_array().unwrap().is_empty());

    // The facility's locations a declarer picks from: set by an administrator, read by anyone enrolled.
    let admin = enrol(&server.url, &server.invite("Avery Admin", &["admin"])).await.unwrap();
    assert_eq!(ok(&staff, "GET", "/v1/incidents/locations", None).await, json!({"locations": []}));
    refused(&coordinator, "PUT", "/v1/admin/incident-locations", Some(json!({"locations": ["Yard"]})), 403, "forbidden").await;
    refused(&admin, "PUT", "/v1/admin/incident-locations", Some(json!({"locations": ["  "]})), 400, "bad_request").await;
    refused(&admin, "PUT", "/v1/admin/incident-locations", Some(json!({"locations": ["x".repeat(61)]})), 400, "bad_request").await;
    let many: Vec<String> = (0..101).map(|i| format!("Unit {i}")).collect();
    refused(&admin, "PUT", "/v1/admin/incident-locations", Some(json!({"locations": many})), 400, "bad_request").await;
    let set = ok(&admin, "PUT", "/v1/admin/incident-locations", Some(json!({"locations": [" Unit C ", "Yard 2", "Unit C"]}))).await;
    assert_eq!(set, json!({"locations": ["Unit C", "Yard 2"]}), "trimmed, repeats dropped");
    assert_eq!(ok(&staff, "GET", "/v1/incidents/locations", None).await, set);
}

#[tokio::test]
async fn crisis_teams_share_the_schedule_rules_and_one_switch_per_person() {
    let server = TestServer::start().await;
    scenario(&server).await;
}

#[tokio::test]
async fn crisis_teams_share_the_schedule_rules_and_one_switch_per_person_on_postgres() {
    let Some(database_url) = postgres_database().await else { return };
    let server = TestServer::start_with(ServerOptions { database_url: Some(database_url), ..Default::default() }).await;
    scenario(&server).await;
}
