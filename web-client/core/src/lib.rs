//! Sallyport's client core. `identity` holds a device's keys and credentials, `session` is the
//! I/O-free protocol state machine (challenge, resume, de-duplication), `mls` the end-to-end
//! encrypted groups (bytes in, events out) with their persistence in `storage`, `suite` the one
//! cipher suite's primitives, `seal` the sealed notifications, `safety` the safety codes, and
//! `native` (feature `native`) drives the session over tokio WebSockets for tests, the load
//! generator and the CLI. The wasm build for the web app reuses everything except `native`.

pub mod error;
pub mod identity;
pub mod mls;
#[cfg(feature = "native")]
pub mod native;
pub mod safety;
pub mod seal;
pub mod session;
pub mod storage;
pub mod suite;

pub use error::ClientError;
pub use identity::{Credentials, DeviceKeys};
#[cfg(feature = "native")]
pub use native::{Client, ClientReceiver, ClientSender, ConnectOptions, api_request, api_request_with, enrol, enrol_with, signing_time};
pub use mls::{GroupId, IgnoreReason, Member, MemberInfo, MlsClient, MlsClientError, MlsEvent, MlsIdentity, Outgoing};
pub use session::{Event, Session};
#[cfg(not(target_arch = "wasm32"))]
pub use storage::FileStateStore;
pub use storage::{KvState, MemoryStateStore, StateStore};

pub use sallyport_protocol as protocol;
