//! mqlite's workload shapes: 64-byte payloads on ~24-byte topics queued for a persistent session
//! with a short queue, and upserts of sessions and retained messages.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::engines::{Op, Store, Table};

pub const PAYLOAD_BYTES: usize = 64;
pub const SESSION_BYTES: usize = 200;
/// How many messages behind the newest one the acknowledgements run (the queue's length).
pub const ACK_WINDOW: u64 = 100;

/// A 24-byte topic, e.g. `plant/0042/sensor/000042`.
pub fn topic(i: u64) -> Vec<u8> {
    format!("plant/{:04}/sensor/{:06}", i % 10_000, i % 1_000_000).into_bytes()
}

pub fn payload(seq: u64) -> Vec<u8> {
    let mut p = vec![0x5a; PAYLOAD_BYTES];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p
}

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What a timed run did.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub ops: u64,
    pub elapsed: Duration,
}

impl Run {
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Queues messages `first..first + count`, acknowledging each one `ACK_WINDOW` messages later
/// (when `ack` is set), `batch` messages per commit. Stops early once `cap` has passed (checked
/// between batches). `every` is called after each commit with the number of messages so far.
pub fn queue(
    store: &mut dyn Store,
    count: u64,
    batch: u64,
    ack: bool,
    cap: Option<Duration>,
    mut every: impl FnMut(u64) -> Result<()>,
) -> Result<Run> {
    let mut ops = Vec::with_capacity(2 * batch as usize);
    let start = Instant::now();
    let mut seq = 0;
    while seq < count {
        ops.clear();
        for _ in 0..batch.min(count - seq) {
            ops.push(Op::Append { seq, topic: topic(seq), payload: payload(seq) });
            if ack && seq >= ACK_WINDOW {
                ops.push(Op::Ack { seq: seq - ACK_WINDOW });
            }
            seq += 1;
        }
        store.commit(&ops)?;
        every(seq)?;
        if cap.is_some_and(|cap| start.elapsed() >= cap) {
            break;
        }
    }
    Ok(Run { ops: seq, elapsed: start.elapsed() })
}

pub fn session_key(i: u64) -> Vec<u8> {
    format!("client-{i:08}").into_bytes()
}

pub fn session_value(i: u64, version: u64) -> Vec<u8> {
    let mut v = vec![0x33; SESSION_BYTES];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v[8..16].copy_from_slice(&version.to_le_bytes());
    v
}

/// A retained message as stored: a 64-byte payload plus a few bytes of properties.
pub fn retained_value(i: u64, version: u64) -> Vec<u8> {
    let mut v = payload(version);
    v.extend_from_slice(&i.to_le_bytes());
    v
}

/// Sets every key `0..keys` of `table` once, `batch` per commit (untimed set-up).
pub fn populate(store: &mut dyn Store, table: Table, keys: u64, batch: u64) -> Result<()> {
    let mut ops = Vec::with_capacity(batch as usize);
    for i in 0..keys {
        ops.push(put(table, i, 0));
        if ops.len() as u64 == batch || i + 1 == keys {
            store.commit(&ops)?;
            ops.clear();
        }
    }
    Ok(())
}

fn put(table: Table, i: u64, version: u64) -> Op {
    match table {
        Table::Session => Op::Put { table, key: session_key(i), value: session_value(i, version) },
        Table::Retained => Op::Put { table, key: topic(i), value: retained_value(i, version) },
    }
}

/// `count` random operations on keys `0..keys` of `table`, `batch` per commit: a clear with
/// probability `clear_percent`/100, else a set of a new value.
pub fn upserts(
    store: &mut dyn Store,
    table: Table,
    keys: u64,
    count: u64,
    clear_percent: u64,
    batch: u64,
    seed: u64,
) -> Result<Run> {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::with_capacity(batch as usize);
    let start = Instant::now();
    for n in 0..count {
        let i = rng.below(keys);
        if rng.below(100) < clear_percent {
            let key = match table {
                Table::Session => session_key(i),
                Table::Retained => topic(i),
            };
            ops.push(Op::Del { table, key });
        } else {
            ops.push(put(table, i, n + 1));
        }
        if ops.len() as u64 == batch || n + 1 == count {
            store.commit(&ops)?;
            ops.clear();
        }
    }
    Ok(Run { ops: count, elapsed: start.elapsed() })
}
