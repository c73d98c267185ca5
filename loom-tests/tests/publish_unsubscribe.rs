//! Model 2: publish racing unsubscribe.
//!
//! Invariant: after `unsubscribe()` returns, no new message for that filter is enqueued. The
//! unsubscribing thread drains its queue right after `unsubscribe()` returns; nothing may
//! arrive after that drain. Also: a message whose publish returned before `unsubscribe()` was
//! called is delivered, one whose publish started after it returned is not, and what is
//! delivered is a prefix of what was published, in order.
//!
//! Threads: 2 (the subscriber unsubscribes, raises `unsubscribed`, drains; the publisher
//! publishes `m1` then `m2`, noting for each whether `unsubscribed` was up when it started,
//! and raises `published` after `m1` returned). Preemption bound: 6 (`BOUND`): 136
//! interleavings, every one there is; about 10 ms in a release build.
//!
//! Mutation that fails it: enqueue after the router lock is released (in `router::offer`,
//! push `(session, delivery)` into `effects.blocked` instead of calling `enqueue`, and in
//! `Engine::publish` enqueue those after the read guard is dropped, as a "shorter
//! critical section" would). Loom finds: the publish matches `t` under the read lock, the
//! unsubscribe takes the write lock, returns and drains, then the publish enqueues into the
//! unsubscribed session. Tried: loom fails with `["m2"] enqueued after unsubscribe()
//! returned` (see `README.md`).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use mqlite::{ConnectOptions, QoS};
use mqlite_loom::fixtures::{broker, config, connect, drain, payloads};
use mqlite_loom::model;

const BOUND: usize = 6;

#[test]
fn nothing_is_enqueued_after_unsubscribe_returned() {
    model::check("publish_unsubscribe", BOUND, || {
        let broker = broker(config());
        let subscriber = connect(&broker, ConnectOptions::new("subscriber"));
        subscriber.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        let unsubscribed = Arc::new(AtomicBool::new(false));
        let published = Arc::new(AtomicBool::new(false));

        let flags = (unsubscribed.clone(), published.clone());
        let publishing = thread::spawn(move || {
            let (unsubscribed, published) = flags;
            let mut after_unsubscribe = [false; 2];
            for (i, payload) in ["m1", "m2"].into_iter().enumerate() {
                after_unsubscribe[i] = unsubscribed.load(Ordering::SeqCst);
                publisher
                    .publish("t", payload, QoS::AtLeastOnce, false)
                    .unwrap();
                if i == 0 {
                    published.store(true, Ordering::SeqCst);
                }
            }
            after_unsubscribe
        });
        let m1_was_done = published.load(Ordering::SeqCst);
        assert!(subscriber.unsubscribe("t").unwrap());
        unsubscribed.store(true, Ordering::SeqCst);
        let before = drain(&subscriber);
        let after_unsubscribe = publishing.join().unwrap();

        let late = drain(&subscriber);
        assert!(
            late.is_empty(),
            "{:?} enqueued after unsubscribe() returned",
            payloads(&late)
        );
        let got = payloads(&before);
        assert!(
            [&["m1", "m2"][..], &["m1"][..], &[][..]].contains(&got.as_slice()),
            "not a prefix in order: {got:?}"
        );
        for (i, payload) in ["m1", "m2"].into_iter().enumerate() {
            if after_unsubscribe[i] {
                assert!(
                    !got.contains(&payload),
                    "{payload} started after unsubscribe() returned, yet delivered"
                );
            }
        }
        if m1_was_done {
            assert!(
                got.contains(&"m1"),
                "m1 returned before unsubscribe() began, lost: {got:?}"
            );
        }
    });
}
