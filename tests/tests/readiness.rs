//! Reachability before it matters (issue 12 item 6), against a real server and the push-service
//! emulator on a driven clock: a member is checked when they join a crisis team and again a day
//! later (once, across a restart); a tap on the check's token confirms it (once); a member
//! without a subscription, or whose push service says the subscription is gone, or who does not
//! tap within the hour, is flagged on the coordinators' readiness board with what to fix; the app
//! can confirm too; a test page for one person pages only them.

use sallyport_core::Credentials;
use sallyport_e2e::push_emulator::{PushEmulator, Received, Subscription};
use sallyport_e2e::*;
use sallyport_protocol::IncidentId;
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

struct Setup {
    server: TestServer,
    emulator: PushEmulator,
    clock: DrivenClock,
}

impl Setup {
    async fn start(postgres: bool) -> Option<Setup> {
        let database_url = if postgres { Some(postgres_database().await?) } else { None };
        let clock = DrivenClock::new();
        let server = TestServer::start_with(ServerOptions { database_url, extra_args: clock.server_args() }).await;
        let emulator = emulator_for(&server).await;
        Some(Setup { server, emulator, clock })
    }

    fn set_offset(&self, ms: i64) {
        self.clock.set_offset(ms);
    }

    async fn person(&self, name: &str, roles: &[&str]) -> Credentials {
        sallyport_core::enrol(&self.server.url, &self.server.invite(name, roles)).await.expect("enrolment")
    }

    async fn subscribed(&self, creds: &Credentials) -> Subscription {
        let sub = self.emulator.subscribe();
        call(creds, "POST", "/v1/push/subscriptions", Some(sub.json()), 204).await;
        sub
    }

    async fn passes(&self, n: u64) {
        let name = "sallyport_paging_scheduler_runs_total";
        let start = metric(&self.server, name).await;
        wait_for_metric(&self.server, name, |runs| runs >= start + n).await;
    }
}

async fn post_unsigned(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(format!("{}{path}", server.url)).json(body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn of_kind(received: Vec<Received>, kind: &str) -> Vec<Value> {
    received
        .into_iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.plaintext).ok())
        .filter(|v| v["kind"] == kind)
        .collect()
}

async fn wait_kind(s: &Setup, sub: &Subscription, kind: &str, n: usize) -> Vec<Value> {
    wait_until(&format!("{n} {kind} pushes"), || async { of_kind(s.emulator.received_for(&sub.token), kind).len() >= n }).await;
    of_kind(s.emulator.received_for(&sub.token), kind)
}

fn person<'a>(board: &'a Value, name: &str) -> &'a Value {
    board["people"].as_array().unwrap().iter().find(|p| p["person"]["display_name"] == name).unwrap_or_else(|| panic!("{name} in {board}"))
}

