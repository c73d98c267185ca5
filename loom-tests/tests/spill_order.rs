//! Model 13: a persistent session's queue spilling to its tail (durable mode) racing a
//! consumer that empties the tail.
//!
//! Invariant: one publisher's deliveries to one session arrive in publish order, none lost
//! or doubled, whether each went to the channel or to the tail (`session/spill.rs`). While
//! the tail holds anything, a new delivery must go behind it, even when the queue's bytes
//! have fallen below the spill threshold: the publisher learns it from `Session::spilling`
//! (Acquire), which the consumer clears (Release, under the session lock) only once it has
//! taken the tail's last entry. Afterwards every delivery record is released once its
//! message is acknowledged and dropped.
//!
//! Setup (before the race): under loom the threshold is 8 bytes. `m1-long-payload` (16
//! bytes with its topic) goes to the channel; `m2` (3 bytes) finds the queue at 16 bytes
//! and goes to the tail. Race: the publisher publishes `m3` while main takes three times
//! with `try_recv` (acknowledging): once `m1` is taken the queue counts 3 bytes, below the
//! threshold, with `m2` still in the tail.
//!
//! Threads: 2. Preemption bound: 6 (`BOUND`). 8,858 interleavings, about 1.8 s in a
//! release build.
//!
//! Mutation that fails it: ignore `spilling` on the publish path (in `Session::enqueue`,
//! `active: long`): `m3` goes to the channel while `m2` waits in the tail, and the consumer
//! takes `m3` first (`["m1-long-payload", "m3", "m2"]`). Tried: fails at once.
#![cfg(loom)]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use loom::thread;
use mqlite::{
    Broker, ConnectOptions, ManualClock, QoS, Store, StoreError, StoreStats, StoredRecord, Ticket,
};
use mqlite_loom::fixtures::{Got, config, connect, drain, payloads};
use mqlite_loom::model;

const BOUND: usize = 6;

/// A store in memory: enough for a model (no crash to survive). Its lock is std's, never
/// held across a loom operation, so loom never switches threads inside it.
#[derive(Debug, Default, Clone)]
struct MemStore {
    records: Arc<std::sync::Mutex<Records>>,
}

/// The last ticket, and the live records by ticket: (kind, bytes).
type Records = (Ticket, BTreeMap<Ticket, (u8, Vec<u8>)>);

impl MemStore {
    /// Live records of `kind`.
    fn live(&self, kind: u8) -> usize {
        let records = self.records.lock().unwrap();
        records.1.values().filter(|(k, _)| *k == kind).count()
    }
}

impl Store for MemStore {
    fn append(&self, kind: u8, record: &[u8]) -> Result<Ticket, StoreError> {
        let mut records = self.records.lock().unwrap();
        records.0 += 1;
        let ticket = records.0;
        records.1.insert(ticket, (kind, record.to_vec()));
        Ok(ticket)
    }

    fn release(&self, ticket: Ticket) {
        self.records.lock().unwrap().1.remove(&ticket);
    }

    fn flush(&self) -> Result<Ticket, StoreError> {
        Ok(self.records.lock().unwrap().0)
    }

    fn commit(&self, _: Ticket) -> Result<(), StoreError> {
        Ok(())
    }

    fn when_durable(&self, _: Ticket, done: Box<dyn FnOnce(Result<(), StoreError>) + Send>) {
        done(Ok(()));
    }

    fn read(&self, ticket: Ticket) -> Result<Vec<u8>, StoreError> {
        let records = self.records.lock().unwrap();
        let record = records.1.get(&ticket).map(|(_, bytes)| bytes.clone());
        record.ok_or_else(|| StoreError::Io(format!("no record {ticket}")))
    }

    fn recovered(&self) -> Vec<StoredRecord> {
        Vec::new()
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// The journal's kind of a delivery record (`core/src/journal/records.rs`).
const DELIVERY: u8 = 2;

#[test]
fn publisher_racing_the_tail_drain() {
    model::check("spill_order", BOUND, || {
        let store = MemStore::default();
        let broker = Broker::builder()
            .config(config())
            .clock(Arc::new(ManualClock::new()))
            .store(store.clone())
            .build();
        let consumer = connect(
            &broker,
            ConnectOptions::new("consumer")
                .clean_start(false)
                .session_expiry(std::time::Duration::from_secs(60)),
        );
        consumer.subscribe("t", QoS::AtLeastOnce).unwrap();
        let publisher = connect(&broker, ConnectOptions::new("publisher"));
        for payload in ["m1-long-payload", "m2"] {
            publisher
                .publish("t", payload, QoS::AtLeastOnce, false)
                .unwrap();
        }

        let publishing = thread::spawn(move || {
            publisher
                .publish("t", "m3", QoS::AtLeastOnce, false)
                .unwrap();
        });
        let mut got: Vec<Got> = Vec::new();
        for _ in 0..3 {
            if let Ok(message) = consumer.try_recv() {
                got.push(Got::of(&message));
                message.ack();
            }
        }
        publishing.join().unwrap();
        got.extend(drain(&consumer));
        assert_eq!(payloads(&got), ["m1-long-payload", "m2", "m3"]);
        assert_eq!(broker.session_stats("consumer").unwrap().queued, 0);
        assert_eq!(
            store.live(DELIVERY),
            0,
            "a delivery record was not released"
        );
        broker.shutdown();
    });
}
