//! Storage for the programme report (protocol/README.md §19): the countable events other stores
//! record in `report_events` (a UTC day, a kind and, for a delay, its seconds: nothing that says
//! who or which), read back per day, and the debriefings held. Suppression is the domain's
//! (`domain::report`), applied before anything leaves the server.

use super::StoreResult;
use async_trait::async_trait;

pub use crate::domain::report::{Event, EventKind, Held};

const DAY_MS: i64 = 86_400_000;

/// The UTC day number (days since 1970-01-01) of a Unix-ms time: what `report_events.day` holds.
pub fn event_day(at_ms: i64) -> i64 {
    at_ms.div_euclid(DAY_MS)
}

/// Whole seconds from `from_ms` to `to_ms`, never negative (a clock step back counts as 0).
pub fn delay_seconds(from_ms: i64, to_ms: i64) -> i64 {
    (to_ms - from_ms).max(0) / 1000
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Every event on a day before `before_day`, in no particular order. The report is computed
    /// over the whole history (suppression must see every period), so this reads it all: a row is
    /// a few bytes, a large programme a few hundred thousand rows. Each event is dated by the day
    /// it is recorded, so what this returns for a past day never changes.
    async fn report_events(&self, before_day: i64) -> StoreResult<Vec<Event>>;

    /// Defusings and debriefings held on a day before `before_day`, as known when that day ended:
    /// made before its end and not cancelled by then (a later change does not alter a past day).
    async fn held_debriefs(&self, before_day: i64) -> StoreResult<Vec<Held>>;
}
