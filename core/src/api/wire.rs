//! The transport API: how a carrier of MQTT packets (the network frontend, or one an
//! embedder writes: a WebSocket, a serial line) drives a session from the wire.
//!
//! A transport connects with [`crate::Broker::connect_wire`], giving the session a
//! [`Notify`] that wakes the transport's event loop. The [`WireClient`] it gets speaks the
//! acknowledgement protocol of the wire: it hands out PUBLISH and PUBREL packets to send
//! ([`WireClient::poll_outbound`]), takes PUBACK, PUBREC and PUBCOMP by packet id, and
//! deduplicates incoming QoS 2 messages until their PUBREL. An application thread uses
//! [`crate::Client`] instead, where [`crate::Message::ack`] does all of this.
//!
//! # Example: a transport's loop, reduced to its calls
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use mqlite::wire::{Accepted, Notify, Outbound};
//! use mqlite::{Broker, Config, ConnectOptions, PublishOptions, QoS, TopicName};
//!
//! /// Wakes the transport's event loop (here: counts).
//! #[derive(Debug, Default)]
//! struct Wakes(AtomicUsize);
//! impl Notify for Wakes {
//!     fn notify(&self) { self.0.fetch_add(1, Ordering::Relaxed); }
//! }
//!
//! let broker = Broker::new(Config::default());
//! let wakes = Arc::new(Wakes::default());
//! let device = broker.connect_wire(ConnectOptions::new("device"), wakes.clone())?;
//! device.subscribe("cmd/#", QoS::AtLeastOnce)?;
//!
//! // An application thread publishes a command; the transport is woken once.
//! let app = broker.connect(ConnectOptions::new("app"))?;
//! app.publish("cmd/reboot", "now", QoS::AtLeastOnce, false)?;
//! assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
//!
//! // The transport drains what to send, writes it, and takes the PUBACK by packet id.
//! let Ok(Outbound::Publish(message)) = device.poll_outbound() else { panic!() };
//! let packet_id = message.packet_id().expect("QoS 1 has one");
//! assert!(device.puback(packet_id)?);
//! assert!(device.arm_notify(), "nothing more: the transport may sleep");
//!
//! // A QoS 2 PUBLISH from the device, then its resend before PUBREL: routed once.
//! let opts = PublishOptions::new(QoS::ExactlyOnce);
//! let topic = TopicName::new("telemetry/1")?;
//! assert_eq!(device.publish_packet(7, topic.clone(), "21.5".into(), &opts)?, Accepted::Routed);
//! assert_eq!(device.publish_packet(7, topic, "21.5".into(), &opts)?, Accepted::Duplicate);
//! assert!(device.pubrel(7)?, "PUBREL releases id 7: answer PUBCOMP");
//! device.disconnect();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use super::message::Message;
use crate::engine::{Connection, Consumer, Engine};
use crate::session::Next;
use crate::sync::{Arc, ValueArc};
use crate::types::connect_options::ConnectOptions;
use crate::types::error::{ConnectError, PublishError, SessionError, SubscribeError, TryRecvError};
use crate::types::publish_options::PublishOptions;
use crate::types::qos::{QoS, SubOptions};
use crate::types::stats::SessionStats;
use crate::types::topic::TopicName;

pub use crate::session::Notify;

/// What a transport must send next ([`WireClient::poll_outbound`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Outbound {
    /// A PUBLISH (a resend after a resume has [`Message::dup`] set).
    Publish(Message),
    /// A PUBREL for a QoS 2 delivery the receiver already acknowledged with PUBREC, due again
    /// after a resume [MQTT-4.3.3-1], [MQTT-4.4.0-1].
    Release {
        /// Its packet identifier.
        packet_id: u16,
    },
}

/// What became of an incoming PUBLISH given to [`WireClient::publish_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Accepted {
    /// Routed to the subscribers: answer with PUBACK (QoS 1) or PUBREC (QoS 2).
    Routed,
    /// A resend of a QoS 2 PUBLISH already routed and not yet released: not routed again;
    /// answer with PUBREC [MQTT-4.3.3-2].
    Duplicate,
}

/// A transport's handle on one connection ([`crate::Broker::connect_wire`]).
///
/// Everything a [`crate::Client`] does but receiving: publish, subscribe, session expiry,
/// disconnect (dropping it ends the connection uncleanly: the will is published). Instead
/// of receiving, the transport drains [`WireClient::poll_outbound`] whenever its
/// [`Notify`] fires, until it reports `Empty`, then calls [`WireClient::arm_notify`] before
/// it sleeps. QoS 2 follows the wire's rules: a delivery is complete at PUBCOMP, and a
/// resumed session resends the PUBLISH until PUBREC, then only the PUBREL.
pub struct WireClient {
    conn: Connection,
}

impl fmt::Debug for WireClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireClient")
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

impl WireClient {
    pub(crate) fn connect(
        engine: &Arc<Engine>,
        options: ConnectOptions,
        notify: ValueArc<dyn Notify>,
    ) -> Result<Self, ConnectError> {
        let consumer = Consumer {
            notify,
            in_process: false,
            auto_ack: false,
        };
        let conn = Engine::connect(engine, options, consumer)?;
        Ok(Self { conn })
    }

    /// The client id (the assigned one, if connected with an empty id).
    pub fn client_id(&self) -> &str {
        self.conn.client_id()
    }

    /// Whether connect resumed an existing session [MQTT-3.2.2-2].
    pub fn session_present(&self) -> bool {
        self.conn.session_present()
    }

