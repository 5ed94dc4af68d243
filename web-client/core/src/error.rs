//! The one error type of the client core, shared by the I/O-free session and the native transport.

use sallyport_protocol::ErrorCode;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the request with a stable error code (from an `error` frame or a REST
    /// error body).
    #[error("the server refused: {message} ({code})")]
    Server { code: ErrorCode, message: String },
    /// The network or socket failed (connection refused, reset, TLS, HTTP transport…).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is closed; `reconnect` to resume.
    #[error("the connection is closed")]
    Closed,
    /// The server sent something this client cannot make sense of.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The server's error code, if the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}
