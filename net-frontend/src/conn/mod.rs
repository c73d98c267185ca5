//! One network connection as a sans-I/O state machine: bytes in ([`Conn::on_read`]),
//! deliveries out ([`Conn::on_delivery`]), time passing ([`Conn::on_tick`]). It speaks to the
//! router through a [`mqlite::wire::WireClient`], the transport's handle on the same sessions an in-process thread uses, and leaves encoded
//! bytes in [`Conn::write`] for whoever owns the socket.
//!
//! - `connect.rs`: CONNECT → [`mqlite::ConnectOptions`], CONNACK, refusals.
//! - `enhanced_auth.rs`: MQTT 5.0 enhanced authentication (AUTH exchanges at CONNECT and
//!   re-authentication) through the embedder's [`mqlite::Hooks::start_auth`].
//! - `inbound.rs`: every packet of a connected client.
//! - `outbound.rs`: deliveries → PUBLISH / PUBREL, topic aliases, the client's packet size.
//!
//! Not here: sockets, mio, threads (`worker/`), TLS (`tls/`), listening (`server.rs`).

mod connect;
mod enhanced_auth;
mod inbound;
mod outbound;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqlite::wire::{Notify, WireClient};
use mqlite::{Broker, SessionError, TopicName, TryRecvError};

use crate::codec::{
    self, DecodeLimits, Disconnect, Packet, Properties, ProtocolVersion, ReasonCode,
};
use crate::config::ServerConfig;
use crate::stats::{self, Counters};

/// What every connection of a server shares: its settings and counters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) limits: DecodeLimits,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn new(config: ServerConfig) -> Self {
        Self {
            limits: DecodeLimits {
                max_packet_size: config.max_packet_size,
            },
            config,
            counters: Counters::default(),
        }
    }
}

/// The connection must close: flush what [`Conn::write`] holds, then close the socket. By
/// the time it is returned the session has been ended as the protocol requires (a will is
/// published unless the client disconnected cleanly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// The result of feeding a connection.
pub(crate) type Flow = Result<(), Closed>;

/// What [`Conn::on_delivery`] left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drain {
    /// Nothing more to send; the session will wake the worker when something arrives.
    Idle,
    /// The batch or the write buffer is full and deliveries are waiting: call again once
    /// the socket took some bytes (or on the next turn).
    More,
}

/// One network connection.
#[derive(Debug)]
pub(crate) struct Conn {
    broker: Broker,
    shared: Arc<Shared>,
    wake: Arc<dyn Notify>,
    phase: Phase,
    /// Bytes received and not yet decoded.
    pub(crate) read: BytesMut,
    /// Bytes encoded and not yet written to the socket.
    pub(crate) write: BytesMut,
    opened: Instant,
    last_packet: Instant,
    /// When the socket last took bytes, or the write buffer was last empty.
    write_progress: Instant,
    /// A QoS 0 publish of this client found a full subscriber queue: stop reading for now.
    throttle: bool,
    /// The username the transport vouches for: the client certificate's identity on a TLS
    /// listener with `use_identity_as_username` ([`Conn::set_transport_username`]). It
    /// replaces the CONNECT's username, and its password is dropped, as in Mosquitto: the
    /// certificate is the credential.
    transport_username: Option<String>,
    /// The authentication of the connection's listener ([`Conn::set_auth`]); the server's
    /// until set.
    auth: crate::auth::Auth,
    /// PUBLISH packets [`Conn::on_read`] may still handle before it stops, leaving the rest
    /// unread: the listener's `inbound_message_rate`, set by the worker each turn
    /// ([`Conn::set_publish_budget`]). `u64::MAX`: no limit.
    publish_budget: u64,
}

#[derive(Debug)]
enum Phase {
    /// Waiting for CONNECT.
    Connecting,
    /// A 5.0 CONNECT named an Authentication Method: its AUTH exchange runs before the
    /// session exists (§4.12), within the CONNECT timeout.
    Authenticating(Box<enhanced_auth::Pending>),
    /// Connected: a session of the router.
    Live(Box<Live>),
    /// Ended; only the write buffer is left to flush.
    Closed,
}

/// The state of a connected client.
#[derive(Debug)]
struct Live {
    client: WireClient,
    version: ProtocolVersion,
    /// 1.5 × keep alive [MQTT-3.1.2-22]; `None` when keep alive is 0.
    keep_alive: Option<Duration>,
    /// Inbound topic aliases (5.0): index `alias - 1`.
    aliases_in: Vec<Option<TopicName>>,
    aliases_out: outbound::Aliases,
    /// The client's Maximum Packet Size (5.0), or unlimited.
    max_packet_size: usize,
    /// The CONNECT's session expiry interval was 0, so DISCONNECT may not raise it
    /// [MQTT-3.14.2-2].
    zero_expiry: bool,
    /// What the ACL lets this client publish, subscribe to and read (`crate::auth`).
    auth: crate::auth::ClientAuth,
    /// The client authenticated with enhanced authentication: it may re-authenticate.
    enhanced: Option<Box<enhanced_auth::Enhanced>>,
}

