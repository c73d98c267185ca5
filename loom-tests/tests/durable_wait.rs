//! Model 13 (durable mode, issue #15; `DurableWait` in `core/src/api/client/future.rs`):
//! `Client::publish_async` at QoS 1 waiting for the store, racing the store's syncer.
//!
//! In durable mode the future routes, takes a durable point (`Store::flush`) and completes
//! once the store's `when_durable` calls back. The callback stores the result in a slot
//! under the slot's lock and wakes the waker registered there; the future's poll looks for
//! a result and registers its waker under the same lock. The store is
//! `mqlite_loom::store`'s: its syncer (a loom thread, what a group-commit store's fsync
//! thread is) waits for the flush and makes it durable. When it syncs before `when_durable`
//! is asked, the store calls back inline, on the publisher's thread, before the first poll;
//! otherwise the syncer calls back from its own thread, racing the poll. Each model asserts
//! that both kinds of execution were explored. A persistent subscriber makes the publish
//! record a delivery, so there is something to sync.
//!
//! Invariant: no lost wake-up (`block_on` sleeps until woken: a lost wake-up is a
//! deadlock, which loom reports); the answer is the store's (`Ok`, or the failed fsync as
//! `PublishError::NotDurable`); `when_durable`'s callback runs exactly once and no callback
//! is left waiting.
//!
//! Threads: 2 (main publishes under `block_on`; the syncer). Preemption bound `BOUND` = 12,
//! which explores every interleaving (none more at 20).
//!
//! Cost (release build, 2 cores): 192 interleavings in each model (12 with the callback
//! inline, 180 from the syncer), under 0.05 s each.
//!
//! Mutations that fail it (each tried in a scratch copy of the repository):
//! - `DurableWait::poll`: take the result under the lock, then register the waker under a
//!   second lock: both models deadlock (the syncer's callback lands in between, finds no
//!   waker, and the task sleeps forever).
//! - `DurableWait::start`'s callback: take and wake the waker, then store the result under
//!   a second lock: both models deadlock (woken, the poll finds no result, registers again
//!   and sleeps; the result then comes with no waker to wake).
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use loom::thread;
use mqlite::{ConnectOptions, PublishError, PublishOptions, QoS};
use mqlite_loom::fixtures::connect;
use mqlite_loom::model::{self, block_on};
use mqlite_loom::store::{DELIVERY, durable_broker, persistent_subscriber};

const BOUND: usize = 12;

/// `publish_async` racing the syncer, whose fsync succeeds or fails (`failing`). Counts,
/// across the exploration, the executions whose callback ran inline and from the syncer.
fn publish_async_racing_the_syncer(name: &str, failing: bool) {
    // Across executions, so std's atomics: (inline, from the syncer).
    let seen = std::sync::Arc::new((StdAtomicUsize::new(0), StdAtomicUsize::new(0)));
    let counted = seen.clone();
    model::check(name, BOUND, move || {
        let (broker, disk) = durable_broker();
        let _subscriber = persistent_subscriber(&broker, QoS::AtLeastOnce);
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        {
            let mut log = disk.log();
            log.background = true;
            log.failing = failing;
        }
        let syncer = {
            let disk = disk.clone();
            thread::spawn(move || disk.sync_once())
        };
        let answer =
            block_on(publisher.publish_async("t", "m", &PublishOptions::new(QoS::AtLeastOnce)));
        syncer.join().unwrap();
        match (&answer, failing) {
            (Ok(()), false) | (Err(PublishError::NotDurable { .. }), true) => {}
            _ => panic!("publish_async answered {answer:?}; the store's fsync failing: {failing}"),
        }
        let log = disk.log();
        assert_eq!(log.live(DELIVERY).len(), 1, "the delivery was recorded");
        assert_eq!(
            log.inline_callbacks + log.syncer_callbacks,
            1,
            "when_durable's callback ran once"
        );
        assert!(!log.has_waiters(), "a callback left waiting");
        let counter = if log.inline_callbacks == 1 {
            &counted.0
        } else {
            &counted.1
        };
        counter.fetch_add(1, StdOrdering::Relaxed);
    });
    let (inline, syncer) = (
        seen.0.load(StdOrdering::Relaxed),
        seen.1.load(StdOrdering::Relaxed),
    );
    eprintln!("  callbacks: {inline} executions inline, {syncer} from the syncer");
    assert!(inline > 0 && syncer > 0, "both kinds of callback explored");
}

#[test]
fn publish_async_completes_once_durable() {
    publish_async_racing_the_syncer("durable_wait/ok", false);
}

#[test]
fn publish_async_fails_when_the_sync_fails() {
    publish_async_racing_the_syncer("durable_wait/not_durable", true);
}
