//! Sync policies and group commit.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mqlite_store::{Log, LogOptions, Lsn, SyncPolicy};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `committers` threads doing append + commit of 64 B for about `run`; returns
/// (commits, fsyncs, elapsed).
fn measure(committers: usize, run: Duration) -> (u64, u64, Duration, Duration) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (log, _) = Log::open(LogOptions::new(dir.path())).unwrap();
    let start = Instant::now();
    let commits: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..committers)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < run {
                        let lsn = log.append(1, &[7; 64]).unwrap();
                        log.commit(lsn).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = start.elapsed();
    let stats = log.stats();
    let mean = stats.fsync_time_total / u32::try_from(stats.fsyncs.max(1)).unwrap();
    (commits, stats.fsyncs, elapsed, mean)
}

/// Group commit: concurrent committers share fsyncs. Prints the figures of the report
/// (`cargo test -p mqlite-store --release --test durability -- --nocapture`); asserts only
/// that 64 committers needed fewer fsyncs than commits.
#[test]
fn concurrent_committers_share_fsyncs() {
    for committers in [1, 8, 64] {
        let (commits, fsyncs, elapsed, mean) = measure(committers, Duration::from_millis(400));
        eprintln!(
            "commit policy, {committers:>2} committers: {:>7.0} commits/s, {:.1} commits per fsync, mean fsync {:.2} ms",
            commits as f64 / elapsed.as_secs_f64(),
            commits as f64 / fsyncs.max(1) as f64,
            mean.as_secs_f64() * 1e3
        );
        assert!(commits > 0);
        if committers == 64 {
            assert!(fsyncs < commits, "{fsyncs} fsyncs for {commits} commits");
        }
    }
}

#[test]
fn when_durable_calls_back_from_the_sync_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    let lsn = log.append(1, b"a").unwrap();
    let (tx, rx) = mpsc::channel();
    log.when_durable(
        lsn,
        Box::new(move |r| {
            tx.send((r.is_ok(), std::thread::current().name().map(String::from)))
                .unwrap()
        }),
    );
    let (ok, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(ok);
    assert_eq!(thread.as_deref(), Some("mqlite-store-sync"));
    assert!(log.durable_lsn() >= lsn);
    // Already durable: answered at once, on this thread.
    let (tx, rx) = mpsc::channel();
    log.when_durable(lsn, Box::new(move |r| tx.send(r.is_ok()).unwrap()));
    assert!(rx.try_recv().unwrap());
}

#[test]
fn periodic_commit_returns_at_once_and_syncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions::new(dir.path()).sync(SyncPolicy::Periodic(Duration::from_millis(20)));
    let (log, _) = Log::open(opts).unwrap();
    let lsn = log.append(1, b"a").unwrap();
    log.commit(lsn).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.durable_lsn() < lsn {
        assert!(Instant::now() < deadline, "no periodic sync within 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(log.stats().fsyncs >= 1);
}

#[test]
fn none_policy_never_syncs_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = Log::open(opts(dir.path()).sync(SyncPolicy::None)).unwrap();
        for i in 0..100 {
            let lsn = log.append(1, &payload(i)).unwrap();
            log.commit(lsn).unwrap();
        }
        assert_eq!(log.stats().fsyncs, 0);
        assert_eq!(log.durable_lsn(), Lsn::new(0));
    }
    let (_log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 100);
}

#[test]
fn drop_syncs_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    log.append(1, b"not committed").unwrap();
    drop(log);
    let (log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 1);
    assert!(log.stats().durable_lsn >= 1);
}
