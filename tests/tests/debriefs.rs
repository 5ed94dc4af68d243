//! Debriefings, defusings and follow-ups on the server (issue 13, protocol/README.md §18), against
//! real server processes, the push-service emulator (which verifies VAPID and decrypts the RFC 8291
//! layer; the sealed layer stays opaque to it) and a driven clock. The coordinator's client is the
//! native client core, which seals each preview to each recipient device with `debrief_aad`.
//! Reminders fire at their times, once, across a restart; a change of time moves them; a stale
//! revision is refused; a cancellation stops them; follow-ups count once per person; two nodes
//! send each push once; bad input gets a stable code; nothing readable reaches the server.

use sallyport_core::seal;
use sallyport_core::Credentials;
use sallyport_e2e::push_emulator::{PushEmulator, Received, Subscription};
use sallyport_e2e::*;
use sallyport_protocol::debriefs::debrief_aad;
use sallyport_protocol::{DebriefId, DeviceId};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Words of a debriefing that must never reach the server, its files, its log or a push payload.
const SECRET: &str = "Debrief Unit-C stairwell Hollis, room 214";

struct Setup {
    nodes: Vec<TestServer>,
    emulator: PushEmulator,
    clock: DrivenClock,
    database_url: Option<String>,
}

impl Setup {
    async fn start(postgres: bool, nodes: usize) -> Option<Setup> {
        let database_url = if postgres { Some(postgres_database().await?) } else { None };
        let clock = DrivenClock::new();
        let mut started = Vec::new();
        for _ in 0..nodes {
            let options = ServerOptions { database_url: database_url.clone(), extra_args: clock.server_args() };
            started.push(TestServer::start_with(options).await);
        }
        let emulator = emulator_for(&started[0]).await;
        Some(Setup { nodes: started, emulator, clock, database_url })
    }

    fn server(&self) -> &TestServer {
        &self.nodes[0]
    }

    /// Moves every node's clock so that it reads `at` now (and runs on from there).
    fn clock_at(&self, at: i64) {
        self.clock.set_offset(at - now_ms());
    }

    async fn person(&self, name: &str, roles: &[&str]) -> Credentials {
        sallyport_core::enrol(&self.server().url, &self.server().invite(name, roles)).await.expect("enrolment")
    }

    async fn subscribed(&self, creds: &Credentials) -> Subscription {
        let sub = self.emulator.subscribe();
        call(creds, "POST", "/v1/push/subscriptions", Some(sub.json()), 204).await;
        sub
    }

    /// Waits until every node's scheduler has completed `n` more passes.
    async fn passes(&self, n: u64) {
        for node in &self.nodes {
            let name = "sallyport_paging_scheduler_runs_total";
            let start = metric(node, name).await;
            wait_for_metric(node, name, |runs| runs >= start + n).await;
        }
    }

    /// How many `followup_sent` rows `report_events` holds, read from the database itself.
    async fn followups_counted(&self) -> i64 {
        use sqlx::Connection as _;
        let sql = "SELECT COUNT(*) FROM report_events WHERE kind = 'followup_sent' AND value IS NULL";
        match &self.database_url {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            None => {
                let path = self.server().data_dir().join("data").join("sallyport.db");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display())).await.expect("open the database");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }
}

/// What one notice's preview says (the service worker shows it): the secret words and which notice.
fn preview(notice: usize) -> String {
    json!({"title": "Group debriefing", "where": SECRET, "notice": notice}).to_string()
}

/// The body of a `PUT /v1/debriefs/{id}` as the coordinator's client makes it: each notice's
/// preview sealed to each recipient device's notification key.
fn schedule(id: &DebriefId, kind: &str, at: i64, revision: u64, notices: &[(i64, &[&Credentials])]) -> Value {
    let notices: Vec<Value> = notices
        .iter()
        .enumerate()
        .map(|(i, (when, who))| {
            let sealed: Vec<Value> = who
                .iter()
                .map(|c| {
                    let blob = seal::seal(&c.keys.notification_public().0, &debrief_aad(id, &c.device), preview(i).as_bytes()).unwrap();
                    json!({"device": c.device.to_string(), "sealed": base64_std(&blob)})
                })
                .collect();
            json!({"at": when, "sealed": sealed})
        })
        .collect();
    json!({"kind": kind, "at": at, "revision": revision, "notices": notices})
}

