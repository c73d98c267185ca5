//! Model 12 (async receiving, `core/src/api/client/future.rs` and `doorbell.rs`): a task's
//! registered `std::task::Waker` racing a publish, a takeover and a shutdown.
//!
//! `Client::poll_recv` does: `try_recv` → register the waker (arming the slot) → park
//! (`Session::park`: under the session lock, look for an end or a reopened window, then set
//! the queue's `WAITING` bit) → `Pending`. The session's notify (`Bell::notify`) takes the
//! registered waker out of its slot and wakes it. The race: a publish, an acknowledgement
//! or an end that lands between two of those steps. Registering before the park means a
//! publisher that finds `WAITING`, and an end or acknowledgement that takes the session
//! lock after the park's look, also finds the waker; one that came before the park is
//! reported by it.
//!
//! Invariant: no lost wake-up. If the first `poll_recv` returned `Pending`, the task was
//! woken (at least once) by the time the racing call returned, and the next poll is `Ready`:
//! with the message (`publish_…`), or with `Err(TakenOver)` (`takeover_…`) or
//! `Err(BrokerClosed)` (`shutdown_…`). If it returned `Ready` at once, with that same result.
//! The `block_on_…` tests drive `recv_async()` with `block_on`, an executor that
//! sleeps until woken: a lost wake-up there is a deadlock, which loom reports.
//!
//! Threads: 2 in each test (main polls; one thread publishes, takes over or shuts down).
//! Before the race one delivery clears the `WAITING` bit a new connection starts with, so
//! every wake-up seen afterwards was earned by the poll's own park. `block_on` is our own
//! (a loom `Mutex<bool>` + `Condvar` behind a `std::task::Wake`): `loom::future` needs
//! loom's `futures` feature.
//! Preemption bound `BOUND` = 10, which explores every interleaving (none more past 10).
//!
//! Cost (release build, 2 cores): publish 45 interleavings, takeover 1,610, shutdown 263,
//! `block_on` publish 80 and shutdown 895; about 0.4 s in all.
//!
//! `poll_recv` yields (`crate::sync::yield_now()`) before it looks again when `park` reports
//! a push in flight; without that it spins on a publisher preempted between its reservation
//! and its push, which loom reports as "exceeded maximum number of branches".
//!
//! Mutations that fail it (each tried in a scratch copy of the repository):
//! - register the waker just before returning `Pending` (after the park): `publish_…`,
//!   `takeover_…` and `shutdown_…` fail ("first poll Pending, yet the publish did not wake
//!   the task": the publisher sees `WAITING`, notifies, finds no waker);
//!   `block_on_publish_…` and `block_on_shutdown_…` fail with a loom deadlock.
//! - drop the end check from `Session::park` (`if state.ended.is_some() { return true }`):
//!   `block_on_shutdown_…` deadlocks (the end came before the arming, so its notify found
//!   the slot unarmed, and the park did not report it).
//! - see `ack_reopening_the_window_…` for the acknowledgement's mutation.
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;
use mqlite::{Broker, Client, ConnectOptions, Message, QoS, SessionError};
use mqlite_loom::fixtures::{broker, config, connect};
use mqlite_loom::model;

const BOUND: usize = 10;

/// A task's waker that counts its wake-ups (a loom atomic, so loom orders it).
struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// The waker of [`block_on`]: raises a flag and signals the waiting thread.
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

