//! Sallyport's wire protocol, shared by the server and every client: WebSocket frames (JSON text
//! frames, tagged by `type`, and a binary form of the hot ones), REST request and response bodies,
//! stable error codes and limits. This crate does no I/O; `protocol/README.md` is its human-readable specification.

pub mod auth;
pub mod binary;
pub mod debriefs;
pub mod error;
pub mod frames;
pub mod group;
pub mod ids;
pub mod rest;
pub mod roster;
pub mod incidents;
pub mod report;
pub mod support;
pub mod teams;

pub use binary::{BINARY_SUBPROTOCOL, Encoding, WireMessage, decode_client_binary, decode_server_binary};
pub use error::ErrorCode;
pub use frames::{ClientFrame, ServerFrame, decode_client_frame};
pub use ids::{AccountId, AnswerToken, DebriefId, DeviceId, IncidentId, MailboxId, MailboxSecret, MessageId, Nonce, Payload, PublicKey, RequestId, Signature};

/// The protocol version spoken on `/v1/ws`; the server announces it in its `challenge` frame.
pub const PROTOCOL_VERSION: u16 = 1;

/// Path of the WebSocket endpoint for this protocol version.
pub const WS_PATH: &str = "/v1/ws";

/// Largest opaque payload a `send` may carry, in bytes after base64 decoding.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Largest WebSocket message the server reads. A frame above this closes the connection with
/// `frame_too_large`: it leaves room for a maximal base64 payload plus the recipient list.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;

/// Most mailboxes one connection may read (its device's linked one included): `subscribe` and
/// `create_mailbox` beyond it get `mailbox_limit`.
pub const MAX_MAILBOXES_PER_CONNECTION: usize = 1024;

/// Most recipient mailboxes one `send` may name.
pub const MAX_RECIPIENTS: usize = 256;

/// How far a device's clock may be from the server's when it signs the challenge, in milliseconds.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// Most one-time KeyPackages in one `publish_key_packages`.
pub const MAX_KEY_PACKAGES_PER_PUBLISH: usize = 100;

/// Most one-time KeyPackages the server keeps per mailbox.
pub const MAX_KEY_PACKAGES_PER_MAILBOX: u32 = 500;

/// Largest KeyPackage accepted, in bytes.
pub const MAX_KEY_PACKAGE_BYTES: usize = 8 * 1024;

/// When a claim leaves fewer one-time KeyPackages than this, the mailbox's readers are told.
pub const KEY_PACKAGES_LOW_WATER: u32 = 10;

/// Application messages are accepted for the group's current epoch and this many before it.
pub const EPOCH_GRACE: u64 = 3;
