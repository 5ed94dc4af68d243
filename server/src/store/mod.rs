//! Durable state behind one trait, `Store`, with an SQLite and a PostgreSQL implementation. SQL
//! lives here and nowhere else; `sqlx::Error` is translated into `StoreError` at this boundary.
//! Times are Unix milliseconds, chosen by the caller (so tests can drive the clock).
//!
//! `Store` is the sum of one sub-trait per concern (devices, mailboxes, the queue, KeyPackages,
//! push subscriptions, settings, wake-ups, the roster, support requests, crisis teams, incidents, debriefs). What both backends run
//! as written is in `shared_sql` (one text, `$N` placeholders); each backend keeps only what
//! its database does differently (group commit, KeyPackage claims, multi-node wake-ups).

mod append_plan;
pub mod debriefs;
pub mod devices;
pub mod incidents;
pub mod key_packages;
pub mod mailboxes;
mod postgres;
pub mod push;
pub mod queue;
pub mod readiness;
pub mod report;
pub mod roster;
mod rows;
pub mod settings;
mod shared_sql;
mod sql_errors;
mod sqlite;
#[cfg(test)]
pub(crate) use sqlite::WriteLock;
pub mod support;
pub mod teams;
pub mod wakeups;

pub use crate::domain::mls::{GroupCheck, GroupMessage};
pub use crate::domain::secrets::{Hash32, sha256};
pub use debriefs::DebriefStore;
pub use devices::{Approval, DeviceRecord, DeviceStore, Enrolled, NewDevice, NewInvitation};
pub use incidents::IncidentStore;
pub use key_packages::{ClaimedKeyPackage, KeyPackageStore};
pub use mailboxes::{GROUP_IDLE_MS, MailboxAccess, MailboxStore};
pub use postgres::PostgresStore;
pub use push::{PushStore, PushSubscription};
pub use readiness::ReadinessStore;
pub use report::ReportStore;
pub use queue::{AppendOutcome, FastLookup, FastPathStore, KnownGroup, NewMessage, QueueStore, QueuedMessage};
pub use roster::RosterStore;
pub use settings::SettingsStore;
pub use sqlite::SqliteStore;
pub use support::SupportStore;
pub use teams::TeamStore;
pub use wakeups::{WakeupStore, Wakeup};

use async_trait::async_trait;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// Anything else; the message is for the operator's log and never carries user data.
    #[error("storage error: {0}")]
    Other(String),
}

/// Which uniqueness or limit rule a write ran into. Each method's documentation names the ones
/// it can return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    InvitationExists,
    AccountExists,
    DeviceExists,
    MailboxExists,
    RequestExists,
    /// A mailbox would hold more one-time KeyPackages than allowed.
    KeyPackageLimit,
    /// A device or an unlinked mailbox would hold more push subscriptions than allowed.
    PushSubscriptionLimit,
    /// The push endpoint is registered on the other side of the device / unlinked-mailbox line:
    /// sharing it would link the two.
    EndpointInUse,
    /// An account named as a rotation member, override holder or swap party is not on the roster.
    NotOnRoster,
    /// Some other unique constraint.
    AlreadyExists,
}

impl Conflict {
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::InvitationExists => "invitation_exists",
            Conflict::AccountExists => "account_exists",
            Conflict::DeviceExists => "device_exists",
            Conflict::MailboxExists => "mailbox_exists",
            Conflict::RequestExists => "request_exists",
            Conflict::KeyPackageLimit => "key_package_limit",
            Conflict::PushSubscriptionLimit => "push_subscription_limit",
            Conflict::EndpointInUse => "endpoint_in_use",
            Conflict::NotOnRoster => "not_on_roster",
            Conflict::AlreadyExists => "already_exists",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Resolves, with the reason, once a node has lost its place among the nodes (see
/// `Store::take_node_place`).
pub type NodePlaceLost = futures::future::BoxFuture<'static, String>;

/// Everything the server keeps, on one database.
#[async_trait]
pub trait Store:
    DeviceStore
    + MailboxStore
    + QueueStore
    + KeyPackageStore
    + PushStore
    + SettingsStore
    + WakeupStore
    + RosterStore
    + SupportStore
    + TeamStore
    + IncidentStore
    + ReadinessStore
    + DebriefStore
    + ReportStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is ("sqlite" or "postgres"), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Takes this serving node's place among the nodes that share the database, before it serves
    /// anyone. `single`: it must be the only one, which turns on early delivery (`fast_path`)
    /// where the backend could otherwise be shared; other nodes cannot start while it serves, and
    /// it cannot start while another serves (after waiting up to `wait` for one that is
    /// stopping). The returned future resolves, with the reason, if the place is lost while
    /// serving: the node must then stop. SQLite is one node and never loses its place.
    async fn take_node_place(&self, single: bool, wait: std::time::Duration) -> anyhow::Result<NodePlaceLost>;

    /// Closes pools after in-flight work.
    async fn close(&self);
}

/// Opens the store named by the URL's scheme (`sqlite:` or `postgres:`/`postgresql:`) and applies
/// the embedded migrations.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        anyhow::bail!("unsupported database URL scheme (use sqlite://PATH or postgres://…)")
    }
}