async fn scenario(s: &mut Setup) {
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let ana = s.person("Ana", &["staff"]).await;
    let ben = s.person("Ben", &["staff"]).await;
    let cy = s.person("Cy", &["staff"]).await;
    let ana_sub = s.subscribed(&ana).await;
    let cy_sub = s.subscribed(&cy).await;
    // Cy's push service no longer knows the subscription.
    s.emulator.answer(&cy_sub.token, 410, 1, None);
    let team = call(&coordinator, "POST", "/v1/teams", Some(json!({"name": "North CRT"})), 201).await;
    let id = team["id"].as_str().unwrap().to_owned();
    for (who, role) in [(&ana, "peer"), (&ben, "clinician"), (&cy, "lead")] {
        call(&coordinator, "PUT", &format!("/v1/teams/{id}/members/{}", who.account), Some(json!({"tier": 1, "role": role})), 201).await;
    }

    // Joining sends a check: a visible notification (Declarative Web Push), normal urgency, a token.
    let checks = wait_kind(s, &ana_sub, "readiness", 1).await;
    let check = &checks[0];
    assert_eq!(check["notification"]["title"], "Readiness check");
    assert!(check["token"].as_str().is_some_and(|t| t.len() == 43));
    let received = s.emulator.received_for(&ana_sub.token);
    assert_eq!(received[0].urgency.as_deref(), Some("normal"));
    wait_until("Cy's gone subscription is noticed", || async {
        let board = call(&coordinator, "GET", &format!("/v1/teams/{id}/readiness"), None, 200).await;
        person(&board, "Cy")["readiness"]["status"] == "no_subscription"
    })
    .await;
    let board = call(&coordinator, "GET", &format!("/v1/teams/{id}/readiness"), None, 200).await;
    assert_eq!((board["reachable_now"].as_u64(), board["members"].as_u64()), (Some(1), Some(3)), "{board}");
    assert_eq!(person(&board, "Ana")["readiness"]["status"], "pending");
    assert_eq!(person(&board, "Ben")["readiness"]["status"], "no_subscription");
    assert!(person(&board, "Ben")["readiness"]["fix"].as_str().unwrap().contains("notifications"));
    call(&ana, "GET", &format!("/v1/teams/{id}/readiness"), None, 403).await;
    let mine = call(&cy, "GET", "/v1/oncall/me", None, 200).await;
    assert_eq!(mine["readiness"]["status"], "no_subscription", "Cy is told: {mine}");

    // Ana taps: ready. A token confirms once.
    let token = check["token"].as_str().unwrap();
    let (status, _) = post_unsigned(&s.server, "/v1/readiness/confirm", &json!({"token": token})).await;
    assert_eq!(status, 200);
    let (status, body) = post_unsigned(&s.server, "/v1/readiness/confirm", &json!({"token": token})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("invalid_answer_token")));
    assert_eq!(call(&ana, "GET", "/v1/oncall/me", None, 200).await["readiness"]["status"], "ready");

    // Ben turns notifications on; a coordinator checks him now; he does not tap within the hour.
    let ben_sub = s.subscribed(&ben).await;
    call(&coordinator, "POST", &format!("/v1/teams/{id}/readiness/{}/check", ben.account), None, 200).await;
    wait_kind(s, &ben_sub, "readiness", 1).await;
    s.set_offset(61 * MINUTE);
    s.passes(2).await;
    let board = call(&coordinator, "GET", &format!("/v1/teams/{id}/readiness"), None, 200).await;
    assert_eq!(person(&board, "Ben")["readiness"]["status"], "unconfirmed");
    assert_eq!(person(&board, "Ana")["readiness"]["status"], "ready");
    // He confirms in the app.
    assert_eq!(call(&ben, "POST", "/v1/oncall/me/ready", None, 200).await["status"], "ready");
    let board = call(&coordinator, "GET", &format!("/v1/teams/{id}/readiness"), None, 200).await;
    assert_eq!(board["reachable_now"], 2);

    // A day later (the server down meanwhile) each is checked once more.
    s.server.stop().await;
    s.set_offset(DAY + 2 * MINUTE);
    s.server.restart().await;
    wait_kind(s, &ana_sub, "readiness", 2).await;
    wait_kind(s, &ben_sub, "readiness", 2).await;
    s.passes(5).await;
    assert_eq!(of_kind(s.emulator.received_for(&ana_sub.token), "readiness").len(), 2, "once");

    // A test page for Ana alone: only she is paged; she answers from the notification.
    let incident = IncidentId::random();
    let body = json!({"id": incident.to_string(), "team": id, "severity": 3, "test": true, "only": ana.account.to_string()});
    let not_test = json!({"id": IncidentId::random().to_string(), "team": id, "severity": 3, "only": ana.account.to_string()});
    call(&coordinator, "POST", "/v1/incidents", Some(not_test), 400).await;
    let board = call(&coordinator, "POST", "/v1/incidents", Some(body), 201).await;
    assert_eq!(board["test"], true);
    let page = &wait_kind(s, &ana_sub, "page", 1).await[0];
    assert_eq!((page["notification"]["title"].as_str(), page["test"].as_bool()), (Some("Test page"), Some(true)));
    let (status, _) = post_unsigned(&s.server, "/v1/incidents/answer", &json!({"token": page["token"], "answer": "responding"})).await;
    assert_eq!(status, 200);
    s.set_offset(DAY + 30 * MINUTE);
    s.passes(3).await;
    assert!(of_kind(s.emulator.received_for(&ben_sub.token), "page").is_empty(), "only Ana is paged by her test page");
    let board = call(&coordinator, "GET", &format!("/v1/incidents/{incident}"), None, 200).await;
    assert_eq!(board["paged"].as_array().unwrap().len(), 1);
    assert!(board["steps"].as_array().unwrap().iter().all(|st| st["step"] == "tier 1"), "no escalation: {board}");

    // Leaving the team ends the checks.
    call(&coordinator, "DELETE", &format!("/v1/teams/{id}/members/{}", ana.account), None, 200).await;
    assert!(call(&ana, "GET", "/v1/oncall/me", None, 200).await.get("readiness").is_none());
    call(&ana, "POST", "/v1/oncall/me/ready", None, 403).await;
}

#[tokio::test]
async fn members_phones_are_checked_flagged_and_confirmed() {
    let mut s = Setup::start(false).await.unwrap();
    scenario(&mut s).await;
}

#[tokio::test]
async fn members_phones_are_checked_flagged_and_confirmed_on_postgres() {
    let Some(mut s) = Setup::start(true).await else { return };
    scenario(&mut s).await;
}
