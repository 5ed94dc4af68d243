//! Crisis paging end to end (issue 12): real `sallyport` processes, native clients that seal the
//! preview with the client core, and the push-service emulator (which verifies VAPID and decrypts
//! the RFC 8291 layer; the sealed layer stays opaque to it). A supervisor declares; exactly the
//! on-call, reachable tier-1 members are paged with `Urgency: high`, a Topic and nothing readable;
//! answers stop each person's repeats (one by the page's token, one signed); two peers responding
//! still lack a clinician, so at ten minutes only one tier-2 clinician is paged — once, across a
//! restart, on a driven clock; a member inside the perimeter is paged when they come out; the
//! quorum stops the paging; resolving deletes the routing state. Also: a page a crash interrupted
//! is sent after the restart, and two nodes on one PostgreSQL never page twice.

use sallyport_core::seal;
use sallyport_core::{Client, Credentials, Event, api_request};
use sallyport_e2e::push_emulator::{PushEmulator, Received, Subscription};
use sallyport_e2e::*;
use sallyport_protocol::incidents::page_aad;
use sallyport_protocol::{DeviceId, IncidentId};
use serde_json::{Value, json};
use std::collections::HashMap;


const MINUTE: i64 = 60_000;
/// Words of the incident that must never reach the server, its log or a push payload.
const SECRET_NOTE: &str = "Tier-C stairwell, officer Hollis down";

struct Node {
    server: TestServer,
}

struct Setup {
    nodes: Vec<Node>,
    emulator: PushEmulator,
    clock: DrivenClock,
}

impl Setup {
    async fn start(postgres: bool, nodes: usize) -> Option<Setup> {
        let database_url = if postgres { Some(postgres_database().await?) } else { None };
        let clock = DrivenClock::new();
        let mut started = Vec::new();
        for _ in 0..nodes {
            let options = ServerOptions { database_url: database_url.clone(), extra_args: clock.server_args() };
            started.push(Node { server: TestServer::start_with(options).await });
        }
        let emulator = emulator_for(&started[0].server).await;
        Some(Setup { nodes: started, emulator, clock })
    }

    fn server(&self) -> &TestServer {
        &self.nodes[0].server
    }

    fn set_offset(&self, ms: i64) {
        self.clock.set_offset(ms);
    }

    async fn person(&self, name: &str, roles: &[&str]) -> Credentials {
        let link = self.server().invite(name, roles);
        sallyport_core::enrol(&self.server().url, &link).await.expect("enrolment")
    }

    async fn subscribed(&self, creds: &Credentials) -> Subscription {
        let sub = self.emulator.subscribe();
        call(creds, "POST", "/v1/push/subscriptions", Some(sub.json()), 204).await;
        sub
    }

    /// Waits until every node's paging scheduler has completed `n` more passes.
    async fn passes(&self, n: u64) {
        for node in &self.nodes {
            let name = "sallyport_paging_scheduler_runs_total";
            let start = metric(&node.server, name).await;
            wait_for_metric(&node.server, name, |runs| runs >= start + n).await;
        }
    }
}

fn is_page(r: &Received) -> bool {
    serde_json::from_slice::<Value>(&r.plaintext).is_ok_and(|v| v["kind"] == "page")
}

/// The page pushes one subscription received (not its readiness checks), decrypted, as JSON.
fn pages(emulator: &PushEmulator, sub: &Subscription) -> Vec<Value> {
    emulator.received_for(&sub.token).iter().filter(|r| is_page(r)).map(|r| serde_json::from_slice(&r.plaintext).expect("JSON payload")).collect()
}

/// Waits until one subscription has received `n` pages; they, in order.
async fn wait_pages(emulator: &PushEmulator, sub: &Subscription, n: usize) -> Vec<Received> {
    wait_until(&format!("{n} pages to one subscription"), || async { emulator.received_for(&sub.token).iter().filter(|r| is_page(r)).count() >= n })
        .await;
    emulator.received_for(&sub.token).into_iter().filter(is_page).collect()
}

/// A team of `members` (name, tier, role), each enrolled and subscribed.
struct Team {
    id: String,
    people: HashMap<&'static str, (Credentials, Subscription)>,
}

impl Team {
    fn who(&self, name: &str) -> &Credentials {
        &self.people[name].0
    }

