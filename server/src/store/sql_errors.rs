//! Translating `sqlx::Error` into `StoreError`, for both backends. Messages name error codes and
//! constraints, never bound values, so they are safe for the operator's log.

use super::{Conflict, StoreError};

/// Translates a driver error; a unique violation is `Conflict(AlreadyExists)`.
pub fn store_error(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(Conflict::AlreadyExists),
        other => StoreError::Other(describe(&other)),
    }
}

/// Like `store_error`, naming the conflict for a unique violation.
pub fn conflict(kind: Conflict) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(kind),
        other => store_error(other),
    }
}

fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            // PostgreSQL's class 22 (data exception) messages may quote the offending value.
            if code.len() == 5 && code.starts_with("22") {
                format!("database error {code}")
            } else {
                format!("database error {code}: {}", db.message())
            }
        }
        sqlx::Error::Io(io) => format!("database I/O error: {}", io.kind()),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
        sqlx::Error::PoolClosed => "the database pool is closed".into(),
        sqlx::Error::WorkerCrashed => "the database worker crashed".into(),
        sqlx::Error::Protocol(msg) => format!("database protocol error: {msg}"),
        sqlx::Error::ColumnDecode { index, .. } => format!("could not decode column {index}"),
        sqlx::Error::ColumnNotFound(name) => format!("no column {name}"),
        sqlx::Error::Encode(_) => "could not encode a bound value".into(),
        sqlx::Error::Decode(_) => "could not decode a value".into(),
        sqlx::Error::Tls(_) => "TLS error talking to the database".into(),
        sqlx::Error::Configuration(_) => "database configuration error".into(),
        sqlx::Error::Migrate(m) => format!("migration error: {m}"),
        _ => "unexpected database driver error".into(),
    }
}
