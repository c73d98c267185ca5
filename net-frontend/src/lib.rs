//! The network frontend of mqlite. For now it holds the MQTT codec: pure functions that turn
//! bytes into [`Packet`]s and back, for MQTT 3.1, 3.1.1 and 5.0, with no sockets, router or
//! sessions. The connection state machine and the mio server will build on it.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use mqlite_net::codec::{self, DecodeLimits, Packet, ProtocolVersion};
//!
//! let mut wire = BytesMut::new();
//! codec::encode(&Packet::PingReq, ProtocolVersion::V311, &mut wire)?;
//! assert_eq!(&wire[..], &[0xC0, 0x00]);
//!
//! let limits = DecodeLimits::default();
//! let packet = codec::decode(&mut wire, ProtocolVersion::V311, &limits)?;
//! assert_eq!(packet, Some(Packet::PingReq));
//! assert!(wire.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`codec`] | [`codec::decode`], [`codec::encode`], [`Packet`] and one type per packet, properties, reason codes |
//!
//! # Features
//!
//! None yet.

#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod codec;

pub use codec::{DecodeError, DecodeLimits, EncodeError, Packet, ProtocolVersion};
