//! Fixtures of the network tests: a server on 127.0.0.1:0 in front of a broker, and a raw
//! TCP MQTT client that sends bytes or packets and reads packets back with a timeout, decoding
//! them with the crate's own codec. `expect.rs`: the checks of the malformed-input tests.
//! The tests of the `mqlite` binary (`broker/tests/`) compile these fixtures in too.
#![allow(dead_code)]

mod expect;

#[allow(unused_imports)] // not every test file checks malformed input
pub(crate) use expect::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqlite::{Broker, Config, QoS, SubOptions, TopicFilter};
use mqlite_net::codec::{
    ConnAck, Connect, Disconnect, PacketId, Properties, PubAck, Publish, PublishTopic, ReasonCode,
    Subscribe, decode, encode,
};
use mqlite_net::{
    DecodeLimits, NetStats, Packet, ProtocolVersion, Server, ServerConfig, ServerHandle,
};

/// How long a test waits for something that must happen.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) const V31: ProtocolVersion = ProtocolVersion::V31;
pub(crate) const V311: ProtocolVersion = ProtocolVersion::V311;
pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;

/// Server settings for tests: one worker (threads are shared with other tests).
pub(crate) fn config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.workers = 1;
    config
}

/// A broker with default limits and a server with `config` in front of it.
pub(crate) fn start(config: ServerConfig) -> (Broker, ServerHandle) {
    let broker = Broker::new(Config::default());
    let server = serve(&broker, config);
    (broker, server)
}

/// A server with `config` in front of `broker`, listening on 127.0.0.1:0.
pub(crate) fn serve(broker: &Broker, config: ServerConfig) -> ServerHandle {
    Server::builder(broker.clone())
        .config(config)
        .listen("127.0.0.1:0")
        .bind()
        .expect("bind 127.0.0.1:0")
        .spawn()
        .expect("spawn server")
}

/// Polls `done` every 5 ms until it holds; panics naming `what` after [`WAIT`].
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until the server's counters satisfy `done`; returns them.
pub(crate) fn wait_stats(
    server: &ServerHandle,
    what: &str,
    done: impl Fn(&NetStats) -> bool,
) -> NetStats {
    wait_until(what, || done(&server.stats()));
    server.stats()
}

/// A CONNECT with clean start, keep alive 0 and no properties.
pub(crate) fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
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

pub(crate) fn pid(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero packet id")
}

/// A PUBLISH without properties; `id` is needed for QoS 1 and 2.
pub(crate) fn publish_packet(topic: &str, payload: &[u8], qos: QoS, id: Option<u16>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: PublishTopic::new(topic).expect("valid topic"),
        packet_id: id.map(pid),
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload),
    })
}

/// How a read ended without a packet.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The server closed the connection (end of stream).
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing arrived in time.
    Timeout,
}

/// A raw MQTT client over a TCP socket.
#[derive(Debug)]
pub(crate) struct TestClient {
    pub(crate) stream: TcpStream,
    pub(crate) version: ProtocolVersion,
    buf: BytesMut,
}

impl TestClient {
    /// Opens a TCP connection and sends nothing.
    pub(crate) fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr).expect("tcp connect");
        stream.set_write_timeout(Some(WAIT)).expect("write timeout");
        Self {
            stream,
            version,
            buf: BytesMut::new(),
        }
    }

    /// Connects with `connect`; returns the client and the server's CONNACK.
    pub(crate) fn connect_with(addr: SocketAddr, connect: Connect) -> (Self, ConnAck) {
        let mut client = Self::open(addr, connect.protocol_version);
        client.send(&Packet::Connect(Box::new(connect)));
        match client.recv() {
            Packet::ConnAck(ack) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects `client_id` with clean start; asserts the server accepted.
    pub(crate) fn connect(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> Self {
        let (client, ack) = Self::connect_with(addr, connect_packet(version, client_id));
        assert_eq!(
            ack.reason_code,
            ReasonCode::SUCCESS,
            "CONNACK of {client_id}"
        );
        client
    }

    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Encodes `packet` in the client's version and sends it.
    pub(crate) fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        encode(packet, self.version, &mut out).expect("test packet encodes");
        self.send_bytes(&out);
    }

    /// The next packet within `timeout`, or how the wait ended.
    pub(crate) fn recv_within(&mut self, timeout: Duration) -> Result<Packet, Ended> {
        let deadline = Instant::now() + timeout;
        let limits = DecodeLimits::default();
        loop {
            if let Some(packet) =
                decode(&mut self.buf, self.version, &limits).expect("server output decodes")
            {
                return Ok(packet);
            }
            self.fill(deadline)?;
        }
    }

    /// The next packet, which must arrive within [`WAIT`].
    pub(crate) fn recv(&mut self) -> Packet {
        self.recv_within(WAIT)
            .unwrap_or_else(|e| panic!("expected a packet, got {e:?}"))
    }

    /// Reads more bytes into the buffer, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<usize, Ended> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Ended::Timeout);
        }
        self.stream
            .set_read_timeout(Some(left))
            .expect("read timeout");
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(Ended::Eof),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(Ended::Timeout)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(0),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => Err(Ended::Reset),
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Every byte the server sends until it closes the connection (within [`WAIT`]): the
    /// exact reply to a bad packet. Panics on a timeout or a reset.
    pub(crate) fn read_until_eof(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.fill(deadline) {
                Ok(_) => {}
                Err(Ended::Eof) => return std::mem::take(&mut self.buf).to_vec(),
                Err(e) => panic!(
                    "expected the server to close, got {e:?} after {:?}",
                    &self.buf[..]
                ),
            }
        }
    }

    /// Asserts the server closes the connection without sending anything more.
    pub(crate) fn expect_eof(&mut self) {
        assert_eq!(self.read_until_eof(), Vec::<u8>::new(), "bytes before EOF");
    }

    /// Asserts the next packet is a DISCONNECT with `code`, then EOF.
    pub(crate) fn expect_disconnect(&mut self, code: ReasonCode) {
        match self.recv() {
            Packet::Disconnect(d) => assert_eq!(d.reason_code, code, "{d:?}"),
            other => panic!("expected DISCONNECT {code}, got {other:?}"),
        }
        self.expect_eof();
    }

    /// Subscribes to `filter` and waits for a SUBACK granting `qos`.
    pub(crate) fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            properties: Properties::default(),
            filters: vec![(
                TopicFilter::new(filter).expect("valid filter"),
                SubOptions::new(qos),
            )],
        }));
        match self.recv() {
            Packet::SubAck(ack) => assert_eq!(ack.reason_codes, vec![ReasonCode(qos.as_u8())]),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub(crate) fn recv_publish(&mut self) -> Publish {
        match self.recv() {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub(crate) fn puback(&mut self, id: PacketId) {
        self.send(&Packet::PubAck(PubAck::new(id)));
    }

    /// PINGREQ, then waits for PINGRESP: every packet the server sent before it was handled.
    pub(crate) fn ping(&mut self) {
        self.send(&Packet::PingReq);
        assert_eq!(self.recv(), Packet::PingResp);
    }

    /// Sends DISCONNECT (normal) and waits for the server to close.
    pub(crate) fn disconnect(mut self) {
        self.send(&Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::NORMAL_DISCONNECTION,
            properties: Properties::default(),
        }));
        let _ = self.stream.shutdown(Shutdown::Write);
        self.expect_eof();
    }
}
