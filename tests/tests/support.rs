//! Peer support requests end to end (issue 5): real `sallyport` processes, native clients, the
//! push-service emulator. Twenty supporters race for one request and exactly one wins; escalation
//! fires at the configured times on a driven clock, once, also across restarts; only supporters on
//! call, trained and available are offered a new request; and neither the database nor the log
//! links a request or its unlinked mailbox to the device or account that made it. A supporter
//! hands a request off to another trained supporter or an EAP clinician, who may then close it
//! while the first supporter no longer may.

use sallyport_core::protocol::{ErrorCode, MailboxId, MailboxSecret, Payload};
use sallyport_core::{Client, Credentials, Event, MemberInfo, MlsClient, MlsIdentity, api_request};
use sallyport_e2e::push_emulator::{PushEmulator, Subscription};
use sallyport_e2e::*;
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const NOW_DELAY: i64 = 5 * MINUTE;

struct Setup {
    server: TestServer,
    server_database: Option<String>,
    emulator: PushEmulator,
    clock: DrivenClock,
}

impl Setup {
    /// A server with the emulator's endpoints allowed, a driven support clock and a fast scheduler.
    async fn start(postgres: bool) -> Option<Setup> {
        let database_url = if postgres { Some(postgres_database().await?) } else { None };
        let clock = DrivenClock::new();
        let server = TestServer::start_with(ServerOptions { database_url: database_url.clone(), extra_args: Self::args(&clock) }).await;
        let emulator = emulator_for(&server).await;
        Some(Setup { server, server_database: database_url, emulator, clock })
    }

    fn args(clock: &DrivenClock) -> Vec<String> {
        let mut args = clock.server_args();
        args.extend(["--escalate-now-after".into(), "5m".into()]);
        args
    }

    fn set_offset(&self, ms: i64) {
        self.clock.set_offset(ms);
    }

    async fn person(&self, name: &str, roles: &[&str]) -> Credentials {
        let link = self.server.invite(name, roles);
        sallyport_core::enrol(&self.server.url, &link).await.expect("enrolment")
    }

    /// A device with one push subscription at the emulator.
    async fn subscribed(&self, creds: &Credentials) -> Subscription {
        let sub = self.emulator.subscribe();
        call(creds, "POST", "/v1/push/subscriptions", Some(sub.json()), 204).await;
        sub
    }

    /// Waits until the escalation scheduler has completed `n` more passes.
    async fn scheduler_passes(&self, n: u64) {
        scheduler_passes(&self.server, n).await;
    }
}

/// Waits until a node's escalation scheduler has completed `n` more passes.
async fn scheduler_passes(server: &TestServer, n: u64) {
    let name = "sallyport_support_scheduler_runs_total";
    let start = metric(server, name).await;
    wait_for_metric(server, name, |runs| runs >= start + n).await;
}

/// `POST /v1/support/requests/status` as the requester, proving only the secret: `(status, body)`.
async fn status_of(server: &TestServer, id: &str, secret: &MailboxSecret) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/support/requests/status", server.url))
        .json(&json!({"id": id, "mailbox_secret": secret}))
        .send()
        .await
        .expect("request");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// `{"id": id}`, the body that names a request.
fn request_ref(id: &str) -> Option<Value> {
    Some(json!({"id": id}))
}

/// A plain HTTP request with the mailbox secret header: `(status, body)`.
async fn with_secret(server: &TestServer, method: &str, path: &str, secret: &MailboxSecret, body: Option<Value>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), format!("{}{path}", server.url))
        .header("Sallyport-Mailbox-Secret", secret.to_text());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// Puts `supporter` on the roster with all five trainings current (or none).
async fn add_to_roster(coordinator: &Credentials, supporter: &Credentials, trained: bool) {
    let account = supporter.account.to_text();
    let (status, text) = api_request(coordinator, "PUT", &format!("/v1/support/roster/{account}"), None).await.unwrap();
    assert!(status == 201 || status == 200, "adding to the roster: {status} {text}");
    if trained {
        for kind in ["active_listening", "crisis_intervention", "confidentiality_ethics", "trauma_informed_care", "de_escalation"] {
            let body = json!({"completed_at": date(now_ms() - 30 * 86_400_000), "expires_at": date(now_ms() + 365 * 86_400_000)});
            call(coordinator, "PUT", &format!("/v1/support/roster/{account}/training/{kind}"), Some(body), 200).await;
        }
    }
}

/// A daily rotation of one member that started yesterday: they are on call around the clock.
async fn always_on_call(coordinator: &Credentials, supporter: &Credentials) {
    let body = json!({
        "name": format!("rota {}", supporter.display_name),
        "members": [supporter.account],
        "handoff": "00:00",
        "time_zone": "UTC",
        "period_days": 1,
        "start_date": date(now_ms() - 2 * 86_400_000),
    });
    call(coordinator, "POST", "/v1/support/rotations", Some(body), 201).await;
}

/// What a requester's device keeps: the unlinked mailbox, its secret, the pseudonymous MLS client.
struct Reach {
    id: String,
    mailbox: MailboxId,
    secret: MailboxSecret,
    mls: MlsClient,
}

async fn reach_out(creds: &Credentials, urgency: &str) -> Reach {
    let SupportRequest { body, mailbox, secret, mls } = SupportRequest::new(urgency);
    let answer = call(creds, "POST", "/v1/support/requests", Some(body), 200).await;
    Reach { id: answer["id"].as_str().expect("an id").to_owned(), mailbox, secret, mls }
}

