//! The embedding story: an application owns a `Broker`, puts it on the network with
//! `mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")?.spawn()?`, and its in-process
//! clients and network devices share one router: messages both ways at every QoS, retained
//! messages, wills, and a shutdown of the server that leaves the broker running.

use crate::common;

use std::time::Duration;

use common::*;
use mqlite::{Broker, Config, ConnectOptions, QoS};
use mqlite_net::codec::{self, PubComp, PubRec, PubRel, ReasonCode};
use mqlite_net::{BindError, Packet, ServerHandle};

/// A broker with default limits on the network with the default server settings.
fn embedded() -> (Broker, ServerHandle) {
    let broker = Broker::new(Config::default());
    let server = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")
        .expect("bind")
        .spawn()
        .expect("spawn");
    (broker, server)
}

/// An in-process publish reaches a network subscriber at each QoS, with that QoS's
/// handshake (PUBACK; PUBREC, PUBREL, PUBCOMP) [MQTT-4.3.2-1] [MQTT-4.3.3-1].
#[test]
fn in_process_publish_reaches_network_subscriber() {
    let (broker, server) = embedded();
    let mut device = TestClient::connect(server.local_addr(), V5, "device");
    device.subscribe("cmd/#", QoS::ExactlyOnce);
    let app = broker.connect(ConnectOptions::new("app")).expect("connect");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        app.publish("cmd/led", format!("{qos:?}"), qos, false)
            .expect("publish");
        let p = device.recv_publish();
        assert_eq!((p.topic.as_str(), p.qos), ("cmd/led", qos));
        assert_eq!(p.payload, format!("{qos:?}").as_bytes());
        match qos {
            QoS::AtMostOnce => assert_eq!(p.packet_id, None),
            QoS::AtLeastOnce => device.puback(p.packet_id.expect("id")),
            _ => {
                let id = p.packet_id.expect("id");
                device.send(&Packet::PubRec(PubRec::new(id)));
                assert_eq!(device.recv(), Packet::PubRel(PubRel::new(id)));
                device.send(&Packet::PubComp(PubComp::new(id)));
            }
        }
    }
    device.ping();
    let s = broker.session_stats("device").expect("session");
    assert_eq!((s.queued, s.inflight), (0, 0), "every handshake completed");
}

/// A network publish at each QoS reaches an in-process subscriber; the device gets its
/// acknowledgement (PUBACK; PUBREC then PUBCOMP after its PUBREL).
#[test]
fn network_publish_reaches_in_process_subscriber() {
    let (broker, server) = embedded();
    let app = broker.connect(ConnectOptions::new("app")).expect("connect");
    app.subscribe("sensors/#", QoS::ExactlyOnce)
        .expect("subscribe");
    let mut device = TestClient::connect(server.local_addr(), V311, "device");
    let qos_levels = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    for (i, qos) in qos_levels.into_iter().enumerate() {
        let id = (qos != QoS::AtMostOnce).then_some(i as u16);
        device.send(&publish_packet(
            "sensors/t",
            format!("{i}").as_bytes(),
            qos,
            id,
        ));
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                assert_eq!(device.recv(), Packet::PubAck(codec::PubAck::new(pid(1))))
            }
            _ => {
                assert_eq!(device.recv(), Packet::PubRec(PubRec::new(pid(2))));
                device.send(&Packet::PubRel(PubRel::new(pid(2))));
                assert_eq!(device.recv(), Packet::PubComp(PubComp::new(pid(2))));
            }
        }
        let msg = app.recv_timeout(WAIT).expect("the app receives");
        assert_eq!((msg.topic(), msg.qos()), ("sensors/t", qos));
        assert_eq!(msg.payload(), format!("{i}").as_bytes());
        msg.ack();
    }
}