impl Conn {
    /// A connection accepted at `now`; `wake` will be called when its session has
    /// something to send.
    pub(crate) fn new(
        broker: Broker,
        shared: Arc<Shared>,
        wake: Arc<dyn Notify>,
        now: Instant,
    ) -> Self {
        let auth = shared.config.auth.clone();
        Self {
            broker,
            shared,
            wake,
            phase: Phase::Connecting,
            read: BytesMut::new(),
            write: BytesMut::new(),
            opened: now,
            last_packet: now,
            write_progress: now,
            throttle: false,
            transport_username: None,
            auth,
            publish_budget: u64::MAX,
        }
    }

    /// Sets the authentication of the connection's listener (its own password file, ACL
    /// and rules, or the server's). Called by the worker before any byte is handled.
    pub(crate) fn set_auth(&mut self, auth: crate::auth::Auth) {
        self.auth = auth;
    }

    /// Lets [`Conn::on_read`] handle at most `publishes` more PUBLISH packets (the input
    /// rate of the connection's listener).
    pub(crate) fn set_publish_budget(&mut self, publishes: u64) {
        self.publish_budget = publishes;
    }

    /// The PUBLISH packets [`Conn::on_read`] may still handle.
    pub(crate) fn publish_budget(&self) -> u64 {
        self.publish_budget
    }

    /// Sets the username the transport authenticated (a TLS client certificate's identity).
    /// Called by the worker when the handshake ends, before any CONNECT byte is handled.
    pub(crate) fn set_transport_username(&mut self, username: String) {
        self.transport_username = Some(username);
    }

    /// Whether the write buffer is past its limit: stop reading and taking deliveries.
    pub(crate) fn is_write_full(&self) -> bool {
        self.write.len() >= self.shared.config.max_write_buffer_bytes
    }

    /// Appends received bytes and handles every whole packet among them.
    #[cfg(test)]
    pub(crate) fn on_bytes(&mut self, bytes: &[u8], now: Instant) -> Flow {
        self.read.extend_from_slice(bytes);
        self.on_read(now)
    }

