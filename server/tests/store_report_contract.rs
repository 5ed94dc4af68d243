//! The `ReportStore` contract on SQLite (always) and PostgreSQL (a fresh database per test on
//! `SALLYPORT_TEST_POSTGRES_URL`): a support request's events are recorded once, by the store
//! changes that make them (made, accepted with its delay, each escalation), with a day and no id;
//! and the held defusings and debriefings are those neither cancelled nor still to come.

use bytes::Bytes;
use sallyport_protocol::support::Urgency;
use sallyport_protocol::{MailboxId, RequestId};
use sallyport_server::domain::report::{Event, EventKind, Held};
use sallyport_server::store::support::{ClaimOutcome, NewSupportRequest};
use sallyport_server::store::{self, Store};
use std::sync::Arc;

const NOW: i64 = 1_700_000_040_000;
const MINUTE: i64 = 60_000;
const STEP: i64 = 5 * MINUTE;
const DAY: i64 = 24 * 60 * MINUTE;

mod common;
use common::Fixture;

contract!(fixture: [
    a_support_request_is_counted_once_by_each_change,
    held_sessions_are_past_and_not_cancelled,
]);

fn new_request(urgency: Urgency) -> NewSupportRequest {
    NewSupportRequest {
        id: RequestId::random(),
        urgency,
        mailbox: MailboxId::random(),
        secret_hash: store::sha256(b"secret"),
        key_package: Bytes::from_static(b"a key package"),
        created_at: NOW,
        first_due_at: NOW + STEP,
        step_ms: STEP,
    }
}

fn sorted(mut events: Vec<Event>) -> Vec<(i64, &'static str, Option<i64>)> {
    let mut out: Vec<_> = events.drain(..).map(|e| (e.day, e.kind.as_str(), e.value)).collect();
    out.sort();
    out
}

async fn a_support_request_is_counted_once_by_each_change(f: &Fixture) {
    let s: &Arc<dyn Store> = &f.store;
    let day = NOW.div_euclid(DAY);
    let now = new_request(Urgency::Now);
    let today = new_request(Urgency::Today);
    s.create_support_request(now.clone()).await.unwrap();
    s.create_support_request(today.clone()).await.unwrap();
    assert!(s.create_support_request(now.clone()).await.is_err(), "a refused duplicate counts nothing");

    let supporter = common::enrol(s, "Sam", vec![sallyport_protocol::rest::Role::PeerSupporter], NOW).await.account;
    let won = s.claim_support_request(&now.id, &supporter, NOW + 90_500).await.unwrap();
    assert!(matches!(won, ClaimOutcome::Won { .. }));
    assert_eq!(s.claim_support_request(&now.id, &supporter, NOW + 95_000).await.unwrap(), ClaimOutcome::AlreadyClaimed);
    // Only the waiting one escalates; once per level.
    assert_eq!(s.claim_due_escalations(NOW + STEP, 100).await.unwrap().len(), 1);
    assert!(s.claim_due_escalations(NOW + STEP, 100).await.unwrap().is_empty());
    assert!(s.close_support_request(&now.id, None).await.unwrap());

    let events = sorted(s.report_events(day + 1).await.unwrap());
    assert_eq!(events, [(day, "accepted", Some(90)), (day, "escalated", None), (day, "request_now", None), (day, "request_today", None)]);
    assert!(s.report_events(day).await.unwrap().is_empty(), "only days before the one given");
    assert_eq!(EventKind::parse("accepted"), Some(EventKind::Accepted));
}

async fn held_sessions_are_past_and_not_cancelled(f: &Fixture) {
    use sqlx::Connection as _;
    let day = NOW.div_euclid(DAY);
    // (kind, at, cancelled): the debrief store's rows, written as it writes them.
    let rows = [
        ("defusing", NOW - 60 * MINUTE, false),
        ("debriefing", NOW - DAY, false),
        ("debriefing", NOW - 2 * 60 * MINUTE, true),
        ("debriefing", NOW + 60 * MINUTE, false),
        ("followup", NOW - 60 * MINUTE, false),
    ];
    let sql = "INSERT INTO debriefs (id, kind, at, revision, created_at, cancelled_at) VALUES ($1, $2, $3, 1, $4, $5)";
    for (i, (kind, at, cancelled)) in rows.into_iter().enumerate() {
        let id = vec![i as u8; 16];
        let cancelled_at = cancelled.then_some(NOW - DAY);
        if f.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
            sqlx::query(sql).bind(id).bind(kind).bind(at).bind(NOW - 2 * DAY).bind(cancelled_at).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&f.url).await.unwrap();
            sqlx::query(sql).bind(id).bind(kind).bind(at).bind(NOW - 2 * DAY).bind(cancelled_at).execute(&mut c).await.unwrap();
        }
    }
    let mut held = f.store.held_debriefs(NOW, day + 1).await.unwrap();
    held.sort_by_key(|h| h.day);
    assert_eq!(held, [Held { day: day - 1, debriefing: true }, Held { day, debriefing: false }]);
    assert_eq!(f.store.held_debriefs(NOW, day).await.unwrap(), [Held { day: day - 1, debriefing: true }], "only days before the one given");
}
