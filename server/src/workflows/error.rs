//! Why a workflow refused, typed. `http::error` turns each into one HTTP status and stable code.

use crate::domain::roster::TrainingKind;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    /// The input is malformed or out of range; the message says which field and how.
    #[error("{0}")]
    Invalid(String),
    /// No such thing; a message, or `None` for the generic one.
    #[error("not found")]
    NotFound(Option<String>),
    /// The caller may not do this; a message, or `None` for the generic one.
    #[error("forbidden")]
    Forbidden(Option<String>),
    /// Someone is not on the peer supporter roster: the caller (`caller: true`), or someone the
    /// request names.
    #[error("not on the roster")]
    NotOnRoster { caller: bool, message: Option<String> },
    /// Someone's required training is missing or lapsed: the caller, or someone the request names.
    #[error("training not current")]
    TrainingNotCurrent { caller: bool, message: Option<String> },
    /// A swap names a time that does not begin a shift its side holds.
    #[error("not a shift")]
    NotAShift,
    #[error("swap not pending")]
    SwapNotPending,
    /// Another supporter took the request first.
    #[error("already claimed")]
    AlreadyClaimed,
    /// Nobody has accepted the request yet.
    #[error("not claimed")]
    NotClaimed,
    #[error("mailbox exists")]
    MailboxExists,
    #[error("wrong mailbox secret")]
    WrongMailboxSecret,
    /// Too many of these from this caller lately; the message says what to do meanwhile.
    #[error("{0}")]
    RateLimited(String),
    #[error("device revoked")]
    DeviceRevoked,
    /// The calling device waits for approval by another device of its account.
    #[error("device pending")]
    DevicePending,
    #[error("invalid invitation")]
    InvalidInvitation,
    /// A push subscription's endpoint is at a host this server does not push to; the message
    /// names the host.
    #[error("{0}")]
    PushServiceNotAllowed(String),
    /// The request conflicts with what is stored (a limit, an endpoint in use); the message says
    /// what to do.
    #[error("{0}")]
    Refused(String),
    #[error("invalid answer token")]
    InvalidAnswerToken,
    #[error("incident resolved")]
    IncidentResolved,
    /// A debrief's `PUT` named a revision other than its current one (given).
    #[error("stale revision")]
    StaleRevision(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::push::subscriptions::InvalidSubscription> for WorkflowError {
    fn from(err: crate::push::subscriptions::InvalidSubscription) -> Self {
        use crate::push::subscriptions::InvalidSubscription as I;
        match err {
            I::Malformed(message) => WorkflowError::Invalid(message),
            I::HostNotAllowed(message) => WorkflowError::PushServiceNotAllowed(message),
        }
    }
}

impl WorkflowError {
    /// `DevicePending` for a device that waits for approval: it may not take support requests,
    /// be woken by push or be added to conversations until a device of its account approves it.
    pub fn unless_approved(caller: &crate::store::DeviceRecord) -> Result<(), WorkflowError> {
        if caller.is_pending() { Err(WorkflowError::DevicePending) } else { Ok(()) }
    }

    pub fn not_found(what: &str) -> WorkflowError {
        WorkflowError::NotFound(Some(format!("no such {what}")))
    }

    /// `who` (named in the request) is not on the roster.
    pub fn not_on_roster(who: &str) -> WorkflowError {
        WorkflowError::NotOnRoster { caller: false, message: Some(format!("{who} is not on the peer supporter roster")) }
    }

    pub fn caller_not_on_roster() -> WorkflowError {
        WorkflowError::NotOnRoster { caller: true, message: Some("you are not on the peer supporter roster".into()) }
    }

    /// `name` cannot be put on call: these kinds of training are missing or lapsed.
    pub fn not_on_team(who: &str) -> WorkflowError {
        WorkflowError::NotOnRoster { caller: false, message: Some(format!("{who} is not a member of the team")) }
    }

    pub fn caller_not_on_team() -> WorkflowError {
        WorkflowError::NotOnRoster { caller: true, message: Some("you are not on a team".into()) }
    }

    pub fn training_not_current(name: &str, gaps: &[TrainingKind]) -> WorkflowError {
        let gaps: Vec<&str> = gaps.iter().map(|k| k.as_str()).collect();
        WorkflowError::TrainingNotCurrent {
            caller: false,
            message: Some(format!("{name} cannot be put on call: training not current: {}", gaps.join(", "))),
        }
    }
}
