//! The `Store` contract for the peer supporter roster and on-call schedule (`Store::roster()`),
//! on SQLite (always, in a temp dir) and PostgreSQL (a fresh database per test on
//! `SALLYPORT_TEST_POSTGRES_URL`; with `SALLYPORT_REQUIRE_POSTGRES=1` a missing URL fails instead
//! of skipping), as in `store_contract.rs`.

use chrono::{NaiveDate, NaiveTime};
use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId};
use sallyport_server::store::{Conflict, Store, StoreError, StoreResult};
use sallyport_server::domain::schedule::on_call_at;
use sallyport_server::domain::roster::{Switch, Training, TrainingKind};
use sallyport_server::domain::schedule::{Override, Rotation, Swap, SwapStatus};
use std::sync::Arc;

const NOW: i64 = 1_767_600_000_000; // 2026-01-05T08:00:00Z
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

mod common;

/// Who the stored schedule says is on call at `now`.
async fn on_call_now(store: &dyn Store, now: i64) -> StoreResult<Vec<AccountId>> {
    Ok(on_call_at(&store.roster().await?, now))
}

contract!(store: [
    adding_a_supporter_needs_an_account_and_grants_the_role,
    training_is_recorded_per_kind_and_replaced,
    the_switch_is_the_supporters_own,
    rotations_keep_member_order_and_are_replaced_whole,
    overrides_need_a_rotation_and_a_supporter,
    a_swap_is_answered_once_even_concurrently,
    removal_takes_a_supporter_off_every_rotation_with_their_overrides_and_swaps,
    deleting_a_rotation_deletes_its_overrides_and_swaps,
    on_call_now_reads_the_stored_schedule,
]);