fn path(id: &DebriefId) -> String {
    format!("/v1/debriefs/{id}")
}

fn is_debrief(r: &Received) -> bool {
    serde_json::from_slice::<Value>(&r.plaintext).is_ok_and(|v| v["kind"] == "debrief")
}

/// The debrief pushes one subscription received, in order.
fn debrief_pushes(emulator: &PushEmulator, sub: &Subscription) -> Vec<Received> {
    emulator.received_for(&sub.token).into_iter().filter(is_debrief).collect()
}

async fn wait_pushes(emulator: &PushEmulator, sub: &Subscription, n: usize) -> Vec<Received> {
    wait_until(&format!("{n} debrief pushes to one subscription"), || async { debrief_pushes(emulator, sub).len() >= n }).await;
    debrief_pushes(emulator, sub)
}

/// Checks one debrief push: normal urgency, a Topic, generic text, and the preview sealed to this
/// device (which opens with its key and `debrief_aad`); nothing readable in the clear. Which
/// notice it was.
fn check_push(r: &Received, who: &Credentials, id: &DebriefId) -> u64 {
    assert_eq!(r.urgency.as_deref(), Some("normal"), "debrief pushes are Urgency: normal");
    assert!(r.topic.as_deref().is_some_and(|t| t.len() == 32), "a Topic per debrief and device: {:?}", r.topic);
    let text = String::from_utf8(r.plaintext.clone()).unwrap();
    assert!(!text.contains(SECRET) && !text.contains("Hollis") && !text.contains("Group debriefing"), "nothing readable: {text}");
    let push: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((push["v"].as_u64(), push["kind"].as_str()), (Some(1), Some("debrief")));
    assert_eq!(push["debrief"].as_str(), Some(id.to_string().as_str()));
    assert_eq!(push["web_push"], 8030, "a Declarative Web Push message");
    assert_eq!(push["notification"]["title"], "Sallyport");
    assert_eq!(push["notification"]["body"], "You have a reminder. Open Sallyport to see it.");
    use base64::Engine as _;
    let sealed = base64::engine::general_purpose::STANDARD.decode(push["sealed"].as_str().expect("a sealed preview")).unwrap();
    let opened = seal::open_for(&who.keys, &debrief_aad(id, &who.device), &sealed).expect("the preview opens on this device");
    let opened: Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(opened["where"], SECRET);
    opened["notice"].as_u64().unwrap()
}

fn notices_of(pushes: &[Received], who: &Credentials, id: &DebriefId) -> Vec<u64> {
    pushes.iter().map(|r| check_push(r, who, id)).collect()
}