/// `POST /v1/support/mailboxes/push`'s body: the unlinked mailbox and a subscription for it.
fn mailbox_push(reach: &Reach, sub: &Subscription) -> Value {
    let mut body = sub.json();
    body["mailbox"] = json!(reach.mailbox);
    body
}

fn payloads(emulator: &PushEmulator, sub: &Subscription) -> Vec<Value> {
    emulator.received_for(&sub.token).iter().map(|r| serde_json::from_slice(&r.plaintext).expect("JSON")).collect()
}

// ---------------------------------------------------------------------------------------------

async fn twenty_supporters_race_and_exactly_one_wins(postgres: bool) {
    let Some(s) = Setup::start(postgres).await else { return };
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let mut supporters = Vec::new();
    for i in 0..20 {
        let c = s.person(&format!("Supporter {i}"), &["staff", "peer_supporter"]).await;
        add_to_roster(&coordinator, &c, true).await;
        supporters.push(c);
    }
    let requester = s.person("Officer", &["staff"]).await;
    let mut reach = reach_out(&requester, "now").await;

    let queue = call(&supporters[0], "GET", "/v1/support/queue", None, 200).await;
    assert_eq!(queue["requests"].as_array().unwrap().len(), 1);
    assert_eq!(queue["requests"][0]["id"], reach.id.as_str());
    assert_eq!(queue["requests"][0]["urgency"], "now");

    let body = json!({"id": reach.id});
    let answers =
        futures::future::join_all(supporters.iter().map(|c| api_request(c, "POST", "/v1/support/requests/claim", Some(&body)))).await;
    let mut winners = Vec::new();
    let mut taken = 0;
    for (i, answer) in answers.into_iter().enumerate() {
        let (status, text) = answer.expect("request");
        match status {
            200 => winners.push((i, text)),
            409 => {
                assert_eq!(text["code"], "already_claimed", "{text}");
                taken += 1;
            }
            other => panic!("unexpected answer {other}: {text}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one supporter wins");
    assert_eq!(taken, 19, "everyone else is told it is taken");
    let (winner, claimed) = &winners[0];
    assert_eq!(claimed["mailbox"], json!(reach.mailbox));
    let queue = call(&supporters[0], "GET", "/v1/support/queue", None, 200).await;
    assert!(queue["requests"].as_array().unwrap().is_empty(), "a claimed request leaves the queue");

    // The requester sees it accepted, proving only the mailbox secret.
    let (status, text) = status_of(&s.server, &reach.id, &reach.secret).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "accepted");
    let (status, _) = status_of(&s.server, &reach.id, &MailboxSecret::random()).await;
    assert_eq!(status, 403, "a wrong secret opens nothing");

    // The winner claims the pseudonymous KeyPackage, makes the group and sends the Welcome; the
    // requester, reading the unlinked mailbox, joins the conversation.
    let supporter = &supporters[*winner];
    let mut supporter_mls = MlsClient::new(
        sallyport_core::MlsIdentity::device(&supporter.keys),
        MemberInfo::new(supporter.mailbox),
        vec![],
    )
    .unwrap();
    let mut supporter_client = Client::connect(supporter).await.expect("connect");
    let (key_package, _last_resort) = supporter_client.claim_key_package(reach.mailbox).await.expect("claim the KeyPackage");
    let group = supporter_mls.create_group().unwrap();
    let add = supporter_mls.add_claimed_members(&group, &[(reach.mailbox, key_package.0.to_vec())]).unwrap();
    let id = supporter_client.group_send(add.to.clone(), add.members.clone(), Payload(add.envelope.clone().into())).await.expect("send");
    loop {
        match next_event(&mut supporter_client).await.expect("event") {
            Event::Accepted { id: got, .. } if got == id => break,
            Event::Error { id: Some(got), code, .. } if got == id => panic!("commit refused: {code}"),
            _ => {}
        }
    }
    supporter_mls.commit_accepted(&group).unwrap();
    let hello = supporter_mls.encrypt(&group, b"Hi, I'm here. Take your time.").unwrap();
    supporter_client.group_send(hello.to.clone(), hello.members.clone(), Payload(hello.envelope.clone().into())).await.expect("send");

    let mut requester_client = Client::connect(&requester).await.expect("connect");
    requester_client.subscribe(reach.mailbox, reach.secret).await.expect("subscribe with the secret");
    let mut texts = Vec::new();
    while texts.is_empty() {
        let event = next_event(&mut requester_client).await.expect("event");
        if let Event::Message { mailbox, seq, payload, .. } = event {
            assert_eq!(mailbox, reach.mailbox);
            for e in reach.mls.process(&payload.0).expect("process") {
                if let sallyport_core::MlsEvent::Message { plaintext, .. } = e {
                    texts.push(String::from_utf8(plaintext).unwrap());
                }
            }
            requester_client.ack(mailbox, seq).await.unwrap();
        }
    }
    assert_eq!(texts, ["Hi, I'm here. Take your time."]);

    // Only the supporter who accepted (or a coordinator) may close it; then it is gone.
    let close = "/v1/support/requests/close";
    let other = &supporters[(*winner + 1) % 20];
    call(other, "POST", close, request_ref(&reach.id), 403).await;
    call(supporter, "POST", close, request_ref(&reach.id), 204).await;
    let (status, _) = status_of(&s.server, &reach.id, &reach.secret).await;
    assert_eq!(status, 404, "a closed request is forgotten");
    let id = supporter_client.send(vec![reach.mailbox], Payload(b"x".to_vec().into())).await.expect("send");
    loop {
        match next_event(&mut supporter_client).await.expect("event") {
            Event::Error { id: Some(got), code, .. } if got == id => {
                assert_eq!(code, ErrorCode::UnknownMailbox, "the unlinked mailbox is deleted with the request");
                break;
            }
            Event::Accepted { id: got, .. } if got == id => panic!("the closed mailbox still takes messages"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_supporters_race_and_exactly_one_wins_sqlite() {
    twenty_supporters_race_and_exactly_one_wins(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_supporters_race_and_exactly_one_wins_postgres() {
    twenty_supporters_race_and_exactly_one_wins(true).await;
}

// ---------------------------------------------------------------------------------------------

async fn escalation_fires_at_the_configured_times_once_across_restarts(postgres: bool) {
    let Some(mut s) = Setup::start(postgres).await else { return };
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let on_call = s.person("On call", &["staff", "peer_supporter"]).await;
    let off_call = s.person("Off call", &["staff", "peer_supporter"]).await;
    let untrained = s.person("Untrained", &["staff", "peer_supporter"]).await;
    add_to_roster(&coordinator, &on_call, true).await;
    add_to_roster(&coordinator, &off_call, true).await;
    add_to_roster(&coordinator, &untrained, false).await;
    always_on_call(&coordinator, &on_call).await;
    let (c_sub, on_sub, off_sub, un_sub) = (
        s.subscribed(&coordinator).await,
        s.subscribed(&on_call).await,
        s.subscribed(&off_call).await,
        s.subscribed(&untrained).await,
    );
    let requester = s.person("Officer", &["staff"]).await;
    let requester_sub = s.subscribed(&requester).await;
    let counts = |s: &Setup| {
        [&c_sub, &on_sub, &off_sub, &un_sub, &requester_sub].map(|sub| s.emulator.received_for(&sub.token).len())
    };

    let _reach = reach_out(&requester, "now").await;
    s.emulator.wait_for(&on_sub.token, 1).await;
    s.scheduler_passes(3).await;
    assert_eq!(counts(&s), [0, 1, 0, 0, 0], "level 0: the supporter on call only");
    assert_eq!(payloads(&s.emulator, &on_sub)[0], json!({"v":1,"kind":"support_request","urgency":"now"}));

    // Just before the delay: nothing yet.
    s.set_offset(NOW_DELAY - 2_000);
    s.scheduler_passes(3).await;
    assert_eq!(counts(&s), [0, 1, 0, 0, 0], "no escalation before the configured delay");

    // After it (due times are rounded up to the minute): level 1, every trained supporter, once.
    s.set_offset(NOW_DELAY + MINUTE + 1_000);
    s.emulator.wait_for(&off_sub.token, 1).await;
    s.emulator.wait_for(&on_sub.token, 2).await;
    s.scheduler_passes(3).await;
    assert_eq!(counts(&s), [0, 2, 1, 0, 0], "level 1: every peer supporter with current training, once");
    let queue = call(&coordinator, "GET", "/v1/support/queue", None, 200).await;
    assert_eq!(queue["requests"][0]["level"], 1);

    // Down while level 2 falls due: it fires once on the next start, to the coordinators.
    s.server.stop().await;
    s.set_offset(2 * NOW_DELAY + 2 * MINUTE + 1_000);
    s.server.restart().await;
    s.emulator.wait_for(&c_sub.token, 1).await;
    s.scheduler_passes(3).await;
    assert_eq!(counts(&s), [1, 2, 1, 0, 0], "level 2: the coordinators, once");
    assert_eq!(payloads(&s.emulator, &c_sub)[0], json!({"v":1,"kind":"support_request","urgency":"now"}));

    // Nothing fires again, whatever the clock says and however often the server restarts.
    s.server.stop().await;
    s.set_offset(10 * NOW_DELAY);
    s.server.restart().await;
    s.scheduler_passes(5).await;
    assert_eq!(counts(&s), [1, 2, 1, 0, 0], "each level fired once");
    let queue = call(&coordinator, "GET", "/v1/support/queue", None, 200).await;
    assert_eq!(queue["requests"][0]["level"], 2);
    assert!(s.emulator.rejections().is_empty(), "{:?}", s.emulator.rejections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_fires_at_the_configured_times_once_across_restarts_sqlite() {
    escalation_fires_at_the_configured_times_once_across_restarts(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_fires_at_the_configured_times_once_across_restarts_postgres() {
    escalation_fires_at_the_configured_times_once_across_restarts(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_fire_each_escalation_once() {
    let Some(s) = Setup::start(true).await else { return };
    let db = s.server_database.clone().expect("PostgreSQL");
    let node2 = TestServer::start_with(ServerOptions { database_url: Some(db), extra_args: Setup::args(&s.clock) }).await;
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let supporter = s.person("Supporter", &["staff", "peer_supporter"]).await;
    add_to_roster(&coordinator, &supporter, true).await;
    let (c_sub, s_sub) = (s.subscribed(&coordinator).await, s.subscribed(&supporter).await);
    let requester = s.person("Officer", &["staff"]).await;
    for _ in 0..3 {
        reach_out(&requester, "now").await;
    }
    s.set_offset(NOW_DELAY + MINUTE + 1_000);
    s.emulator.wait_for(&s_sub.token, 3).await;
    s.set_offset(2 * NOW_DELAY + 2 * MINUTE + 1_000);
    s.emulator.wait_for(&c_sub.token, 3).await;
    s.set_offset(10 * NOW_DELAY);
    for node in [&s.server, &node2] {
        scheduler_passes(node, 3).await;
    }
    assert_eq!(s.emulator.received_for(&s_sub.token).len(), 3, "level 1 once per request, whichever node fired it");
    assert_eq!(s.emulator.received_for(&c_sub.token).len(), 3, "level 2 once per request, whichever node fired it");
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trained_available_supporters_on_call_are_offered_a_new_request() {
    let Some(s) = Setup::start(false).await else { return };
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let names = ["available", "busy", "off", "not on call", "untrained"];
    let mut people = Vec::new();
    for name in names {
        let c = s.person(name, &["staff", "peer_supporter"]).await;
        add_to_roster(&coordinator, &c, name != "untrained").await;
        if name != "not on call" && name != "untrained" {
            always_on_call(&coordinator, &c).await;
        }
        people.push(c);
    }
    call(&people[1], "PUT", "/v1/support/switch", Some(json!({"switch": "busy"})), 200).await;
    call(&people[2], "PUT", "/v1/support/switch", Some(json!({"switch": "off"})), 200).await;
    let mut subs = Vec::new();
    for c in &people {
        subs.push(s.subscribed(c).await);
    }
    let coordinator_sub = s.subscribed(&coordinator).await;
    let requester = s.person("Officer", &["staff"]).await;

    reach_out(&requester, "today").await;
    reach_out(&requester, "now").await;
    let got = s.emulator.wait_for(&subs[0].token, 2).await;
    s.scheduler_passes(3).await;
    assert_eq!(got.len(), 2, "the available supporter on call gets each request");
    let mut urgencies: Vec<String> = payloads(&s.emulator, &subs[0]).iter().map(|p| p["urgency"].as_str().unwrap().to_owned()).collect();
    urgencies.sort();
    assert_eq!(urgencies, ["now", "today"]);
    for (name, sub) in names.iter().zip(&subs).skip(1) {
        assert!(s.emulator.received_for(&sub.token).is_empty(), "{name} must not be offered the request");
    }
    assert!(s.emulator.received_for(&coordinator_sub.token).is_empty(), "coordinators only at level 2");
    let on_call = call(&coordinator, "GET", "/v1/support/oncall", None, 200).await;
    assert!(on_call.to_string().contains(&people[0].account.to_text()), "{on_call}");

    // Claiming needs current training.
    let queue = call(&people[0], "GET", "/v1/support/queue", None, 200).await;
    let id = queue["requests"][0]["id"].as_str().unwrap().to_owned();
    let refused = call(&people[4], "POST", "/v1/support/requests/claim", request_ref(&id), 403).await;
    assert_eq!(refused["code"], "training_not_current");
    let refused = call(&requester, "POST", "/v1/support/requests/claim", request_ref(&id), 403).await;
    assert_eq!(refused["code"], "forbidden");
}

/// Under a moved clock (`--clock-offset-file`), the on-call list a coordinator sees and the
/// supporters a new request is pushed to are the same people: one clock for both. (The on-call
/// routes used to read the wall clock while routing read the offset one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_on_call_list_and_who_is_pushed_follow_the_same_clock() {
    let Some(s) = Setup::start(false).await else { return };
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let (ana, ben) = (s.person("Ana", &["staff", "peer_supporter"]).await, s.person("Ben", &["staff", "peer_supporter"]).await);
    for c in [&ana, &ben] {
        add_to_roster(&coordinator, c, true).await;
    }
    // A daily rotation that began two days ago at 00:00 UTC: Ana holds even days from the start,
    // Ben odd ones; which of them holds "today" depends on the clock.
    let start = now_ms() - 2 * 86_400_000;
    let body = json!({
        "name": "Daily", "members": [ana.account, ben.account], "handoff": "00:00", "time_zone": "UTC",
        "period_days": 1, "start_date": date(start),
    });
    call(&coordinator, "POST", "/v1/support/rotations", Some(body), 201).await;
    let (ana_sub, ben_sub) = (s.subscribed(&ana).await, s.subscribed(&ben).await);
    let requester = s.person("Officer", &["staff"]).await;
    let on_call = |answer: Value| answer["on_call"].as_array().unwrap().iter().map(|p| p["account"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

    // Today (by the wall clock) is day 2 of the rotation: Ana's. Move the server a day ahead: Ben's.
    s.set_offset(86_400_000);
    assert_eq!(on_call(call(&coordinator, "GET", "/v1/support/oncall", None, 200).await), vec![ben.account.to_text()]);
    reach_out(&requester, "week").await;
    s.emulator.wait_for(&ben_sub.token, 1).await;
    s.scheduler_passes(3).await;
    assert!(s.emulator.received_for(&ana_sub.token).is_empty(), "the request goes to whoever the team sees on call");
    let shifts = call(&ben, "GET", "/v1/support/shifts/me?limit=1", None, 200).await;
    let first = shifts["shifts"][0]["start"].as_i64().unwrap();
    assert!(first <= now_ms() + 86_400_000 && now_ms() + 86_400_000 < shifts["shifts"][0]["end"].as_i64().unwrap(), "{shifts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_closes_with_the_secret_and_reach_outs_are_rate_limited_in_memory() {
    let Some(mut s) = Setup::start(false).await else { return };
    let requester = s.person("Officer", &["staff"]).await;
    let mut reaches = Vec::new();
    for _ in 0..5 {
        reaches.push(reach_out(&requester, "week").await);
    }
    let mailbox = MailboxId::random();
    let body = json!({"urgency": "now", "mailbox": mailbox, "mailbox_secret": MailboxSecret::random(), "key_package": "AAAA"});
    let refused = call(&requester, "POST", "/v1/support/requests", Some(body), 400).await;
    assert_eq!(refused["code"], "bad_request", "not a KeyPackage");
    let mut mls = MlsClient::new(MlsIdentity::generate(), MemberInfo::new(mailbox), vec![]).unwrap();
    use base64::Engine as _;
    let kp = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mls.last_resort_key_package().unwrap());
    let body = json!({"urgency": "now", "mailbox": mailbox, "mailbox_secret": MailboxSecret::random(), "key_package": kp});
    let refused = call(&requester, "POST", "/v1/support/requests", Some(body.clone()), 429).await;
    assert_eq!(refused["code"], "rate_limited", "the sixth in an hour");
    // A KeyPackage made with the device's own key would name the device: refused.
    let other = s.person("Other officer", &["staff"]).await;
    let mut linked = MlsClient::new(MlsIdentity::device(&other.keys), MemberInfo::new(mailbox), vec![]).unwrap();
    let own = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(linked.last_resort_key_package().unwrap());
    let with_own = json!({"urgency": "now", "mailbox": mailbox, "mailbox_secret": MailboxSecret::random(), "key_package": own});
    call(&other, "POST", "/v1/support/requests", Some(with_own), 400).await;

    // The requester closes with the secret alone; a wrong secret closes nothing.
    let close = "/v1/support/requests/close";
    let (status, _) = with_secret(&s.server, "POST", close, &MailboxSecret::random(), request_ref(&reaches[0].id)).await;
    assert_eq!(status, 403);
    let (status, text) = with_secret(&s.server, "POST", close, &reaches[0].secret, None).await;
    assert_eq!((status, serde_json::from_str::<Value>(&text).unwrap()["code"].clone()), (400, json!("bad_request")), "which request: {text}");
    let (status, text) = with_secret(&s.server, "POST", close, &reaches[0].secret, request_ref(&reaches[0].id)).await;
    assert_eq!(status, 204, "{text}");
    let (status, _) = status_of(&s.server, &reaches[0].id, &reaches[0].secret).await;
    assert_eq!(status, 404);
    let (status, text) = status_of(&s.server, &reaches[1].id, &reaches[1].secret).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["status"], "waiting");

    // The limit lives in memory only: after a restart the device may reach out again.
    s.server.stop().await;
    s.server.restart().await;
    call(&requester, "POST", "/v1/support/requests", Some(body), 200).await;
}

// ---------------------------------------------------------------------------------------------

async fn a_hand_off_moves_who_may_close_a_request(postgres: bool) {
    let Some(s) = Setup::start(postgres).await else { return };
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let pat = s.person("Pat", &["staff", "peer_supporter"]).await;
    let sam = s.person("Sam", &["staff", "peer_supporter"]).await;
    let lapsed = s.person("Lee", &["staff", "peer_supporter"]).await;
    let clinician = s.person("Dr Ray", &["clinician"]).await;
    let officer = s.person("Officer", &["staff"]).await;
    add_to_roster(&coordinator, &pat, true).await;
    add_to_roster(&coordinator, &sam, true).await;
    add_to_roster(&coordinator, &lapsed, false).await;
    let requester = s.person("Requester", &["staff"]).await;
    let reach = reach_out(&requester, "now").await;
    let (handoff, close) = ("/v1/support/requests/handoff", "/v1/support/requests/close");
    let to = |c: &Credentials| Some(json!({"id": reach.id, "to": c.account}));

    // Nobody holds it yet: a coordinator is told so, a supporter may not.
    let refused = call(&coordinator, "POST", handoff, to(&sam), 409).await;
    assert_eq!(refused["code"], "not_claimed", "{refused}");
    assert_eq!(call(&pat, "POST", handoff, to(&sam), 403).await["code"], "forbidden");
    call(&pat, "POST", "/v1/support/requests/claim", request_ref(&reach.id), 200).await;

    // Only the holder (or a coordinator) hands off, and only to someone who may take it.
    assert_eq!(call(&sam, "POST", handoff, to(&sam), 403).await["code"], "forbidden", "Sam does not hold it");
    assert_eq!(call(&officer, "POST", handoff, to(&officer), 403).await["code"], "forbidden");
    let refused = call(&pat, "POST", handoff, to(&officer), 422).await;
    assert_eq!(refused["code"], "not_on_roster", "a staff-only account: {refused}");
    let refused = call(&pat, "POST", handoff, to(&lapsed), 422).await;
    assert_eq!(refused["code"], "training_not_current", "{refused}");
    let nobody = json!({"id": reach.id, "to": sallyport_core::protocol::AccountId::random()});
    assert_eq!(call(&pat, "POST", handoff, Some(nobody), 404).await["code"], "not_found");
    assert_eq!(call(&pat, "POST", handoff, Some(json!({"id": reach.id, "to": "someone"})), 400).await["code"], "bad_request");

    let answer = call(&pat, "POST", handoff, to(&sam), 200).await;
    assert_eq!(answer, json!({"claimed_by": sam.account}));
    // Pat has left: no second hand-off, no close.
    assert_eq!(call(&pat, "POST", handoff, to(&pat), 403).await["code"], "forbidden");
    assert_eq!(call(&pat, "POST", close, request_ref(&reach.id), 403).await["code"], "forbidden");
    let (status, text) = status_of(&s.server, &reach.id, &reach.secret).await;
    assert_eq!((status, serde_json::from_str::<Value>(&text).unwrap()["status"].clone()), (200, json!("accepted")));
    call(&sam, "POST", close, request_ref(&reach.id), 204).await;
    let (status, _) = status_of(&s.server, &reach.id, &reach.secret).await;
    assert_eq!(status, 404, "closed and forgotten");
    call(&sam, "POST", handoff, to(&pat), 404).await;

    // A coordinator may hand someone else's request to an EAP clinician, who closes it.
    let second = reach_out(&requester, "today").await;
    call(&pat, "POST", "/v1/support/requests/claim", request_ref(&second.id), 200).await;
    let to_clinician = Some(json!({"id": second.id, "to": clinician.account}));
    assert_eq!(call(&coordinator, "POST", handoff, to_clinician, 200).await, json!({"claimed_by": clinician.account}));
    assert_eq!(call(&pat, "POST", close, request_ref(&second.id), 403).await["code"], "forbidden");
    call(&clinician, "POST", close, request_ref(&second.id), 204).await;

    // The log says that it happened, and nothing about whom or which request.
    let logs = s.server.logs();
    assert_eq!(logs.matches("a support request was handed off").count(), 2, "{logs}");
    for line in logs.lines().filter(|l| l.contains("handed off")) {
        let lower = line.to_lowercase();
        for needle in [reach.id.to_lowercase(), second.id.to_lowercase(), pat.account.to_text().to_lowercase(), sam.account.to_text().to_lowercase()] {
            assert!(!lower.contains(&needle), "the hand-off log line names a request or a person: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_moves_who_may_close_a_request_sqlite() {
    a_hand_off_moves_who_may_close_a_request(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_moves_who_may_close_a_request_postgres() {
    a_hand_off_moves_who_may_close_a_request(true).await;
}

/// Every row of every table, each as one lower-case string (SQLite: hex of every value).
async fn sqlite_rows(path: &std::path::Path) -> Vec<(String, String)> {
    use sqlx::{Connection as _, Row as _};
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await.expect("open the database");
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
        let select = columns.iter().map(|c| format!("hex(\"{c}\")")).collect::<Vec<_>>().join(" || '|' || ");
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {select} FROM \"{table}\"")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.extend(values.into_iter().map(|v| (table.clone(), v.to_lowercase())));
    }
    rows
}

/// Every row of every table as JSON text, lower-cased (bytea appears as `\x…` hex).
async fn postgres_rows(url: &str) -> Vec<(String, String)> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT row_to_json(t)::text FROM \"{table}\" t")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        rows.extend(values.into_iter().map(|v| (table.clone(), v.to_lowercase())));
    }
    rows
}

/// Texts of one id or key as it could appear in a dump or a log: raw hex, base64url text.
fn forms(bytes: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    vec![hex(bytes), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)]
}

async fn nothing_links_a_request_to_its_requester(postgres: bool) {
    let Some(s) = Setup::start(postgres).await else { return };
    let database_url = s.server_database.clone();

    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let supporter = s.person("Supporter", &["staff", "peer_supporter"]).await;
    add_to_roster(&coordinator, &supporter, true).await;
    always_on_call(&coordinator, &supporter).await;
    s.subscribed(&supporter).await;

    // Three officers, each with a push subscription of their own, reach out twice; each request's
    // unlinked mailbox gets its own subscription (a second service-worker registration).
    let mut requesters = Vec::new();
    let mut reaches = Vec::new();
    for i in 0..3 {
        let officer = s.person(&format!("Officer {i}"), &["staff"]).await;
        let device_sub = s.subscribed(&officer).await;
        for urgency in ["now", "week"] {
            let reach = reach_out(&officer, urgency).await;
            let mailbox_sub = s.emulator.subscribe();
            let path = "/v1/support/mailboxes/push";
            let (status, text) = with_secret(&s.server, "POST", path, &reach.secret, Some(mailbox_push(&reach, &mailbox_sub))).await;
            assert_eq!(status, 204, "{text}");
            // The device's own endpoint is refused for an unlinked mailbox: it would link them.
            let (status, _) = with_secret(&s.server, "POST", path, &reach.secret, Some(mailbox_push(&reach, &device_sub))).await;
            assert_eq!(status, 409);
            reaches.push((reach, mailbox_sub, device_sub.clone()));
        }
        requesters.push((officer, device_sub));
    }

    // The supporter accepts the first request and writes while the officer is offline: the
    // wake-up goes to the unlinked mailbox's subscription, not the officer's device.
    let claimed = call(&supporter, "POST", "/v1/support/requests/claim", request_ref(&reaches[0].0.id), 200).await;
    assert_eq!(claimed["mailbox"], json!(reaches[0].0.mailbox));
    let mut client = Client::connect(&supporter).await.unwrap();
    let id = client.send(vec![reaches[0].0.mailbox], Payload(b"opaque".to_vec().into())).await.unwrap();
    loop {
        if let Event::Accepted { id: got, .. } = next_event(&mut client).await.unwrap()
            && got == id
        {
            break;
        }
    }
    let woken = s.emulator.wait_for(&reaches[0].1.token, 1).await;
    assert_eq!(serde_json::from_slice::<Value>(&woken[0].plaintext).unwrap()["kind"], "message");
    // One officer also reads their unlinked mailbox over their own authenticated connection.
    let mut officer_client = Client::connect(&requesters[1].0).await.unwrap();
    officer_client.subscribe(reaches[2].0.mailbox, reaches[2].0.secret).await.unwrap();
    let (code, _) = status_of(&s.server, &reaches[2].0.id, &reaches[2].0.secret).await;
    assert_eq!(code, 200);
    for (_, device_sub) in &requesters {
        assert!(
            s.emulator.received_for(&device_sub.token).is_empty(),
            "no push about a support request reaches the requester's device subscription"
        );
    }
    drop(officer_client);
    drop(client);

    // What identifies each officer, and what identifies their requests.
    let mut identity: Vec<String> = Vec::new();
    for (officer, device_sub) in &requesters {
        for bytes in [
            officer.device.as_bytes().as_slice(),
            officer.account.as_bytes(),
            officer.keys.signing_public().as_bytes(),
            officer.keys.notification_public().as_bytes(),
            officer.mailbox.as_bytes(),
            device_sub.endpoint.as_bytes(),
        ] {
            identity.extend(forms(bytes).into_iter().map(|f| f.to_lowercase()));
        }
        identity.push(device_sub.endpoint.to_lowercase());
    }
    let mut request_keys: Vec<String> = Vec::new();
    for (reach, _, _) in &reaches {
        let id = sallyport_core::protocol::RequestId::parse(&reach.id).unwrap();
        for bytes in [id.as_bytes().as_slice(), reach.mailbox.as_bytes()] {
            request_keys.extend(forms(bytes).into_iter().map(|f| f.to_lowercase()));
        }
    }

    let rows = match &database_url {
        Some(url) => postgres_rows(url).await,
        None => sqlite_rows(&s.server.data_dir().join("data").join("sallyport.db")).await,
    };
    assert!(rows.iter().any(|(t, _)| t == "support_requests"), "the dump sees the requests");
    let mut linked_rows = 0;
    for (table, row) in &rows {
        if request_keys.iter().any(|k| row.contains(k.as_str())) {
            linked_rows += 1;
            for needle in &identity {
                assert!(!row.contains(needle.as_str()), "a {table} row about a request also names its requester: {row}");
            }
        }
    }
    assert!(linked_rows >= 5, "requests, mailboxes, timers and subscriptions were all searched");
    // A request's KeyPackage is kept in its own row: `key_packages` ids are a global insertion
    // order, which would place it right after the KeyPackages the requester's device published.
    let request_mailboxes: Vec<String> =
        reaches.iter().flat_map(|(reach, _, _)| forms(reach.mailbox.as_bytes())).map(|f| f.to_lowercase()).collect();
    for (table, row) in rows.iter().filter(|(table, _)| table == "key_packages") {
        assert!(!request_mailboxes.iter().any(|m| row.contains(m.as_str())), "a request's KeyPackage in {table}: {row}");
    }

    let logs = s.server.logs();
    assert!(logs.contains("a support request was created"));
    for line in logs.lines() {
        assert!(!has_ipv4(line), "an IP address in the log: {line}");
        let lower = line.to_lowercase();
        if request_keys.iter().any(|k| lower.contains(k.as_str())) {
            for needle in &identity {
                assert!(!lower.contains(needle.as_str()), "a log line names a request and its requester: {line}");
            }
        }
    }
}

fn has_ipv4(line: &str) -> bool {
    let b = line.as_bytes();
    // Four runs of 1–3 digits joined by dots, not inside a longer dotted run.
    let digits = |at: usize| b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    (0..b.len()).any(|start| {
        if start > 0 && (b[start - 1].is_ascii_digit() || b[start - 1] == b'.') {
            return false;
        }
        let mut at = start;
        for part in 0..4 {
            let n = digits(at);
            if n == 0 || n > 3 {
                return false;
            }
            at += n;
            if part < 3 {
                if b.get(at) != Some(&b'.') {
                    return false;
                }
                at += 1;
            }
        }
        true
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_links_a_request_to_its_requester_sqlite() {
    nothing_links_a_request_to_its_requester(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_links_a_request_to_its_requester_postgres() {
    nothing_links_a_request_to_its_requester(true).await;
}

#[test]
fn addresses_are_found_in_log_lines() {
    assert!(has_ipv4("connected from 127.0.0.1:5000"));
    assert!(!has_ipv4("version 1.2.3 ready"));
}

// ---------------------------------------------------------------------------------------------

/// Every request target a client sent, as a reverse proxy's access log would hold it.
#[derive(Default)]
struct AccessLog(std::sync::Mutex<Vec<String>>);

impl AccessLog {
    async fn call(&self, creds: &Credentials, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
        self.0.lock().unwrap().push(format!("{method} {path}"));
        call(creds, method, path, body, expect).await
    }

    async fn with_secret(&self, server: &TestServer, path: &str, secret: &MailboxSecret, body: Value) -> (u16, String) {
        self.0.lock().unwrap().push(format!("POST {path}"));
        with_secret(server, "POST", path, secret, Some(body)).await
    }

    async fn status(&self, server: &TestServer, reach: &Reach) -> Value {
        self.0.lock().unwrap().push("POST /v1/support/requests/status".into());
        let (status, text) = status_of(server, &reach.id, &reach.secret).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A reverse proxy logs each request line with the client's address and the time; request and
/// mailbox ids (and device ids) therefore travel in bodies. The whole support flow — reach out,
/// mailbox push, status, claim, hand-off, close by holder and by requester, revoking a device —
/// puts none of them in a path or query string, and the old path forms are not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_support_flow_keeps_every_id_out_of_request_paths() {
    let Some(s) = Setup::start(false).await else { return };
    let log = AccessLog::default();
    let admin = s.person("Admin", &["admin"]).await;
    let coordinator = s.person("Coordinator", &["coordinator"]).await;
    let (pat, sam) = (s.person("Pat", &["staff", "peer_supporter"]).await, s.person("Sam", &["staff", "peer_supporter"]).await);
    for c in [&pat, &sam] {
        add_to_roster(&coordinator, c, true).await;
    }
    let requester = s.person("Officer", &["staff"]).await;
    let lost = s.person("Lost phone", &["staff"]).await;

    log.0.lock().unwrap().push("POST /v1/support/requests".into());
    let reach = reach_out(&requester, "now").await;
    log.0.lock().unwrap().push("POST /v1/support/requests".into());
    let second = reach_out(&requester, "week").await;
    let sub = s.emulator.subscribe();
    let (status, text) = log.with_secret(&s.server, "/v1/support/mailboxes/push", &reach.secret, mailbox_push(&reach, &sub)).await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(log.status(&s.server, &reach).await["status"], "waiting");

    // The old forms, with the id in the path, are not served, whoever asks and however.
    let (id, mailbox) = (&reach.id, reach.mailbox.to_text());
    for (method, path) in [
        ("GET", format!("/v1/support/requests/{id}")),
        ("POST", format!("/v1/support/requests/{id}")),
        ("POST", format!("/v1/support/requests/{id}/close")),
        ("POST", format!("/v1/support/mailboxes/{mailbox}/push")),
    ] {
        let body = (method == "POST").then(|| json!({"mailbox_secret": reach.secret, "endpoint": sub.endpoint, "p256dh": sub.p256dh, "auth": sub.auth}));
        let (status, text) = with_secret(&s.server, method, &path, &reach.secret, body).await;
        assert_eq!(status, 404, "{method} {path} is still served: {text}");
    }
    for path in [format!("/v1/support/requests/{id}/claim"), format!("/v1/support/requests/{id}/close")] {
        let (status, text) = api_request(&pat, "POST", &path, None).await.unwrap();
        assert_eq!(status, 404, "POST {path} is still served: {text}");
    }
    let (status, text) = api_request(&pat, "POST", &format!("/v1/support/requests/{id}/handoff"), Some(&json!({"to": sam.account}))).await.unwrap();
    assert_eq!(status, 404, "the old hand-off path is still served: {text}");
    let (status, text) = api_request(&admin, "POST", &format!("/v1/admin/devices/{}/revoke", lost.device.to_text()), None).await.unwrap();
    assert_eq!(status, 404, "the old revoke path is still served: {text}");
    assert_eq!(log.status(&s.server, &reach).await["status"], "waiting", "no old form claimed or closed it");

    // The flow, each id in a body.
    let queue = log.call(&pat, "GET", "/v1/support/queue", None, 200).await;
    assert_eq!(queue["requests"].as_array().unwrap().len(), 2);
    let claimed = log.call(&pat, "POST", "/v1/support/requests/claim", request_ref(id), 200).await;
    assert_eq!(claimed["mailbox"], json!(reach.mailbox));
    assert_eq!(log.status(&s.server, &reach).await["status"], "accepted");
    let handed = log.call(&pat, "POST", "/v1/support/requests/handoff", Some(json!({"id": id, "to": sam.account})), 200).await;
    assert_eq!(handed, json!({"claimed_by": sam.account}));
    log.call(&sam, "POST", "/v1/support/requests/close", request_ref(id), 204).await;
    let (status, text) = log.with_secret(&s.server, "/v1/support/requests/close", &second.secret, json!({"id": second.id})).await;
    assert_eq!(status, 204, "the requester closes with the secret: {text}");
    let revoked = log.call(&admin, "POST", "/v1/admin/devices/revoke", Some(json!({"device": lost.device})), 200).await;
    assert_eq!(revoked["revoked"], true);
    for r in [&reach, &second] {
        let (status, _) = status_of(&s.server, &r.id, &r.secret).await;
        assert_eq!(status, 404, "closed and forgotten");
    }

    let mut secrets: Vec<String> = Vec::new();
    for r in [&reach, &second] {
        let id = sallyport_core::protocol::RequestId::parse(&r.id).unwrap();
        for bytes in [id.as_bytes().as_slice(), r.mailbox.as_bytes(), r.secret.as_bytes()] {
            secrets.extend(forms(bytes).into_iter().map(|f| f.to_lowercase()));
        }
    }
    secrets.extend(forms(lost.device.as_bytes()).into_iter().map(|f| f.to_lowercase()));
    let lines = log.lines();
    assert_eq!(lines.len(), 12, "{lines:#?}");
    for line in &lines {
        let lower = line.to_lowercase();
        for needle in &secrets {
            assert!(!lower.contains(needle.as_str()), "an id in a request target: {line}");
        }
    }
}
