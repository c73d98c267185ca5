//! mqlite: an embeddable, in-memory MQTT router.
//!
//! Threads of one process publish and subscribe through a [`Broker`] with full MQTT
//! semantics: topic filters with `+` and `#`, `$`-topics, shared subscriptions, QoS 0/1/2
//! with the min(publish, granted) downgrade, retained messages, last wills, persistent
//! sessions and the MQTT 5 delivery options. Payloads are [`bytes::Bytes`], shared by every
//! recipient, never copied. Core does no I/O; the `mqlite-net` crate puts the same router on
//! the network.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use mqlite::{Broker, Config, ConnectOptions, QoS, Will};
//!
//! let broker = Broker::new(Config::default());
//! let dash = broker.connect(ConnectOptions::new("dashboard"))?;
//! dash.subscribe("devices/+/status", QoS::AtLeastOnce)?;
//!
//! let sensor = broker.connect(ConnectOptions::new("sensor-42")
//!     .will(Will::new("devices/42/status", "offline")?.qos(QoS::AtLeastOnce).retain(true)))?;
//! sensor.publish("devices/42/status", "online", QoS::AtLeastOnce, true)?;
//! drop(sensor); // no disconnect(): the will is published
//!
//! for expected in ["online", "offline"] {
//!     let msg = dash.recv_timeout(Duration::from_secs(1))?;
//!     assert_eq!(msg.payload().as_ref(), expected.as_bytes());
//!     msg.ack();
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layers
//!
//! Core is built in layers, each a folder, and a module uses only the layers below it
//! (`core/tests/layers.rs` checks every `use crate::` path):
//!
//! | layer | folder | what lives there |
//! | --- | --- | --- |
//! | 0 | `sync/` | the only door to locks, atomics and channels (loom under `cfg(loom)`) |
//! | 1 | `types/` | values: [`topic`], [`QoS`], [`Config`], errors, [`Will`], publications, options, [`Hooks`] and [`Event`]s, the [`Clock`], [`Stats`] |
//! | 2 | `journal/` | durable mode's records: encoding every change of durable state for the [`Store`], and reading them back at start |
//! | 2 | `index/` | the topic index: exact filters in a hash map, wildcards in a trie, shared groups |
//! | 3 | `session/` | one session: its queue, in-flight window, subscriptions and expiry; owns its lock and every rule that changes it |
//! | 4 | `router/` | the session table, the index and client ids; attach, takeover, detach; the fan-out of one publication |
//! | 5 | `engine/` | one broker's state: connect (limits, hooks), publish, subscribe, retained, timers, effects, stats |
//! | 6 | `api/` | the public handles: [`Broker`], [`Client`] (blocking and async receives), [`Message`], and the transport API [`wire`] |
//!
//! # Features
//!
//! - `futures-core`: [`MessageStream`] implements `futures_core::Stream`. Off by default;
//!   [`Client::recv_async`] and [`Client::poll_recv`] need no feature and no runtime.
//!
//! Build with `RUSTFLAGS="--cfg loom"` to run the loom models of `mqlite-loom`.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod api;
mod engine;
pub(crate) mod index;
mod journal;
mod router;
mod session;
pub(crate) mod sync;
mod types;

pub use api::wire;
pub use api::{Broker, BrokerBuilder, Client, Message, MessageStream, Publish, Recv};
pub use bytes::Bytes;
pub use types::clock::{Clock, ManualClock, SystemClock};
pub use types::config::{Config, OverflowPolicy, ParseNameError, SharedStrategy};
pub use types::connect_options::{ConnectOptions, NEVER_EXPIRE};
pub use types::error::{
    ConnectError, LimitError, PublishError, RecvError, SessionError, SubscribeError, TryRecvError,
};
pub use types::hooks::{
    AuthExchange, AuthStep, Authenticator, ClientInfo, DenyReason, DisconnectReason, DropReason,
    Event, Hooks,
};
pub use types::message::PublishProperties;
pub use types::publish_options::PublishOptions;
pub use types::qos::{QoS, RetainHandling, SubOptions};
pub use types::stats::{SessionStats, Stats};
pub use types::store::{Store, StoreError, StoreStats, StoredRecord, Ticket};
pub use types::topic;
pub use types::topic::{TopicError, TopicFilter, TopicName};
pub use types::will::Will;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;