/// A debriefing at T with reminders at T−24 h and T−1 h: nothing before T−24 h; then one push
/// per device, whose preview opens there; the second after a restart, and never the first again.
/// Nothing readable in the data dir, the log or the payloads the push service decrypted.
async fn reminders_fire_once_each_across_a_restart(postgres: bool) {
    let Some(mut s) = Setup::start(postgres, 1).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let ana = s.person("Ana", &["staff"]).await;
    let ben = s.person("Ben", &["staff"]).await;
    let (ana_sub, ben_sub) = (s.subscribed(&ana).await, s.subscribed(&ben).await);
    let start = now_ms();
    let t = start + 3 * DAY;
    let id = DebriefId::random();
    let body = schedule(&id, "debriefing", t, 0, &[(t - DAY, &[&ana, &ben]), (t - HOUR, &[&ana, &ben])]);
    let saved = call(&coordinator, "PUT", &path(&id), Some(body), 200).await;
    assert_eq!((saved["revision"].as_u64(), saved["pending"].as_u64(), saved["kind"].as_str()), (Some(1), Some(4), Some("debriefing")));
    assert_eq!(saved["at"].as_i64(), Some(t));
    assert!(saved.get("cancelled_at").is_none());

    // Nothing before T−24 h.
    s.clock_at(t - DAY - 10 * MINUTE);
    s.passes(3).await;
    assert!(debrief_pushes(&s.emulator, &ana_sub).is_empty() && debrief_pushes(&s.emulator, &ben_sub).is_empty());

    // At T−24 h: one push per device, sealed to it.
    s.clock_at(t - DAY + MINUTE);
    for sub in [&ana_sub, &ben_sub] {
        wait_pushes(&s.emulator, sub, 1).await;
    }
    wait_until("the first reminders are recorded as sent", || async {
        call(&coordinator, "GET", &path(&id), None, 200).await["pending"] == 2
    })
    .await;
    s.passes(3).await;
    for (who, sub) in [(&ana, &ana_sub), (&ben, &ben_sub)] {
        assert_eq!(notices_of(&debrief_pushes(&s.emulator, sub), who, &id), vec![0], "one push, the T−24 h reminder");
    }

    // Restart; at T−1 h the second, and never the first again.
    s.nodes[0].stop().await;
    s.clock_at(t - HOUR + MINUTE);
    s.nodes[0].restart().await;
    for sub in [&ana_sub, &ben_sub] {
        wait_pushes(&s.emulator, sub, 2).await;
    }
    wait_until("every reminder is recorded as sent", || async { call(&coordinator, "GET", &path(&id), None, 200).await["pending"] == 0 }).await;
    s.clock_at(t + HOUR);
    s.passes(3).await;
    for (who, sub) in [(&ana, &ana_sub), (&ben, &ben_sub)] {
        assert_eq!(notices_of(&debrief_pushes(&s.emulator, sub), who, &id), vec![0, 1], "each reminder once");
    }

    // Nothing readable anywhere the server writes, nor in any payload the push service saw.
    for r in s.emulator.received() {
        let text = String::from_utf8_lossy(&r.plaintext);
        assert!(!text.contains(SECRET) && !text.contains("Group debriefing"), "a push payload: {text}");
    }
    assert!(files_containing(s.server().data_dir(), SECRET.as_bytes()).is_empty(), "the secret in the server's files");
    assert!(files_containing(s.server().data_dir(), b"Group debriefing").is_empty(), "the title in the server's files");
    let log = s.server().logs();
    assert!(!log.contains(SECRET) && !log.contains(&id.to_string()), "the log names the debrief or its words");
    assert!(log.contains("debrief pushes sent"), "the sending is logged (without ids)");
}

#[tokio::test]
async fn reminders_fire_at_their_times_once_each_across_a_restart() {
    reminders_fire_once_each_across_a_restart(false).await;
}

#[tokio::test]
async fn reminders_fire_at_their_times_once_each_across_a_restart_on_postgres() {
    reminders_fire_once_each_across_a_restart(true).await;
}

