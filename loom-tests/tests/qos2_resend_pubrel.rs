//! Model 6: QoS 2: a resent PUBLISH racing its PUBREL is delivered once.
//!
//! Invariant (incoming QoS 2, [MQTT-4.3.3-2]): the broker routes a QoS 2 PUBLISH once per
//! packet id until the PUBREL releases the id; a resend reported `Duplicate` (answered with
//! PUBREC) is never routed, and a sender that got PUBREC for its message (`Routed` or
//! `Duplicate`) and then sent PUBREL has had it delivered exactly once.
//! - Same connection: after the original PUBLISH was routed, a resend races the PUBREL. The
//!   subscriber gets the message once more exactly when the resend came after the PUBREL
//!   and was `Routed` as a new message; the id is held at the end exactly then too.
//! - Across a takeover: the old connection's original PUBLISH races the new connection's
//!   takeover, resend and PUBREL (what a client does when its connection drops while the
//!   PUBLISH is on its way). The subscriber must get the message exactly once.
//!
//! Threads: 2 in each model. Preemption bound: 6 (`BOUND`). `same_connection`: 4
//! interleavings (all there are), under 1 ms. `across_takeover`: 226 interleavings (229 at bound
//! 10) in about 15 ms (release build).
//!
//! Mutation that fails it: in `Connection::publish_qos2` (behind
//! `WireClient::publish_packet`), route before registering the id (`Connection::route`
//! first, then `Session::inbound_qos2`): a resend is routed although it is then reported
//! `Duplicate`. Tried: both models fail (`["m", "m"]`, see `README.md`).
//!
//! Found a bug, now fixed (`across_takeover`; see `README.md`): the old connection's
//! `publish_packet` registers packet id 1 (`Session::inbound_qos2` passes its generation
//! check), then the takeover ends generation 1, the new connection's resend finds id 1 held
//! and is answered `Duplicate` (PUBREC), and only then does the old `publish_packet` reach
//! the publish (then `Client::publish_name`), whose `Session::check` fails with `TakenOver`:
//! it calls `inbound_forget` and returns the error. The message was never routed, yet the
//! client was told PUBREC and completes the flow with PUBREL: a QoS 2 message was lost (the
//! id was registered and the route checked in two steps; now `Connection::publish_qos2` in
//! core/src/engine/connection.rs, behind `WireClient::publish_packet`, routes a held id
//! with `Connection::route`, without the second check).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::sync::Arc;
use loom::thread;
use mqlite::wire::{Accepted, WireClient};
use mqlite::{
    Broker, Bytes, ConnectOptions, NEVER_EXPIRE, PublishError, PublishOptions, QoS, SessionError,
    TopicName,
};
use mqlite_loom::fixtures::{
    CountingNotify, broker, config, connect, connect_wire, drain, payloads,
};
use mqlite_loom::model;

const BOUND: usize = 6;

fn publish_m(sender: &WireClient) -> Result<Accepted, PublishError> {
    sender.publish_packet(
        1,
        TopicName::new("t").unwrap(),
        Bytes::from_static(b"m"),
        &PublishOptions::new(QoS::ExactlyOnce),
    )
}

/// The persistent sender, a transport's client (`publish_packet` is a wire call).
fn sender(broker: &Broker) -> WireClient {
    let options = ConnectOptions::new("sender")
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE);
    connect_wire(broker, options, CountingNotify::new())
}

#[test]
fn same_connection() {
    model::check("qos2_resend_pubrel/same_connection", BOUND, || {
        let broker = broker(config());
        let subscriber = connect(&broker, ConnectOptions::new("subscriber"));
        subscriber.subscribe("t", QoS::ExactlyOnce).unwrap();
        let sender = Arc::new(sender(&broker));
        assert_eq!(publish_m(&sender).unwrap(), Accepted::Routed);

        let resending = {
            let sender = sender.clone();
            thread::spawn(move || publish_m(&sender).unwrap())
        };
        assert!(sender.pubrel(1).unwrap(), "the original's id was held");
        let resend = resending.join().unwrap();

        let got = drain(&subscriber);
        match resend {
            Accepted::Duplicate => assert_eq!(payloads(&got), ["m"], "a duplicate was routed"),
            Accepted::Routed => assert_eq!(payloads(&got), ["m", "m"]),
            other => panic!("unexpected {other:?}"),
        }
        let held = sender.pubrel(1).unwrap();
        assert_eq!(held, resend == Accepted::Routed, "id 1 held wrongly");
    });
}

/// The old connection's PUBLISH, racing a takeover, a resend and the PUBREL on the new
/// connection, reaches the subscriber exactly once [MQTT-4.3.3-2].
#[test]
fn across_takeover() {
    model::check("qos2_resend_pubrel/across_takeover", BOUND, || {
        let broker = broker(config());
        let subscriber = connect(&broker, ConnectOptions::new("subscriber"));
        subscriber.subscribe("t", QoS::ExactlyOnce).unwrap();
        let old = sender(&broker);

        let original = thread::spawn(move || publish_m(&old));
        let new = sender(&broker);
        let resend = publish_m(&new).unwrap();
        new.pubrel(1).unwrap();
        let original = original.join().unwrap();

        let got = drain(&subscriber);
        assert_eq!(
            payloads(&got),
            ["m"],
            "client got PUBREC ({resend:?}) and released; the original got {original:?}"
        );
        assert!(
            matches!(
                original,
                Ok(Accepted::Routed) | Err(PublishError::Session(SessionError::TakenOver))
            ),
            "unexpected original result {original:?}"
        );
    });
}
