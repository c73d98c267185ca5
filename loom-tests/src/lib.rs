//! `mqlite-loom`: loom models of mqlite's concurrency, and the same scenarios as stress tests.
//!
//! The models in `tests/*.rs` (each `#![cfg(loom)]`) drive the real `mqlite` crate through its
//! public API. Built with `RUSTFLAGS="--cfg loom"`, every lock, atomic and channel of core is
//! loom's (core's `sync` facade), so loom explores the interleavings of the real code.
//! `tests/stress.rs` (`#![cfg(not(loom))]`) runs the same scenarios with real threads.
//! See `README.md` for what each model proves, its bound and its cost.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p mqlite-loom --release   # the models
//! cargo test -p mqlite-loom                                    # the stress tests
//! ```
//!
//! # Modules
//!
//! | module | what lives there |
//! | --- | --- |
//! | [`fixtures`] | brokers with a manual clock, draining helpers, a counting [`mqlite::wire::Notify`] |
//! | `model` (loom only) | `model::check`: runs a model with its preemption bound and reports its cost; `model::block_on`, a parking executor |
//! | `store` (loom only) | a test `mqlite::Store` on loom's primitives, for the durable-mode models |
#![forbid(unsafe_code)]

pub mod fixtures;
#[cfg(loom)]
pub mod model;
#[cfg(loom)]
pub mod store;