/// A new time (a new revision) moves the reminders, old times never fire; a stale revision is
/// `409 stale_revision` with the current one; cancelling stops everything (and is idempotent).
async fn changes_move_and_cancel_reminders(postgres: bool) {
    let Some(s) = Setup::start(postgres, 1).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let other_coordinator = s.person("Cy Coordinator", &["coordinator"]).await;
    let ana = s.person("Ana", &["staff"]).await;
    let ana_sub = s.subscribed(&ana).await;
    let start = now_ms();
    let t = start + 2 * DAY;
    // An id whose text starts with '-' (base64url): paths and parsing take it like any other.
    let mut id = DebriefId::random();
    id.0[0] = 0xfb;
    assert!(id.to_string().starts_with('-'));
    call(&coordinator, "PUT", &path(&id), Some(schedule(&id, "defusing", t, 0, &[(t - HOUR, &[&ana])])), 200).await;

    // Creating again (revision 0) and a stale revision are refused with the current revision.
    for revision in [0, 2, 7] {
        let body = schedule(&id, "defusing", t, revision, &[(t - HOUR, &[&ana])]);
        let refused = call(&other_coordinator, "PUT", &path(&id), Some(body), 409).await;
        assert_eq!((refused["code"].as_str(), refused["revision"].as_u64()), (Some("stale_revision"), Some(1)), "{refused}");
    }
    // A revision for an id that does not exist.
    let unknown = DebriefId::random();
    call(&coordinator, "PUT", &path(&unknown), Some(schedule(&unknown, "defusing", t, 1, &[])), 404).await;

    // Moved a day later: the old reminder time passes without a push.
    let t2 = t + DAY;
    let moved = call(&other_coordinator, "PUT", &path(&id), Some(schedule(&id, "debriefing", t2, 1, &[(t2 - HOUR, &[&ana])])), 200).await;
    assert_eq!((moved["revision"].as_u64(), moved["kind"].as_str(), moved["at"].as_i64()), (Some(2), Some("debriefing"), Some(t2)));
    s.clock_at(t - HOUR + MINUTE);
    s.passes(4).await;
    assert!(debrief_pushes(&s.emulator, &ana_sub).is_empty(), "the old time never fires");
    s.clock_at(t2 - HOUR + MINUTE);
    let pushes = wait_pushes(&s.emulator, &ana_sub, 1).await;
    assert_eq!(notices_of(&pushes, &ana, &id), vec![0]);
    wait_until("the moved reminder is recorded as sent", || async { call(&coordinator, "GET", &path(&id), None, 200).await["pending"] == 0 }).await;

    // Another debrief, cancelled before its reminder: nothing fires after, and cancelling again
    // changes nothing.
    let gone = DebriefId::random();
    let body = schedule(&gone, "debriefing", t2 + 2 * DAY, 0, &[(t2 + DAY, &[&ana]), (t2 + 2 * DAY - HOUR, &[&ana])]);
    call(&coordinator, "PUT", &path(&gone), Some(body), 200).await;
    let cancelled = call(&coordinator, "DELETE", &path(&gone), None, 200).await;
    let at = cancelled["cancelled_at"].as_i64().expect("cancelled_at");
    assert_eq!(cancelled["pending"], 0);
    let again = call(&coordinator, "DELETE", &path(&gone), None, 200).await;
    assert_eq!(again["cancelled_at"].as_i64(), Some(at), "cancelled once");
    let body = schedule(&gone, "debriefing", t2 + 2 * DAY, 1, &[(t2 + DAY, &[&ana])]);
    assert_eq!(call(&coordinator, "PUT", &path(&gone), Some(body), 409).await["code"], "bad_request", "a cancelled debrief stays cancelled");
    s.clock_at(t2 + 3 * DAY);
    s.passes(4).await;
    let pushes = debrief_pushes(&s.emulator, &ana_sub);
    assert_eq!(pushes.len(), 1, "nothing of the cancelled debrief fired");
    call(&coordinator, "DELETE", &path(&DebriefId::random()), None, 404).await;

    // A notice already due is sent at once.
    let late = DebriefId::random();
    let server_now = t2 + 3 * DAY;
    call(&coordinator, "PUT", &path(&late), Some(schedule(&late, "followup", server_now - HOUR, 0, &[(server_now - HOUR, &[&ana])])), 200).await;
    let pushes = wait_pushes(&s.emulator, &ana_sub, 2).await;
    assert_eq!(check_push(&pushes[1], &ana, &late), 0);
}

#[tokio::test]
async fn a_new_time_moves_the_reminders_and_a_cancel_stops_them() {
    changes_move_and_cancel_reminders(false).await;
}

#[tokio::test]
async fn a_new_time_moves_the_reminders_and_a_cancel_stops_them_on_postgres() {
    changes_move_and_cancel_reminders(true).await;
}

