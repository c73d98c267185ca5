//! [`ServerConfig`]: the limits and protocol settings of the network frontend. The router's
//! own limits (queues, payload size, clients) stay in [`mqlite::Config`].

use std::time::Duration;

use crate::limits::ListenerLimits;

/// Settings of a [`crate::Server`]. Every limit has a default that suits a small gateway;
/// names follow Mosquitto's where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Worker threads running event loops; 0 means one per available core.
    pub workers: usize,
    /// Open network connections at most, on all listeners together; a connection past it
    /// is closed as soon as it is accepted. A listener may have a lower limit of its own
    /// ([`ListenerLimits::max_connections`], Mosquitto's per-listener `max_connections`).
    pub max_connections: usize,
    /// The largest packet accepted from a client, in bytes (Mosquitto's `max_packet_size`).
    /// A larger one closes its connection (5.0 reason 0x95), before its body is buffered.
    pub max_packet_size: usize,
    /// How long a new connection may take to send its CONNECT before it is closed.
    pub connect_timeout: Duration,
    /// The largest keep alive granted (Mosquitto's `max_keepalive`). A 5.0 client asking for
    /// more, or for none, gets this as Server Keep Alive (§3.2.2.3.14).
    pub max_keepalive: u16,
    /// Topic aliases a 5.0 client may set per connection (Topic Alias Maximum in CONNACK).
    pub topic_alias_maximum: u16,
    /// Bytes encoded for a connection and not yet taken by its socket, at most. Past it the
    /// connection stops taking deliveries (its session queue fills, then drops by policy) and
    /// stops reading requests, so a client that does not read costs bounded memory.
    pub max_write_buffer_bytes: usize,
    /// How long a connection may keep its write buffer full without the socket taking a
    /// byte before it is closed as a slow consumer.
    pub write_stall_timeout: Duration,
    /// Sent as Response Information (5.0) to a client that requests it, followed by its
    /// client id: the prefix of topics it may use for responses. `None` sends nothing.
    pub response_information: Option<String>,
    /// Deliveries taken from one session per turn of a worker before others get their turn.
    pub delivery_batch: usize,
    /// How long a connection is not read after one of its QoS 0 messages found a
    /// subscriber's queue full (and was dropped for that subscriber). A flooding publisher
    /// is then slowed by TCP flow control instead of the broker spending its CPU on
    /// messages it must drop, which on a busy machine starves the very subscribers that
    /// fell behind. The price: while a subscriber of its topics stays full, such a
    /// publisher is read in short bursts (a subscriber that stops reading entirely is
    /// closed after `write_stall_timeout`). Zero turns this off: publishers are read as
    /// fast as they write, whatever is dropped.
    pub full_queue_backoff: Duration,
    /// Authentication and authorization: password file, ACL, anonymous clients, client-id
    /// rules ([`crate::auth`]), for every listener that has none of its own
    /// ([`crate::ListenerConfig::auth`]). The default lets every client in and allows
    /// everything.
    pub auth: crate::auth::Auth,
    /// Abuse limits for every listener that has none of its own
    /// ([`crate::ListenerConfig::limits`]). Default: none.
    pub limits: ListenerLimits,
    /// Source addresses one listener keeps track of at most, for its per-address limits
    /// (`max_connections_per_ip`, `connect_rate_per_ip`); about 100 bytes each. Addresses
    /// without an open connection are forgotten first; once every tracked address has
    /// connections open, connections from new addresses are refused (counted in
    /// `connections_refused_per_ip`), so keep it at or above `max_connections`.
    pub max_tracked_ips: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            workers: 0,
            max_connections: 100_000,
            max_packet_size: 1 << 20,
            connect_timeout: Duration::from_secs(10),
            max_keepalive: u16::MAX,
            topic_alias_maximum: 10,
            max_write_buffer_bytes: 1 << 20,
            write_stall_timeout: Duration::from_secs(30),
            response_information: Some("response/".to_owned()),
            delivery_batch: 256,
            full_queue_backoff: Duration::from_millis(1),
            auth: crate::auth::Auth::default(),
            limits: ListenerLimits::default(),
            max_tracked_ips: 100_000,
        }
    }
}

impl ServerConfig {
    /// The number of workers to start: `workers`, or one per available core.
    pub(crate) fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}
