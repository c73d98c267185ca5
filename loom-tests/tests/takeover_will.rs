//! Model 4: a session takeover racing a publish and the old handle's drop.
//!
//! Invariant: the old connection's will is published exactly once, whichever of the
//! takeover and the drop ends it; no QoS 1 message of the session is lost or duplicated:
//! the new connection gets the one the old handle had in flight (again, with DUP), then the
//! one queued, then the one published during the race, in that order.
//!
//! Threads: 3 (main drops the old handle; one thread publishes `q1`; one connects the same
//! client id with `clean_start(false)`, taking the session over). Preemption bound: 12
//! (`BOUND`): 55,783 interleavings (53,574 at bound 10), about 5.5 s in a release build.
//!
//! Mutation that fails it: in `Session::end`, drop the generation test (keep only
//! `if state.ended.is_some()`). Loom finds: the takeover ends generation 1 and attaches
//! generation 2 with the new connection's will, then the old handle's drop ends generation
//! 2 in its place and publishes that will too. Tried: loom fails with
//! `["gone", "gone"]` (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::QoS;
use mqlite_loom::fixtures::{
    Got, TakeoverScene, broker, config, connect, drain, payloads, takeover_device, takeover_scene,
};
use mqlite_loom::model;

const BOUND: usize = 12;

#[test]
fn will_once_and_no_qos1_message_lost_across_takeover() {
    model::check("takeover_will", BOUND, || {
        let broker = broker(config());
        // q0 is in flight (handed out, never acknowledged); qa waits in the queue.
        let TakeoverScene {
            watcher,
            old,
            publisher,
        } = takeover_scene(&broker);

        let publishing = thread::spawn(move || {
            publisher
                .publish("data", "q1", QoS::AtLeastOnce, false)
                .unwrap();
            publisher
        });
        let taking_over = {
            let broker = broker.clone();
            thread::spawn(move || connect(&broker, takeover_device()))
        };
        drop(old);
        let publisher = publishing.join().unwrap();
        let new = taking_over.join().unwrap();

        let wills = drain(&watcher);
        assert_eq!(
            payloads(&wills),
            ["gone"],
            "the will must be published exactly once"
        );
        let got = drain(&new);
        let expect = |payload: &str, dup| Got {
            payload: payload.to_owned(),
            dup,
            retain: false,
            qos: QoS::AtLeastOnce,
        };
        assert_eq!(
            got,
            [expect("q0", true), expect("qa", false), expect("q1", false)],
            "QoS 1 messages lost, duplicated or out of order"
        );
        new.disconnect();
        drop(publisher);
    });
}
