//! Layer 5: the public handles, thin wrappers of the engine. [`Broker`] and its builder,
//! the in-process [`Client`] (blocking and async receives), the received [`Message`], and
//! the transport's [`wire::WireClient`].
//!
//! Not here: any rule of MQTT; those are in the layers below (`engine/`, `router/`,
//! `session/`).

mod broker;
mod client;
mod message;
pub mod wire;

pub use broker::{Broker, BrokerBuilder};
pub use client::{Client, MessageStream, Publish, Recv};
pub use message::Message;
