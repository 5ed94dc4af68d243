//! Storage of debriefs and their pushes (protocol/README.md §18): the opaque debrief (kind, time,
//! revision, cancellation) and, until each is sent, one row per notice and device with its due
//! time and the preview the coordinator's client sealed. A push being sent is leased (its due
//! time moved ahead) and deleted once the push service has answered.

use super::StoreResult;
use async_trait::async_trait;
use sallyport_protocol::debriefs::DebriefKind;
use sallyport_protocol::{DebriefId, DeviceId};

/// A debrief as stored, with how many of its pushes are not yet sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebriefRecord {
    pub id: DebriefId,
    pub kind: DebriefKind,
    pub at: i64,
    pub revision: u64,
    pub created_at: i64,
    pub cancelled_at: Option<i64>,
    pub pending: u64,
}

/// One push a `PUT` schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDebriefPush {
    /// The notice's place in the request (0-based).
    pub notice: u32,
    pub device: DeviceId,
    pub due_at: i64,
    pub sealed: Vec<u8>,
}

/// What a `PUT` asks to store.
#[derive(Debug, Clone)]
pub struct PutDebrief<'a> {
    pub id: DebriefId,
    pub kind: DebriefKind,
    pub at: i64,
    /// `0` to create; otherwise the revision the client last saw.
    pub revision: u64,
    pub pushes: &'a [NewDebriefPush],
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored with its new revision.
    Saved(DebriefRecord),
    /// The revision given is not the current one (or `0` for an id that exists): nothing changed.
    Stale(DebriefRecord),
    /// A revision above 0 for an id that does not exist.
    Unknown,
    /// The debrief is cancelled: nothing changed.
    Cancelled(DebriefRecord),
}

/// A push claimed for sending: its row's due time is now `leased_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePush {
    pub debrief: DebriefId,
    pub kind: DebriefKind,
    pub notice: u32,
    pub device: DeviceId,
    pub sealed: Vec<u8>,
    pub leased_until: i64,
}

#[async_trait]
pub trait DebriefStore: Send + Sync {
    /// Creates (revision 0, a new id: revision 1) or updates (the current revision: bumped) the
    /// debrief and replaces every push of it not yet sent, in one transaction.
    async fn put_debrief(&self, put: PutDebrief<'_>) -> StoreResult<PutOutcome>;

    async fn debrief(&self, id: &DebriefId) -> StoreResult<Option<DebriefRecord>>;

    /// Deletes the pushes not yet sent and sets `cancelled_at` (once: a second cancel changes
    /// nothing); `None` for an unknown id.
    async fn cancel_debrief(&self, id: &DebriefId, now: i64) -> StoreResult<Option<DebriefRecord>>;

    /// Claims up to `limit` pushes due at `now`, each leased until `now + lease_ms` (the due time
    /// moved ahead in the claiming transaction, so each is claimed by one node at a time).
    async fn claim_debrief_pushes(&self, now: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<DuePush>>;

    /// Deletes a claimed push (unless a `PUT` or a cancel replaced it meanwhile). When `sent` and
    /// it is a follow-up's, counts `followup_sent` in `report_events` for the UTC day of `now`,
    /// once per notice and person whatever their devices, in the same transaction.
    async fn finish_debrief_push(&self, push: &DuePush, sent: bool, now: i64) -> StoreResult<()>;
}

/// The store's contract for debriefs, on SQLite always and on PostgreSQL when
/// `SALLYPORT_TEST_POSTGRES_URL` names a cluster: claims lease, a finish counts a follow-up once
/// per notice and person (across re-sends after a lease and a `PUT` that replaces the rows), a
/// finish with a lease that is no longer the row's does nothing, and revisions are compared.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DAY_MS;
    use crate::store::devices::{NewDevice, NewInvitation};
    use crate::store::{Store, sha256};
    use sallyport_protocol::rest::Role;
    use sallyport_protocol::{AccountId, MailboxId, PublicKey};
    use sqlx::Connection as _;

    const NOW: i64 = 1_800_000_000_000;
    const LEASE: i64 = 60_000;

    /// Reads `followup_sent` rows straight from the database.
    enum Db {
        Sqlite(String),
        Postgres(String),
    }

    impl Db {
        async fn followups(&self) -> i64 {
            let sql = "SELECT COUNT(*) FROM report_events WHERE kind = 'followup_sent'";
            match self {
                Db::Sqlite(url) => {
                    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
                    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
                }
                Db::Postgres(url) => {
                    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
                }
            }
        }
    }

    async fn device(store: &dyn Store, account: Option<AccountId>) -> (AccountId, DeviceId) {
        let code = rand::random::<[u8; 16]>();
        let invitation = NewInvitation {
            code_hash: sha256(&code),
            display_name: "P".into(),
            roles: vec![Role::Staff],
            account,
            created_at: NOW,
            expires_at: NOW + 60_000,
        };
        store.create_invitation(invitation).await.unwrap();
        let new = NewDevice {
            device: DeviceId::random(),
            mailbox: MailboxId::random(),
            new_account: AccountId::random(),
            signing_key: PublicKey([9; 32]),
            notification_key: PublicKey([8; 32]),
            now: NOW,
        };
        let enrolled = store.redeem_invitation(&sha256(&code), new).await.unwrap();
        (enrolled.account, enrolled.device)
    }

    fn push(notice: u32, device: DeviceId, due_at: i64) -> NewDebriefPush {
        NewDebriefPush { notice, device, due_at, sealed: vec![notice as u8 + 1; 32] }
    }

    fn put(id: DebriefId, revision: u64, pushes: &[NewDebriefPush]) -> PutDebrief<'_> {
        PutDebrief { id, kind: DebriefKind::Followup, at: NOW, revision, pushes, now: NOW }
    }

