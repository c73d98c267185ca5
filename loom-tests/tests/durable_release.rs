//! Model 15 (durable mode, issue #15; `Persisted` and `StoreHandle` in
//! `core/src/types/store.rs`, `StoreGuard` in `core/src/engine/durable.rs`): a recorded
//! delivery's release racing the broker's shutdown, or the drop of its last handle.
//!
//! A persistent subscriber's delivery is recorded (`Delivery`, plus a `Sent` step at QoS 2,
//! as an in-process client takes it); the session's copy holds them in a
//! `ValueArc<Persisted>`, whose drop releases them (`StoreHandle::release`) unless the
//! broker is closing (`StoreHandle::close`: what is in memory stays on disk). The
//! subscriber acknowledges on one thread while the other shuts the broker down
//! (`ack_racing_shutdown_…`: close, end every connection, rewrite the session records,
//! sync, drop the store) or drops the subscriber, the last handle
//! (`ack_racing_last_handle`: the detach, then `StoreGuard` closes and drops the store;
//! `drop_store` takes the write lock, so it waits for a release in flight). The store is
//! `mqlite_loom::store`'s; it checks every call.
//!
//! Invariant: every record is released at most once, and only once appended; the
//! delivery's records all if the ack returned before the shutdown (the drop) began, none if
//! the ack began after it returned (the ack is then refused: the connection ended, and the
//! delivery stays in the session), and in between all, none or a prefix (see "Found"),
//! never a step without its delivery. Shutdown releases nothing else (the store checks
//! every release after it began); the subscriber's session record is live at the end; the
//! store is dropped by the time `shutdown()` (the last drop) returns, and no call reaches
//! it after that.
//!
//! Threads: 2 in each model (main; the acknowledging subscriber). Preemption bound `BOUND`
//! = 12, which explores every interleaving (none more at 20).
//!
//! Cost (release build, 2 cores): `ack_racing_shutdown_qos1` 632 interleavings (0.1 s),
//! `…_qos2` 1,687 (0.3 s), `ack_racing_last_handle` 10,390 (about 2 s).
//!
//! Found (benign, kept): one `Persisted` drop checks `closed` once per ticket, so a close
//! that lands between two of them releases a prefix (the `Delivery`, not its `Sent` step).
//! The step left alone is released at the next start (`Journal::step`), so the model
//! allows a prefix. It fails on the reverse (a step released, its delivery kept): at a
//! restart the delivery would look never sent, and a QoS 2 message the receiver already
//! has would be sent again as a new one.
//!
//! Mutations that fail it (each tried in a scratch copy of the repository):
//! - `StoreHandle::release` without the `is_closed()` test: both `ack_racing_shutdown_…`
//!   fail ("shutdown released record 2 (kind 1)": the session record that
//!   `record_shutdown` replaces; in every interleaving).
//! - `Persisted::drop` releasing its tickets in reverse order: `ack_racing_shutdown_qos2`
//!   fails ("records [3, 4] released [0, 1]: a step without its delivery"; only when the
//!   close lands between the two releases).
//! - `StoreHandle` holding the store in a `ValueArc` that `with` and `release` clone out of
//!   the read guard, so `drop_store` no longer waits for calls in flight:
//!   `ack_racing_last_handle` fails ("last handle dropped with the store open": the racing
//!   release drops the store after the drop returned).
//! - `Connection` without its `StoreGuard` (`_store: None`): `ack_racing_last_handle` fails
//!   ("the subscriber's handle keeps the store"; in every interleaving).
//!
//! Built as it is: core needs no change for durable mode under loom. `StoreHandle`'s
//! `RwLock` and `closed` flag and `Persisted`'s ticket list are the facade's (loom's);
//! `Persisted`'s reference count is a `ValueArc` (std), so loom interleaves what its drop
//! does, not the count. `changes_here` is a std thread-local, shared by all loom threads
//! (they run on one OS thread); no model reads it.
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use mqlite::{Broker, Client, ConnectOptions, Message, QoS, Ticket};
use mqlite_loom::fixtures::connect;
use mqlite_loom::model;
use mqlite_loom::store::{DELIVERY, Disk, SENT, SESSION, durable_broker, persistent_subscriber};

const BOUND: usize = 12;

