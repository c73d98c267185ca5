//! Sans-I/O tests of the connection state machine: packets go in through `on_bytes`, time
//! through `on_tick` with a made-up `now`, deliveries through `on_delivery`, and what the
//! server wrote is decoded from `Conn::write` with the codec. No socket, no thread.
//!
//! - `connect.rs`: CONNECT → CONNACK in each version, 5.0 CONNACK properties, refusals, the
//!   CONNECT timeout and keep alive.
//! - `qos.rs`: QoS 1 and 2 both ways, the client's Receive Maximum and Maximum Packet Size,
//!   the write buffer limit.
//! - `alias.rs`: topic aliases both ways.
//! - `delivery.rs`: what a delivery carries (properties, expiry, subscription identifiers,
//!   subscription options), will properties, pipelined packets.
//! - `resume.rs`: persistent sessions: what is resent after a resume.
//! - `session.rs`: DISCONNECT and wills, takeover, SUBACK / UNSUBACK codes, protocol errors.

mod alias;
mod connect;
mod delivery;
mod qos;
mod resume;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqlite::wire::Notify;
use mqlite::{Broker, Client, Config, ConnectOptions, ManualClock, QoS, SubOptions, TopicFilter};

use super::{Conn, Flow, Shared};
use crate::codec::{
    self, ConnAck, Connect, DecodeLimits, Disconnect, Packet, PacketId, Properties,
    ProtocolVersion, Publish, PublishTopic, ReasonCode, Subscribe,
};
use crate::config::ServerConfig;
use crate::stats::NetStats;

/// A waker that counts its wake-ups.
#[derive(Debug, Default)]
struct Wakes(AtomicUsize);

