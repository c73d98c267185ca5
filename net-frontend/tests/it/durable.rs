//! Durable mode over real sockets: a server in front of a broker with a store
//! (`mqlite_store::Persistence` in a temporary folder). What a network publisher had
//! acknowledged (PUBACK, PUBCOMP) reaches an offline persistent subscriber after a restart,
//! in order and once; and no acknowledgement is sent for what the store could not make
//! durable (a failing fsync, a full disk). Loopback only; every wait is bounded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mqlite::{Broker, Config, QoS};
use mqlite_net::codec::{PubComp, PubRec, PubRel, ReasonCode};
use mqlite_net::{Packet, ProtocolVersion, ServerHandle};
use mqlite_store::{Faults, FaultyStorage, LogOptions, Persistence, SyncPolicy};

use crate::common::{
    Ended, TestClient, V5, V311, config, connect_packet, pid, publish_packet, serve, wait_until,
};

/// A durable broker on `store` and a server in front of it.
fn start_durable(store: Persistence) -> (Broker, ServerHandle) {
    let broker = Broker::builder()
        .config(Config::default())
        .store(store)
        .build();
    let server = serve(&broker, config());
    (broker, server)
}

/// A durable broker whose store's fsync and writes can be made to fail.
fn start_faulty(dir: &Path) -> (Broker, ServerHandle, Arc<Faults>) {
    let storage = FaultyStorage::new();
    let faults = storage.faults();
    let options = LogOptions::new(dir)
        .sync(SyncPolicy::Commit)
        .storage(storage);
    let (broker, server) = start_durable(Persistence::with_options(options).unwrap());
    (broker, server, faults)
}

/// Connects `id` with clean session 0 (a session that outlives its connection); returns
/// the client and whether the server resumed a session.
fn connect_persistent(
    server: &ServerHandle,
    version: ProtocolVersion,
    id: &str,
) -> (TestClient, bool) {
    let mut connect = connect_packet(version, id);
    connect.clean_start = false;
    if version.is_v5() {
        connect.properties.session_expiry_interval = Some(3600);
    }
    let (client, ack) = TestClient::connect_with(server.local_addrs()[0], connect);
    assert_eq!(ack.reason_code, ReasonCode::SUCCESS, "CONNACK of {id}");
    (client, ack.session_present)
}

/// An offline persistent subscriber of `filter` at QoS 2, recorded durably.
fn offline_subscriber(broker: &Broker, server: &ServerHandle, filter: &str) {
    let (mut sub, _) = connect_persistent(server, V311, "sub");
    sub.subscribe(filter, QoS::ExactlyOnce);
    sub.disconnect();
    wait_until("the subscriber to be offline", || {
        server.stats().clients_connected == 0
    });
    broker.sync().unwrap();
}

/// Publishes at QoS 1 and waits for its PUBACK.
fn publish_qos1(client: &mut TestClient, topic: &str, payload: &[u8], id: u16) {
    client.send(&publish_packet(topic, payload, QoS::AtLeastOnce, Some(id)));
    match client.recv() {
        Packet::PubAck(ack) => assert_eq!(ack.packet_id, pid(id)),
        other => panic!("expected PUBACK {id}, got {other:?}"),
    }
}

/// Publishes at QoS 2 and completes PUBREC → PUBREL → PUBCOMP.
fn publish_qos2(client: &mut TestClient, topic: &str, payload: &[u8], id: u16) {
    client.send(&publish_packet(topic, payload, QoS::ExactlyOnce, Some(id)));
    match client.recv() {
        Packet::PubRec(rec) => assert_eq!(rec.packet_id, pid(id)),
        other => panic!("expected PUBREC {id}, got {other:?}"),
    }
    client.send(&Packet::PubRel(PubRel::new(pid(id))));
    match client.recv() {
        Packet::PubComp(comp) => assert_eq!(comp.packet_id, pid(id)),
        other => panic!("expected PUBCOMP {id}, got {other:?}"),
    }
}

