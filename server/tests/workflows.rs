//! Workflows called directly, as the HTTP handlers call them, on a real SQLite store and the one
//! clock moved by a test offset: what the team sees and what the rules decide follow that clock.

mod common;

use common::Fixture;
use sallyport_protocol::rest::Role;
use sallyport_protocol::roster::{RotationRequest, TrainingKind, TrainingRequest};
use sallyport_server::clock::Clock;
use sallyport_server::domain::DAY_MS;
use sallyport_server::store::{DeviceRecord, Store};
use sallyport_server::workflows::WorkflowError;
use sallyport_server::workflows::peer_support::{schedule, team};
use std::sync::Arc;

async fn person(store: &Arc<dyn Store>, name: &str, roles: Vec<Role>, clock: &Clock) -> DeviceRecord {
    let enrolled = common::enrol(store, name, roles, clock.now()).await;
    store.device(&enrolled.device).await.unwrap().expect("enrolled")
}

/// A clock whose offset the test sets.
struct TestClock {
    clock: Clock,
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TestClock {
    fn new() -> TestClock {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("offset");
        std::fs::write(&file, "0").unwrap();
        TestClock { clock: Clock::with_offset_file(Some(file.clone())), file, _dir: dir }
    }

    fn advance_to(&self, offset_ms: i64) {
        std::fs::write(&self.file, offset_ms.to_string()).unwrap();
    }
}

/// A coordinator, and two trained supporters on a daily rotation that began yesterday at 00:00
/// UTC (`first` holds today, `second` tomorrow).
async fn team_on_a_daily_rotation(store: &Arc<dyn Store>, clock: &Clock) -> (DeviceRecord, DeviceRecord, DeviceRecord) {
    let coordinator = person(store, "Coordinator", vec![Role::Coordinator], clock).await;
    let first = person(store, "Ana", vec![Role::Staff], clock).await;
    let second = person(store, "Ben", vec![Role::Staff], clock).await;
    let today = chrono::DateTime::from_timestamp_millis(clock.now()).unwrap().date_naive();
    for who in [&first, &second] {
        team::add(&**store, clock, &coordinator, &who.account.to_text()).await.unwrap();
        for kind in TrainingKind::ALL {
            let training = TrainingRequest {
                completed_at: (today - chrono::Days::new(30)).format("%Y-%m-%d").to_string(),
                expires_at: (today + chrono::Days::new(365)).format("%Y-%m-%d").to_string(),
            };
            team::set_training(&**store, clock, &coordinator, &who.account.to_text(), kind.as_str(), &training).await.unwrap();
        }
    }
    let rotation = RotationRequest {
        name: "Daily".into(),
        // Yesterday was period 0 (`second`), today period 1 (`first`).
        members: vec![second.account, first.account],
        handoff: "00:00".into(),
        time_zone: "UTC".into(),
        period_days: 1,
        start_date: (today - chrono::Days::new(1)).format("%Y-%m-%d").to_string(),
    };
    schedule::create_rotation(&**store, clock, &coordinator, rotation).await.unwrap();
    (coordinator, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_is_on_call_follows_the_one_clock() {
    let f = Fixture::sqlite().await;
    let time = TestClock::new();
    let (coordinator, first, second) = team_on_a_daily_rotation(&f.store, &time.clock).await;
    let on_call = |clock: Clock| {
        let (store, coordinator) = (f.store.clone(), coordinator.clone());
        async move {
            let answer = schedule::on_call(&*store, &clock, &coordinator).await.unwrap();
            answer.on_call.into_iter().map(|p| p.account).collect::<Vec<_>>()
        }
    };
    assert_eq!(on_call(time.clock.clone()).await, vec![first.account]);
    time.advance_to(DAY_MS);
    assert_eq!(on_call(time.clock.clone()).await, vec![second.account], "a day later by the server's clock");
    let shifts = schedule::my_shifts(&*f.store, &time.clock, &first, Some(1)).await.unwrap();
    assert!(shifts.shifts[0].start > time.clock.now(), "first's next shift is after the moved clock's now");
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_lapses_by_the_one_clock() {
    let f = Fixture::sqlite().await;
    let time = TestClock::new();
    let (coordinator, first, _) = team_on_a_daily_rotation(&f.store, &time.clock).await;
    time.advance_to(400 * DAY_MS);
    let record = team::my_record(&*f.store, &time.clock, &first).await.unwrap();
    assert!(!record.training_current, "expired 365 days after the first day, by the moved clock");
    assert!(schedule::on_call(&*f.store, &time.clock, &coordinator).await.unwrap().on_call.is_empty());
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_check_roles_before_anything_else() {
    let f = Fixture::sqlite().await;
    let clock = Clock::system();
    let staff = person(&f.store, "Officer", vec![Role::Staff], &clock).await;
    let err = team::roster(&*f.store, &clock, &staff).await.unwrap_err();
    assert_eq!(err, WorkflowError::Forbidden(None));
    let err = schedule::on_call(&*f.store, &clock, &staff).await.unwrap_err();
    assert_eq!(err, WorkflowError::Forbidden(None));
    assert!(matches!(team::my_record(&*f.store, &clock, &staff).await, Err(WorkflowError::NotOnRoster { caller: true, .. })));
    f.finish().await;
}