/// The scene: a durable broker, a persistent subscriber at `qos` holding the message `m`
/// (handed out, not yet acknowledged), and a publisher.
fn holding_a_delivery(qos: QoS) -> (Broker, Arc<Disk>, Client, Client, Message) {
    let (broker, disk) = durable_broker();
    let subscriber = persistent_subscriber(&broker, qos);
    let publisher = connect(&broker, ConnectOptions::new("publisher"));
    publisher.publish("t", "m", qos, false).unwrap();
    let message = subscriber.try_recv().unwrap();
    assert_eq!(message.payload().as_ref(), b"m");
    (broker, disk, subscriber, publisher, message)
}

/// The delivery's records: its `Delivery` and, at QoS 2, the `Sent` step.
fn delivery_records(disk: &Disk, qos: QoS) -> Vec<Ticket> {
    let log = disk.log();
    let mut records = log.live(DELIVERY);
    records.extend(log.live(SENT));
    let expected = if qos == QoS::ExactlyOnce { 2 } else { 1 };
    assert_eq!(records.len(), expected, "the delivery's records");
    records
}

/// Checks the delivery's records after the race (`records[0]` is the `Delivery`): all of
/// them released if the ack returned before the close began, none if it began after the
/// close returned. In between, the close may land between two releases of one drop: a
/// prefix is released (the delivery, not its step), never a step without its delivery (a
/// step left alone is released at the next start, `Journal::step`). And the subscriber's
/// session is still on disk.
fn check_releases(disk: &Disk, records: &[Ticket], ack_first: bool, close_first: bool) {
    let log = disk.log();
    let counts: Vec<u32> = records.iter().map(|&t| log.released_count(t)).collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "records {records:?} released {counts:?}: a step without its delivery"
    );
    assert!(
        !ack_first || counts.iter().all(|&c| c == 1),
        "acknowledged before the close began, yet released {counts:?}"
    );
    assert!(
        !close_first || counts.iter().all(|&c| c == 0),
        "acknowledged after the close returned, yet released {counts:?}"
    );
    assert!(
        !log.live(SESSION).is_empty(),
        "the persistent session's record was released"
    );
}

/// Facts about the race: the ack returned; the close (shutdown, last drop) returned.
#[derive(Default)]
struct Race {
    acked: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl Race {
    /// Acknowledges `message` on a new thread; it answers whether the close had returned
    /// before the ack began.
    fn spawn_ack(&self, message: Message) -> thread::JoinHandle<bool> {
        let (acked, closed) = (self.acked.clone(), self.closed.clone());
        thread::spawn(move || {
            let close_first = closed.load(Ordering::SeqCst);
            message.ack();
            acked.store(true, Ordering::SeqCst);
            close_first
        })
    }
}

/// The subscriber acknowledges while another thread shuts the broker down.
fn ack_racing_shutdown(name: &str, qos: QoS) {
    model::check(name, BOUND, move || {
        let (broker, disk, subscriber, publisher, message) = holding_a_delivery(qos);
        let records = delivery_records(&disk, qos);
        let race = Race::default();
        let acking = race.spawn_ack(message);
        let ack_first = race.acked.load(Ordering::SeqCst);
        disk.log().shutdown_began = true;
        broker.shutdown();
        assert!(disk.log().dropped, "shutdown returned with the store open");
        race.closed.store(true, Ordering::SeqCst);
        let close_first = acking.join().unwrap();
        check_releases(&disk, &records, ack_first, close_first);
        drop((subscriber, publisher, broker));
    });
}

#[test]
fn ack_racing_shutdown_qos1() {
    ack_racing_shutdown("durable_release/shutdown_qos1", QoS::AtLeastOnce);
}

#[test]
fn ack_racing_shutdown_qos2() {
    ack_racing_shutdown("durable_release/shutdown_qos2", QoS::ExactlyOnce);
}

/// The subscriber's message is acknowledged on one thread while the other drops
/// the subscriber's handle, the broker's last (`StoreGuard` closes and drops the store).
#[test]
fn ack_racing_last_handle() {
    model::check("durable_release/last_handle", BOUND, || {
        let (broker, disk, subscriber, publisher, message) = holding_a_delivery(QoS::AtLeastOnce);
        let records = delivery_records(&disk, QoS::AtLeastOnce);
        drop((publisher, broker));
        assert!(
            !disk.log().dropped,
            "the subscriber's handle keeps the store"
        );
        let race = Race::default();
        let acking = race.spawn_ack(message);
        let ack_first = race.acked.load(Ordering::SeqCst);
        drop(subscriber);
        assert!(
            disk.log().dropped,
            "last handle dropped with the store open"
        );
        race.closed.store(true, Ordering::SeqCst);
        let close_first = acking.join().unwrap();
        check_releases(&disk, &records, ack_first, close_first);
    });
}