    fn sub(&self, name: &str) -> &Subscription {
        &self.people[name].1
    }
}

async fn team(s: &Setup, coordinator: &Credentials, members: &[(&'static str, u8, &str)]) -> Team {
    let created = call(coordinator, "POST", "/v1/teams", Some(json!({"name": "North yard CRT"})), 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut people = HashMap::new();
    for (name, tier, role) in members {
        let creds = s.person(name, &["staff"]).await;
        let sub = s.subscribed(&creds).await;
        let path = format!("/v1/teams/{id}/members/{}", creds.account);
        call(coordinator, "PUT", &path, Some(json!({"tier": tier, "role": role})), 201).await;
        people.insert(*name, (creds, sub));
    }
    Team { id, people }
}

fn paged_names(board: &Value) -> Vec<String> {
    let mut names: Vec<String> = board["paged"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["paged_at"].is_i64())
        .map(|p| p["person"]["display_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn paged_entry<'a>(board: &'a Value, name: &str) -> &'a Value {
    board["paged"].as_array().unwrap().iter().find(|p| p["person"]["display_name"] == name).unwrap_or_else(|| panic!("{name} on {board}"))
}

/// Checks one page push: high urgency, a Topic, the token, and the preview sealed to this device
/// (which opens with its key); nothing readable about the incident in the clear.
fn check_page(r: &Received, who: &Credentials, id: &IncidentId) -> Value {
    assert_eq!(r.urgency.as_deref(), Some("high"), "pages are Urgency: high");
    assert!(r.topic.as_deref().is_some_and(|t| t.len() == 32), "a Topic per incident: {:?}", r.topic);
    let text = String::from_utf8(r.plaintext.clone()).unwrap();
    assert!(!text.contains("Unit C") && !text.contains("Hollis") && !text.contains("assault"), "nothing readable: {text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((page["kind"].as_str(), page["incident"].as_str()), (Some("page"), Some(id.to_string().as_str())));
    assert_eq!(page["web_push"], 8030, "a Declarative Web Push message for Safari");
    assert_eq!(page["notification"]["title"], "Critical incident");
    assert!(page["token"].as_str().is_some_and(|t| t.len() == 43));
    use base64::Engine as _;
    let sealed = base64::engine::general_purpose::STANDARD.decode(page["sealed"].as_str().expect("a sealed preview")).unwrap();
    let opened = seal::open_for(&who.keys, &page_aad(id, &who.device), &sealed).expect("the preview opens on this device");
    assert!(String::from_utf8(opened).unwrap().contains(SECRET_NOTE));
    page
}

async fn the_whole_path(s: &mut Setup) {
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let coordinator_sub = s.subscribed(&coordinator).await;
    let supervisor = s.person("Sue Supervisor", &["supervisor"]).await;
    let staff = s.person("Sam Staff", &["staff"]).await;
    let t = team(
        s,
        &coordinator,
        &[("Ana", 1, "peer"), ("Ben", 1, "peer"), ("Cy", 1, "clinician"), ("Dee", 2, "clinician"), ("Eve", 2, "clinician"), ("Fay", 2, "peer")],
    )
    .await;
    // Cy is inside the perimeter for 25 minutes: passed over, paged when out if still needed.
    let now = now_ms();
    call(t.who("Cy"), "PUT", "/v1/oncall/me", Some(json!({"inside_until": now + 25 * MINUTE})), 200).await;

    // Only supervisors and coordinators declare; recipients are the team and the coordinators.
    let (status, _) = api_request(&staff, "GET", &format!("/v1/incidents/recipients?team={}", t.id), None).await.unwrap();
    assert_eq!(status, 403);
    let recipients = call(&supervisor, "GET", &format!("/v1/incidents/recipients?team={}", t.id), None, 200).await;
    assert_eq!(recipients["recipients"].as_array().unwrap().len(), 7, "six members and the coordinator: {recipients}");
    let bad = json!({"id": IncidentId::random().to_string(), "team": t.id, "severity": 4});
    call(&supervisor, "POST", "/v1/incidents", Some(bad), 400).await;
    let stranger = json!({"id": IncidentId::random().to_string(), "team": t.id, "severity": 1,
                          "sealed": [{"device": staff.device.to_string(), "sealed": base64_std(b"x")}]});
    call(&supervisor, "POST", "/v1/incidents", Some(stranger), 400).await;
    // A declaration may be larger than other bodies (a preview per device), up to 2 MiB.
    let blob = base64_std(&[7u8; 1_500]);
    let big: Vec<Value> = (0..40).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": blob})).collect();
    let body = json!({"id": IncidentId::random().to_string(), "team": t.id, "severity": 1, "sealed": big});
    let refused = call(&supervisor, "POST", "/v1/incidents", Some(body.clone()), 400).await;
    assert!(refused["message"].as_str().unwrap().contains("not a recipient"), "read (80 KiB), then refused for its devices: {refused}");
    // Only a device that may declare gets the larger limit: anyone else is held to 16 KiB.
    let refused = call(&staff, "POST", "/v1/incidents", Some(body), 400).await;
    assert!(refused["message"].as_str().unwrap().contains("larger than 16 KiB"), "{refused}");
    let huge: Vec<Value> = (0..1_100).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": blob})).collect();
    let body = json!({"id": IncidentId::random().to_string(), "team": t.id, "severity": 1, "sealed": huge});
    let refused = call(&supervisor, "POST", "/v1/incidents", Some(body), 400).await;
    assert!(refused["message"].as_str().unwrap().contains("larger than 2048 KiB"), "{refused}");

    // The declarer's app is connected: the board updates live.
    let mut live = Client::connect(&supervisor).await.unwrap();
    let (id, board) = declare_incident(&supervisor, &t.id, false, SECRET_NOTE).await;
    assert_eq!(paged_names(&board), ["Ana", "Ben"], "on call, reachable tier 1: {board}");
    assert!(paged_entry(&board, "Cy")["waiting_until"].is_i64(), "Cy waits: {board}");
    assert_eq!((board["short_by"].as_u64(), board["short_roles"]["clinician"].as_u64()), (Some(3), Some(1)));
    let ana_page = check_page(&wait_pages(&s.emulator, t.sub("Ana"), 1).await[0], t.who("Ana"), &id);
    check_page(&wait_pages(&s.emulator, t.sub("Ben"), 1).await[0], t.who("Ben"), &id);
    s.passes(3).await;
    for quiet in ["Cy", "Dee", "Eve", "Fay"] {
        assert!(pages(&s.emulator, t.sub(quiet)).is_empty(), "{quiet} is not paged yet");
    }
    assert!(pages(&s.emulator, &coordinator_sub).is_empty());

    // The board shows each push's outcome; staff do not see it.
    wait_until("the board shows Ana's push was sent", || async {
        let board = call(&supervisor, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
        paged_entry(&board, "Ana")["attempts"].as_array().unwrap().iter().any(|a| a["outcome"] == "sent")
    })
    .await;
    call(&staff, "GET", &format!("/v1/incidents/{id}"), None, 404).await;

    // Ana answers from the notification: the token, once.
    let token = ana_page["token"].as_str().unwrap();
    let answer = json!({"token": token, "answer": "responding", "eta_minutes": 15});
    let (status, body) = post_unsigned(s.server(), "/v1/incidents/answer", &answer).await;
    assert_eq!(status, 200, "{body}");
    // The declarer's app hears of it without asking.
    loop {
        expect_event(&mut live, |e| matches!(e, Event::IncidentChanged { incident } if *incident == id).then_some(())).await;
        let board = call(&supervisor, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
        if paged_entry(&board, "Ana")["answer"] == "responding" {
            break;
        }
    }
    let (status, body) = post_unsigned(s.server(), "/v1/incidents/answer", &answer).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("invalid_answer_token")), "a token answers once");
    let (status, _) = post_unsigned(s.server(), "/v1/incidents/answer", &json!({"token": "x", "answer": "responding"})).await;
    assert_eq!(status, 400);
    // Ben answers in the app.
    call(t.who("Ben"), "POST", &format!("/v1/incidents/{id}/answer"), Some(json!({"answer": "responding"})), 200).await;
    let board = call(&coordinator, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
    assert_eq!(paged_entry(&board, "Ana")["answer"], "responding");
    assert!(paged_entry(&board, "Ana")["eta_at"].is_i64());
    assert_eq!((board["short_by"].as_u64(), board["short_roles"]["clinician"].as_u64()), (Some(1), Some(1)), "still short of a clinician");

    // Three minutes on: nobody who answered is paged again.
    s.set_offset(3 * MINUTE + 1_000);
    s.passes(3).await;
    assert_eq!(pages(&s.emulator, t.sub("Ana")).len(), 1);
    assert_eq!(pages(&s.emulator, t.sub("Ben")).len(), 1);

    // Stop the server; at ten minutes (while it is down) the escalation is due; it fires once
    // after the restart: one clinician of tier 2, not the peer, not both clinicians.
    s.nodes[0].server.stop().await;
    s.set_offset(10 * MINUTE + 1_000);
    s.nodes[0].server.restart().await;
    let dee = wait_pages(&s.emulator, t.sub("Dee"), 1).await;
    check_page(&dee[0], t.who("Dee"), &id);
    s.passes(3).await;
    assert!(pages(&s.emulator, t.sub("Eve")).is_empty() && pages(&s.emulator, t.sub("Fay")).is_empty(), "only the gap: one clinician");
    assert_eq!(pages(&s.emulator, t.sub("Dee")).len(), 1, "once");
    let board = call(&supervisor, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
    let steps: Vec<&str> = board["steps"].as_array().unwrap().iter().map(|st| st["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["tier 1", "tier 2 (gap)"]);

    // Dee does not answer: repeated three minutes later; then says unavailable.
    s.set_offset(13 * MINUTE + 2_000);
    wait_pages(&s.emulator, t.sub("Dee"), 2).await;
    call(t.who("Dee"), "POST", &format!("/v1/incidents/{id}/answer"), Some(json!({"answer": "unavailable"})), 200).await;

    // At twenty minutes the rest of tier 2 is paged.
    s.set_offset(20 * MINUTE + 3_000);
    wait_pages(&s.emulator, t.sub("Eve"), 1).await;
    wait_pages(&s.emulator, t.sub("Fay"), 1).await;
    // At 25 minutes Cy comes out: still short of a clinician, so Cy is paged.
    s.set_offset(25 * MINUTE + 4_000);
    check_page(&wait_pages(&s.emulator, t.sub("Cy"), 1).await[0], t.who("Cy"), &id);
    // Eve responds: the quorum is met and paging stops for everyone.
    call(t.who("Eve"), "POST", &format!("/v1/incidents/{id}/answer"), Some(json!({"answer": "responding", "eta_minutes": 5})), 200).await;
    let board = call(&supervisor, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
    assert_eq!(board["short_by"], 0);
    assert!(board["quorum_at"].is_i64(), "{board}");
    let counts = |s: &Setup| ["Ana", "Ben", "Cy", "Dee", "Eve", "Fay"].map(|n| pages(&s.emulator, t.sub(n)).len());
    let before = counts(s);
    s.set_offset(90 * MINUTE);
    s.passes(5).await;
    assert_eq!(counts(s), before, "no page after the quorum");
    assert!(pages(&s.emulator, &coordinator_sub).is_empty(), "the coordinators were never needed");

    // Resolve: only the declarer or a coordinator; the routing state goes.
    call(t.who("Fay"), "POST", &format!("/v1/incidents/{id}/resolve"), None, 403).await;
    let resolved = call(&supervisor, "POST", &format!("/v1/incidents/{id}/resolve"), None, 200).await;
    assert!(resolved["resolved_at"].is_i64());
    assert!(resolved["paged"].as_array().unwrap().is_empty() && resolved.get("declared_by").is_none(), "{resolved}");
    let fay_token = pages(&s.emulator, t.sub("Fay"))[0]["token"].as_str().unwrap().to_owned();
    let (status, _) = post_unsigned(s.server(), "/v1/incidents/answer", &json!({"token": fay_token, "answer": "responding"})).await;
    assert_eq!(status, 403, "tokens die with the incident");
    call(t.who("Fay"), "POST", &format!("/v1/incidents/{id}/answer"), Some(json!({"answer": "responding"})), 409).await;
    assert!(call(&coordinator, "GET", "/v1/incidents", None, 200).await["incidents"].as_array().unwrap().is_empty());

    // Nothing readable reached the server's files or log (the push payloads were checked above).
    assert!(files_containing(s.server().data_dir(), SECRET_NOTE.as_bytes()).is_empty(), "the note in the server's files");
    assert!(!s.server().logs().contains("Hollis") && !s.server().logs().contains("Unit C"));
}

async fn post_unsigned(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(format!("{}{path}", server.url)).json(body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_declared_incident_pages_until_the_quorum_with_role_gaps_inside_members_and_a_restart() {
    let mut s = Setup::start(false, 1).await.unwrap();
    the_whole_path(&mut s).await;
}

#[tokio::test]
async fn a_declared_incident_pages_until_the_quorum_on_postgres() {
    let Some(mut s) = Setup::start(true, 1).await else { return };
    the_whole_path(&mut s).await;
}

/// A page whose push was in flight when the server was killed is sent again after the restart.
#[tokio::test]
async fn a_page_a_crash_interrupted_is_sent_after_the_restart() {
    let mut s = Setup::start(false, 1).await.unwrap();
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let t = team(&s, &coordinator, &[("Ana", 1, "peer")]).await;
    // The push service takes its time: the page is still in flight when the server dies.
    s.emulator.answer_after(std::time::Duration::from_secs(30));
    let (id, _) = declare_incident(&coordinator, &t.id, false, SECRET_NOTE).await;
    // The page, and the readiness check Ana got when she joined the team.
    wait_until("the page reaches the push service", || async { s.emulator.arrivals() >= 2 }).await;
    s.nodes[0].server.kill();
    s.emulator.answer_after(std::time::Duration::ZERO);
    // Past the dead node's claim on the page, the restarted node sends it again.
    s.set_offset(2 * MINUTE);
    s.nodes[0].server.restart().await;
    let received = wait_pages(&s.emulator, t.sub("Ana"), 1).await;
    check_page(&received[0], t.who("Ana"), &id);
    wait_until("the board records the page as sent", || async {
        let board = call(&coordinator, "GET", &format!("/v1/incidents/{id}"), None, 200).await;
        paged_entry(&board, "Ana")["attempts"].as_array().unwrap().iter().any(|a| a["outcome"] == "sent")
    })
    .await;
}

/// Two nodes on one PostgreSQL: each escalation and each repeat is paged once, and a member
/// connected to the other node hears of every change.
#[tokio::test]
async fn two_nodes_never_page_twice() {
    let Some(s) = Setup::start(true, 2).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let t = team(&s, &coordinator, &[("Ana", 1, "peer"), ("Dee", 2, "clinician"), ("Eve", 2, "clinician")]).await;
    let other = &s.nodes[1].server;
    let watcher = sallyport_core::enrol(&other.url, &other.invite("Wes", &["staff"])).await.unwrap();
    call(&coordinator, "PUT", &format!("/v1/teams/{}/members/{}", t.id, watcher.account), Some(json!({"tier": 3, "role": "chaplain"})), 201).await;
    let mut live = Client::connect(&watcher).await.unwrap();
    let (id, _) = declare_incident(&coordinator, &t.id, false, SECRET_NOTE).await;
    expect_event(&mut live, |e| matches!(e, Event::IncidentChanged { incident } if *incident == id).then_some(())).await;
    wait_pages(&s.emulator, t.sub("Ana"), 1).await;
    call(t.who("Ana"), "POST", &format!("/v1/incidents/{id}/answer"), Some(json!({"answer": "responding"})), 200).await;
    s.set_offset(10 * MINUTE + 1_000);
    wait_pages(&s.emulator, t.sub("Dee"), 1).await;
    wait_pages(&s.emulator, t.sub("Eve"), 1).await;
    s.passes(5).await;
    assert_eq!((pages(&s.emulator, t.sub("Dee")).len(), pages(&s.emulator, t.sub("Eve")).len()), (1, 1), "one page each");
    s.set_offset(13 * MINUTE + 2_000);
    wait_pages(&s.emulator, t.sub("Dee"), 2).await;
    s.passes(5).await;
    assert_eq!((pages(&s.emulator, t.sub("Dee")).len(), pages(&s.emulator, t.sub("Eve")).len()), (2, 2), "one repeat each");
    assert_eq!(pages(&s.emulator, t.sub("Ana")).len(), 1, "Ana answered");
}