/// A second device for `of`'s account, approved by `of` as the web app's "Approve" does.
async fn second_device(s: &Setup, of: &Credentials) -> Credentials {
    let server = s.server();
    let link = server.admin(&["invite", "--account", &of.account.to_text(), "--name", "ignored", "--role", "staff"]).trim().to_owned();
    let new = sallyport_core::enrol(&server.url, &link).await.expect("second device enrols");
    let signature = of
        .keys
        .sign_device_approval(&new.account, &new.device, &new.mailbox, &new.keys.signing_public(), &new.keys.notification_public())
        .to_text();
    call(of, "POST", "/v1/devices/approve", Some(json!({"device": new.device.to_text(), "signature": signature})), 204).await;
    new
}

/// Follow-ups at 1 day and 1 week fire at their times, once, and `followup_sent` counts once per
/// person and notice (Ana has two devices, Ben one).
async fn followups_fire_once_and_count_once_per_person(postgres: bool) {
    let Some(s) = Setup::start(postgres, 1).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let ana = s.person("Ana", &["staff"]).await;
    let ana_tablet = second_device(&s, &ana).await;
    let ben = s.person("Ben", &["staff"]).await;
    let subs = [s.subscribed(&ana).await, s.subscribed(&ana_tablet).await, s.subscribed(&ben).await];
    let who = [&ana, &ana_tablet, &ben];
    let incident = now_ms();
    let (day1, week1) = (incident + DAY, incident + 7 * DAY);
    let id = DebriefId::random();
    let everyone: &[&Credentials] = &[&ana, &ana_tablet, &ben];
    call(&coordinator, "PUT", &path(&id), Some(schedule(&id, "followup", day1, 0, &[(day1, everyone), (week1, everyone)])), 200).await;
    assert_eq!(s.followups_counted().await, 0);

    s.clock_at(day1 - MINUTE);
    s.passes(3).await;
    assert!(subs.iter().all(|sub| debrief_pushes(&s.emulator, sub).is_empty()), "nothing before day 1");
    s.clock_at(day1 + MINUTE);
    for sub in &subs {
        wait_pushes(&s.emulator, sub, 1).await;
    }
    wait_until("the day-1 check-ins are recorded", || async { call(&coordinator, "GET", &path(&id), None, 200).await["pending"] == 3 }).await;
    assert_eq!(s.followups_counted().await, 2, "Ana once (two devices), Ben once");

    s.clock_at(week1 + MINUTE);
    for sub in &subs {
        wait_pushes(&s.emulator, sub, 2).await;
    }
    wait_until("the week-1 check-ins are recorded", || async { call(&coordinator, "GET", &path(&id), None, 200).await["pending"] == 0 }).await;
    s.clock_at(week1 + DAY);
    s.passes(3).await;
    for (creds, sub) in who.iter().zip(&subs) {
        assert_eq!(notices_of(&debrief_pushes(&s.emulator, sub), creds, &id), vec![0, 1], "each check-in once");
    }
    assert_eq!(s.followups_counted().await, 4);
}

#[tokio::test]
async fn followups_fire_once_each_and_count_once_per_person() {
    followups_fire_once_and_count_once_per_person(false).await;
}

#[tokio::test]
async fn followups_fire_once_each_and_count_once_per_person_on_postgres() {
    followups_fire_once_and_count_once_per_person(true).await;
}

