//! QoS 1 and 2 in both directions, the client's Receive Maximum and Maximum Packet Size, and
//! the write buffer limit.

use super::*;
use crate::codec::{PubAck, PubComp, PubRec, PubRel};
use crate::conn::Drain;

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A QoS 1 PUBLISH is routed and answered with a PUBACK of the same id [MQTT-4.3.2-2].
#[test]
fn qos1_publish_is_routed_and_acknowledged() {
    let broker = broker();
    let watch = watcher(&broker, "w", "t/#");
    let mut peer = Peer::connect(&broker, V311, "pub");
    let mut out = BytesMut::new();
    let packet = Packet::Publish(publish("t/1", QoS::AtLeastOnce, Some(7), b"x"));
    codec::encode(&packet, V311, &mut out).expect("encodes");
    assert_eq!(peer.send_bytes(&out), Ok(()));
    let mut ack = BytesMut::new();
    codec::encode(&peer.take_one(), V311, &mut ack).expect("encodes");
    assert_eq!(
        &ack[..],
        [
            0x40, 0x02, // PUBACK, remaining length 2
            0x00, 0x07, // packet id 7
        ]
    );
    assert_eq!(
        received(&watch),
        vec![("t/1".into(), Bytes::from_static(b"x"))]
    );
}

/// A QoS 2 PUBLISH is routed once: its resend before PUBREL gets PUBREC again but is not
/// routed again [MQTT-4.3.3-2]; after PUBREL (answered with PUBCOMP) the id is free and the
/// same id starts a new message.
#[test]
fn qos2_publish_is_routed_exactly_once() {
    let broker = broker();
    let watch = watcher(&broker, "w", "t/#");
    for version in [V311, V5] {
        let mut peer = Peer::connect(&broker, version, "pub");
        let first = publish("t/2", QoS::ExactlyOnce, Some(9), b"once");
        peer.send(&Packet::Publish(first.clone())).expect("publish");
        assert_eq!(peer.take(), vec![Packet::PubRec(PubRec::new(pid(9)))]);
        let resend = Publish {
            dup: true,
            ..first.clone()
        };
        peer.send(&Packet::Publish(resend)).expect("resend");
        assert_eq!(peer.take(), vec![Packet::PubRec(PubRec::new(pid(9)))]);
        assert_eq!(received(&watch).len(), 1, "{version}: routed once");

        peer.send(&Packet::PubRel(PubRel::new(pid(9))))
            .expect("pubrel");
        assert_eq!(peer.take(), vec![Packet::PubComp(PubComp::new(pid(9)))]);
        peer.send(&Packet::Publish(first))
            .expect("new message, same id");
        assert_eq!(peer.take(), vec![Packet::PubRec(PubRec::new(pid(9)))]);
        assert_eq!(
            received(&watch).len(),
            1,
            "{version}: a new message after PUBREL"
        );
    }
}

/// A PUBREL for an id the server does not hold gets PUBCOMP 0x92 Packet Identifier not found
/// on 5.0 (§3.7.2.1), a plain PUBCOMP on 3.1.1.
#[test]
fn pubrel_for_unknown_id_gets_packet_identifier_not_found() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "c");
    peer.send(&Packet::PubRel(PubRel::new(pid(3))))
        .expect("pubrel");
    let mut expected = PubComp::new(pid(3));
    expected.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
    assert_eq!(peer.take(), vec![Packet::PubComp(expected)]);

    let mut peer = Peer::connect(&broker, V311, "c3");
    peer.send(&Packet::PubRel(PubRel::new(pid(3))))
        .expect("pubrel");
    assert_eq!(peer.take(), vec![Packet::PubComp(PubComp::new(pid(3)))]);
}

/// A QoS 1 delivery stays in flight until the client's PUBACK [MQTT-4.3.2-1]; the session's
/// arrival wakes the connection.
#[test]
fn qos1_delivery_completes_with_puback() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V311, "sub");
    subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/1", "a", QoS::AtLeastOnce, false)
        .expect("publish");
    assert!(peer.wake_count() > 0, "the session wakes its connection");

    let sent = publishes(peer.deliver());
    assert_eq!(sent.len(), 1);
    let (qos, id) = (sent[0].qos, sent[0].packet_id.expect("QoS 1 has an id"));
    assert_eq!(
        (qos, sent[0].topic.as_str(), &sent[0].payload[..]),
        (QoS::AtLeastOnce, "t/1", &b"a"[..])
    );
    assert_eq!(broker.session_stats("sub").expect("session").inflight, 1);

    peer.send(&Packet::PubAck(PubAck::new(id))).expect("puback");
    assert_eq!(broker.session_stats("sub").expect("session").inflight, 0);
    assert_eq!(peer.take(), vec![]);
}

