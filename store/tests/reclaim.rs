//! Space reclamation: released records free their segments, compaction moves the few live
//! records of sparse segments, and a reopen sees only live records.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mqlite_store::{Log, Lsn, SyncPolicy};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Waits (bounded) until the background deletions bring the log to `max` segments.
fn wait_for_segments(log: &Log, max: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while log.stats().segments > max {
        assert!(Instant::now() < deadline, "still {:?}", log.stats());
        let lsn = log.append(1, b"tick").unwrap();
        log.commit(lsn).unwrap();
        log.release(lsn);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A persistent session with a short queue: 1,000,000 small records (300,000 in debug
/// builds), each released 300 appends later, keep the store within a few 1 MiB segments;
/// reopening sees only the last 300. (Each deletion of a segment in a chain costs one
/// directory sync, so tiny segments written at full speed can outrun it: 256 KiB segments
/// in a release build reach 38.)
#[test]
fn short_queue_of_a_million_records_stays_within_a_few_segments() {
    let n: u64 = if cfg!(debug_assertions) {
        300_000
    } else {
        1_000_000
    };
    let dir = tempfile::tempdir().unwrap();
    let opts = opts(dir.path()).segment_bytes(1 << 20);
    let (log, _) = Log::open(opts.sync(SyncPolicy::Periodic(Duration::from_millis(50)))).unwrap();
    let mut queue = VecDeque::new();
    let mut max_segments = 0;
    for i in 0..n {
        queue.push_back(log.append(1, &i.to_le_bytes()).unwrap());
        if queue.len() > 300 {
            assert!(log.release(queue.pop_front().unwrap()));
        }
        if i % 10_000 == 0 {
            max_segments = max_segments.max(log.stats().segments);
        }
    }
    let stats = log.stats();
    eprintln!("{n} records through a 300-record queue: {stats:?}, at most {max_segments} segments");
    assert!(max_segments <= 6, "{max_segments} segments");
    assert!(stats.segments_deleted > 10);
    assert_eq!(stats.live_records, 300);
    drop(log);
    let (_log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 300, "{rec}");
    let first = u64::from_le_bytes(rec.records[0].payload.clone().try_into().unwrap());
    assert_eq!(first, n - 300);
    assert!(rec.is_clean());
}

#[test]
fn released_records_do_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = fill(dir.path(), 3000);
    {
        let (log, _) = open(dir.path());
        for (i, lsn) in lsns.iter().enumerate() {
            if i % 3 != 0 {
                assert!(log.release(Lsn::new(*lsn)));
            }
        }
    }
    let (_log, rec) = open(dir.path());
    assert_eq!(
        payloads(&rec),
        (0..3000).step_by(3).map(payload).collect::<Vec<_>>()
    );
}

#[test]
fn compaction_moves_sparse_segments_to_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = fill(dir.path(), 6000);
    let (log, _) = open(dir.path());
    let before = log.stats();
    // Keep one record in fifty.
    let kept: Vec<u64> = lsns.iter().copied().step_by(50).collect();
    for lsn in &lsns {
        if lsn % 50 != lsns[0] % 50 {
            log.release(Lsn::new(*lsn));
        }
    }
    let map = log.compact(0.25).unwrap();
    assert!(map.len() >= kept.len() - 100, "{} moved", map.len());
    for (old, new) in &map {
        assert!(new > old);
        let i = kept.iter().position(|k| k == &old.get()).unwrap();
        assert_eq!(log.read(*new).unwrap().payload, payload(i as u64 * 50));
        assert!(log.read(*old).is_err());
    }
    wait_for_segments(&log, 3);
    assert!(
        log.stats().bytes_on_disk < before.bytes_on_disk / 4,
        "{:?}",
        log.stats()
    );
    drop(log);
    let (_log, rec) = open(dir.path());
    let expected: Vec<Vec<u8>> = {
        let mut v: Vec<(u64, Vec<u8>)> = kept
            .iter()
            .enumerate()
            .map(|(i, old)| {
                let lsn = map
                    .iter()
                    .find(|(o, _)| o.get() == *old)
                    .map_or(*old, |(_, n)| n.get());
                (lsn, payload(i as u64 * 50))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, p)| p).collect()
    };
    assert_eq!(payloads(&rec), expected);
}
