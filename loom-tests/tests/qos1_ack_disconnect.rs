//! Model 5: a QoS 1 acknowledgement racing the end of its connection.
//!
//! Invariant: the message is either acknowledged or redelivered on resume (with DUP), never
//! lost, and never redelivered after its acknowledgement was accepted.
//! - In process: `Message::ack` races `disconnect()` followed by a resume. An ack that
//!   returned before the resume began must stop the redelivery; otherwise the message comes
//!   at most once more, and once that copy is acknowledged a second resume gets nothing.
//! - On the wire: `WireClient::puback` on the old connection races a takeover by a new one. The message
//!   is redelivered to the new connection exactly when the PUBACK was refused
//!   (`TakenOver`); when it was accepted (`Ok(true)`) it is not.
//!
//! Threads: 2 in each model (the acknowledging thread; the thread that ends the connection
//! and resumes). Preemption bound: 8 (`BOUND`): 221 and 272 interleavings, every one there
//! is; about 30 to 50 ms each in a release build.
//!
//! Mutation that fails it: make `Session::with_window` refuse acknowledgements once the
//! connection has ended (`if state.generation != generation || state.ended.is_some()`).
//! Loom finds: disconnect, then the ack (refused), then the resume redelivers a message
//! whose ack had returned before the resume. Tried: loom fails with "acknowledged before
//! the resume, yet redelivered" (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use mqlite::wire::Outbound;
use mqlite::{ConnectOptions, NEVER_EXPIRE, QoS, SessionError};
use mqlite_loom::fixtures::{
    CountingNotify, Got, broker, config, connect, connect_wire, drain, poll_all,
};
use mqlite_loom::model;

const BOUND: usize = 8;

fn persistent() -> ConnectOptions {
    ConnectOptions::new("sub")
        .clean_start(false)
        .session_expiry(NEVER_EXPIRE)
}

fn redelivered() -> Got {
    Got {
        payload: "m".to_owned(),
        dup: true,
        retain: false,
        qos: QoS::AtLeastOnce,
    }
}

#[test]
fn in_process_ack_racing_disconnect_and_resume() {
    model::check("qos1_ack_disconnect/in_process", BOUND, || {
        let broker = broker(config());
        let sub = connect(&broker, persistent());
        sub.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        publisher
            .publish("t", "m", QoS::AtLeastOnce, false)
            .unwrap();
        let message = sub.try_recv().unwrap();
        let acked = Arc::new(AtomicBool::new(false));

        let flag = acked.clone();
        let acking = thread::spawn(move || {
            message.ack();
            flag.store(true, Ordering::SeqCst);
        });
        sub.disconnect();
        let ack_returned = acked.load(Ordering::SeqCst);
        let resumed = connect(&broker, persistent());
        let got = drain(&resumed);
        acking.join().unwrap();

        if ack_returned {
            assert!(
                got.is_empty(),
                "acknowledged before the resume, yet redelivered"
            );
        } else {
            assert!(got.is_empty() || got == [redelivered()], "got {got:?}");
        }
        // Whichever it was, it is acknowledged now: nothing comes back again.
        resumed.disconnect();
        let again = connect(&broker, persistent());
        assert_eq!(drain(&again), []);
        assert_eq!(again.stats().inflight, 0);
    });
}

#[test]
fn wire_puback_racing_takeover() {
    model::check("qos1_ack_disconnect/wire", BOUND, || {
        let broker = broker(config());
        let old = connect_wire(&broker, persistent(), CountingNotify::new());
        old.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        publisher
            .publish("t", "m", QoS::AtLeastOnce, false)
            .unwrap();
        let Ok(Outbound::Publish(message)) = old.poll_outbound() else {
            panic!("m not handed out");
        };
        let packet_id = message.packet_id().unwrap();

        let acking = thread::spawn(move || old.puback(packet_id));
        let new = connect_wire(&broker, persistent(), CountingNotify::new());
        let got = poll_all(&new);
        let acked = acking.join().unwrap();

        match acked {
            Ok(true) => assert!(got.is_empty(), "PUBACK accepted, yet redelivered: {got:?}"),
            Err(SessionError::TakenOver) => {
                assert_eq!(got, [redelivered()], "PUBACK refused, so m is due again");
            }
            other => panic!("unexpected PUBACK result {other:?}"),
        }
        assert_eq!(new.stats().inflight, 0);
    });
}