/// Retained messages cross the boundary both ways: one the app retained reaches a device
/// that subscribes later with RETAIN 1, and one a device retained reaches an app that
/// subscribes later [MQTT-3.3.1-6] [MQTT-3.3.1-9].
#[test]
fn retained_messages_cross_the_boundary() {
    let (broker, server) = embedded();
    let app = broker.connect(ConnectOptions::new("app")).expect("connect");
    app.publish("status/app", "up", QoS::AtLeastOnce, true)
        .expect("publish");

    let mut device = TestClient::connect(server.local_addr(), V311, "device");
    let mut retained = codec::Publish::clone(
        match &publish_packet("status/dev", b"on", QoS::AtMostOnce, None) {
            Packet::Publish(p) => p,
            _ => unreachable!("built as PUBLISH"),
        },
    );
    retained.retain = true;
    device.send(&Packet::Publish(retained));
    device.subscribe("status/app", QoS::AtLeastOnce);
    let p = device.recv_publish();
    assert!(
        p.retain,
        "a retained message sent at subscribe has RETAIN 1"
    );
    assert_eq!(
        (p.topic.as_str(), &p.payload[..]),
        ("status/app", &b"up"[..])
    );
    device.puback(p.packet_id.expect("QoS 1"));

    // The device's PUBLISH was handled before its SUBSCRIBE was answered: it is stored.
    let later = broker
        .connect(ConnectOptions::new("later").auto_ack(true))
        .expect("connect");
    later
        .subscribe("status/dev", QoS::AtMostOnce)
        .expect("subscribe");
    let msg = later.recv_timeout(WAIT).expect("the retained message");
    assert!(msg.retain());
    assert_eq!(msg.payload(), "on".as_bytes());
}

/// A device whose socket drops without DISCONNECT has its will published to in-process
/// subscribers [MQTT-3.1.2-8]; one that disconnects cleanly does not [MQTT-3.1.2-10].
#[test]
fn network_will_reaches_in_process_subscriber() {
    let (broker, server) = embedded();
    let app = broker
        .connect(ConnectOptions::new("app").auto_ack(true))
        .expect("connect");
    app.subscribe("wills/#", QoS::AtLeastOnce)
        .expect("subscribe");
    for (id, clean) in [("polite", true), ("lost", false)] {
        let mut c = connect_packet(V5, id);
        c.will = Some(codec::Will {
            topic: codec::PublishTopic::new(&format!("wills/{id}")).expect("topic"),
            payload: bytes::Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: codec::Properties::default(),
        });
        let (device, ack) = TestClient::connect_with(server.local_addr(), c);
        assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
        if clean {
            device.disconnect();
        } else {
            drop(device);
        }
    }
    let msg = app.recv_timeout(WAIT).expect("the will");
    assert_eq!(
        (msg.topic(), &msg.payload()[..]),
        ("wills/lost", &b"offline"[..])
    );
    wait_until("both devices to be gone", || {
        broker.stats().clients_connected == 1
    });
    assert!(app.try_recv().is_err(), "no will for the clean disconnect");
}

/// `ServerHandle::shutdown` closes network clients (5.0 after DISCONNECT 0x8B Server
/// shutting down, 3.1.1 without a word) and stops listening, while the broker and its
/// in-process clients carry on; the broker can be put on the network again.
#[test]
fn shutdown_closes_network_clients_and_keeps_the_broker() {
    let (broker, server) = embedded();
    let addr = server.local_addr();
    let app = broker
        .connect(ConnectOptions::new("app").auto_ack(true))
        .expect("connect");
    app.subscribe("t/#", QoS::AtMostOnce).expect("subscribe");
    let mut v5 = TestClient::connect(addr, V5, "five");
    let mut v311 = TestClient::connect(addr, V311, "four");

    server.shutdown();
    v5.expect_disconnect(ReasonCode::SERVER_SHUTTING_DOWN);
    v311.expect_eof();
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "no longer listening"
    );

    assert!(!broker.is_closed());
    app.publish("t/1", "still here", QoS::AtMostOnce, false)
        .expect("publish");
    assert_eq!(
        app.recv_timeout(WAIT)
            .expect("in-process still works")
            .payload(),
        "still here".as_bytes()
    );
    wait_until("the network sessions to end", || {
        broker.stats().clients_connected == 1
    });

    let again = mqlite_net::Server::bind(broker.clone(), "127.0.0.1:0")
        .expect("bind")
        .spawn()
        .expect("spawn");
    let mut device = TestClient::connect(again.local_addr(), V311, "four");
    device.send(&publish_packet("t/2", b"back", QoS::AtMostOnce, None));
    assert_eq!(
        app.recv_timeout(WAIT).expect("network again").payload(),
        "back".as_bytes()
    );
}

