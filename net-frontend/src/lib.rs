//! The network frontend of mqlite: external devices reach the same [`mqlite::Broker`] that
//! in-process threads use, over MQTT 3.1, 3.1.1 and 5.0 on TCP, with or without TLS. A network connection is one
//! more client of the router; nothing in the router knows about sockets.
//!
//! # Example
//!
//! ```
//! use mqlite::{Broker, Config};
//!
//! let broker = Broker::new(Config::default());
//! let server = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")?.spawn()?;
//! println!("MQTT on {}", server.local_addr());
//! // ... in-process clients of `broker` and network clients now share one router ...
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`codec`] | [`codec::decode`], [`codec::encode`], [`Packet`] and one type per packet, properties, reason codes |
//! | `conn` | one connection as a sans-I/O state machine over a [`mqlite::Client`] |
//! | `worker` | a mio event loop owning a share of the connections |
//! | `server` | [`Server`]: listeners, the acceptor thread, the workers |
//! | `config` | [`ServerConfig`]: the frontend's limits |
//! | `listener` | [`ListenerConfig`]: one listener's TLS, authentication and limits |
//! | `limits` | [`ListenerLimits`], [`Rate`]: connections per listener and per address, connection and input rates |
//! | `tls` | [`TlsConfig`]: TLS listeners (rustls), client certificates, reload |
//! | [`auth`] | [`auth::Auth`]: password file, ACL file, client-id rules (Mosquitto's formats) |
//!
//! # Features
//!
//! None: this crate is only the library. The `mqlite` broker binary (configuration file,
//! command line, logs, signals) is the `mqlite-broker` crate (`broker/`), so embedders do not
//! build its dependencies.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod auth;
pub mod codec;
mod config;
mod conn;
mod limits;
mod listener;
mod server;
mod stats;
mod tls;
mod worker;

pub use codec::{DecodeError, DecodeLimits, EncodeError, Packet, ProtocolVersion};
pub use config::ServerConfig;
pub use limits::{ListenerLimits, Rate};
pub use listener::ListenerConfig;
pub use server::{BindError, Server, ServerBuilder, ServerHandle, Stopper};
pub use stats::NetStats;
pub use tls::{IdentitySource, TlsConfig, TlsError, TlsVersion};
