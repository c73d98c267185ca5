//! Abuse limits of a listener ([`ListenerLimits`]): how many connections it holds, in total
//! and per source address, how fast one address may open them, and how fast one client's
//! input is read. Every limit is off by default; docs/security.md explains each and gives
//! values for a listener on the internet.
//!
//! - `bucket.rs`: the token bucket behind every rate.
//! - `ip.rs`: the per-address table of a listener: open connections and connection rate,
//!   bounded in memory (idle addresses are forgotten, at most `max_tracked_ips` kept).
//! - `inbound.rs`: one connection's input budget (PUBLISH packets and bytes per second).
//!
//! Not here: where they are enforced. The acceptor (`server/accept.rs`) closes connections
//! past the connection limits as soon as they are accepted; the worker (`worker/socket.rs`)
//! pauses reading a client past its input rates, so it is slowed by TCP flow control and
//! nothing it sent is dropped.

mod bucket;
mod inbound;
mod ip;

pub(crate) use bucket::TokenBucket;
pub(crate) use inbound::{Inbound, Pause, PauseCause};
pub(crate) use ip::{IpKey, IpRefusal, IpTable};

/// An average rate with a burst: a token bucket that holds at most `burst` tokens and
/// gains `per_second` of them each second. Each event (a connection, a message, a byte)
/// takes one; an event that finds none is refused or waits, depending on the limit.
///
/// # Examples
///
/// ```
/// use mqlite_net::Rate;
/// let rate = Rate::new(100, 500).expect("non-zero");
/// assert_eq!((rate.per_second(), rate.burst()), (100, 500));
/// assert_eq!(Rate::new(0, 10), None, "zero means no limit");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_second: u64,
    burst: u64,
}

impl Rate {
    /// `per_second` on average, at most `burst` at once; `None` if either is zero, which
    /// the configuration file reads as "no limit".
    pub fn new(per_second: u64, burst: u64) -> Option<Self> {
        (per_second > 0 && burst > 0).then_some(Self { per_second, burst })
    }

    /// The average rate, per second.
    pub fn per_second(&self) -> u64 {
        self.per_second
    }

    /// The most tokens the bucket holds: what may happen at once after a quiet period.
    pub fn burst(&self) -> u64 {
        self.burst
    }
}

/// The abuse limits of one listener. Every limit is off (`None`) by default, as in
/// Mosquitto: one source address is not one client (NAT, carrier-grade NAT, load balancers
/// and every local test share addresses), and no message rate suits every application.
/// [`crate::ServerConfig::limits`] holds the limits of listeners that set none of their own.
///
/// Source addresses: an IPv4 address counts as itself (an IPv4-mapped IPv6 address as its
/// IPv4 address); an IPv6 address counts as its /64 network, the block one subscriber or
/// host usually holds, so an attacker cannot take a fresh address per connection.
///
/// # Examples
///
/// ```
/// use mqlite_net::{ListenerConfig, ListenerLimits, Rate};
///
/// let limits = ListenerLimits::default()
///     .max_connections(10_000)
///     .max_connections_per_ip(100)
///     .connect_rate_per_ip(Rate::new(10, 20))
///     .inbound_message_rate(Rate::new(1_000, 2_000))
///     .inbound_byte_rate(Rate::new(1 << 20, 4 << 20));
/// let broker = mqlite::Broker::new(mqlite::Config::default());
/// let server = mqlite_net::Server::builder(broker)
///     .listen("127.0.0.1:0") // the server's default limits (none)
///     .listen_with("127.0.0.1:0", ListenerConfig::new().limits(limits))
///     .bind()?
///     .spawn()?;
/// assert_eq!(server.stats().connections_rate_limited, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerLimits {
    /// Connections open on this listener at most (Mosquitto's listener `max_connections`),
    /// within the server's [`crate::ServerConfig::max_connections`]. One past it is closed
    /// as soon as it is accepted and counted in `connections_refused`.
    pub max_connections: Option<usize>,
    /// Connections open from one source address at most. One past it is closed as soon as
    /// it is accepted and counted in `connections_refused_per_ip`.
    pub max_connections_per_ip: Option<usize>,
    /// New connections per second from one source address, with a burst. One past it is
    /// closed as soon as it is accepted and counted in `connections_rate_limited`; every
    /// accepted TCP connection counts, whether or not it goes on to log in.
    pub connect_rate_per_ip: Option<Rate>,
    /// PUBLISH packets per second read from one client, with a burst. A client past it is
    /// not read until it is back within the rate: it is slowed by TCP flow control, never
    /// disconnected, and nothing it sent is dropped (counted in
    /// `inbound_message_throttles`).
    pub inbound_message_rate: Option<Rate>,
    /// Bytes per second read from one client (on TLS, the encrypted bytes), with a burst;
    /// throttled like `inbound_message_rate` (counted in `inbound_byte_throttles`). A whole
    /// packet must still arrive within 1.5 × its keep alive, so keep the rate above
    /// `max_packet_size` / keep alive.
    pub inbound_byte_rate: Option<Rate>,
}

impl ListenerLimits {
    /// Sets [`ListenerLimits::max_connections`].
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = Some(max);
        self
    }

    /// Sets [`ListenerLimits::max_connections_per_ip`].
    #[must_use]
    pub fn max_connections_per_ip(mut self, max: usize) -> Self {
        self.max_connections_per_ip = Some(max);
        self
    }

    /// Sets [`ListenerLimits::connect_rate_per_ip`] (`None`: no limit).
    #[must_use]
    pub fn connect_rate_per_ip(mut self, rate: Option<Rate>) -> Self {
        self.connect_rate_per_ip = rate;
        self
    }

    /// Sets [`ListenerLimits::inbound_message_rate`] (`None`: no limit).
    #[must_use]
    pub fn inbound_message_rate(mut self, rate: Option<Rate>) -> Self {
        self.inbound_message_rate = rate;
        self
    }

    /// Sets [`ListenerLimits::inbound_byte_rate`] (`None`: no limit).
    #[must_use]
    pub fn inbound_byte_rate(mut self, rate: Option<Rate>) -> Self {
        self.inbound_byte_rate = rate;
        self
    }

    /// Whether a per-address table is needed.
    pub(crate) fn per_ip(&self) -> bool {
        self.max_connections_per_ip.is_some() || self.connect_rate_per_ip.is_some()
    }
}
