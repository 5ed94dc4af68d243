//! REST errors: a stable machine code and a human message in a JSON body, never internals. Every
//! workflow and store error is mapped to its HTTP status and code here, and only here.

use crate::store::StoreError;
use crate::workflows::WorkflowError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sallyport_protocol::ErrorCode;
use sallyport_protocol::rest::ApiErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// With `stale_revision`: the current revision, for the body.
    pub revision: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode) -> Self {
        ApiError { status, code, message: code.default_message().to_owned(), revision: None }
    }

    fn with(status: StatusCode, code: ErrorCode, message: Option<String>) -> Self {
        match message {
            Some(message) => ApiError { status, code, message, revision: None },
            None => ApiError::new(status, code),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, code: ErrorCode::BadRequest, message: message.into(), revision: None }
    }

    /// `429 rate_limited`: the caller spent a budget of its own; nobody else is affected.
    pub fn rate_limited(message: &str) -> Self {
        ApiError { status: StatusCode::TOO_MANY_REQUESTS, code: ErrorCode::RateLimited, message: message.to_owned(), revision: None }
    }

    pub fn unauthorized(message: &str) -> Self {
        ApiError { status: StatusCode::UNAUTHORIZED, code: ErrorCode::Unauthorized, message: message.to_owned(), revision: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound),
            StoreError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::BadRequest),
            StoreError::Other(detail) => {
                tracing::error!(%detail, "storage failure in a request");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }
}

impl From<WorkflowError> for ApiError {
    fn from(err: WorkflowError) -> Self {
        use StatusCode as S;
        use WorkflowError as W;
        match err {
            W::Invalid(message) => ApiError::bad_request(message),
            W::NotFound(message) => ApiError::with(S::NOT_FOUND, ErrorCode::NotFound, message),
            W::Forbidden(message) => ApiError::with(S::FORBIDDEN, ErrorCode::Forbidden, message),
            // The caller is refused (403); someone the request names cannot be used (422).
            W::NotOnRoster { caller: true, message } => ApiError::with(S::FORBIDDEN, ErrorCode::NotOnRoster, message),
            W::NotOnRoster { caller: false, message } => ApiError::with(S::UNPROCESSABLE_ENTITY, ErrorCode::NotOnRoster, message),
            W::TrainingNotCurrent { caller: true, message } => ApiError::with(S::FORBIDDEN, ErrorCode::TrainingNotCurrent, message),
            W::TrainingNotCurrent { caller: false, message } => {
                ApiError::with(S::UNPROCESSABLE_ENTITY, ErrorCode::TrainingNotCurrent, message)
            }
            W::NotAShift => ApiError::new(S::UNPROCESSABLE_ENTITY, ErrorCode::NotAShift),
            W::SwapNotPending => ApiError::new(S::CONFLICT, ErrorCode::SwapNotPending),
            W::AlreadyClaimed => ApiError::new(S::CONFLICT, ErrorCode::AlreadyClaimed),
            W::NotClaimed => ApiError::new(S::CONFLICT, ErrorCode::NotClaimed),
            W::MailboxExists => ApiError::new(S::CONFLICT, ErrorCode::MailboxExists),
            W::WrongMailboxSecret => ApiError::new(S::FORBIDDEN, ErrorCode::WrongMailboxSecret),
            W::RateLimited(message) => ApiError::with(S::TOO_MANY_REQUESTS, ErrorCode::RateLimited, Some(message)),
            W::DeviceRevoked => ApiError::new(S::UNAUTHORIZED, ErrorCode::DeviceRevoked),
            W::DevicePending => ApiError::new(S::FORBIDDEN, ErrorCode::DevicePending),
            W::InvalidInvitation => ApiError::new(S::FORBIDDEN, ErrorCode::InvalidInvitation),
            // Well-formed, but not a push service this server sends to.
            W::PushServiceNotAllowed(message) => ApiError::with(S::UNPROCESSABLE_ENTITY, ErrorCode::PushServiceNotAllowed, Some(message)),
            W::Refused(message) => ApiError::with(S::CONFLICT, ErrorCode::BadRequest, Some(message)),
            W::InvalidAnswerToken => ApiError::new(S::FORBIDDEN, ErrorCode::InvalidAnswerToken),
            W::IncidentResolved => ApiError::new(S::CONFLICT, ErrorCode::IncidentResolved),
            W::StaleRevision(current) => ApiError { revision: Some(current), ..ApiError::new(S::CONFLICT, ErrorCode::StaleRevision) },
            W::Store(err) => err.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ApiErrorBody { code: self.code, message: self.message, revision: self.revision })).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_refusals_are_403_for_the_caller_and_422_for_others() {
        let caller = ApiError::from(WorkflowError::caller_not_on_roster());
        assert_eq!((caller.status, caller.code), (StatusCode::FORBIDDEN, ErrorCode::NotOnRoster));
        let other = ApiError::from(WorkflowError::not_on_roster("the account"));
        assert_eq!((other.status, other.code), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NotOnRoster));
        assert_eq!(other.message, "the account is not on the peer supporter roster");
    }

    #[test]
    fn storage_failures_never_show_their_detail() {
        let err = ApiError::from(WorkflowError::Store(StoreError::Other("database error 23505: secret".into())));
        assert_eq!((err.status, err.code), (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal));
        assert!(!err.message.contains("secret"));
    }
}
