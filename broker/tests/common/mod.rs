//! Fixtures of the binary's tests: `process.rs` runs the `mqlite` binary as a subprocess; the
//! raw MQTT test client and the rest are mqlite-net's own test fixtures, compiled in from
//! `net-frontend/tests/` rather than copied, so both crates test against the same client.
#![allow(dead_code, unused_imports)]

#[path = "../../../net-frontend/tests/it/common/mod.rs"]
mod net;
pub(crate) mod process;

pub(crate) use net::*;
