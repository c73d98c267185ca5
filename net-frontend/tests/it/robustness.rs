//! A bad client harms only itself [MQTT-4.8.0-1]: while malformed and hostile connections
//! come and go, connected clients (network and in-process) keep receiving and their queued
//! messages stay intact. Random input is in `fuzz.rs`.

use crate::common;

use std::net::SocketAddr;

use common::*;
use mqlite::{ConnectOptions, QoS};
use mqlite_net::ProtocolVersion;

/// Bad inputs of `malformed*.rs`, each for a connection that first connects with the given
/// version (`None`: the input is the first packet).
const BAD: &[(&str, Option<ProtocolVersion>, &[u8])] = &[
    (
        "5-byte remaining length",
        Some(V5),
        &[
            0x30, // PUBLISH QoS 0
            0xFF, 0xFF, 0xFF, 0xFF, 0x01, // remaining length: 5 bytes
        ],
    ),
    (
        "PUBREL flags 0000",
        Some(V311),
        &[
            0x60, 0x02, // PUBREL with flags 0000, remaining length 2
            0x00, 0x01, // packet id 1
        ],
    ),
    (
        "PUBLISH QoS 3",
        Some(V5),
        &[
            0x36, 0x07, // PUBLISH QoS 3, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x01, // packet id 1
            0x00, // no properties
            b'x', // payload
        ],
    ),
    (
        "wildcard in topic",
        Some(V311),
        &[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x03, b'a', b'/', b'+', // topic "a/+"
            b'x', // payload
        ],
    ),
    (
        "packet id 0",
        Some(V5),
        &[
            0x32, 0x07, // PUBLISH QoS 1, remaining length 7
            0x00, 0x01, b't', // topic "t"
            0x00, 0x00, // packet id 0
            0x00, // no properties
            b'x', // payload
        ],
    ),
    (
        "U+0000 in topic",
        Some(V311),
        &[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b"
            b'x', // payload
        ],
    ),
    (
        "oversized",
        Some(V5),
        &[
            0x30, // PUBLISH QoS 0
            0xFF, 0xFF, 0xFF, 0x7F, // remaining length 268,435,455; no body follows
        ],
    ),
    (
        "duplicate property",
        Some(V5),
        &[
            0x30, 0x09, // PUBLISH QoS 0, remaining length 9
            0x00, 0x01, b't', // topic "t"
            0x04, // property length 4
            0x01, 0x01, // Payload Format Indicator 1
            0x01, 0x01, // Payload Format Indicator 1, again
            b'x', // payload
        ],
    ),
    (
        "SUBSCRIBE without filters",
        Some(V311),
        &[
            0x82, 0x02, // SUBSCRIBE, remaining length 2
            0x00, 0x01, // packet id 1, no filters
        ],
    ),
    (
        "CONNACK from a client",
        Some(V5),
        &[
            0x20, 0x03, // CONNACK, remaining length 3
            0x00, 0x00, // no session present, success
            0x00, // no properties
        ],
    ),
    (
        "second CONNECT",
        Some(V311),
        &[
            0x10, 0x0D, // CONNECT, remaining length 13
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x04, 0x02, // level 4, clean session
            0x00, 0x3C, // keep alive 60
            0x00, 0x01, b'x', // client id "x"
        ],
    ),
    (
        "AUTH without method",
        Some(V5),
        &[
            0xF0, 0x00, // AUTH, remaining length 0
        ],
    ),
    (
        "first packet PINGREQ",
        None,
        &[
            0xC0, 0x00, // PINGREQ
        ],
    ),
    (
        "protocol name MQTX",
        None,
        &[
            0x10, 0x0D, // CONNECT, remaining length 13
            0x00, 0x04, b'M', b'Q', b'T', b'X', // protocol name "MQTX"
            0x04, 0x02, // level 4, clean session
            0x00, 0x3C, // keep alive 60
            0x00, 0x01, b'm', // client id "m"
        ],
    ),
    (
        "CONNECT reserved flag",
        None,
        &[
            0x10, 0x0E, // CONNECT, remaining length 14
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x05, 0x03, // level 5, flags: clean start and the reserved bit
            0x00, 0x3C, // keep alive 60
            0x00, // no properties
            0x00, 0x01, b'm', // client id "m"
        ],
    ),
];

