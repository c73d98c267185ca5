//! Persistent sessions across connections: what is resent after a resume, in both
//! directions [MQTT-4.4.0-1].

use super::*;
use crate::codec::{PubComp, PubRec, PubRel};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A CONNECT that resumes (or starts) a persistent session of `client_id`.
fn persistent(version: ProtocolVersion, client_id: &str) -> Connect {
    let mut c = connect(version, client_id);
    c.clean_start = false;
    c.properties.session_expiry_interval = version.is_v5().then_some(3600);
    c
}

/// A persistent session resumes with Session Present 1 [MQTT-3.2.2-2] (3.1.1 clean session
/// 0; 5.0 clean start 0 with a Session Expiry Interval), and a QoS 1 delivery that was not
/// acknowledged is sent again with DUP set and its packet id [MQTT-4.4.0-1], before what
/// queued meanwhile.
#[test]
fn resumed_session_resends_unacknowledged_with_dup() {
    for version in [V311, V5] {
        let broker = broker();
        let c = persistent(version, "p");
        let (mut peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), c.clone());
        assert!(!ack.session_present);
        subscribed(&mut peer, "t/#", QoS::AtLeastOnce);
        let source = broker.connect(ConnectOptions::new("src")).expect("connect");
        source
            .publish("t/1", "first", QoS::AtLeastOnce, false)
            .expect("publish");
        let first = publishes(peer.deliver());
        assert_eq!(first.len(), 1);
        drop(peer); // no PUBACK, no DISCONNECT
        source
            .publish("t/2", "second", QoS::AtLeastOnce, false)
            .expect("publish");

        let (mut peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), c);
        assert!(ack.session_present, "{version}");
        let again = publishes(peer.deliver());
        assert_eq!(again.len(), 2, "{version}");
        assert!(again[0].dup, "{version}: a resend has DUP");
        assert_eq!(again[0].packet_id, first[0].packet_id);
        assert_eq!(&again[0].payload[..], b"first");
        assert!(!again[1].dup, "{version}: a first delivery has no DUP");
        assert_eq!(&again[1].payload[..], b"second");
    }
}

/// A QoS 2 delivery the client acknowledged with PUBREC before its connection dropped is
/// continued with PUBREL on resume, not sent again as PUBLISH [MQTT-4.4.0-1].
#[test]
fn resumed_session_resends_pubrel_after_pubrec() {
    for version in [V311, V5] {
        let broker = broker();
        let c = persistent(version, "p");
        let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c.clone());
        subscribed(&mut peer, "t/#", QoS::ExactlyOnce);
        let source = broker.connect(ConnectOptions::new("src")).expect("connect");
        source
            .publish("t/2", "two", QoS::ExactlyOnce, false)
            .expect("publish");
        let id = publishes(peer.deliver())[0].packet_id.expect("QoS 2");
        peer.send(&Packet::PubRec(PubRec::new(id))).expect("pubrec");
        assert_eq!(peer.take(), vec![Packet::PubRel(PubRel::new(id))]);
        drop(peer); // no PUBCOMP

        let (mut peer, ack) = Peer::connect_with(&broker, ServerConfig::default(), c);
        assert!(ack.session_present);
        assert_eq!(
            peer.deliver(),
            vec![Packet::PubRel(PubRel::new(id))],
            "{version}"
        );
        peer.send(&Packet::PubComp(PubComp::new(id)))
            .expect("pubcomp");
        assert_eq!(
            broker.session_stats("p").expect("session").inflight,
            0,
            "{version}"
        );
    }
}

/// An incoming QoS 2 message whose PUBREL never came stays held across a resume: the
/// client's resend (DUP) is answered with PUBREC and not routed again [MQTT-4.3.3-2]; the
/// PUBREL then completes it.
#[test]
fn inbound_qos2_stays_held_across_a_resume() {
    let broker = broker();
    let watch = watcher(&broker, "w", "t/#");
    let c = persistent(V5, "p");
    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c.clone());
    let first = publish("t/x", QoS::ExactlyOnce, Some(5), b"once");
    peer.send(&Packet::Publish(first.clone())).expect("publish");
    assert_eq!(peer.take(), vec![Packet::PubRec(PubRec::new(pid(5)))]);
    drop(peer); // no PUBREL

    let (mut peer, _) = Peer::connect_with(&broker, ServerConfig::default(), c);
    peer.send(&Packet::Publish(Publish { dup: true, ..first }))
        .expect("resend");
    assert_eq!(peer.take(), vec![Packet::PubRec(PubRec::new(pid(5)))]);
    peer.send(&Packet::PubRel(PubRel::new(pid(5))))
        .expect("pubrel");
    assert_eq!(peer.take(), vec![Packet::PubComp(PubComp::new(pid(5)))]);
    assert_eq!(received(&watch).len(), 1, "routed once");
}