/// A minimal executor: polls `future`, and while it is `Pending` sleeps until its waker is
/// called (loom's condvar sleeps for real: a wake-up that never comes is a deadlock, which
/// loom reports).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// A broker, a subscriber to `t` (QoS 0) whose initial `WAITING` bit is already cleared by
/// one delivery, and a publisher.
fn scene() -> (Broker, Client, Client) {
    let broker = broker(config());
    let subscriber = connect(&broker, ConnectOptions::new("subscriber"));
    subscriber.subscribe("t", QoS::AtMostOnce).unwrap();
    let publisher = connect(&broker, ConnectOptions::new("publisher"));
    publisher
        .publish("t", "m0", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(subscriber.try_recv().unwrap().payload().as_ref(), b"m0");
    (broker, subscriber, publisher)
}

/// Main polls `subscriber` once while `race` runs on another thread. After joining it,
/// checks that a `Pending` poll was woken exactly once and that the next poll is `Ready`;
/// returns that answer (or the first poll's, if it was `Ready`).
fn poll_racing(
    subscriber: &Client,
    what: &str,
    race: impl FnOnce() + Send + 'static,
) -> Result<Message, SessionError> {
    let task = CountingWaker::new();
    let waker = Waker::from(task.clone());
    let mut cx = Context::from_waker(&waker);
    let racing = thread::spawn(race);
    let first = subscriber.poll_recv(&mut cx);
    racing.join().unwrap();
    match first {
        Poll::Ready(answer) => answer,
        Poll::Pending => {
            assert!(
                task.wakes() >= 1,
                "first poll Pending, yet the {what} did not wake the task"
            );
            match subscriber.poll_recv(&mut cx) {
                Poll::Ready(answer) => answer,
                Poll::Pending => panic!("woken by the {what}, yet the next poll is Pending"),
            }
        }
    }
}

/// An answer in words, for the assertion messages.
fn describe(answer: &Result<Message, SessionError>) -> String {
    match answer {
        Ok(m) => format!("Ok({:?})", String::from_utf8_lossy(m.payload())),
        Err(e) => format!("Err({e:?})"),
    }
}

#[test]
fn publish_wakes_a_pending_poll() {
    model::check("async_recv/publish", BOUND, || {
        let (_broker, subscriber, publisher) = scene();
        let answer = poll_racing(&subscriber, "publish", move || {
            publisher
                .publish("t", "m1", QoS::AtMostOnce, false)
                .unwrap();
        });
        assert!(
            matches!(&answer, Ok(m) if m.payload().as_ref() == b"m1"),
            "after the publish: {}",
            describe(&answer)
        );
    });
}

#[test]
fn takeover_wakes_a_pending_poll() {
    model::check("async_recv/takeover", BOUND, || {
        let (broker, subscriber, _publisher) = scene();
        let taker = broker.clone();
        let answer = poll_racing(&subscriber, "takeover", move || {
            // Same client id: ends the subscriber's connection with `TakenOver`.
            drop(connect(&taker, ConnectOptions::new("subscriber")));
        });
        assert!(
            matches!(answer, Err(SessionError::TakenOver)),
            "after the takeover: {}",
            describe(&answer)
        );
    });
}

#[test]
fn shutdown_wakes_a_pending_poll() {
    model::check("async_recv/shutdown", BOUND, || {
        let (broker, subscriber, _publisher) = scene();
        let closer = broker.clone();
        let answer = poll_racing(&subscriber, "shutdown", move || closer.shutdown());
        assert!(
            matches!(answer, Err(SessionError::BrokerClosed)),
            "after the shutdown: {}",
            describe(&answer)
        );
    });
}

#[test]
fn block_on_publish_completes() {
    model::check("async_recv/block_on_publish", BOUND, || {
        let (_broker, subscriber, publisher) = scene();
        let publishing = thread::spawn(move || {
            publisher
                .publish("t", "m1", QoS::AtMostOnce, false)
                .unwrap();
        });
        let answer = block_on(subscriber.recv_async());
        publishing.join().unwrap();
        assert!(
            matches!(&answer, Ok(m) if m.payload().as_ref() == b"m1"),
            "recv_async: {}",
            describe(&answer)
        );
    });
}

#[test]
fn block_on_shutdown_completes() {
    model::check("async_recv/block_on_shutdown", BOUND, || {
        let (broker, subscriber, _publisher) = scene();
        let closer = broker.clone();
        let closing = thread::spawn(move || closer.shutdown());
        let answer = block_on(subscriber.recv_async());
        closing.join().unwrap();
        assert!(
            matches!(answer, Err(SessionError::BrokerClosed)),
            "recv_async: {}",
            describe(&answer)
        );
    });
}

/// A receiver whose in-flight window is full (receive maximum 1, `m1` unacknowledged, `m2`
/// staged behind it) polls while another thread acknowledges `m1`. The acknowledgement may
/// land before the poll registers its waker: `Session::park` (under the session lock) then
/// sees the window open with `m2` waiting and tells the poll to look again. Mutation that
/// fails it: make `Session::park` fall through to the queue's park when the window is open
/// (`if has_waiting && window_full { return false }`) — the poll then parks with `m2`
/// staged (the queue's count is zero) and no wake-up comes: "first poll Pending, yet the
/// acknowledgement did not wake the task".
#[test]
fn ack_reopening_the_window_wakes_a_pending_poll() {
    model::check("async_recv/ack_window", BOUND, || {
        let broker = broker(config());
        let subscriber = connect(
            &broker,
            ConnectOptions::new("subscriber").receive_maximum(1),
        );
        subscriber.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        for m in ["m1", "m2"] {
            publisher.publish("t", m, QoS::AtLeastOnce, false).unwrap();
        }
        let m1 = subscriber.try_recv().unwrap();
        assert_eq!(m1.payload().as_ref(), b"m1");
        let answer = poll_racing(&subscriber, "acknowledgement", move || m1.ack());
        assert!(
            matches!(&answer, Ok(m) if m.payload().as_ref() == b"m2"),
            "after the acknowledgement: {}",
            describe(&answer)
        );
    });
}