/// Enrols a device on a fresh account with `roles`: its account.
async fn account(store: &Arc<dyn Store>, name: &str, roles: Vec<Role>) -> (AccountId, DeviceId) {
    let enrolled = common::enrol(store, name, roles, NOW).await;
    (enrolled.account, enrolled.device)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn training(kind: TrainingKind) -> Training {
    Training { kind, completed_on: date(2025, 6, 1), expires_on: date(2027, 6, 1) }
}

/// A supporter on the roster with all five trainings current at NOW.
async fn supporter(store: &Arc<dyn Store>, name: &str) -> AccountId {
    let (a, _) = account(store, name, vec![Role::Staff]).await;
    assert!(store.add_peer_supporter(&a, NOW).await.unwrap());
    for kind in TrainingKind::ALL {
        store.set_training(&a, &training(kind)).await.unwrap();
    }
    a
}

fn rotation(id: &str, members: Vec<AccountId>) -> Rotation {
    Rotation {
        id: id.into(),
        team: "peer-support".into(),
        name: format!("rotation {id}"),
        members,
        handoff: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        time_zone: "America/Chicago".parse().unwrap(),
        period_days: 7,
        start_date: date(2026, 1, 5),
        created_at: NOW,
    }
}

fn swap(id: &str, rotation: &str, proposer: AccountId, counterpart: AccountId) -> Swap {
    Swap {
        id: id.into(),
        rotation: rotation.into(),
        proposer,
        counterpart,
        proposer_shift: NOW + 7 * DAY,
        counterpart_shift: NOW + 14 * DAY,
        status: SwapStatus::Proposed,
        created_at: NOW,
        answered_at: None,
    }
}

async fn adding_a_supporter_needs_an_account_and_grants_the_role(store: Arc<dyn Store>) {
    let err = store.add_peer_supporter(&AccountId::random(), NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let (a, device) = account(&store, "Dana", vec![Role::Staff, Role::Coordinator]).await;
    assert!(store.add_peer_supporter(&a, NOW).await.unwrap());
    assert!(!store.add_peer_supporter(&a, NOW + 1).await.unwrap(), "already on the roster");
    assert_eq!(store.device(&device).await.unwrap().unwrap().roles, vec![Role::Staff, Role::PeerSupporter, Role::Coordinator]);
    let roster = store.roster().await.unwrap();
    assert_eq!(roster.supporters.len(), 1);
    let s = &roster.supporters[0];
    assert_eq!((s.account, s.switch, s.added_at), (a, Switch::Available, NOW));
    assert!(s.training.is_empty());
    assert_eq!(store.roster().await.unwrap().supporters.iter().map(|s| s.account).collect::<Vec<_>>(), vec![a]);

    assert!(store.remove_peer_supporter(&a).await.unwrap());
    assert!(!store.remove_peer_supporter(&a).await.unwrap());
    assert_eq!(store.device(&device).await.unwrap().unwrap().roles, vec![Role::Staff, Role::Coordinator]);
    assert!(store.roster().await.unwrap().supporters.is_empty());
}

async fn training_is_recorded_per_kind_and_replaced(store: Arc<dyn Store>) {
    let (outsider, _) = account(&store, "Outsider", vec![Role::Staff]).await;
    let err = store.set_training(&outsider, &training(TrainingKind::DeEscalation)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let a = supporter(&store, "Ana").await;
    let renewed = Training { kind: TrainingKind::CrisisIntervention, completed_on: date(2026, 1, 2), expires_on: date(2028, 1, 2) };
    store.set_training(&a, &renewed).await.unwrap();
    let roster = store.roster().await.unwrap();
    let s = roster.supporter(&a).unwrap();
    assert_eq!(s.training.len(), 5, "one record per kind");
    assert_eq!(s.training.iter().find(|t| t.kind == TrainingKind::CrisisIntervention), Some(&renewed));
    assert!(s.training_current(NOW));
    assert!(!s.training_current(NOW + 600 * DAY), "the others lapse on 2027-06-01");
}

async fn the_switch_is_the_supporters_own(store: Arc<dyn Store>) {
    let (outsider, _) = account(&store, "Outsider", vec![Role::Staff]).await;
    let err = store.set_switch(&outsider, Switch::Busy, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    store.set_switch(&a, Switch::Busy, NOW + 5).await.unwrap();
    let roster = store.roster().await.unwrap();
    assert_eq!((roster.supporter(&a).unwrap().switch, roster.supporter(&a).unwrap().switch_at), (Switch::Busy, NOW + 5));
    assert_eq!(roster.supporter(&b).unwrap().switch, Switch::Available);
    store.set_switch(&a, Switch::Off, NOW + 6).await.unwrap();
    assert_eq!(store.roster().await.unwrap().supporter(&a).unwrap().switch, Switch::Off);
}

async fn rotations_keep_member_order_and_are_replaced_whole(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    let c = supporter(&store, "Cy").await;
    let (outsider, _) = account(&store, "Outsider", vec![Role::Staff]).await;
    let r = rotation("r1", vec![c, a, b, a]);
    store.put_rotation(&r).await.unwrap();
    assert_eq!(store.roster().await.unwrap().schedule.rotations, vec![r.clone()], "read back exactly, order and repeats kept");

    let mut changed = rotation("r1", vec![b, c]);
    changed.name = "Nights".into();
    changed.period_days = 1;
    changed.time_zone = "Europe/London".parse().unwrap();
    store.put_rotation(&changed).await.unwrap();
    assert_eq!(store.roster().await.unwrap().schedule.rotations, vec![changed.clone()]);

    let err = store.put_rotation(&rotation("r1", vec![a, outsider])).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::NotOnRoster)), "{err:?}");
    assert_eq!(store.roster().await.unwrap().schedule.rotations, vec![changed], "nothing stored");

    assert!(store.delete_rotation("r1").await.unwrap());
    assert!(!store.delete_rotation("r1").await.unwrap());
    assert!(store.roster().await.unwrap().schedule.rotations.is_empty());
}

async fn overrides_need_a_rotation_and_a_supporter(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let (outsider, _) = account(&store, "Outsider", vec![Role::Staff]).await;
    store.put_rotation(&rotation("r1", vec![a])).await.unwrap();
    let o = |id: &str, rotation: &str, account| Override {
        id: id.into(),
        rotation: rotation.into(),
        account,
        start: NOW + HOUR,
        end: NOW + 5 * HOUR,
        created_at: NOW,
    };
    let err = store.add_override(&o("o0", "nope", a)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.add_override(&o("o0", "r1", outsider)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::NotOnRoster)), "{err:?}");
    store.add_override(&o("o1", "r1", a)).await.unwrap();
    assert_eq!(store.roster().await.unwrap().schedule.overrides, vec![o("o1", "r1", a)]);
    assert!(store.delete_override("o1").await.unwrap());
    assert!(!store.delete_override("o1").await.unwrap());
    assert!(store.roster().await.unwrap().schedule.overrides.is_empty());
}

