//! A panic while the server handles one connection closes that connection alone. The
//! embedder's hooks run on the worker thread that serves the client, so a hook that panics
//! (here: for one client id, topic or filter) must not take the worker down with every
//! other connection on it. Every test runs one worker, so the healthy clients share the
//! worker the panic happens on.

use crate::common;

use std::collections::BTreeSet;

use bytes::Bytes;
use common::*;
use mqlite::{Broker, Client, ClientInfo, Config, ConnectOptions, Event, Hooks, QoS};
use mqlite::{TopicFilter, TopicName};
use mqlite_net::codec::{Connect, Disconnect, Properties, PublishTopic, ReasonCode, Will};
use mqlite_net::{Packet, ProtocolVersion, ServerHandle};

/// Hooks that panic for one client id (`authenticate`), one topic (`authorize_publish`),
/// one filter (`authorize_subscribe`) and one client's end (`on_event`), and allow the rest.
#[derive(Debug)]
struct Boobytrapped;

impl Hooks for Boobytrapped {
    fn authenticate(&self, client: &ClientInfo<'_>, _: Option<&[u8]>) -> bool {
        if client.client_id == "crash-at-connect" {
            panic!("test hook: authenticate panics for `crash-at-connect`");
        }
        true
    }

    fn authorize_publish(&self, _: &ClientInfo<'_>, topic: &TopicName, _: QoS, _: bool) -> bool {
        if topic.as_str() == "boom" {
            panic!("test hook: authorize_publish panics on `boom`");
        }
        true
    }

    fn authorize_subscribe(&self, _: &ClientInfo<'_>, filter: &TopicFilter, _: QoS) -> bool {
        if filter.as_str() == "boom/#" {
            panic!("test hook: authorize_subscribe panics on `boom/#`");
        }
        true
    }

    fn on_event(&self, event: &Event<'_>) {
        if let Event::ClientDisconnected {
            client_id: "grumpy",
            ..
        } = event
        {
            panic!("test hook: on_event panics when `grumpy` leaves");
        }
    }
}

/// A server with one worker in front of a broker with [`Boobytrapped`] hooks, an
/// in-process client subscribed to `chat/#` and `wills/#`, and healthy network clients of
/// each version subscribed to `chat/#`.
struct Scene {
    broker: Broker,
    server: ServerHandle,
    app: Client,
    healthy: Vec<(String, TestClient)>,
}

fn scene() -> Scene {
    let broker = Broker::builder()
        .config(Config::default())
        .hooks(Boobytrapped)
        .build();
    let server = serve(&broker, config());
    let app = broker
        .connect(ConnectOptions::new("app").auto_ack(true))
        .expect("in-process connect");
    app.subscribe("chat/#", QoS::AtLeastOnce)
        .expect("subscribe chat/#");
    app.subscribe("wills/#", QoS::AtLeastOnce)
        .expect("subscribe wills/#");
    let healthy = [(V31, "h31"), (V311, "h311"), (V5, "h5")]
        .into_iter()
        .map(|(version, id)| {
            let mut client = TestClient::connect(server.local_addr(), version, id);
            client.subscribe("chat/#", QoS::AtMostOnce);
            (id.to_owned(), client)
        })
        .collect();
    Scene {
        broker,
        server,
        app,
        healthy,
    }
}

/// A clean-start CONNECT of `client_id` with a QoS 1 will on `wills/{client_id}`.
fn connect_with_will(version: ProtocolVersion, client_id: &str) -> Connect {
    let mut connect = connect_packet(version, client_id);
    connect.will = Some(Will {
        topic: PublishTopic::new(&format!("wills/{client_id}")).expect("will topic"),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    });
    connect
}

/// Asserts the server closed `client`'s connection without sending another packet (a
/// reset counts as closed: the panic discards the connection's state and socket at once).
fn assert_closed(client: &mut TestClient) {
    match client.recv_within(WAIT) {
        Err(Ended::Eof | Ended::Reset) => {}
        other => panic!("expected the connection to be closed, got {other:?}"),
    }
}

/// Asserts the in-process client gets `client_id`'s will.
fn assert_will(app: &Client, client_id: &str) {
    let will = app.recv_timeout(WAIT).expect("the will");
    assert_eq!(
        (will.topic(), &will.payload()[..]),
        (format!("wills/{client_id}").as_str(), &b"gone"[..])
    );
}

/// Waits until the server counted `panics` panics and has only the healthy clients open.
fn assert_contained(scene: &Scene, panics: u64) {
    let open = scene.healthy.len() as u64;
    let stats = wait_stats(&scene.server, "the panicking connection to close", |s| {
        s.panics == panics && s.connections_open == open
    });
    assert_eq!(stats.clients_connected, open, "{stats:?}");
    wait_until(
        "the broker to have only the healthy clients and app",
        || scene.broker.stats().clients_connected == scene.healthy.len() + 1,
    );
}

