//! The relay: `hub` knows which local connection reads which mailbox, `committer` makes messages
//! durable with group commit, `delivery_service` reads MLS framing to order commits, `session` runs one WebSocket, and `watchers` carry revocations,
//! other nodes' wake-ups and expiry.

pub mod committer;
pub mod delivery_service;
pub mod hub;
pub mod session;
pub mod watchers;
