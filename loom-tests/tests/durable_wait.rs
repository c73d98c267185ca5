//! Model 14 (durable mode, issue #15): waiting for the store. `Client::publish_async` at
//! QoS 1 (`DurableWait`, `core/src/api/client/future.rs`) racing the store's syncer, and the
//! blocking `Client::publish` racing `Broker::shutdown` (`StoreHandle`'s read-write lock).
//!
//! In durable mode the future routes, takes a durable point (`Store::flush`) and completes
//! once the store's `when_durable` calls back. The callback stores the result in a slot
//! under the slot's lock and wakes the waker registered there; the future's poll looks for
//! a result and registers its waker under the same lock. The store is
//! `mqlite_loom::store`'s: its syncer (a loom thread, what a group-commit store's fsync
//! thread is) waits for the flush and makes it durable. When it syncs before `when_durable`
//! is asked, the store calls back inline, on the publisher's thread, before the first poll;
//! otherwise the syncer calls back from its own thread, racing the poll. Each model asserts
//! that both kinds of execution were explored. `publish_async_called_back_from_a_new_thread`
//! uses a store whose `when_durable` hands every callback to a new (unjoined) loom thread
//! at once, racing the first poll from its very start. A persistent subscriber makes the
//! publish record a delivery, so there is something to sync.
//!
//! Invariant: no lost wake-up (`block_on` sleeps until woken: a lost wake-up is a
//! deadlock, which loom reports); the answer is the store's (`Ok`, or the failed fsync as
//! `PublishError::NotDurable`); `when_durable`'s callback runs exactly once and no callback
//! is left waiting.
//!
//! `publish_racing_shutdown`: the blocking `Client::publish` (QoS 1) waits in
//! `Journal::sync`, whose `commit` holds the store's read lock, while another thread shuts
//! the broker down, ending with `drop_store` (the write lock). Invariant: `shutdown()`
//! returns with the store dropped (it waited for the commit in flight) and no call reaches
//! it after; a publish that returns `Ok` finds its delivery record live and durable as it
//! returns; otherwise it answers `BrokerClosed` or `NotDurable` (its commit came after the
//! store was dropped). All three answers occur.
//!
//! Threads: 2 in each model (main publishes under `block_on`, or shuts down; the syncer,
//! the callback's thread, or the blocking publisher). Preemption bound `BOUND` = 12 for the
//! `publish_async_…` models,
//! which explores every interleaving (none more at 20); `PUBLISH_SHUTDOWN_BOUND` = 5 for
//! `publish_racing_shutdown`, whose count keeps growing (5,323 at 4, 16,823 at 5).
//!
//! Cost (release build, 2 cores): 192 interleavings in each `publish_async_…` model (12
//! with the callback inline, 180 from the syncer), under 0.1 s each; 9 (all) with the
//! callback on a new thread, under 1 ms;
//! `publish_racing_shutdown` 16,823 (about 2.7 s).
//!
//! Mutations that fail it (each tried in a scratch copy of the repository):
//! - `DurableWait::poll`: take the result under the lock, then register the waker under a
//!   second lock: both `publish_async_…` deadlock (the syncer's callback lands in between,
//!   finds no waker, and the task sleeps forever).
//! - `DurableWait::start`'s callback: take and wake the waker, then store the result under
//!   a second lock: the three `publish_async_…` deadlock (woken, the poll finds no result,
//!   registers again and sleeps; the result then comes with no waker to wake).
//! - `StoreHandle` holding the store in a `ValueArc` that `with` and `release` clone out of
//!   the read guard, so `drop_store` no longer waits for calls in flight:
//!   `publish_racing_shutdown` fails ("shutdown returned with the store open").
//! - `Client::publish_validated`: sync, then route: `publish_racing_shutdown` fails
//!   ("acknowledged, yet its record is not durable").
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use loom::thread;
use mqlite::{ConnectOptions, PublishError, PublishOptions, QoS, SessionError};
use mqlite_loom::fixtures::connect;
use mqlite_loom::model::{self, block_on};
use mqlite_loom::store::{DELIVERY, durable_broker, persistent_subscriber};

const BOUND: usize = 12;
/// `publish_racing_shutdown` races two long calls: 5,323 interleavings at 4, 16,823 at 5,
/// many more above (348,123 at 12 for an earlier version of it).
const PUBLISH_SHUTDOWN_BOUND: usize = 5;

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

/// `publish_async` with a store whose `when_durable` hands the callback to a new thread
/// at once (no syncer): the callback races the first poll's registration of its waker.
#[test]
fn publish_async_called_back_from_a_new_thread() {
    model::check("durable_wait/spawned_callback", BOUND, || {
        let (broker, disk) = durable_broker();
        let _subscriber = persistent_subscriber(&broker, QoS::AtLeastOnce);
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        disk.log().spawn_callbacks = true;
        let answer =
            block_on(publisher.publish_async("t", "m", &PublishOptions::new(QoS::AtLeastOnce)));
        assert!(answer.is_ok(), "publish_async answered {answer:?}");
        assert_eq!(disk.log().spawned_callbacks, 1, "when_durable asked once");
    });
}

/// A blocking QoS 1 `publish` (route, then `Journal::sync`: `flush`, and `commit` under
/// the store's read lock) racing `shutdown()`, which drops the store (write lock) at its
/// end: `shutdown()` returns with the store dropped, no call reaches it after, and when a
/// publish returns `Ok` its delivery record is on disk (live and durable) already.
#[test]
fn publish_racing_shutdown() {
    // Across executions (std's atomics): answers `Ok`, `BrokerClosed`, `NotDurable`.
    let seen = std::sync::Arc::new([0, 1, 2].map(|_| StdAtomicUsize::new(0)));
    let counted = seen.clone();
    model::check(
        "durable_wait/publish_shutdown",
        PUBLISH_SHUTDOWN_BOUND,
        move || {
            let outcome = publish_and_shut_down();
            counted[outcome].fetch_add(1, StdOrdering::Relaxed);
        },
    );
    let seen = seen.each_ref().map(|c| c.load(StdOrdering::Relaxed));
    eprintln!(
        "  answers: Ok {}, BrokerClosed {}, NotDurable {}",
        seen[0], seen[1], seen[2]
    );
    assert!(seen[0] > 0 && seen[1] > 0, "both orders explored");
}

/// One execution of `publish_racing_shutdown`; returns which answer the publish got.
fn publish_and_shut_down() -> usize {
    let (broker, disk) = durable_broker();
    let _subscriber = persistent_subscriber(&broker, QoS::AtLeastOnce);
    let publisher = connect(&broker, ConnectOptions::new("publisher"));
    let publishing = {
        let disk = disk.clone();
        thread::spawn(move || {
            let answer = publisher.publish("t", "m", QoS::AtLeastOnce, false);
            // What the disk holds as the answer comes back.
            let log = disk.log();
            let on_disk = log.live(DELIVERY).first().map(|&t| t <= log.durable());
            (answer, on_disk)
        })
    };
    broker.shutdown();
    assert!(disk.log().dropped, "shutdown returned with the store open");
    let (answer, on_disk) = publishing.join().unwrap();
    match answer {
        Ok(()) => {
            assert_eq!(
                on_disk,
                Some(true),
                "acknowledged, yet its record is not durable"
            );
            0
        }
        Err(PublishError::Session(SessionError::BrokerClosed)) => 1,
        Err(PublishError::NotDurable { .. }) => 2,
        Err(e) => panic!("publish answered {e:?}"),
    }
}