impl Notify for Wakes {
    fn notify(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A broker with a manual clock (so no timer thread) and `config`.
fn broker_with(config: Config) -> Broker {
    Broker::builder()
        .config(config)
        .clock(Arc::new(ManualClock::new()))
        .build()
}

fn broker() -> Broker {
    broker_with(Config::default())
}

/// An in-process client of `broker` subscribed to `filter` at QoS 2, acknowledging as it
/// receives.
fn watcher(broker: &Broker, id: &str, filter: &str) -> Client {
    let client = broker
        .connect(ConnectOptions::new(id).auto_ack(true))
        .expect("connect watcher");
    client
        .subscribe(filter, QoS::ExactlyOnce)
        .expect("subscribe watcher");
    client
}

/// Every message `client` has ready now, as (topic, payload).
fn received(client: &Client) -> Vec<(String, Bytes)> {
    client
        .try_iter()
        .map(|m| (m.topic().to_owned(), m.payload().clone()))
        .collect()
}

/// One connection under test.
struct Peer {
    conn: Conn,
    version: ProtocolVersion,
    shared: Arc<Shared>,
    wakes: Arc<Wakes>,
    /// When the connection was accepted; the tests' time zero.
    t0: Instant,
}

impl Peer {
    /// A connection accepted now that has sent nothing yet.
    fn open(broker: &Broker, config: ServerConfig, version: ProtocolVersion) -> Self {
        let shared = Arc::new(Shared::new(config));
        let wakes = Arc::new(Wakes::default());
        let t0 = Instant::now();
        let conn = Conn::new(broker.clone(), shared.clone(), wakes.clone(), t0);
        Self {
            conn,
            version,
            shared,
            wakes,
            t0,
        }
    }

    /// Sends `connect` on a new connection with `config`; returns the connection and the
    /// CONNACK, which must be the only packet written.
    fn connect_with(broker: &Broker, config: ServerConfig, connect: Connect) -> (Self, ConnAck) {
        let mut peer = Self::open(broker, config, connect.protocol_version);
        let flow = peer.send(&Packet::Connect(Box::new(connect)));
        let ack = match peer.take_one() {
            Packet::ConnAck(ack) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        };
        assert_eq!(
            flow.is_ok(),
            ack.reason_code == ReasonCode::SUCCESS,
            "{ack:?}"
        );
        (peer, ack)
    }

    /// Connects `client_id` with clean start and the default server settings; asserts success.
    fn connect(broker: &Broker, version: ProtocolVersion, client_id: &str) -> Self {
        let (peer, ack) =
            Self::connect_with(broker, ServerConfig::default(), connect(version, client_id));
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        peer
    }

    /// The time `offset` after the connection was accepted.
    fn at(&self, offset: Duration) -> Instant {
        self.t0 + offset
    }

    /// Encodes `packet` in the connection's version and feeds it at time zero.
    fn send(&mut self, packet: &Packet) -> Flow {
        self.send_at(packet, self.t0)
    }

    fn send_at(&mut self, packet: &Packet, now: Instant) -> Flow {
        let mut buf = BytesMut::new();
        codec::encode(packet, self.version, &mut buf).expect("test packet encodes");
        self.conn.on_bytes(&buf, now)
    }

    /// Feeds raw bytes at time zero.
    fn send_bytes(&mut self, bytes: &[u8]) -> Flow {
        self.conn.on_bytes(bytes, self.t0)
    }

    /// Decodes and removes everything the server wrote.
    fn take(&mut self) -> Vec<Packet> {
        let limits = DecodeLimits::default();
        let mut packets = Vec::new();
        while let Some(packet) = codec::decode(&mut self.conn.write, self.version, &limits)
            .expect("server output decodes")
        {
            packets.push(packet);
        }
        assert!(
            self.conn.write.is_empty(),
            "a partial packet was written: {:?}",
            self.conn.write
        );
        packets
    }

    /// The one packet the server wrote.
    fn take_one(&mut self) -> Packet {
        let mut packets = self.take();
        assert_eq!(packets.len(), 1, "expected one packet, got {packets:?}");
        packets.remove(0)
    }

    /// Takes deliveries (which must not end the connection) and decodes what was written.
    fn deliver(&mut self) -> Vec<Packet> {
        self.conn.on_delivery().expect("connection stays open");
        self.take()
    }

    /// Asserts the connection closed with a 5.0 DISCONNECT carrying `code` as its last packet.
    fn assert_disconnected(&mut self, flow: Flow, code: ReasonCode) {
        assert!(flow.is_err(), "connection must close");
        match self.take().pop() {
            Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, code, "{d:?}"),
            other => panic!("expected DISCONNECT {code}, got {other:?}"),
        }
    }

    /// Asserts the connection closed without writing anything (the 3.1.1 way).
    fn assert_closed_silently(&mut self, flow: Flow) {
        assert!(flow.is_err(), "connection must close");
        assert_eq!(self.take(), Vec::<Packet>::new(), "nothing may be written");
    }

    fn stats(&self) -> NetStats {
        self.shared.counters.snapshot()
    }

    fn wake_count(&self) -> usize {
        self.wakes.0.load(Ordering::Relaxed)
    }
}

/// A CONNECT with clean start, keep alive 0 and no properties.
fn connect(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol_version: version,
        clean_start: true,
        keep_alive: 0,
        properties: Properties::default(),
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
    }
}

fn pid(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero packet id")
}

/// A PUBLISH without properties; `id` is required for QoS 1 and 2.
fn publish(topic: &str, qos: QoS, id: Option<u16>, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: PublishTopic::new(topic).expect("valid topic"),
        packet_id: id.map(pid),
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }
}

fn subscribe_opts(id: u16, filter: &str, options: SubOptions) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: pid(id),
        properties: Properties::default(),
        filters: vec![(TopicFilter::new(filter).expect("valid filter"), options)],
    })
}

fn subscribe(id: u16, filter: &str, qos: QoS) -> Packet {
    subscribe_opts(id, filter, SubOptions::new(qos))
}

fn disconnect(code: ReasonCode) -> Packet {
    Packet::Disconnect(Disconnect {
        reason_code: code,
        properties: Properties::default(),
    })
}

/// Subscribes `peer` and checks the SUBACK grants `qos`.
fn subscribed(peer: &mut Peer, filter: &str, qos: QoS) {
    peer.send(&subscribe(1, filter, qos)).expect("subscribe");
    match peer.take_one() {
        Packet::SubAck(ack) => assert_eq!(ack.reason_codes, vec![ReasonCode(qos.as_u8())]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// The PUBLISH packets among `packets`, asserting there is nothing else.
fn publishes(packets: Vec<Packet>) -> Vec<Publish> {
    packets
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect()
}
