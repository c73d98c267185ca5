//! A gateway: one router shared by in-process threads and network devices. The network
//! frontend listens on a free loopback port; a "device" speaks MQTT over a plain TCP socket
//! (packets built with mqlite's own codec) while a controller thread in the same process
//! reads its telemetry and sends it a command. Messages cross both ways.
//!
//! Run: `cargo run -p mqlite-examples --example gateway`
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use mqlite::{Broker, Config, ConnectOptions, QoS, SubOptions, TopicFilter};
use mqlite_net::codec::{
    self, Connect, DecodeLimits, Packet, PacketId, Properties, ProtocolVersion, Publish,
    PublishTopic, Subscribe,
};

const V: ProtocolVersion = ProtocolVersion::V311;

/// A device at the other end of a TCP connection, speaking MQTT 3.1.1.
struct Device {
    stream: TcpStream,
    inbox: BytesMut,
}

impl Device {
    fn connect(addr: std::net::SocketAddr, client_id: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut device = Self {
            stream,
            inbox: BytesMut::new(),
        };
        device.send(&Packet::Connect(Box::new(Connect {
            protocol_version: V,
            clean_start: true,
            keep_alive: 30,
            properties: Properties::default(),
            client_id: client_id.to_owned(),
            will: None,
            username: None,
            password: None,
        })))?;
        match device.receive()? {
            Packet::ConnAck(ack) if !ack.reason_code.is_error() => Ok(device),
            other => bail!("expected CONNACK, got {other:?}"),
        }
    }

    fn send(&mut self, packet: &Packet) -> anyhow::Result<()> {
        let mut wire = BytesMut::new();
        codec::encode(packet, V, &mut wire)?;
        self.stream.write_all(&wire)?;
        Ok(())
    }

    /// Reads until one whole packet has arrived.
    fn receive(&mut self) -> anyhow::Result<Packet> {
        loop {
            if let Some(packet) = codec::decode(&mut self.inbox, V, &DecodeLimits::default())? {
                return Ok(packet);
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .context("reading from the broker")?;
            if n == 0 {
                bail!("the broker closed the connection");
            }
            self.inbox.extend_from_slice(&chunk[..n]);
        }
    }

    fn publish(&mut self, topic: &str, payload: &'static str) -> anyhow::Result<()> {
        self.send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: PublishTopic::new(topic)?,
            packet_id: None,
            properties: Properties::default(),
            payload: Bytes::from_static(payload.as_bytes()),
        }))
    }
}

fn main() -> anyhow::Result<()> {
    // One router, and the network frontend on it: a single call.
    let broker = Broker::new(Config::default());
    let server = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")?.spawn()?;
    println!("gateway: MQTT listening on {}", server.local_addr());

    // The controller is an in-process client of the same router.
    let controller = broker.connect(ConnectOptions::new("controller"))?;
    controller.subscribe("devices/+/telemetry", QoS::AtMostOnce)?;

    // The device connects over TCP and subscribes to its command topic.
    let mut device = Device::connect(server.local_addr(), "boiler-7")?;
    let filter = TopicFilter::new("devices/boiler-7/command")?;
    device.send(&Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(1).context("packet id")?,
        properties: Properties::default(),
        filters: vec![(filter, SubOptions::new(QoS::AtMostOnce))],
    }))?;
    match device.receive()? {
        Packet::SubAck(ack) if ack.reason_codes.iter().all(|c| !c.is_error()) => {
            println!("device: subscribed to devices/boiler-7/command");
        }
        other => bail!("expected SUBACK, got {other:?}"),
    }

    // Network → in-process: the device reports a temperature.
    device.publish("devices/boiler-7/telemetry", "temperature=92C")?;
    let reading = controller.recv_timeout(Duration::from_secs(5))?;
    let text = String::from_utf8_lossy(reading.payload()).into_owned();
    println!("controller got {} = {text} (over TCP)", reading.topic());

    // In-process → network: the controller answers with a command.
    if text.ends_with("92C") {
        controller.publish(
            "devices/boiler-7/command",
            "reduce-burner",
            QoS::AtMostOnce,
            false,
        )?;
    }
    match device.receive()? {
        Packet::Publish(p) => println!(
            "device got {} = {} (from an in-process thread)",
            p.topic.as_str(),
            String::from_utf8_lossy(&p.payload)
        ),
        other => bail!("expected PUBLISH, got {other:?}"),
    }

    device.send(&Packet::Disconnect(Default::default()))?;
    let stats = server.stats();
    println!(
        "gateway: {} network connection(s) served, {} packets in, {} packets out",
        stats.connections_accepted, stats.packets_received, stats.packets_sent
    );
    server.shutdown();
    Ok(())
}
