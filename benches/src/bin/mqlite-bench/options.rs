//! One run's settings: the scenario and every option with its default. Parsing and range
//! checks are in `args.rs`.

use std::fmt;
use std::time::Duration;

use mqlite::QoS;
use mqlite_net::codec::ProtocolVersion;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// P publishers → S subscribers over T topics.
    Throughput,
    /// 1 publisher → N subscribers of one topic.
    Fanout,
    /// N publishers → 1 wildcard subscriber.
    Fanin,
    /// A paced publisher and one subscriber; latency percentiles.
    Latency,
    /// Many idle connections; connect time and broker memory.
    Idle,
    /// Paced publishers, a fast subscriber and one that stops reading; broker memory over
    /// time.
    Slow,
}

impl Scenario {
    /// The scenario called `name` on the command line.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "throughput" => Self::Throughput,
            "fanout" => Self::Fanout,
            "fanin" => Self::Fanin,
            "latency" => Self::Latency,
            "idle" => Self::Idle,
            "slow" => Self::Slow,
            _ => return None,
        })
    }

    /// The options this scenario reads, besides `COMMON`.
    pub(crate) fn own_options(self) -> &'static [&'static str] {
        match self {
            Self::Throughput => &[
                "warmup",
                "qos",
                "size",
                "inflight",
                "pubs",
                "subs",
                "topics",
                "fanout",
                "persistent-subscriber",
                "max-backlog",
            ],
            Self::Fanout => &[
                "warmup",
                "qos",
                "size",
                "inflight",
                "subs",
                "persistent-subscriber",
                "max-backlog",
            ],
            Self::Fanin => &[
                "warmup",
                "qos",
                "size",
                "inflight",
                "pubs",
                "persistent-subscriber",
                "max-backlog",
            ],
            Self::Latency => &["warmup", "qos", "size", "inflight", "rate", "stamp"],
            Self::Idle => &["conns", "connectors"],
            Self::Slow => &["warmup", "qos", "size", "inflight", "pubs", "rate"],
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Throughput => "throughput",
            Self::Fanout => "fanout",
            Self::Fanin => "fanin",
            Self::Latency => "latency",
            Self::Idle => "idle",
            Self::Slow => "slow",
        })
    }
}

/// What the latency scenario measures from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// The moment the publisher encodes the message for writing.
    Sent,
    /// The message's slot in the fixed-rate schedule, so a publisher held back by a full
    /// window or a stalled broker adds to latency (no coordinated omission).
    Scheduled,
}

/// The bytes the latency scenario writes at the front of each payload: sequence, send time.
pub(crate) const STAMP_BYTES: usize = 16;

/// One run's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// The scenario.
    pub(crate) scenario: Scenario,
    /// Broker host name or address.
    pub(crate) host: String,
    /// Broker port.
    pub(crate) port: u16,
    /// Protocol version of every connection.
    pub(crate) version: ProtocolVersion,
    /// QoS of every PUBLISH and subscription.
    pub(crate) qos: QoS,
    /// Payload size.
    pub(crate) size_bytes: usize,
    /// Publishers.
    pub(crate) pubs: usize,
    /// Subscribers.
    pub(crate) subs: usize,
    /// Topics publishers and subscribers are spread over.
    pub(crate) topics: usize,
    /// Every subscriber subscribes to the wildcard and so gets every message.
    pub(crate) fanout: bool,
    /// Throughput: subscribers keep a session that outlives their connection (3.1/3.1.1
    /// clean session 0, 5.0 clean start false with a session expiry), under a client id
    /// unique to the run, and remove it at the end.
    pub(crate) persistent_subscriber: bool,
    /// Throughput: at most this many deliveries outstanding over all publishers (sent, not
    /// yet received); 0 for no bound.
    pub(crate) max_backlog: u64,
    /// Measured time; for `idle`, how long the connections are held.
    pub(crate) duration: Duration,
    /// Unmeasured time before the measurement.
    pub(crate) warmup: Duration,
    /// QoS 1/2 messages in flight per publisher (lowered to the broker's Receive Maximum).
    pub(crate) inflight: u16,
    /// Latency and slow: messages per second (slow: per publisher).
    pub(crate) rate: u32,
    /// Latency: what a message's latency is measured from.
    pub(crate) stamp: Stamp,
    /// Idle: connections to open.
    pub(crate) conns: usize,
    /// Idle: threads opening them.
    pub(crate) connectors: usize,
    /// CONNECT keep alive in seconds; 0 turns keep alive off. Only idle sends PINGREQ.
    pub(crate) keep_alive: u16,
    /// Bound on connecting, SUBACK, PINGRESP and the drain after publishing stops.
    pub(crate) timeout: Duration,
    /// The broker process whose RSS is sampled.
    pub(crate) broker_pid: Option<u32>,
    /// Print JSON instead of the summary.
    pub(crate) json: bool,
}

impl Options {
    /// The defaults of `scenario`.
    pub(crate) fn defaults(scenario: Scenario) -> Self {
        let (pubs, subs, fanout) = match scenario {
            Scenario::Fanout => (1, 100, false),
            Scenario::Fanin => (100, 1, true),
            _ => (1, 1, false),
        };
        Self {
            scenario,
            host: "127.0.0.1".to_owned(),
            port: 1883,
            version: ProtocolVersion::V311,
            qos: QoS::AtMostOnce,
            size_bytes: 64,
            pubs,
            subs,
            topics: 0,
            fanout,
            persistent_subscriber: false,
            max_backlog: 0,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            inflight: 100,
            rate: 10_000,
            stamp: Stamp::Sent,
            conns: 1000,
            connectors: 4,
            keep_alive: 0,
            timeout: Duration::from_secs(10),
            broker_pid: None,
            json: false,
        }
    }
}