/// A QoS 2 delivery: PUBLISH, the client's PUBREC, the server's PUBREL, the client's PUBCOMP
/// [MQTT-4.3.3-1]; only then is it out of flight.
#[test]
fn qos2_delivery_completes_with_pubrec_pubrel_pubcomp() {
    let broker = broker();
    let mut peer = Peer::connect(&broker, V5, "sub");
    subscribed(&mut peer, "t/#", QoS::ExactlyOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/2", "b", QoS::ExactlyOnce, false)
        .expect("publish");

    let sent = publishes(peer.deliver());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].qos, QoS::ExactlyOnce);
    let id = sent[0].packet_id.expect("QoS 2 has an id");
    peer.send(&Packet::PubRec(PubRec::new(id))).expect("pubrec");
    assert_eq!(peer.take(), vec![Packet::PubRel(PubRel::new(id))]);
    assert_eq!(broker.session_stats("sub").expect("session").inflight, 1);
    peer.send(&Packet::PubComp(PubComp::new(id)))
        .expect("pubcomp");
    assert_eq!(broker.session_stats("sub").expect("session").inflight, 0);
}

/// The server sends no more unacknowledged QoS 1 deliveries than the client's Receive
/// Maximum [MQTT-3.3.4-9]; each PUBACK lets one more out, and wakes the connection.
#[test]
fn client_receive_maximum_limits_deliveries_in_flight() {
    let broker = broker();
    let mut c = connect(V5, "slow");
    c.properties.receive_maximum = Some(2);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for i in 0..5 {
        source
            .publish("t/q", format!("{i}"), QoS::AtLeastOnce, false)
            .expect("publish");
    }
    let first = publishes(peer.deliver());
    assert_eq!(first.len(), 2, "two in flight at most");
    assert_eq!(
        publishes(peer.deliver()),
        vec![],
        "nothing more before an ack"
    );

    let wakes = peer.wake_count();
    let id = first[0].packet_id.expect("id");
    peer.send(&Packet::PubAck(PubAck::new(id))).expect("puback");
    assert!(
        peer.wake_count() > wakes,
        "the ack reopens the window and wakes"
    );
    let next = publishes(peer.deliver());
    assert_eq!(next.len(), 1);
    assert_eq!(&next[0].payload[..], b"2", "in order");
}

/// A delivery larger than the client's Maximum Packet Size is not sent but dropped as if it
/// had been, and counted [MQTT-3.1.2-25]; smaller ones still go out.
#[test]
fn delivery_over_client_maximum_packet_size_is_dropped() {
    let broker = broker();
    let mut c = connect(V5, "small");
    c.properties.maximum_packet_size = Some(64);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/big", vec![b'x'; 100], QoS::AtLeastOnce, false)
        .expect("publish");
    source
        .publish("t/small", "ok", QoS::AtLeastOnce, false)
        .expect("publish");

    let sent = publishes(peer.deliver());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].topic.as_str(), "t/small");
    assert_eq!(peer.stats().oversized_dropped, 1);
    assert_eq!(
        broker.session_stats("small").expect("session").inflight,
        1,
        "only the small one"
    );
}

/// The connection takes deliveries only while its write buffer is under
/// `max_write_buffer_bytes` (overshooting by at most one packet), then reports more to come;
/// once the socket took the bytes, it goes on.
#[test]
fn deliveries_stop_at_the_write_buffer_limit() {
    let broker = broker();
    let config = ServerConfig {
        max_write_buffer_bytes: 1000,
        ..ServerConfig::default()
    };
    let (mut peer, _) = Peer::connect_with(&broker, config, connect(V311, "sub"));
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    let payload = vec![b'p'; 200];
    for _ in 0..20 {
        source
            .publish("t/w", payload.clone(), QoS::AtMostOnce, false)
            .expect("publish");
    }
    let packet_len = 2 + 2 + 3 + 200; // header, topic length, "t/w", payload
    assert_eq!(peer.conn.on_delivery(), Ok(Drain::More));
    let buffered = peer.conn.write.len();
    assert!(
        (1000..1000 + packet_len).contains(&buffered),
        "{buffered} bytes buffered"
    );
    assert!(peer.conn.is_write_full());
    assert_eq!(
        peer.conn.on_delivery(),
        Ok(Drain::More),
        "still full: nothing taken"
    );
    assert_eq!(peer.conn.write.len(), buffered);

    let mut total = publishes(peer.take()).len();
    while peer.conn.on_delivery() == Ok(Drain::More) {
        total += publishes(peer.take()).len();
    }
    total += publishes(peer.take()).len();
    assert_eq!(total, 20, "every delivery arrives once the socket drains");
}

/// While the write buffer is full the connection reads no more requests (their answers
/// would grow it): a PINGREQ waits until the buffer drained.
#[test]
fn full_write_buffer_pauses_reading() {
    let broker = broker();
    let config = ServerConfig {
        max_write_buffer_bytes: 100,
        ..ServerConfig::default()
    };
    let (mut peer, _) = Peer::connect_with(&broker, config, connect(V311, "sub"));
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/w", vec![b'p'; 200], QoS::AtMostOnce, false)
        .expect("publish");
    assert!(peer.conn.on_delivery().is_ok());
    assert!(peer.conn.is_write_full());

    assert_eq!(peer.send_bytes(&[0xC0, 0x00]), Ok(())); // PINGREQ
    assert_eq!(publishes(peer.take()).len(), 1, "no PINGRESP yet");
    assert_eq!(peer.conn.on_read(peer.t0), Ok(()));
    assert_eq!(peer.take(), vec![Packet::PingResp]);
}

