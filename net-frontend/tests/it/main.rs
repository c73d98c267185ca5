//! The integration tests of mqlite-net, one module per feature, in one test binary: the crate
//! and the fixtures are linked once instead of once per file, and `cargo test` runs every
//! module's tests in one process (`cargo test -p mqlite-net --test it acl::` runs one).
//!
//! Fixtures: `common` (a server on 127.0.0.1:0, a raw MQTT client, the malformed-input
//! checks), `auth_common` (servers with authentication, a Mosquitto process) and
//! `tls_fixtures` (a test PKI made with rcgen, a TLS client). The binary's tests
//! (`broker/tests/`) compile `common` and `auth_common` in as well.
//!
//! Not here: `tests/auth_flood.rs`, which reads the process's resident memory and so runs in a
//! process of its own.
#![allow(clippy::unwrap_used)]

mod auth_common;
mod common;
mod tls_fixtures;

mod abuse;
mod acl;
mod acl_differential;
mod auth;
mod denial_events;
mod durable;
mod embedding;
mod enhanced_auth;
mod fuzz;
mod limits;
mod malformed;
mod malformed_connect;
mod malformed_requests;
mod panic_isolation;
mod protocol;
mod reload;
mod robustness;
mod tls_mutual;
mod tls_robustness;
mod tls_transport;
mod topic_alias;
