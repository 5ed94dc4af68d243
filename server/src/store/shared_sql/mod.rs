//! The SQL both backends run as written, once. SQLite and PostgreSQL both take `$N` placeholders,
//! `RETURNING` and `ON CONFLICT`, so most statements are the same text; what differs is passed in
//! as a fragment (row locks, which SQLite's single writer does not need) or a backend method:
//!
//! - `reader()` / `writer()`: the pools for reads and for single-statement writes;
//! - `begin_write()`: a write transaction (SQLite: `BEGIN IMMEDIATE` on the one writer);
//! - `begin_snapshot()`: a read transaction that sees one snapshot of every table;
//! - `announce_revocation(tx)`: called before a revocation is recorded (PostgreSQL orders the
//!   feed and notifies the other nodes on commit);
//! - `by_mailboxes(select, mailboxes)`: runs `select` (which ends in `WHERE … <column>`) for a
//!   list of mailboxes (SQLite: chunked `IN (…)`; PostgreSQL: `= ANY($1)`).
//!
//! `shared_sql!` expands, inside a backend's module, to that backend's implementation of
//! `DeviceStore`, `MailboxStore`, `SettingsStore`, `PushStore`, `RosterStore`, `SupportStore`,
//! `TeamStore`, `IncidentStore`, `ReadinessStore`, `DebriefStore` and `ReportStore`:
//! a macro rather than generic code because sqlx's per-type bounds cannot be stated once for a
//! generic database, while each expansion is checked against its concrete driver.

mod accounts;
mod debriefs;
mod incidents;
mod mailboxes;
mod readiness;
mod report;
mod roster;
mod support;
mod teams;

macro_rules! shared_sql {
    (
        store: $store:ident,
        db: $db:ty,
        for_update: $for_update:literal,
        for_share: $for_share:literal,
        skip_locked: $skip_locked:literal $(,)?
    ) => {
        crate::store::shared_sql::accounts_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::mailboxes_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::roster_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::support_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::teams_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::incidents_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::readiness_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::debriefs_sql!($store, $db, $for_update, $for_share, $skip_locked);
        crate::store::shared_sql::report_sql!($store, $db);
    };
}

pub(crate) use accounts::accounts_sql;
pub(crate) use debriefs::debriefs_sql;
pub(crate) use incidents::incidents_sql;
pub(crate) use mailboxes::mailboxes_sql;
pub(crate) use readiness::readiness_sql;
pub(crate) use report::report_sql;
pub(crate) use roster::roster_sql;
pub(crate) use shared_sql;
pub(crate) use support::support_sql;
pub(crate) use teams::teams_sql;