/// Asserts the worker still serves everyone: each healthy client publishes once, and every
/// healthy client and the in-process client get each message (and nothing else); then a
/// new connection on the same worker connects, subscribes and gets an in-process publish.
fn assert_still_served(scene: &mut Scene) {
    for (id, client) in &mut scene.healthy {
        client.send(&publish_packet(
            &format!("chat/{id}"),
            b"still here",
            QoS::AtMostOnce,
            None,
        ));
    }
    let expected: BTreeSet<String> = scene
        .healthy
        .iter()
        .map(|(id, _)| format!("chat/{id}"))
        .collect();
    for (id, client) in &mut scene.healthy {
        let got: BTreeSet<String> = (0..expected.len())
            .map(|_| client.recv_publish().topic.as_str().to_owned())
            .collect();
        assert_eq!(got, expected, "what {id} received");
    }
    let got: BTreeSet<String> = (0..expected.len())
        .map(|_| {
            let msg = scene.app.recv_timeout(WAIT).expect("a chat message");
            assert_eq!(&msg.payload()[..], b"still here", "{}", msg.topic());
            msg.topic().to_owned()
        })
        .collect();
    assert_eq!(got, expected, "what the in-process client received");

    let mut late = TestClient::connect(scene.server.local_addr(), V5, "late");
    late.subscribe("news", QoS::AtMostOnce);
    scene
        .app
        .publish("news", "fresh", QoS::AtMostOnce, false)
        .expect("in-process publish");
    let news = late.recv_publish();
    assert_eq!(
        (news.topic.as_str(), &news.payload[..]),
        ("news", &b"fresh"[..])
    );
    late.disconnect();
}

/// A hook that panics on a live client's PUBLISH closes that client's connection; its
/// session ends as a lost connection, so its will is published [MQTT-3.1.2-8]. The other
/// clients on the worker, and new ones, are served as before.
#[test]
fn panic_in_authorize_publish_closes_only_that_connection() {
    let mut scene = scene();
    let (mut bomber, ack) =
        TestClient::connect_with(scene.server.local_addr(), connect_with_will(V5, "bomber"));
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    bomber.send(&publish_packet("boom", b"!", QoS::AtLeastOnce, Some(1)));
    assert_closed(&mut bomber);
    assert_will(&scene.app, "bomber");
    assert_contained(&scene, 1);
    assert!(
        scene.broker.session_stats("bomber").is_none(),
        "a clean-start session with no expiry ends with its connection"
    );
    assert_still_served(&mut scene);
}

/// A hook that panics at CONNECT closes the connection before any CONNACK; no session is
/// created, so its will is never published, and the worker serves the others on.
#[test]
fn panic_in_authenticate_closes_only_that_connection() {
    let mut scene = scene();
    let mut crasher = TestClient::open(scene.server.local_addr(), V311);
    crasher.send(&Packet::Connect(Box::new(connect_with_will(
        V311,
        "crash-at-connect",
    ))));
    assert_closed(&mut crasher);
    assert_contained(&scene, 1);
    assert!(scene.broker.session_stats("crash-at-connect").is_none());
    // The in-process client gets exactly the chat messages: no will came before them.
    assert_still_served(&mut scene);
    assert!(scene.app.try_recv().is_err(), "no will after them either");
}

/// A hook that panics on a 3.1.1 client's SUBSCRIBE closes that client's connection, with
/// its will published [MQTT-3.1.2-8]; the worker serves the others on.
#[test]
fn panic_in_authorize_subscribe_closes_only_that_connection() {
    let mut scene = scene();
    let (mut prober, ack) =
        TestClient::connect_with(scene.server.local_addr(), connect_with_will(V311, "prober"));
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS);
    prober.send(&Packet::Subscribe(mqlite_net::codec::Subscribe {
        packet_id: pid(1),
        properties: Properties::default(),
        filters: vec![(
            TopicFilter::new("boom/#").expect("filter"),
            mqlite::SubOptions::new(QoS::AtMostOnce),
        )],
    }));
    assert_closed(&mut prober);
    assert_will(&scene.app, "prober");
    assert_contained(&scene, 1);
    assert_still_served(&mut scene);
}

/// A hook that panics while a client's session ends (its DISCONNECT) is contained too:
/// the connection closes and the worker serves the others on.
#[test]
fn panic_in_on_event_at_disconnect_closes_only_that_connection() {
    let mut scene = scene();
    let mut grumpy = TestClient::connect(scene.server.local_addr(), V5, "grumpy");
    grumpy.send(&Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::NORMAL_DISCONNECTION,
        properties: Properties::default(),
    }));
    assert_closed(&mut grumpy);
    assert_contained(&scene, 1);
    assert_still_served(&mut scene);
}
