//! The fixture every store contract file uses: a store on a fresh database — SQLite (always, in a
//! temp dir) or PostgreSQL (a fresh database per test on `SALLYPORT_TEST_POSTGRES_URL`, e.g. a
//! cluster from `scripts/pg-cluster start`; with `SALLYPORT_REQUIRE_POSTGRES=1` a missing URL
//! fails the PostgreSQL tests instead of skipping them) — and `contract!`, which runs each
//! behaviour once per backend.

#![allow(dead_code)] // each contract file uses its own part of this module

use sallyport_protocol::rest::Role;
use sallyport_protocol::{AccountId, DeviceId, MailboxId, PublicKey};
use sallyport_server::store::{self, Enrolled, NewDevice, NewInvitation, Store};
use std::sync::Arc;

/// A store on a fresh database, and how to open that database again.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub url: String,
    /// PostgreSQL: (base URL, database name) to drop at the end.
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("nested/dir/sallyport.db").display());
        let store = store::connect(&url).await.expect("open SQLite");
        assert_eq!(store.backend(), "sqlite");
        Fixture { store, url, pg: None, _dir: Some(dir) }
    }

    pub async fn postgres() -> Option<Fixture> {
        let Ok(base) = std::env::var("SALLYPORT_TEST_POSTGRES_URL") else {
            if std::env::var("SALLYPORT_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("SALLYPORT_REQUIRE_POSTGRES=1 but SALLYPORT_TEST_POSTGRES_URL is not set");
            }
            eprintln!("skipped: set SALLYPORT_TEST_POSTGRES_URL to run the PostgreSQL contract tests");
            return None;
        };
        let name = format!("t_{:032x}", rand::random::<u128>());
        admin(&base, &format!("CREATE DATABASE {name}")).await;
        let mut url = url::Url::parse(&base).expect("SALLYPORT_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = store::connect(&url).await.expect("open PostgreSQL");
        assert_eq!(store.backend(), "postgres");
        Some(Fixture { store, url, pg: Some((base, name)), _dir: None })
    }

    /// Another store instance on the same database (another node, or the same one restarted).
    pub async fn open_again(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("reopen the store")
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((base, name)) = &self.pg {
            admin(base, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

async fn admin(base: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(base).await.expect("connect to SALLYPORT_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.expect("administer test databases");
    conn.close().await.ok();
}

/// A fresh device's keys and ids, enrolling at `now`.
pub fn new_device(now: i64) -> NewDevice {
    NewDevice {
        device: DeviceId::random(),
        mailbox: MailboxId::random(),
        new_account: AccountId::random(),
        signing_key: PublicKey::random(),
        notification_key: PublicKey::random(),
        now,
    }
}

/// Enrols one device on a new account named `name` with `roles`, through an invitation, at `now`.
pub async fn enrol(store: &Arc<dyn Store>, name: &str, roles: Vec<Role>, now: i64) -> Enrolled {
    let code_hash = store::sha256(&rand::random::<[u8; 16]>());
    let invitation = NewInvitation { code_hash, display_name: name.into(), roles, account: None, created_at: now, expires_at: now + 3_600_000 };
    store.create_invitation(invitation).await.unwrap();
    store.redeem_invitation(&code_hash, new_device(now)).await.unwrap()
}

/// Each behaviour, once per backend. `store:` behaviours take the store; `fixture:` behaviours
/// take the fixture (to open the same database again).
#[macro_export]
macro_rules! contract {
    ($(store: [$($s:ident),* $(,)?])? $(,)? $(fixture: [$($f:ident),* $(,)?])? $(,)?) => {
        mod sqlite {
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $s() {
                    let f = $crate::common::Fixture::sqlite().await;
                    super::$s(f.store.clone()).await;
                    f.finish().await;
                }
            )*)?
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $f() {
                    let f = $crate::common::Fixture::sqlite().await;
                    super::$f(&f).await;
                    f.finish().await;
                }
            )*)?
        }
        mod postgres {
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $s() {
                    let Some(f) = $crate::common::Fixture::postgres().await else { return };
                    super::$s(f.store.clone()).await;
                    f.finish().await;
                }
            )*)?
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $f() {
                    let Some(f) = $crate::common::Fixture::postgres().await else { return };
                    super::$f(&f).await;
                    f.finish().await;
                }
            )*)?
        }
    };
}