/// A write buffer that stays full for `write_stall_timeout` closes the connection as a slow
/// consumer, counted.
#[test]
fn stalled_write_buffer_closes_a_slow_consumer() {
    let broker = broker();
    let config = ServerConfig {
        max_write_buffer_bytes: 100,
        write_stall_timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    };
    let (mut peer, _) = Peer::connect_with(&broker, config, connect(V5, "stuck"));
    subscribed(&mut peer, "t/#", QoS::AtMostOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/w", vec![b'p'; 200], QoS::AtMostOnce, false)
        .expect("publish");
    assert!(peer.conn.on_delivery().is_ok());
    assert!(peer.conn.is_write_full());
    peer.conn.on_flushed(peer.t0, false); // the socket took nothing
    assert_eq!(
        peer.conn.on_tick(peer.at(Duration::from_millis(4_999))),
        Ok(())
    );
    assert!(peer.conn.on_tick(peer.at(Duration::from_secs(5))).is_err());
    assert_eq!(peer.stats().slow_consumers, 1);
    assert_eq!(peer.stats().clients_connected, 0);
    assert!(!broker.session_stats("stuck").is_some_and(|s| s.online));
}

/// More unreleased QoS 2 PUBLISHes than the server's Receive Maximum is Receive Maximum
/// exceeded (0x93) (§3.3.4, the client's rule [MQTT-3.3.4-7]).
#[test]
fn qos2_over_server_receive_maximum_is_refused() {
    let mut core = Config::default();
    core.max_inflight_messages = 2;
    let broker = broker_with(core);
    let mut peer = Peer::connect(&broker, V5, "pub");
    for id in 1..=2 {
        let p = publish("t", QoS::ExactlyOnce, Some(id), b"x");
        assert_eq!(peer.send(&Packet::Publish(p)), Ok(()));
    }
    assert_eq!(peer.take().len(), 2, "two PUBRECs");
    let flow = peer.send(&Packet::Publish(publish(
        "t",
        QoS::ExactlyOnce,
        Some(3),
        b"x",
    )));
    peer.assert_disconnected(flow, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
    assert_eq!(peer.stats().protocol_errors, 1);
}

/// Under the `Disconnect` overflow policy a session whose queue overflows is ended as a
/// slow consumer: its connection is told with DISCONNECT 0x97 Quota exceeded, counted, and
/// its will is published, even while deliveries still wait behind a full in-flight window.
#[test]
fn overflow_under_disconnect_policy_closes_with_quota_exceeded() {
    let mut core = Config::default();
    core.max_queued_messages = 4;
    core.overflow_policy = mqlite::OverflowPolicy::Disconnect;
    let broker = broker_with(core);
    let mut c = connect(V5, "laggard");
    c.properties.receive_maximum = Some(1);
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    source
        .publish("t/1", "first", QoS::AtLeastOnce, false)
        .expect("publish");
    assert_eq!(
        publishes(peer.deliver()).len(),
        1,
        "one in flight, never acknowledged"
    );
    for i in 0..8 {
        let _ = source.publish("t/1", format!("{i}"), QoS::AtLeastOnce, false);
    }
    let flow = peer.conn.on_delivery().map(drop);
    peer.assert_disconnected(flow, ReasonCode::QUOTA_EXCEEDED);
    assert_eq!(peer.stats().slow_consumers, 1);
    assert_eq!(peer.stats().clients_connected, 0);
}

/// Under the `Disconnect` overflow policy, a session whose queue overflowed while its
/// connection was busy gets what was queued, then DISCONNECT 0x97 Quota exceeded; the
/// connection closes and counts a slow consumer.
#[test]
fn overflow_under_disconnect_policy_closes_after_the_queue() {
    let mut core = Config::default();
    core.max_queued_messages = 4;
    core.overflow_policy = mqlite::OverflowPolicy::Disconnect;
    let broker = broker_with(core);
    let mut peer = Peer::connect(&broker, V5, "busy");
    subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
    let source = broker.connect(ConnectOptions::new("src")).expect("connect");
    for i in 0..8 {
        let _ = source.publish("t/1", format!("{i}"), QoS::AtLeastOnce, false);
    }
    let flow = peer.conn.on_delivery().map(drop);
    assert!(flow.is_err(), "the session ended");
    let mut packets = peer.take();
    match packets.pop() {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::QUOTA_EXCEEDED),
        other => panic!("expected DISCONNECT 0x97, got {other:?}"),
    }
    assert_eq!(publishes(packets).len(), 4, "what was queued comes first");
    assert_eq!(peer.stats().slow_consumers, 1);
}