/// Opens a connection, connects if asked, and sends `input`.
fn send_bad(
    addr: SocketAddr,
    version: Option<ProtocolVersion>,
    input: &[u8],
    id: &str,
) -> TestClient {
    let mut client = match version {
        Some(v) => TestClient::connect(addr, v, id),
        None => TestClient::open(addr, V311),
    };
    client.send_bytes(input);
    client
}

/// Clients of both kinds are connected while every kind of bad input arrives, one after the
/// other and then all at once: they keep receiving, their queued messages stay intact and in
/// order, and each bad connection is closed and counted.
#[test]
fn bad_clients_do_not_disturb_the_others() {
    let mut two = config();
    two.workers = 2;
    let (broker, server) = start(two);
    let addr = server.local_addr();
    let source = broker
        .connect(ConnectOptions::new("source"))
        .expect("connect");

    // Queued, not yet taken: an in-process session, and a network one held back by its
    // Receive Maximum of 1.
    let keeper = broker
        .connect(ConnectOptions::new("keeper"))
        .expect("connect");
    keeper
        .subscribe("keep/#", QoS::AtLeastOnce)
        .expect("subscribe");
    let mut c = connect_packet(V5, "netkeeper");
    c.properties.receive_maximum = Some(1);
    let (mut netkeeper, _) = TestClient::connect_with(addr, c);
    netkeeper.subscribe("keep/#", QoS::AtLeastOnce);
    for i in 0..5 {
        source
            .publish("keep/x", format!("{i}"), QoS::AtLeastOnce, false)
            .expect("publish");
    }
    // Live: receiving while the bad clients come and go.
    let live = broker
        .connect(ConnectOptions::new("live").auto_ack(true))
        .expect("connect");
    live.subscribe("live/#", QoS::AtMostOnce)
        .expect("subscribe");
    let mut watcher = TestClient::connect(addr, V311, "watcher");
    watcher.subscribe("live/#", QoS::AtMostOnce);

    let mut n = 0;
    let mut check_live = |watcher: &mut TestClient, case: &str| {
        n += 1;
        let payload = format!("{n}");
        source
            .publish("live/n", payload.clone(), QoS::AtMostOnce, false)
            .expect("publish");
        assert_eq!(
            watcher.recv_publish().payload,
            payload.as_bytes(),
            "network watcher after {case}"
        );
        let got = live
            .recv_timeout(WAIT)
            .expect("in-process watcher receives");
        assert_eq!(
            got.payload(),
            payload.as_bytes(),
            "in-process watcher after {case}"
        );
    };
    for (i, (case, version, input)) in BAD.iter().enumerate() {
        let mut bad = send_bad(addr, *version, input, &format!("bad-{i}"));
        bad.read_until_eof();
        check_live(&mut watcher, case);
    }
    let mut all: Vec<_> = BAD
        .iter()
        .enumerate()
        .map(|(i, (_, version, input))| send_bad(addr, *version, input, &format!("bad-{i}")))
        .collect();
    for bad in &mut all {
        bad.read_until_eof();
    }
    drop(all);
    check_live(&mut watcher, "all at once");

    let stats = wait_stats(&server, "bad connections to close", |s| {
        s.connections_open == 2
    });
    let bad = stats.malformed_packets + stats.protocol_errors + stats.connect_refused;
    // Each input twice; the malformed 5.0 CONNECT counts as malformed and as refused.
    assert_eq!(
        bad,
        2 * BAD.len() as u64 + 2,
        "each bad input counted once: {stats:?}"
    );
    assert_eq!(stats.clients_connected, 2);

    let kept: Vec<_> = keeper.try_iter().map(|m| m.payload().to_vec()).collect();
    assert_eq!(
        kept,
        [b"0", b"1", b"2", b"3", b"4"],
        "in-process queue intact, in order"
    );
    for i in 0..5 {
        let p = netkeeper.recv_publish();
        assert_eq!(
            p.payload,
            format!("{i}").as_bytes(),
            "network session queue in order"
        );
        netkeeper.puback(p.packet_id.expect("QoS 1"));
    }
    netkeeper.ping();
}
