//! Pure types and rules, no I/O: no sqlx, no axum, no clock of their own (every rule takes the
//! instant it is about). The store persists these types; workflows apply these rules.

pub mod debriefs;
pub mod mls;
pub mod incidents;
pub mod names;
pub mod paging;
pub mod push;
pub mod readiness;
pub mod report;
pub mod roles;
pub mod roster;
pub mod roster_rules;
pub mod schedule;
pub mod secrets;
pub mod signatures;
pub mod support;
pub mod teams;

/// Milliseconds in a minute, an hour and a day.
pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
