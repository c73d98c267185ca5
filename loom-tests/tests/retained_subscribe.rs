//! Model 3: a retained set racing a subscribe.
//!
//! Invariant: the new subscriber ends up having seen the latest retained value (`v2`), as a
//! retained message or live, and never an older value after a newer one: it gets either
//! `[v1 (retained), v2 (live)]` (subscribed first) or `[v2 (retained)]` (published first).
//! Afterwards the store holds `v2` alone.
//!
//! Threads: 2 (the publisher replaces the retained `v1` of `t` with `v2`; the subscriber
//! subscribes to `t`). Preemption bound: 6 (`BOUND`): 6 interleavings, every one there is
//! (the router lock orders the two operations whole); under 1 ms in a release build.
//!
//! Mutation that fails it: read the retained store before the router write lock (in
//! `Engine::subscribe`, collect `self.retained_matching(..)` before
//! `self.router.write()` and queue that snapshot after inserting into the index). Loom
//! finds: the subscriber snapshots `v1`, the publisher stores `v2` and routes it to nobody,
//! the subscriber subscribes and queues `v1`: it never sees `v2`. Tried: loom fails with
//! "latest retained value v2 never seen" (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::thread;
use mqlite::{ConnectOptions, QoS};
use mqlite_loom::fixtures::{Got, broker, config, connect, drain};
use mqlite_loom::model;

const BOUND: usize = 6;

fn got(payload: &str, retain: bool) -> Got {
    Got {
        payload: payload.to_owned(),
        dup: false,
        retain,
        qos: QoS::AtLeastOnce,
    }
}

#[test]
fn subscriber_sees_the_latest_retained_value_never_an_older_after_it() {
    model::check("retained_subscribe", BOUND, || {
        let broker = broker(config());
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        publisher
            .publish("t", "v1", QoS::AtLeastOnce, true)
            .unwrap();
        let subscriber = connect(&broker, ConnectOptions::new("subscriber"));

        let publishing = thread::spawn(move || {
            publisher
                .publish("t", "v2", QoS::AtLeastOnce, true)
                .unwrap();
            publisher
        });
        subscriber.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = publishing.join().unwrap();

        let seen = drain(&subscriber);
        assert!(
            seen.iter().any(|g| g.payload == "v2"),
            "latest retained value v2 never seen: {seen:?}"
        );
        assert!(
            seen == [got("v1", true), got("v2", false)] || seen == [got("v2", true)],
            "unexpected sequence {seen:?}"
        );
        assert_eq!(broker.stats().retained_messages, 1);
        // The store holds v2: a later subscriber gets it alone.
        let late = connect(&broker, ConnectOptions::new("late"));
        late.subscribe("t", QoS::AtLeastOnce).unwrap();
        assert_eq!(drain(&late), [got("v2", true)]);
        drop(publisher);
    });
}