/// A server can listen on several addresses at once; clients of each reach the same broker.
#[test]
fn server_listens_on_several_addresses() {
    let broker = Broker::new(Config::default());
    let server = mqlite_net::Server::builder(broker.clone())
        .listen("127.0.0.1:0")
        .listen("127.0.0.1:0")
        .bind()
        .expect("bind")
        .spawn()
        .expect("spawn");
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0].port(), addrs[1].port());
    let mut sub = TestClient::connect(addrs[0], V311, "sub");
    sub.subscribe("x", QoS::AtMostOnce);
    let mut publisher = TestClient::connect(addrs[1], V5, "pub");
    publisher.send(&publish_packet("x", b"across", QoS::AtMostOnce, None));
    assert_eq!(&sub.recv_publish().payload[..], b"across");
}

/// Binding an address in use fails with [`BindError::Io`], which names it (and becomes an
/// `io::Error` of kind `AddrInUse`); a builder without any address and an address that does
/// not resolve fail with their own variants.
#[test]
fn bind_errors_name_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let broker = Broker::new(Config::default());
    let err = mqlite_net::Server::bind(broker.clone(), addr).expect_err("address in use");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    match err {
        BindError::Io {
            addr: failed,
            source,
        } => {
            assert_eq!(
                (failed, source.kind()),
                (addr, std::io::ErrorKind::AddrInUse)
            );
        }
        other => panic!("expected BindError::Io, got {other:?}"),
    }
    // Converted for an `io::Result` caller, it keeps the system's error kind.
    let err = mqlite_net::Server::bind(broker.clone(), addr).expect_err("address in use");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::AddrInUse
    );
    let err = mqlite_net::Server::builder(broker)
        .bind()
        .expect_err("no address");
    assert!(matches!(err, BindError::NoAddress), "{err:?}");
    let err = mqlite_net::Server::bind(Broker::new(Config::default()), "no-port")
        .expect_err("an address without a port");
    assert!(matches!(err, BindError::Resolve(_)), "{err:?}");
}

/// `Broker::shutdown` under a running server ends the network sessions too: 5.0 clients get
/// DISCONNECT 0x8B Server shutting down, 3.1.1 clients are closed, and new CONNECTs are
/// refused with Server unavailable (0x88; 3.1.1 return code 3).
#[test]
fn broker_shutdown_closes_network_clients() {
    let (broker, server) = embedded();
    let addr = server.local_addr();
    let mut v5 = TestClient::connect(addr, V5, "five");
    let mut v311 = TestClient::connect(addr, V311, "four");
    broker.shutdown();
    v5.expect_disconnect(ReasonCode::SERVER_SHUTTING_DOWN);
    v311.expect_eof();
    for version in [V5, V311] {
        let (mut late, ack) = TestClient::connect_with(addr, connect_packet(version, "late"));
        assert_eq!(ack.reason_code, ReasonCode::SERVER_UNAVAILABLE, "{version}");
        late.expect_eof();
    }
    drop((v5, v311));
    let stats = wait_stats(&server, "every connection to close", |s| {
        s.connections_open == 0
    });
    assert_eq!(stats.clients_connected, 0);
    assert_eq!(stats.connect_refused, 2);
}
