//! Counters of the network frontend, shared by its threads ([`crate::ServerHandle::stats`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, updated with relaxed atomics (each is independent; none orders memory).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) connect_refused: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) connect_timeouts: AtomicU64,
    pub(crate) keepalive_timeouts: AtomicU64,
    pub(crate) slow_consumers: AtomicU64,
    pub(crate) taken_over: AtomicU64,
    pub(crate) oversized_dropped: AtomicU64,
    pub(crate) packets_in: AtomicU64,
    pub(crate) packets_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) tls_handshakes: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
    pub(crate) tls_certificates_refused: AtomicU64,
    pub(crate) refused_per_ip: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) message_throttles: AtomicU64,
    pub(crate) byte_throttles: AtomicU64,
    pub(crate) panics: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Subtracts one from a gauge.
pub(crate) fn dec(counter: &AtomicU64) {
    counter.fetch_sub(1, Ordering::Relaxed);
}

impl Counters {
    /// A snapshot.
    pub(crate) fn snapshot(&self) -> NetStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetStats {
            connections_accepted: get(&self.accepted),
            connections_refused: get(&self.refused),
            connections_open: get(&self.open),
            clients_connected: get(&self.connected),
            connect_refused: get(&self.connect_refused),
            malformed_packets: get(&self.malformed),
            protocol_errors: get(&self.protocol_errors),
            connect_timeouts: get(&self.connect_timeouts),
            keepalive_timeouts: get(&self.keepalive_timeouts),
            slow_consumers: get(&self.slow_consumers),
            taken_over: get(&self.taken_over),
            oversized_dropped: get(&self.oversized_dropped),
            packets_received: get(&self.packets_in),
            packets_sent: get(&self.packets_out),
            bytes_received: get(&self.bytes_in),
            bytes_sent: get(&self.bytes_out),
            tls_handshakes: get(&self.tls_handshakes),
            tls_handshake_failures: get(&self.tls_handshake_failures),
            tls_certificates_refused: get(&self.tls_certificates_refused),
            connections_refused_per_ip: get(&self.refused_per_ip),
            connections_rate_limited: get(&self.rate_limited),
            inbound_message_throttles: get(&self.message_throttles),
            inbound_byte_throttles: get(&self.byte_throttles),
            panics: get(&self.panics),
            // Filled in by `ServerHandle::stats` from the listeners.
            tracked_addresses: 0,
            auth: crate::auth::AuthStats::default(),
        }
    }
}

/// A snapshot of the frontend's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NetStats {
    /// TCP connections accepted since start.
    pub connections_accepted: u64,
    /// TCP connections closed at once because `max_connections` were open: the server's,
    /// or the listener's ([`crate::ListenerLimits::max_connections`]).
    pub connections_refused: u64,
    /// TCP connections open now.
    pub connections_open: u64,
    /// MQTT clients connected (CONNACK accepted) now.
    pub clients_connected: u64,
    /// CONNECTs answered with a refusal (bad version, client id, credentials, ...).
    pub connect_refused: u64,
    /// Connections closed for a malformed packet (or, on TLS, a record that does not
    /// decrypt after the handshake).
    pub malformed_packets: u64,
    /// Connections closed for a protocol violation (a well-formed packet not allowed then).
    pub protocol_errors: u64,
    /// Connections closed because no CONNECT arrived in time.
    pub connect_timeouts: u64,
    /// Connections closed because nothing arrived within 1.5 × keep alive.
    pub keepalive_timeouts: u64,
    /// Connections closed because the client stopped reading.
    pub slow_consumers: u64,
    /// Connections closed because a new connection took their session over.
    pub taken_over: u64,
    /// Deliveries not sent because they exceed the client's Maximum Packet Size.
    pub oversized_dropped: u64,
    /// MQTT packets received.
    pub packets_received: u64,
    /// MQTT packets sent.
    pub packets_sent: u64,
    /// Bytes received (on TLS connections: TLS records, handshake included).
    pub bytes_received: u64,
    /// Bytes sent (on TLS connections: TLS records, handshake included).
    pub bytes_sent: u64,
    /// TLS handshakes completed. A handshake that does not end within `connect_timeout`
    /// counts in `connect_timeouts`.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed (not TLS, no common version or cipher suite, a refused
    /// client certificate); the client never reached CONNECT.
    pub tls_handshake_failures: u64,
    /// Of `tls_handshake_failures`: client certificates missing, invalid (expired, from
    /// another CA) or without the identity `use_identity_as_username` needs.
    pub tls_certificates_refused: u64,
    /// TCP connections closed at once because their source address had
    /// `max_connections_per_ip` open (or, rarely, because the listener already tracks
    /// `max_tracked_ips` addresses, all with connections open).
    pub connections_refused_per_ip: u64,
    /// TCP connections closed at once because their source address opened connections
    /// faster than `connect_rate_per_ip`.
    pub connections_rate_limited: u64,
    /// Times a client's input was paused because it sent PUBLISH packets faster than
    /// `inbound_message_rate` (nothing is dropped: it is read again once within the rate).
    pub inbound_message_throttles: u64,
    /// Times a client's input was paused because it sent bytes faster than
    /// `inbound_byte_rate`.
    pub inbound_byte_throttles: u64,
    /// Panics caught on a worker thread: a bug, or an embedder's [`mqlite::Hooks`] method
    /// that panicked (hooks run on the worker serving the client). Each closed only the
    /// connection being served, as a lost connection (its will is published); the worker
    /// and its other connections carried on. A panic outside any one connection stops its
    /// worker (logged at `error`), whose connections are then closed.
    pub panics: u64,
    /// Source addresses the listeners keep track of now, for their per-address limits
    /// (bounded by `max_tracked_ips` per listener).
    pub tracked_addresses: u64,
    /// Authentication and authorization counters (`password_file`, `acl_file`, client-id
    /// rules), summed over the server's and the listeners' settings.
    pub auth: crate::auth::AuthStats,
}
