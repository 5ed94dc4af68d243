//! The relay: `hub` knows which local connection reads which mailbox, `committer` makes messages
//! durable with group commit, `session` runs one WebSocket, and `watchers` carry revocations,
//! other nodes' wake-ups and expiry.

pub mod committer;
pub mod hub;
pub mod session;
pub mod watchers;