/// Receives `n` messages, acknowledging each as its QoS asks (PUBACK; PUBREC, then PUBCOMP
/// for the server's PUBREL, which may come after later messages); returns their payloads
/// and QoS in arrival order, once every QoS 2 exchange is complete.
fn receive_all(client: &mut TestClient, n: usize) -> Vec<(Vec<u8>, QoS)> {
    let (mut received, mut releases_due) = (Vec::new(), 0);
    while received.len() < n || releases_due > 0 {
        match client.recv() {
            Packet::Publish(publish) => {
                let id = publish.packet_id.unwrap();
                match publish.qos {
                    QoS::ExactlyOnce => {
                        client.send(&Packet::PubRec(PubRec::new(id)));
                        releases_due += 1;
                    }
                    _ => client.puback(id),
                }
                received.push((publish.payload.to_vec(), publish.qos));
            }
            Packet::PubRel(rel) => {
                client.send(&Packet::PubComp(PubComp::new(rel.packet_id)));
                releases_due -= 1;
            }
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
    received
}

/// Every QoS 1 and QoS 2 message acknowledged to a network publisher while the persistent
/// subscriber was offline is delivered to it after the server and broker are dropped and
/// built again on the same store: in order, each once, at its QoS.
#[test]
fn acknowledged_messages_survive_a_restart_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Persistence::open(dir.path(), SyncPolicy::Commit).unwrap();
    let mut sent = Vec::new();
    {
        let (broker, server) = start_durable(open());
        offline_subscriber(&broker, &server, "durable/#");
        let mut publisher = TestClient::connect(server.local_addrs()[0], V311, "pub");
        for i in 0..40u16 {
            let payload = format!("m{i}").into_bytes();
            let qos = if i % 3 == 0 {
                QoS::ExactlyOnce
            } else {
                QoS::AtLeastOnce
            };
            match qos {
                QoS::ExactlyOnce => publish_qos2(&mut publisher, "durable/x", &payload, i + 1),
                _ => publish_qos1(&mut publisher, "durable/x", &payload, i + 1),
            }
            sent.push((payload, qos));
        }
        // No clean shutdown of the broker: what was acknowledged must already be on disk.
        drop(publisher);
        server.shutdown();
    }
    wait_until("the store to be released", || {
        Persistence::open(dir.path(), SyncPolicy::Commit).is_ok()
    });
    let (_broker, server) = start_durable(open());
    let (mut sub, present) = connect_persistent(&server, V311, "sub");
    assert!(present, "the subscriber's session survived");
    assert_eq!(receive_all(&mut sub, sent.len()), sent);
    sub.ping();
    assert_eq!(
        sub.recv_within(Duration::from_millis(200)),
        Err(Ended::Timeout),
        "no message twice"
    );
    server.shutdown();
}

/// With `commit` and an fsync that fails, a QoS 1 publish to a persistent subscriber is not
/// acknowledged: the 5.0 publisher is told DISCONNECT 0x80, the 3.1.1 one is closed, and
/// neither ever sees a PUBACK.
#[test]
fn no_puback_before_the_message_is_durable() {
    for version in [V5, V311] {
        let dir = tempfile::tempdir().unwrap();
        let (broker, server, faults) = start_faulty(dir.path());
        offline_subscriber(&broker, &server, "fsync/#");
        let mut publisher = TestClient::connect(server.local_addrs()[0], version, "pub");
        faults.set_sync_fails(true);
        publisher.send(&publish_packet(
            "fsync/x",
            b"lost?",
            QoS::AtLeastOnce,
            Some(1),
        ));
        loop {
            match publisher.recv_within(Duration::from_secs(5)) {
                Ok(Packet::Disconnect(d)) if version.is_v5() => {
                    assert_eq!(d.reason_code, ReasonCode::UNSPECIFIED_ERROR);
                }
                Ok(Packet::PubAck(ack)) => {
                    assert_ne!(
                        ack.reason_code,
                        ReasonCode::SUCCESS,
                        "{version:?}: acknowledged"
                    );
                }
                Ok(other) => panic!("{version:?}: unexpected {other:?}"),
                Err(Ended::Eof | Ended::Reset) => break,
                Err(Ended::Timeout) => panic!("{version:?}: neither refused nor closed"),
            }
        }
        assert!(faults.failed_syncs() > 0, "the fsync was tried");
        server.shutdown();
    }
}

/// A publish the store cannot record (the disk is full) is refused: PUBACK 0x97 "quota
/// exceeded" on 5.0; on 3.1.1, which cannot refuse, the connection is closed unacknowledged.
#[test]
fn a_publish_the_store_refuses_is_never_acknowledged() {
    for version in [V5, V311] {
        let dir = tempfile::tempdir().unwrap();
        let (broker, server, faults) = start_faulty(dir.path());
        offline_subscriber(&broker, &server, "full/#");
        let mut publisher = TestClient::connect(server.local_addrs()[0], version, "pub");
        faults.set_no_space(true);
        publisher.send(&publish_packet(
            "full/x",
            b"no room",
            QoS::AtLeastOnce,
            Some(1),
        ));
        // Never acknowledged: 5.0 gets PUBACK 0x97 when the store refuses the append, or
        // its connection closed (DISCONNECT 0x80, or at once) when the full disk shows as the
        // worker's turn writes the buffered records; 3.1.1 is closed without a PUBACK.
        for _ in 0..2 {
            match publisher.recv_within(Duration::from_secs(5)) {
                Ok(Packet::PubAck(ack)) if version.is_v5() => {
                    assert_eq!(ack.reason_code, ReasonCode::QUOTA_EXCEEDED);
                    break;
                }
                Ok(Packet::Disconnect(d)) if version.is_v5() => {
                    assert_eq!(d.reason_code, ReasonCode::UNSPECIFIED_ERROR);
                }
                Err(Ended::Eof | Ended::Reset) => break,
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        // The broker stays up and takes publishes again once space returns.
        faults.set_no_space(false);
        let mut later = TestClient::connect(server.local_addrs()[0], version, "pub-later");
        publish_qos1(&mut later, "full/y", b"room again", 2);
        server.shutdown();
    }
}

/// With `periodic` (an fsync a minute here) and `none`, the store calls back at once: the
/// acknowledgements go out without waiting for an fsync, in order, and the messages are
/// still delivered after a restart.
#[test]
fn periodic_and_none_acknowledge_without_waiting_for_fsync() {
    for policy in [
        SyncPolicy::Periodic(Duration::from_secs(60)),
        SyncPolicy::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sent: Vec<(Vec<u8>, QoS)> = (0..100)
            .map(|i| (format!("p{i}").into_bytes(), QoS::AtLeastOnce))
            .collect();
        {
            let (broker, server) = start_durable(Persistence::open(dir.path(), policy).unwrap());
            offline_subscriber(&broker, &server, "lazy/#");
            let mut publisher = TestClient::connect(server.local_addrs()[0], V5, "pub");
            for (i, (payload, _)) in (1..).zip(&sent) {
                publish_qos1(&mut publisher, "lazy/x", payload, i);
            }
            publisher.disconnect();
            server.shutdown();
            broker.shutdown();
        }
        wait_until("the store to be released", || {
            Persistence::open(dir.path(), policy).is_ok()
        });
        let (_broker, server) = start_durable(Persistence::open(dir.path(), policy).unwrap());
        let (mut sub, present) = connect_persistent(&server, V311, "sub");
        assert!(present, "{policy:?}");
        assert_eq!(receive_all(&mut sub, sent.len()), sent, "{policy:?}");
        server.shutdown();
    }
}

/// A CONNACK is held like any acknowledgement: when the store cannot make a new persistent
/// session durable, the client gets nothing at all (not even a DISCONNECT, which may not
/// come before a CONNACK) and the connection is closed.
#[test]
fn a_connack_the_store_cannot_make_durable_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, server, faults) = start_faulty(dir.path());
    faults.set_sync_fails(true);
    let mut connect = connect_packet(V5, "persistent");
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(3600);
    let mut client = TestClient::open(server.local_addrs()[0], V5);
    client.send(&Packet::Connect(Box::new(connect)));
    client.expect_eof();
    assert!(faults.failed_syncs() > 0, "the fsync was tried");
    server.shutdown();
}

/// A QoS 2 PUBLISH handed to a network subscriber is written only once the record of its
/// packet id is durable: otherwise a crash just after would hand the message out again
/// under another id, and the subscriber would have it twice [MQTT-4.3.3-*]. With a failing
/// fsync the hand-out never becomes durable: the subscriber gets no PUBLISH, and its
/// connection is closed (it gets the message when the store works again).
#[test]
fn a_qos2_publish_is_not_handed_out_before_its_packet_id_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, server, faults) = start_faulty(dir.path());
    let (mut sub, _) = connect_persistent(&server, V311, "sub");
    sub.subscribe("exactly/#", QoS::ExactlyOnce);
    faults.set_sync_fails(true);
    let publisher = broker
        .connect(mqlite::ConnectOptions::new("in-process"))
        .unwrap();
    // Routed to the subscriber's queue; not durable (the in-process publisher is told).
    assert!(
        publisher
            .publish("exactly/once", "m", QoS::ExactlyOnce, false)
            .is_err()
    );
    match sub.recv_within(Duration::from_secs(5)) {
        Ok(Packet::Publish(p)) => panic!("a PUBLISH whose hand-out is not durable: {p:?}"),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(Ended::Eof | Ended::Reset) => {}
        Err(Ended::Timeout) => panic!("neither delivered nor closed"),
    }
    server.shutdown();
}
