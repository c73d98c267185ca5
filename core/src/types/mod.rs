//! Layer 1: value types. Topics, QoS, configuration, errors, the will, publications and
//! deliveries as values, the options of a connect and of a publish, hooks and events, the
//! clock, and statistics as values.
//!
//! Not here: anything that locks, queues or routes. These modules use only `sync` and each
//! other (`core/tests/layers.rs` checks it).

pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod connect_options;
pub(crate) mod error;
pub(crate) mod hooks;
pub(crate) mod message;
pub(crate) mod publish_options;
pub(crate) mod qos;
pub(crate) mod stats;
pub(crate) mod store;
pub mod topic;
pub(crate) mod will;
