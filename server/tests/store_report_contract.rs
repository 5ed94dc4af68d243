//! The `ReportStore` contract on SQLite (always) and PostgreSQL (a fresh database per test on
//! `SALLYPORT_TEST_POSTGRES_URL`): a support request's events are recorded once, by the store
//! changes that make them (made, accepted with its delay, each escalation), each on the day it
//! happens and with no id; and a defusing or debriefing counts as held as it stood when its day
//! ended, so no later change alters a reported day.

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

    // Accepted the next day (NOW is 22:14 UTC): counted on that day, so the day before, once
    // reported, stays as it was.
    s.claim_support_request(&today.id, &supporter, NOW + 2 * 60 * MINUTE).await.unwrap();
    assert_eq!(sorted(s.report_events(day + 1).await.unwrap()), events);
    let next = sorted(s.report_events(day + 2).await.unwrap());
    assert!(next.contains(&(day + 1, "accepted", Some(7200))), "{next:?}");
    assert_eq!(EventKind::parse("accepted"), Some(EventKind::Accepted));
}

async fn held_sessions_are_past_and_not_cancelled(f: &Fixture) {
    use sqlx::Connection as _;
    let day = NOW.div_euclid(DAY);
    let hour = 60 * MINUTE;
    // (kind, at, created_at, cancelled_at): rows as the debrief store writes them. NOW is 22:14 UTC.
    let rows = [
        ("defusing", NOW - hour, NOW - 2 * DAY, None),                 // held
        ("debriefing", NOW - DAY, NOW - 2 * DAY, None),                // held, the day before
        ("debriefing", NOW - 2 * hour, NOW - 2 * DAY, Some(NOW - DAY)), // cancelled before it
        ("debriefing", NOW + 3 * hour, NOW - 2 * DAY, None),           // tomorrow
        ("followup", NOW - hour, NOW - 2 * DAY, None),                 // not a session
        ("debriefing", NOW - DAY, NOW, None),                          // recorded after its day: not counted
        ("defusing", NOW - DAY, NOW - 2 * DAY, Some(NOW)),             // cancelled after its day: it stays held
    ];
    let sql = "INSERT INTO debriefs (id, kind, at, revision, created_at, cancelled_at) VALUES ($1, $2, $3, 1, $4, $5)";
    for (i, (kind, at, created_at, cancelled_at)) in rows.into_iter().enumerate() {
        let id = vec![i as u8; 16];
        if f.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
            sqlx::query(sql).bind(id).bind(kind).bind(at).bind(created_at).bind(cancelled_at).execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&f.url).await.unwrap();
            sqlx::query(sql).bind(id).bind(kind).bind(at).bind(created_at).bind(cancelled_at).execute(&mut c).await.unwrap();
        }
    }
    let mut held = f.store.held_debriefs(day + 1).await.unwrap();
    held.sort_by_key(|h| (h.day, h.debriefing));
    let before = [Held { day: day - 1, debriefing: false }, Held { day: day - 1, debriefing: true }];
    assert_eq!(held, [before[0], before[1], Held { day, debriefing: false }]);
    let mut earlier = f.store.held_debriefs(day).await.unwrap();
    earlier.sort_by_key(|h| (h.day, h.debriefing));
    assert_eq!(earlier, before, "only days before the one given");
}
