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
//!     .will(Will::new("devices/42/status", "offline").qos(QoS::AtLeastOnce).retain(true)))?;
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
//! # Modules
//!
//! | module | what lives there |
//! | --- | --- |
//! | `topic` | [`TopicName`], [`TopicFilter`]: validation and the reference matcher |
//! | `index` | the topic index: exact filters in a hash map, wildcards in a trie, shared groups |
//! | `router` | the session table and the fan-out of one publication |
//! | `session` | one session's queue, in-flight window and attachment |
//! | `broker`, `client` | the public handles: [`Broker`], [`Client`] |
//! | `publish`, `subscribe`, `retained`, `timers`, `stats` | the operations behind them |
//! | `hooks` | [`Hooks`] of the embedder, the [`Event`]s they observe, and enhanced authentication ([`Authenticator`], [`AuthExchange`]) |
//! | `sync` | the only door to locks, atomics and channels (loom under `cfg(loom)`) |
//!
//! # Features
//!
//! None: the default build is the whole library. Build with `RUSTFLAGS="--cfg loom"` to run
//! the loom models of `mqlite-loom`.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod broker;
mod client;
mod clock;
mod config;
mod connect_options;
mod effects;
mod error;
mod hooks;
pub(crate) mod index;
mod message;
mod publish;
mod qos;
mod retained;
mod router;
mod session;
mod stats;
mod subscribe;
pub(crate) mod sync;
mod timers;
pub mod topic;
mod will;

pub use broker::{Broker, BrokerBuilder, NEVER_EXPIRE};
pub use bytes::Bytes;
pub use client::Client;
pub use client::wire::{Outbound, Received};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, OverflowPolicy, SharedStrategy};
pub use connect_options::ConnectOptions;
pub use error::{
    ConnectError, LimitError, PublishError, RecvError, SessionError, SubscribeError, TryRecvError,
};
pub use hooks::{
    AuthExchange, AuthStep, Authenticator, ClientInfo, DenyReason, DisconnectReason, DropReason,
    Event, Hooks,
};
pub use message::{Message, PublishProperties};
pub use publish::PublishOptions;
pub use qos::{QoS, RetainHandling, SubOptions};
pub use session::Wake;
pub use stats::{SessionStats, Stats};
pub use topic::{TopicError, TopicFilter, TopicName};
pub use will::Will;

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
struct ReadmeDoctests;