/// Two nodes on one PostgreSQL: each push is delivered exactly once.
#[tokio::test]
async fn two_nodes_send_each_debrief_push_once() {
    let Some(s) = Setup::start(true, 2).await else { return };
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let mut people = Vec::new();
    for i in 0..6 {
        let creds = s.person(&format!("Member {i}"), &["staff"]).await;
        let sub = s.subscribed(&creds).await;
        people.push((creds, sub));
    }
    let all: Vec<&Credentials> = people.iter().map(|(c, _)| c).collect();
    let t = now_ms() + DAY;
    let ids: Vec<DebriefId> = (0..4).map(|_| DebriefId::random()).collect();
    for id in &ids {
        call(&coordinator, "PUT", &path(id), Some(schedule(id, "debriefing", t, 0, &[(t - 2 * HOUR, &all), (t - HOUR, &all)])), 200).await;
    }
    s.clock_at(t - 2 * HOUR + MINUTE);
    for (_, sub) in &people {
        wait_pushes(&s.emulator, sub, ids.len()).await;
    }
    // Sent and recorded before the clock jumps past the 60-second lease (a push whose answer is
    // not recorded within its lease is sent again: at least once).
    for id in &ids {
        wait_until("the first reminders are recorded as sent", || async {
            call(&coordinator, "GET", &path(id), None, 200).await["pending"] == people.len()
        })
        .await;
    }
    s.clock_at(t - HOUR + MINUTE);
    for (_, sub) in &people {
        wait_pushes(&s.emulator, sub, 2 * ids.len()).await;
    }
    for id in &ids {
        wait_until("every push is recorded as sent", || async { call(&coordinator, "GET", &path(id), None, 200).await["pending"] == 0 }).await;
    }
    s.clock_at(t + HOUR);
    s.passes(5).await;
    for (creds, sub) in &people {
        let pushes = debrief_pushes(&s.emulator, sub);
        assert_eq!(pushes.len(), 2 * ids.len(), "each push once");
        for id in &ids {
            let mine: Vec<&Received> = pushes.iter().filter(|r| String::from_utf8_lossy(&r.plaintext).contains(&id.to_string())).collect();
            let mut notices: Vec<u64> = mine.iter().map(|r| check_push(r, creds, id)).collect();
            notices.sort();
            assert_eq!(notices, vec![0, 1]);
        }
    }
}