async fn a_swap_is_answered_once_even_concurrently(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    let (outsider, _) = account(&store, "Outsider", vec![Role::Staff]).await;
    store.put_rotation(&rotation("r1", vec![a, b])).await.unwrap();
    let err = store.add_swap(&swap("s0", "r1", a, outsider)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Conflict::NotOnRoster)), "{err:?}");
    let err = store.add_swap(&swap("s0", "nope", a, b)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store.add_swap(&swap("s1", "r1", a, b)).await.unwrap();
    assert_eq!(store.roster().await.unwrap().schedule.swaps, vec![swap("s1", "r1", a, b)]);

    let err = store.answer_swap("nope", SwapStatus::Accepted, NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // The counterpart accepts while the proposer cancels: exactly one answer sticks.
    let (s1, s2) = (store.clone(), store.clone());
    let accept = tokio::spawn(async move { s1.answer_swap("s1", SwapStatus::Accepted, NOW + 1).await.unwrap() });
    let cancel = tokio::spawn(async move { s2.answer_swap("s1", SwapStatus::Cancelled, NOW + 2).await.unwrap() });
    let (accepted, cancelled) = (accept.await.unwrap(), cancel.await.unwrap());
    assert!(accepted != cancelled, "exactly one answer wins: accepted {accepted}, cancelled {cancelled}");
    let stored = store.roster().await.unwrap().schedule.swaps.remove(0);
    let (status, at) = if accepted { (SwapStatus::Accepted, NOW + 1) } else { (SwapStatus::Cancelled, NOW + 2) };
    assert_eq!((stored.status, stored.answered_at), (status, Some(at)));
    assert!(!store.answer_swap("s1", SwapStatus::Declined, NOW + 3).await.unwrap(), "answered already");
}

async fn removal_takes_a_supporter_off_every_rotation_with_their_overrides_and_swaps(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    let c = supporter(&store, "Cy").await;
    store.put_rotation(&rotation("r1", vec![a, b, c])).await.unwrap();
    store.put_rotation(&rotation("r2", vec![b, b])).await.unwrap();
    let o = |id: &str, account| Override { id: id.into(), rotation: "r1".into(), account, start: NOW, end: NOW + HOUR, created_at: NOW };
    store.add_override(&o("ob", b)).await.unwrap();
    store.add_override(&o("oc", c)).await.unwrap();
    store.add_swap(&swap("s-ab", "r1", a, b)).await.unwrap();
    store.add_swap(&swap("s-ca", "r1", c, a)).await.unwrap();

    assert!(store.remove_peer_supporter(&b).await.unwrap());
    let roster = store.roster().await.unwrap();
    assert_eq!(roster.rotation("r1").unwrap().members, vec![a, c], "the others keep their order");
    assert!(roster.rotation("r2").unwrap().members.is_empty());
    assert_eq!(roster.schedule.overrides.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["oc"]);
    assert_eq!(roster.schedule.swaps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec!["s-ca"]);
    assert!(roster.supporter(&b).is_none());
    // Back on the roster later: a fresh record with no training.
    assert!(store.add_peer_supporter(&b, NOW + DAY).await.unwrap());
    let roster = store.roster().await.unwrap();
    assert!(roster.supporter(&b).unwrap().training.is_empty());
}

async fn deleting_a_rotation_deletes_its_overrides_and_swaps(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    store.put_rotation(&rotation("r1", vec![a, b])).await.unwrap();
    store.put_rotation(&rotation("r2", vec![a, b])).await.unwrap();
    let o = |id: &str, rotation: &str| Override { id: id.into(), rotation: rotation.into(), account: a, start: NOW, end: NOW + HOUR, created_at: NOW };
    store.add_override(&o("o1", "r1")).await.unwrap();
    store.add_override(&o("o2", "r2")).await.unwrap();
    store.add_swap(&swap("s1", "r1", a, b)).await.unwrap();
    assert!(store.delete_rotation("r1").await.unwrap());
    let roster = store.roster().await.unwrap();
    assert_eq!(roster.schedule.rotations.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec!["r2"]);
    assert_eq!(roster.schedule.overrides.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), vec!["o2"]);
    assert!(roster.schedule.swaps.is_empty());
    assert_eq!(roster.supporters.len(), 2, "the supporters stay");
}

async fn on_call_now_reads_the_stored_schedule(store: Arc<dyn Store>) {
    let a = supporter(&store, "Ana").await;
    let b = supporter(&store, "Ben").await;
    let c = supporter(&store, "Cy").await;
    // Weekly from Monday 2026-01-05 08:00 Chicago (14:00 UTC): a, then b.
    store.put_rotation(&rotation("r1", vec![a, b])).await.unwrap();
    let start = NOW + 6 * HOUR;
    assert!(on_call_now(&*store, start - 1).await.unwrap().is_empty(), "before the first hand-off");
    assert_eq!(on_call_now(&*store, start).await.unwrap(), vec![a]);
    assert_eq!(on_call_now(&*store, start + 7 * DAY).await.unwrap(), vec![b]);

    store
        .add_override(&Override { id: "o".into(), rotation: "r1".into(), account: c, start: start + DAY, end: start + 2 * DAY, created_at: NOW })
        .await
        .unwrap();
    assert_eq!(on_call_now(&*store, start + DAY).await.unwrap(), vec![c], "the override covers a");

    let mut s = swap("s", "r1", b, a);
    s.proposer_shift = start + 7 * DAY;
    s.counterpart_shift = start + 14 * DAY;
    store.add_swap(&s).await.unwrap();
    assert_eq!(on_call_now(&*store, start + 7 * DAY).await.unwrap(), vec![b], "a proposal changes nothing");
    assert!(store.answer_swap("s", SwapStatus::Accepted, NOW).await.unwrap());
    assert_eq!(on_call_now(&*store, start + 7 * DAY).await.unwrap(), vec![a], "swapped");
    assert_eq!(on_call_now(&*store, start + 14 * DAY).await.unwrap(), vec![b], "swapped back the week after");

    store.set_switch(&a, Switch::Busy, NOW).await.unwrap();
    assert!(on_call_now(&*store, start).await.unwrap().is_empty(), "busy is not on call");
    store.set_switch(&a, Switch::Available, NOW).await.unwrap();
    store
        .set_training(&a, &Training { kind: TrainingKind::ActiveListening, completed_on: date(2024, 1, 1), expires_on: date(2026, 1, 6) })
        .await
        .unwrap();
    assert_eq!(on_call_now(&*store, start).await.unwrap(), vec![a], "current on 5 January");
    assert!(on_call_now(&*store, start + DAY - 6 * HOUR).await.unwrap().is_empty(), "lapsed on 6 January (UTC)");
}
