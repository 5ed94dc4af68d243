//! What people do with Sallyport, one function per action: each takes the store, push, clock and
//! caller it needs and returns a typed result or a `WorkflowError`. No axum types: `http` only
//! extracts, calls a workflow and answers; tests call workflows directly.

pub mod admin;
pub mod app_config;
pub mod debriefs;
pub mod enrolment;
pub mod incidents;
mod error;
pub mod people;
pub mod peer_support;
pub mod push_subscriptions;
pub mod readiness;
pub mod reports;
pub mod teams;

pub use error::WorkflowError;

/// A workflow's result.
pub type Outcome<T> = Result<T, WorkflowError>;

use crate::store::DeviceRecord;
use sallyport_protocol::rest::Role;

/// `Forbidden` unless the caller's account has `role`.
pub fn require(caller: &DeviceRecord, role: Role) -> Outcome<()> {
    if caller.roles.contains(&role) { Ok(()) } else { Err(WorkflowError::Forbidden(None)) }
}
