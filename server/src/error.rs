//! REST errors: a stable machine code and a human message in a JSON body, never internals.

use crate::store::StoreError;
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode) -> Self {
        ApiError { status, code, message: code.default_message().to_owned() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, code: ErrorCode::BadRequest, message: message.into() }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::BadRequest),
            StoreError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, ErrorCode::BadRequest),
            StoreError::Other(detail) => {
                tracing::error!(%detail, "storage failure in a request");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ApiErrorBody { code: self.code, message: self.message })).into_response()
    }
}