    /// Handles every whole packet in [`Conn::read`]. Stops early, keeping the rest, while the
    /// write buffer is full (call again once it drained).
    pub(crate) fn on_read(&mut self, now: Instant) -> Flow {
        while !self.is_write_full() && !self.throttle && self.publish_budget > 0 {
            let limits = &self.shared.limits;
            let packet = match &self.phase {
                Phase::Closed => return Err(Closed),
                Phase::Connecting => match codec::decode_connect(&mut self.read, limits) {
                    Ok(Some(mut connect)) => {
                        if let Some(username) = &self.transport_username {
                            connect.username = Some(username.clone());
                            connect.password = None;
                        }
                        Packet::Connect(connect)
                    }
                    Ok(None) => break,
                    Err(e) => return Err(self.refuse_malformed_connect(&e)),
                },
                Phase::Authenticating(_) => {
                    match codec::decode(&mut self.read, ProtocolVersion::V5, limits) {
                        Ok(Some(packet)) => packet,
                        Ok(None) => break,
                        Err(e) => return Err(self.refuse_malformed_auth(&e)),
                    }
                }
                Phase::Live(live) => match codec::decode(&mut self.read, live.version, limits) {
                    Ok(Some(packet)) => packet,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(client = self.client_id(), error = %e, "malformed packet");
                        let counters = &self.shared.counters;
                        if e.reason_code() == ReasonCode::PROTOCOL_ERROR {
                            stats::add(&counters.protocol_errors, 1);
                        } else {
                            stats::add(&counters.malformed, 1);
                        }
                        return Err(self.close_with(e.reason_code()));
                    }
                },
            };
            // Keep alive counts whole control packets [MQTT-3.1.2-24], not stray bytes.
            self.last_packet = now;
            stats::add(&self.shared.counters.packets_in, 1);
            if matches!(packet, Packet::Publish(_)) {
                self.publish_budget = self.publish_budget.saturating_sub(1);
            }
            match packet {
                Packet::Connect(connect) if matches!(self.phase, Phase::Connecting) => {
                    self.on_connect(connect, now)?;
                }
                packet if matches!(self.phase, Phase::Authenticating(_)) => {
                    self.on_authenticating(packet, now)?;
                }
                packet => self.on_packet(packet)?,
            }
        }
        if self.read.is_empty() && self.read.capacity() > 0 {
            // An idle connection keeps no read buffer.
            self.read = BytesMut::new();
        }
        Ok(())
    }

    /// Whether input handling stopped because a QoS 0 publish of this client found a full
    /// subscriber queue (the message was dropped for that subscriber). The caller pauses
    /// reading this connection briefly, so a flooding publisher is slowed by TCP flow
    /// control instead of the broker burning its CPU on messages it must drop; unread
    /// input is handled on the next [`Conn::on_read`]. Clears the flag.
    pub(crate) fn take_throttle(&mut self) -> bool {
        std::mem::take(&mut self.throttle)
    }

    /// Checks the CONNECT timeout, keep alive and a stalled write buffer at `now`.
    pub(crate) fn on_tick(&mut self, now: Instant) -> Flow {
        let counters = &self.shared.counters;
        match &self.phase {
            Phase::Closed => return Err(Closed),
            // The timeout covers the whole enhanced authentication exchange too.
            Phase::Connecting | Phase::Authenticating(_) => {
                if now.saturating_duration_since(self.opened) >= self.shared.config.connect_timeout
                {
                    stats::add(&counters.connect_timeouts, 1);
                    tracing::debug!("no CONNECT within connect_timeout");
                    return Err(self.close_with(ReasonCode::MAXIMUM_CONNECT_TIME));
                }
            }
            Phase::Live(live) => {
                if let Some(window) = live.keep_alive
                    && now.saturating_duration_since(self.last_packet) > window
                {
                    stats::add(&counters.keepalive_timeouts, 1);
                    tracing::debug!(client = live.client.client_id(), "keep alive timeout");
                    return Err(self.close_with(ReasonCode::KEEP_ALIVE_TIMEOUT));
                }
            }
        }
        if !self.write.is_empty()
            && now.saturating_duration_since(self.write_progress)
                >= self.shared.config.write_stall_timeout
        {
            stats::add(&counters.slow_consumers, 1);
            tracing::debug!(client = self.client_id(), "write buffer stalled; closing");
            // Nothing more can be written, not even a DISCONNECT; the gauge still drops.
            if matches!(self.phase, Phase::Live(_)) {
                stats::dec(&counters.connected);
            }
            self.phase = Phase::Closed;
            return Err(Closed);
        }
        Ok(())
    }

    /// Records a flush at `now`: whether the socket took any bytes. A connection whose
    /// socket takes nothing for `write_stall_timeout` while bytes wait is closed by
    /// [`Conn::on_tick`] as a slow consumer.
    pub(crate) fn on_flushed(&mut self, now: Instant, took_bytes: bool) {
        if took_bytes || self.write.is_empty() {
            self.write_progress = now;
        }
    }

    /// Closes the connection because the server is stopping: DISCONNECT 0x8B on 5.0.
    pub(crate) fn shut_down(&mut self) {
        let _ = self.close_with(ReasonCode::SERVER_SHUTTING_DOWN);
    }

    /// Closes the connection because the store could not make what its last output
    /// acknowledged durable (that output was discarded): DISCONNECT 0x80 on 5.0 if `tell`
    /// (not when the CONNACK itself was discarded: nothing may come before it). The client
    /// sends its unacknowledged messages again when it reconnects.
    pub(crate) fn fail_durability(&mut self, tell: bool) {
        let kept = self.write.len();
        let _ = self.close_with(ReasonCode::UNSPECIFIED_ERROR);
        if !tell {
            self.write.truncate(kept);
        }
    }

    /// Ends the session without a clean disconnect (so the will is published), telling a
    /// 5.0 client why with a DISCONNECT.
    fn close_with(&mut self, code: ReasonCode) -> Closed {
        if let Phase::Live(live) = &self.phase {
            if live.version.is_v5() {
                let packet = Packet::Disconnect(Disconnect {
                    reason_code: code,
                    properties: Properties::default(),
                });
                self.encode(&packet, ProtocolVersion::V5);
            }
            stats::dec(&self.shared.counters.connected);
        }
        self.phase = Phase::Closed;
        Closed
    }

    /// Appends `packet` to the write buffer.
    fn encode(&mut self, packet: &Packet, version: ProtocolVersion) {
        match codec::encode(packet, version, &mut self.write) {
            Ok(()) => stats::add(&self.shared.counters.packets_out, 1),
            // Every packet the server builds fits its version; a failure is a bug, logged
            // rather than sent half-written.
            Err(e) => tracing::error!(error = %e, ?packet, "could not encode a server packet"),
        }
    }

    fn client_id(&self) -> &str {
        match &self.phase {
            Phase::Live(live) => live.client.client_id(),
            Phase::Authenticating(pending) => pending.client_id(),
            _ => "",
        }
    }

    /// Maps a session that ended under the connection to its DISCONNECT reason.
    fn session_ended(&mut self, error: SessionError) -> Closed {
        let counters = &self.shared.counters;
        let code = match error {
            SessionError::TakenOver => {
                stats::add(&counters.taken_over, 1);
                ReasonCode::SESSION_TAKEN_OVER
            }
            SessionError::SlowConsumer => {
                stats::add(&counters.slow_consumers, 1);
                ReasonCode::QUOTA_EXCEEDED
            }
            _ => ReasonCode::SERVER_SHUTTING_DOWN,
        };
        self.close_with(code)
    }

    /// Maps a receive error: `Empty` is not an end.
    fn recv_failed(&mut self, error: TryRecvError) -> Option<Closed> {
        match error {
            TryRecvError::Session(e) => Some(self.session_ended(e)),
            _ => None,
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if matches!(self.phase, Phase::Live(_)) {
            stats::dec(&self.shared.counters.connected);
        }
    }
}