/// Bad input: a stable code and nothing stored.
#[tokio::test]
async fn bad_debriefs_are_refused_with_a_stable_code() {
    let s = Setup::start(false, 1).await.unwrap();
    let coordinator = s.person("Casey Coordinator", &["coordinator"]).await;
    let supervisor = s.person("Sam Supervisor", &["supervisor"]).await;
    let ana = s.person("Ana", &["staff"]).await;
    let revoked = s.person("Rex", &["staff"]).await;
    s.server().admin(&["revoke-device", &revoked.device.to_text()]);
    let t = now_ms() + DAY;
    let id = DebriefId::random();
    let good = schedule(&id, "debriefing", t, 0, &[(t - HOUR, &[&ana])]);

    // Not a coordinator.
    for who in [&ana, &supervisor] {
        assert_eq!(call(who, "PUT", &path(&id), Some(good.clone()), 403).await["code"], "forbidden");
        assert_eq!(call(who, "GET", &path(&id), None, 403).await["code"], "forbidden");
        assert_eq!(call(who, "DELETE", &path(&id), None, 403).await["code"], "forbidden");
        assert_eq!(call(who, "PUT", "/v1/programme", Some(json!({"followup_days": [2]})), 403).await["code"], "forbidden");
    }
    // Bad ids.
    for bad in ["nope", "-", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%2D%2D"] {
        assert_eq!(call(&coordinator, "GET", &format!("/v1/debriefs/{bad}"), None, 400).await["code"], "bad_request", "{bad}");
        assert_eq!(call(&coordinator, "PUT", &format!("/v1/debriefs/{bad}"), Some(good.clone()), 400).await["code"], "bad_request");
    }
    // Unknown, revoked and repeated devices.
    let stranger = DeviceId::random();
    let mut unknown = good.clone();
    unknown["notices"][0]["sealed"][0]["device"] = json!(stranger.to_string());
    let mut twice = good.clone();
    let one = twice["notices"][0]["sealed"][0].clone();
    twice["notices"][0]["sealed"].as_array_mut().unwrap().push(one);
    let with_revoked = schedule(&id, "debriefing", t, 0, &[(t - HOUR, &[&ana, &revoked])]);
    // Out of range, too many, too large, unknown fields and kinds.
    let blob = base64_std(&vec![7u8; 2_049]);
    let mut oversized = good.clone();
    oversized["notices"][0]["sealed"][0]["sealed"] = json!(blob);
    let mut empty = good.clone();
    empty["notices"][0]["sealed"][0]["sealed"] = json!("");
    let nine: Vec<Value> = (0..9).map(|_| json!({"at": t, "sealed": []})).collect();
    let small = base64_std(&[1u8; 16]);
    let crowd: Vec<Value> = (0..513).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": small})).collect();
    let mut extra = good.clone();
    extra["place"] = json!(SECRET);
    let cases = [
        ("unknown device", unknown),
        ("a device twice", twice),
        ("a revoked device", with_revoked),
        ("a preview over 2,048 bytes", oversized),
        ("an empty preview", empty),
        ("too far back", json!({"kind": "defusing", "at": now_ms() - 91 * DAY, "revision": 0})),
        ("too far ahead", json!({"kind": "defusing", "at": now_ms() + 401 * DAY, "revision": 0})),
        ("a notice too far ahead", json!({"kind": "defusing", "at": t, "revision": 0, "notices": [{"at": now_ms() + 401 * DAY, "sealed": []}]})),
        ("nine notices", json!({"kind": "defusing", "at": t, "revision": 0, "notices": nine})),
        ("513 devices", json!({"kind": "defusing", "at": t, "revision": 0, "notices": [{"at": t, "sealed": crowd}]})),
        ("an unknown field", extra),
        ("an unknown kind", json!({"kind": "party", "at": t, "revision": 0})),
        ("no kind", json!({"at": t, "revision": 0})),
    ];
    for (what, body) in cases {
        let answer = call(&coordinator, "PUT", &path(&id), Some(body), 400).await;
        assert_eq!(answer["code"], "bad_request", "{what}: {answer}");
    }
    call(&coordinator, "GET", &path(&id), None, 404).await;

    // A body past 2 MiB is refused before it is read; a non-coordinator's past 16 KiB too.
    let big = "A".repeat(2_800);
    let huge: Vec<Value> = (0..800).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": big})).collect();
    let body = json!({"kind": "defusing", "at": t, "revision": 0, "notices": [{"at": t, "sealed": huge}]});
    assert_eq!(call(&coordinator, "PUT", &path(&id), Some(body), 400).await["code"], "bad_request");
    let medium: Vec<Value> = (0..20).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": big})).collect();
    let body = json!({"kind": "defusing", "at": t, "revision": 0, "notices": [{"at": t, "sealed": medium}]});
    assert_eq!(call(&ana, "PUT", &path(&id), Some(body), 400).await["code"], "bad_request");
    // 512 previews of 2,048 bytes in all fit a coordinator's body.
    let sealed: Vec<Value> = (0..512).map(|_| json!({"device": DeviceId::random().to_string(), "sealed": base64_std(&[9u8; 2_048])})).collect();
    let body = json!({"kind": "defusing", "at": t, "revision": 0, "notices": [{"at": t, "sealed": sealed}]});
    let answer = call(&coordinator, "PUT", &path(&id), Some(body), 400).await;
    assert!(answer["message"].as_str().unwrap().contains("unknown"), "read whole, refused for its devices only: {answer}");

    // The programme's follow-up days.
    assert_eq!(call(&ana, "GET", "/v1/programme", None, 200).await, json!({"followup_days": [1, 7, 14, 28]}));
    for bad in [json!({"followup_days": []}), json!({"followup_days": [0]}), json!({"followup_days": [366]}), json!({"followup_days": [7, 1]}),
                json!({"followup_days": [1, 1]}), json!({"followup_days": [1, 2, 3, 4, 5, 6, 7, 8, 9]}), json!({"followup_days": [1], "x": 1})] {
        assert_eq!(call(&coordinator, "PUT", "/v1/programme", Some(bad.clone()), 400).await["code"], "bad_request", "{bad}");
    }
    assert_eq!(call(&coordinator, "PUT", "/v1/programme", Some(json!({"followup_days": [2, 10, 30]})), 200).await["followup_days"], json!([2, 10, 30]));
    assert_eq!(call(&ana, "GET", "/v1/programme", None, 200).await, json!({"followup_days": [2, 10, 30]}));
}
