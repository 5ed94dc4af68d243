//! Peer support: the roster of peer supporters and their training, the on-call schedule
//! (rotations, overrides, swaps, each supporter's switch), and its REST endpoints.

pub mod oncall;
pub mod oncall_routes;
pub mod roster;
pub mod schedule;
pub mod requests;
pub mod routing;
