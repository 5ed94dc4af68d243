//! Sallyport's client core. `identity` holds a device's keys and credentials, `session` is the
//! I/O-free protocol state machine (challenge, resume, de-duplication), and `native` (feature
//! `native`) drives it over tokio WebSockets for tests, the load generator and the CLI. The wasm
//! build for the web app reuses everything except `native`.

pub mod error;
pub mod identity;
#[cfg(feature = "native")]
pub mod native;
pub mod session;

pub use error::ClientError;
pub use identity::{Credentials, DeviceKeys};
#[cfg(feature = "native")]
pub use native::{Client, ClientReceiver, ClientSender, enrol};
pub use session::{Event, Session};

pub use sallyport_protocol as protocol;
