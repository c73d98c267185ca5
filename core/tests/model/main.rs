//! A randomized model test of delivery: four clients run random operation sequences against
//! one broker, from one thread, and a reference model of MQTT 3.1.1 §4.3–§4.6 checks every
//! message received and the broker's counters.
//!
//! Operations: connect (clean or resumed session, persistent or not, receive maximum 0–6,
//! sometimes `auto_ack`; connecting a connected id is a takeover), subscribe and unsubscribe
//! (filters over the topics {a,b} × {x,y}, with `+` and `#`), publish (random QoS; the payload
//! names the publisher and a unique sequence number), receive up to 8 messages and ack some,
//! ack held messages, ack stale ones (from an ended connection, or already acknowledged: must do
//! nothing), drain (ack all held, then receive and ack until empty), clean disconnect, drop.
//! At the end every persistent session is resumed (or drained in place) and drained.
//!
//! Checked, per session incarnation (a clean start begins a new one [MQTT-3.1.2-6]):
//! 1. Every delivery owed at publish time (a matching subscription of a live session
//!    [MQTT-4.5.0-1]; offline, only QoS ≥ 1 unless `queue_qos0_messages`) is received by the
//!    next full drain, if the session still exists. Queued messages are owed even after an
//!    unsubscribe (stricter than [MQTT-3.10.4-3], which lets a server discard unsent ones).
//! 2. A QoS 1 delivery is received again only if unacknowledged and after a resume, with DUP
//!    [MQTT-3.3.1-1], its original packet id, before any new message and in the original order
//!    [MQTT-4.4.0-1], [MQTT-4.6.0-1]; after a drain nothing from an earlier connection is left
//!    unacknowledged. A QoS 2 or QoS 0 delivery is never received twice [MQTT-4.3.3-1].
//! 3. First receptions per (publisher, topic, subscriber) are in publish order, whatever the
//!    QoS (stricter than [MQTT-4.6.0-5], [MQTT-4.6.0-6], which order per QoS).
//! 4. Offline QoS 0 deliveries are never received unless queued, and are counted in
//!    `dropped_offline` exactly.
//! 5. Delivered QoS = min(publish QoS, highest granted QoS of the matching subscriptions)
//!    [MQTT-3.8.4-6], [MQTT-3.3.5-1]; first deliveries have DUP 0; a packet id iff QoS > 0
//!    [MQTT-2.3.1-5], never one in flight [MQTT-2.3.1-2].
//! 6. Nothing reaches a session without a matching subscription at publish time
//!    [MQTT-3.10.4-2]; session present is reported as the model expects [MQTT-3.2.2-1],
//!    [MQTT-3.2.2-2]; a taken-over handle stops working [MQTT-3.1.4-2]; at most receive maximum
//!    QoS > 0 messages are unacknowledged on a connection, resends included (MQTT 5.0 §3.3.4,
//!    [MQTT-4.9.0-2]).
//! 7. Bounds. Unbounded variant: limits far above what a sequence publishes, so
//!    `dropped_queue_full` stays 0. Bounded variant (`max_queued_messages` 1–16, drop-newest):
//!    the bound is modelled observationally, not mirrored: a delivery missing after a full
//!    drain was dropped; each publication's `dropped_queue_full` increase equals its dropped
//!    deliveries (give or take those of sessions discarded before a drain); between two
//!    consumer actions on a session at most `max_queued_messages` deliveries are accepted and,
//!    once one is dropped, every later one is too (the newest are dropped); a drop happens only
//!    when accepted-but-undelivered plus delivered-since-the-consumer-last-found-nothing
//!    (the room it may still hold, see `queue.rs`) reaches the bound; one drain never yields
//!    more than `max_queued_messages` + 64 (the consumer's staging batch) + receive maximum.
//!
//! Runs with proptest, from a fixed seed (set `MQLITE_MODEL_SEED` to explore others), without
//! a regression file; a failure is shrunk to a minimal operation list. Each test runs
//! `CASES` (800) sequences of 1 to `MAX_OPS` (250) operations, about 100,000 operations, and
//! prints the totals; in a debug build the two run in parallel in about 2.5 s.
#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use mqlite::QoS;
use proptest::test_runner::{Config as ProptestConfig, RngSeed, TestCaseError, TestRunner};

use ops::{Case, case};
use reference::Model;

/// Returns `Err` with the message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

type Check = Result<(), String>;

mod actions;
mod checks;
mod ops;
mod reference;

const CLIENTS: usize = 4;
const TOPICS: [&str; 4] = ["a/x", "a/y", "b/x", "b/y"];
const FILTERS: [&str; 9] = ["a/x", "a/y", "b/x", "b/y", "a/+", "+/x", "+/+", "a/#", "#"];
const QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
/// The broker's `max_inflight_messages`, which caps each client's receive maximum.
const MAX_INFLIGHT: u16 = 100;
/// Deliveries the consumer moves out of the queue at once (`STAGE` in `session/mod.rs`).
const STAGING: usize = 64;
/// Sequences per test, and the most operations in one.
const CASES: u32 = 800;
const MAX_OPS: usize = 250;
/// The proptest seed unless `MQLITE_MODEL_SEED` is set.
const DEFAULT_SEED: u64 = 0x6d71_6c69_7465;

/// The core rules of delivery, with queues far larger than a sequence can fill.
#[test]
fn random_sessions_follow_the_delivery_model() {
    run_model("unbounded", false);
}

/// The same, with tiny queues: drops are the newest, only when full, and all counted.
#[test]
fn bounded_queues_drop_only_the_newest_and_count_every_drop() {
    run_model("bounded", true);
}

fn run_model(name: &str, bounded: bool) {
    let seed = std::env::var("MQLITE_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let config = ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    };
    let sequences = AtomicUsize::new(0);
    let operations = AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(bounded), |case| {
        sequences.fetch_add(1, Ordering::Relaxed);
        operations.fetch_add(case.ops.len(), Ordering::Relaxed);
        run_case(&case).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{name} model, seed {seed}: {e}");
    }
    eprintln!(
        "{name} model: {} sequences, {} operations, seed {seed}, {:.1?}",
        sequences.load(Ordering::Relaxed),
        operations.load(Ordering::Relaxed),
        started.elapsed()
    );
}

fn run_case(case: &Case) -> Result<(), String> {
    let mut model = Model::new(case);
    for (i, op) in case.ops.iter().enumerate() {
        model
            .apply(op)
            .map_err(|e| format!("at op {i} ({op:?}): {e}"))?;
    }
    model.finish().map_err(|e| format!("at the end: {e}"))
}