    /// A snapshot of this connection's session: queued, in flight, sent and dropped.
    pub fn stats(&self) -> SessionStats {
        self.conn.stats()
    }

    /// The next thing to send, without blocking: PUBREL resends, then PUBLISH resends, then
    /// queued deliveries, within the receive maximum.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when there is nothing to send now; [`TryRecvError::Session`]
    /// once the connection was taken over, or its broker shut down and the queue is drained.
    pub fn poll_outbound(&self) -> Result<Outbound, TryRecvError> {
        match self.conn.take_one()? {
            Some(Next::Publish(taken)) => Ok(Outbound::Publish(Message::new(&self.conn, taken))),
            Some(Next::Release(packet_id)) => Ok(Outbound::Release { packet_id }),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The transport found nothing to send and is about to sleep until its [`Notify`] fires:
    /// arms the notification. Returns `true` if the transport may sleep; `false` if
    /// something arrived meanwhile, in which case it polls again instead (a delivery that
    /// lands between "found nothing" and sleeping is never left waiting).
    #[must_use]
    pub fn arm_notify(&self) -> bool {
        !self.conn.park()
    }

    /// PUBACK received for a QoS 1 delivery [MQTT-4.3.2-1]. Returns whether one with that id
    /// was in flight (`false`: a protocol error of the peer, or a duplicate PUBACK).
    ///
    /// # Errors
    ///
    /// The connection was taken over.
    pub fn puback(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.conn.puback(packet_id)
    }

    /// PUBREC received for a QoS 2 delivery: the receiver has it; answer with PUBREL
    /// [MQTT-4.3.3-1]. Returns whether one with that id was in flight.
    ///
    /// # Errors
    ///
    /// The connection was taken over.
    pub fn pubrec(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.conn.pubrec(packet_id)
    }

    /// PUBCOMP received: the QoS 2 delivery is complete [MQTT-4.3.3-1]. Returns whether a
    /// released delivery with that id was in flight.
    ///
    /// # Errors
    ///
    /// The connection was taken over.
    pub fn pubcomp(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.conn.pubcomp(packet_id)
    }

    /// An incoming PUBLISH with its packet identifier. QoS 0 and 1 are published at once
    /// (a QoS 1 resend is published again, as QoS 1 allows). A QoS 2 PUBLISH is published
    /// once: its id is held until [`WireClient::pubrel`], and a resend with the same id in
    /// the meantime is reported as [`Accepted::Duplicate`] and not routed [MQTT-4.3.3-2].
    /// Held ids survive a resume of a persistent session.
    ///
    /// # Errors
    ///
    /// As [`crate::Client::publish_with`], plus [`PublishError::ReceiveMaximumExceeded`]
    /// when the sender has more unreleased QoS 2 messages than the broker's
    /// `max_inflight_messages`.
    pub fn publish_packet(
        &self,
        packet_id: u16,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<Accepted, PublishError> {
        if options.qos() != QoS::ExactlyOnce {
            self.conn.publish(topic, payload, options)?;
            return Ok(Accepted::Routed);
        }
        match self.conn.publish_qos2(packet_id, topic, payload, options)? {
            true => Ok(Accepted::Routed),
            false => Ok(Accepted::Duplicate),
        }
    }

    /// Publishes a QoS 0 message (which has no packet identifier).
    ///
    /// # Errors
    ///
    /// As [`crate::Client::publish_with`].
    pub fn publish(
        &self,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        self.conn.publish(topic, payload, options)
    }

    /// PUBREL received: the QoS 2 message `packet_id` is released, and a new PUBLISH with
    /// that id is a new message; answer with PUBCOMP [MQTT-4.3.3-2]. Returns whether the id
    /// was held.
    ///
    /// # Errors
    ///
    /// The connection was taken over.
    pub fn pubrel(&self, packet_id: u16) -> Result<bool, SessionError> {
        self.conn.pubrel(packet_id)
    }

    /// Subscribes to one filter; returns the granted QoS (as [`crate::Client::subscribe`]).
    ///
    /// # Errors
    ///
    /// As [`crate::Client::subscribe`].
    pub fn subscribe(
        &self,
        filter: &str,
        options: impl Into<SubOptions>,
    ) -> Result<QoS, SubscribeError> {
        self.conn.subscribe_one(filter, options.into())
    }

    /// Subscribes to several filters; one result per filter, in order, like the return
    /// codes of one SUBACK [MQTT-3.9.3-1].
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the connection is unusable; per-filter errors are in the vector.
    pub fn subscribe_many(
        &self,
        filters: &[(&str, SubOptions)],
    ) -> Result<Vec<Result<QoS, SubscribeError>>, SessionError> {
        self.conn.subscribe(filters)
    }

    /// Unsubscribes from several filters; per filter, whether it was subscribed.
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the connection is unusable.
    pub fn unsubscribe_many(
        &self,
        filters: &[&str],
    ) -> Result<Vec<Result<bool, SubscribeError>>, SessionError> {
        self.conn.unsubscribe(filters)
    }

    /// Changes how long the session outlives this connection, as a 5.0 DISCONNECT's Session
    /// Expiry Interval does (§3.14.2.2.2); see [`crate::Client::set_session_expiry`].
    ///
    /// # Errors
    ///
    /// The connection was taken over or its broker shut down.
    pub fn set_session_expiry(&self, expiry: Duration) -> Result<(), SessionError> {
        self.conn.set_session_expiry(expiry)
    }

    /// Ends the connection cleanly: the will is discarded [MQTT-3.1.2-10].
    pub fn disconnect(self) {
        self.conn.disconnect();
    }
}