    fn saved(outcome: PutOutcome) -> DebriefRecord {
        match outcome {
            PutOutcome::Saved(record) => record,
            other => panic!("not saved: {other:?}"),
        }
    }

    async fn claim(store: &dyn Store, now: i64) -> Vec<DuePush> {
        let mut due = store.claim_debrief_pushes(now, LEASE, 100).await.unwrap();
        due.sort_by_key(|p| (p.notice, p.device));
        due
    }

    async fn contract(store: &dyn Store, db: Db) {
        let (p, p1) = device(store, None).await;
        let (_, p2) = device(store, Some(p)).await;
        let (_, q1) = device(store, None).await;
        let id = DebriefId::random();
        let day = NOW + DAY_MS;
        let pushes = [push(0, p1, NOW), push(0, p2, NOW), push(0, q1, NOW), push(1, p1, day)];
        let created = saved(store.put_debrief(put(id, 0, &pushes)).await.unwrap());
        assert_eq!((created.revision, created.pending, created.cancelled_at), (1, 4, None));
        assert!(matches!(store.put_debrief(put(id, 0, &pushes)).await.unwrap(), PutOutcome::Stale(r) if r.revision == 1));
        assert!(matches!(store.put_debrief(put(id, 5, &pushes)).await.unwrap(), PutOutcome::Stale(r) if r.revision == 1));
        let unknown = PutDebrief { id: DebriefId::random(), ..put(id, 1, &pushes) };
        assert_eq!(store.put_debrief(unknown).await.unwrap(), PutOutcome::Unknown);

        // Claimed once per lease.
        assert!(claim(store, NOW - 1).await.is_empty());
        let due = claim(store, NOW).await;
        assert_eq!(due.len(), 3);
        assert!(due.iter().all(|d| d.leased_until == NOW + LEASE && d.kind == DebriefKind::Followup && d.notice == 0));
        assert!(claim(store, NOW + 1).await.is_empty(), "leased");

        // P's first device is sent: P counted once; P's other device later is not counted again.
        let of = |due: &[DuePush], device: DeviceId| due.iter().find(|d| d.device == device).unwrap().clone();
        store.finish_debrief_push(&of(&due, p1), true, NOW).await.unwrap();
        assert_eq!(db.followups().await, 1);

        // A PUT replacing the rows keeps P counted for notice 0.
        let again = [push(0, p1, NOW), push(0, p2, NOW), push(0, q1, NOW), push(1, p1, day)];
        assert_eq!(saved(store.put_debrief(put(id, 1, &again)).await.unwrap()).revision, 2);
        // The old claims' leases are no longer the rows': finishing them does nothing.
        store.finish_debrief_push(&of(&due, q1), true, NOW).await.unwrap();
        assert_eq!((db.followups().await, store.debrief(&id).await.unwrap().unwrap().pending), (1, 4));

        // A crash: nothing finished; after the lease the rows are claimed again.
        let due = claim(store, NOW).await;
        assert_eq!(due.len(), 3);
        let due = claim(store, NOW + LEASE).await;
        assert_eq!(due.len(), 3, "claimed again after the lease");
        for d in &due {
            store.finish_debrief_push(d, true, NOW + LEASE).await.unwrap();
        }
        assert_eq!(db.followups().await, 2, "P once (three sends to two devices), Q once");
        store.finish_debrief_push(&of(&due, q1), true, NOW + LEASE).await.unwrap();
        assert_eq!(db.followups().await, 2, "a second answer for the same push counts nothing");

        // Notice 1: a send that failed (not `sent`) is dropped uncounted.
        let due = claim(store, day).await;
        assert_eq!(due.len(), 1);
        store.finish_debrief_push(&due[0], false, day).await.unwrap();
        assert_eq!((db.followups().await, store.debrief(&id).await.unwrap().unwrap().pending), (2, 0));

        // Cancelling: unsent rows go, once; a cancelled debrief is not changed.
        let other = DebriefId::random();
        let rows = [push(0, q1, day)];
        saved(store.put_debrief(PutDebrief { id: other, kind: DebriefKind::Debriefing, at: day, revision: 0, pushes: &rows, now: NOW }).await.unwrap());
        let cancelled = store.cancel_debrief(&other, NOW + 5).await.unwrap().unwrap();
        assert_eq!((cancelled.cancelled_at, cancelled.pending, cancelled.kind), (Some(NOW + 5), 0, DebriefKind::Debriefing));
        assert_eq!(store.cancel_debrief(&other, NOW + 9).await.unwrap().unwrap().cancelled_at, Some(NOW + 5));
        let put_again = PutDebrief { id: other, kind: DebriefKind::Debriefing, at: day, revision: 1, pushes: &rows, now: NOW };
        assert!(matches!(store.put_debrief(put_again).await.unwrap(), PutOutcome::Cancelled(_)));
        assert!(claim(store, day + DAY_MS).await.is_empty());
        assert_eq!(store.cancel_debrief(&DebriefId::random(), NOW).await.unwrap(), None);
        assert_eq!(store.debrief(&DebriefId::random()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn debrief_store_contract_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = crate::store::SqliteStore::connect(&url).await.unwrap();
        contract(&store, Db::Sqlite(format!("{url}?mode=ro"))).await;
        store.close().await;
    }

    #[tokio::test]
    async fn debrief_store_contract_on_postgres() {
        let Ok(base) = std::env::var("SALLYPORT_TEST_POSTGRES_URL") else {
            assert!(std::env::var("SALLYPORT_REQUIRE_POSTGRES").as_deref() != Ok("1"), "SALLYPORT_TEST_POSTGRES_URL is not set");
            eprintln!("skipped: set SALLYPORT_TEST_POSTGRES_URL to run the PostgreSQL tests");
            return;
        };
        let name = format!("debriefs_{}", rand::random::<u64>());
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        let url = format!("{prefix}/{name}");
        let store = crate::store::PostgresStore::connect(&url).await.unwrap();
        contract(&store, Db::Postgres(url)).await;
        store.close().await;
    }
}
