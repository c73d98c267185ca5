//! Faults below the log (through `FaultyStorage`): failed fsyncs, a full disk, torn writes.
//! Nothing that failed is acknowledged, and the log works again once the cause is gone.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mqlite_store::{AppendError, Faults, FaultyStorage, Log, Lsn, SyncError};
use std::path::Path;
use std::sync::Arc;

fn faulty(dir: &Path) -> (Log, Arc<Faults>) {
    faulty_with(dir, opts(dir))
}

/// Without a write buffer: every append writes its record (and fails with the write).
fn faulty_unbuffered(dir: &Path) -> (Log, Arc<Faults>) {
    faulty_with(dir, opts(dir).write_buffer_bytes(0))
}

fn faulty_with(_dir: &Path, options: mqlite_store::LogOptions) -> (Log, Arc<Faults>) {
    let storage = FaultyStorage::new();
    let faults = storage.faults();
    let (log, _) = Log::open(options.storage(storage)).unwrap();
    (log, faults)
}

#[test]
fn fsync_error_reaches_the_committers_and_a_later_commit_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = faulty(dir.path());
    let a = log.append(1, b"a").unwrap();
    log.commit(a).unwrap();
    faults.set_sync_fails(true);
    let b = log.append(1, b"b").unwrap();
    let err = std::thread::scope(|s| {
        let other = s.spawn(|| log.commit(b));
        let mine = log.commit(b);
        assert!(other.join().unwrap().is_err());
        mine.unwrap_err()
    });
    assert!(matches!(err, SyncError::Io(_)), "{err}");
    assert!(err.to_string().starts_with("sync failed"), "{err}");
    assert!(log.durable_lsn() < b);
    assert!(log.stats().sync_errors >= 1 && faults.failed_syncs() >= 1);
    faults.set_sync_fails(false);
    // The failed record is written again and synced by the next commit.
    log.commit(b).unwrap();
    let c = log.append(1, b"c").unwrap();
    log.commit(c).unwrap();
    assert!(log.durable_lsn() >= c);
    drop(log);
    let (_log, rec) = open(dir.path());
    assert_eq!(
        payloads(&rec),
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
}

#[test]
fn full_disk_refuses_appends_and_the_log_works_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = faulty_unbuffered(dir.path());
    let a = log.append(1, b"a").unwrap();
    faults.set_no_space(true);
    let err = log.append(1, b"refused").unwrap_err();
    match &err {
        AppendError::Io(e) => assert_eq!(e.raw_os_error(), Some(28), "{e}"),
        other => panic!("unexpected {other}"),
    }
    // What was written before is still committed.
    log.commit(a).unwrap();
    faults.set_no_space(false);
    let b = log.append(1, b"b").unwrap();
    assert_eq!(b.get(), a.get() + 1, "a refused append takes no lsn");
    log.commit(b).unwrap();
    drop(log);
    let (_log, rec) = open(dir.path());
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(payloads(&rec), [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn full_disk_at_a_segment_roll_refuses_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = faulty(dir.path());
    let big = vec![1u8; 30 << 10];
    log.append(1, &big).unwrap();
    log.append(1, &big).unwrap();
    faults.set_no_space(true);
    assert!(
        log.append(1, &big).is_err(),
        "the roll cannot create a segment"
    );
    faults.set_no_space(false);
    let c = log.append(1, &big).unwrap();
    log.commit(c).unwrap();
    drop(log);
    let (_log, rec) = open(dir.path());
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(rec.records.len(), 3);
}

#[test]
fn torn_write_is_cut_back_and_never_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = faulty_unbuffered(dir.path());
    let a = log.append(1, b"first").unwrap();
    for tear in [0, 1, 5, 16, 17, 20] {
        faults.tear_next_write(tear);
        assert!(log.append(1, b"torn record").is_err(), "tear {tear}");
    }
    let b = log.append(1, b"second").unwrap();
    log.commit(b).unwrap();
    assert_eq!(log.read(a).unwrap().payload, b"first");
    assert_eq!(log.read(b).unwrap().payload, b"second");
    drop(log);
    let (_log, rec) = open(dir.path());
    assert!(rec.is_clean(), "no partial record was left: {rec}");
    assert_eq!(payloads(&rec), [b"first".to_vec(), b"second".to_vec()]);
}

#[test]
fn appends_are_refused_while_syncs_fail_and_the_backlog_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FaultyStorage::new();
    let faults = storage.faults();
    let (log, _) = Log::open(opts(dir.path()).max_unsynced_bytes(4096).storage(storage)).unwrap();
    faults.set_sync_fails(true);
    let first = log.append(1, &[0; 100]).unwrap();
    assert!(log.commit(first).is_err());
    let mut last = first;
    let err = loop {
        match log.append(1, &[0; 100]) {
            Ok(lsn) => last = lsn,
            Err(e) => break e,
        }
        assert!(last.get() < 1000, "never refused");
    };
    assert!(
        matches!(err, AppendError::NotDurable { max: 4096, .. }),
        "{err}"
    );
    faults.set_sync_fails(false);
    log.commit(last).unwrap();
    let next = log.append(1, b"accepted again").unwrap();
    log.commit(next).unwrap();
    drop(log);
    let (_log, rec) = open(dir.path());
    assert_eq!(rec.records.len() as u64, last.get() - first.get() + 2);
}

#[test]
fn when_durable_reports_a_failed_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (log, faults) = faulty(dir.path());
    faults.set_sync_fails(true);
    let a = log.append(1, b"a").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    log.when_durable(a, Box::new(move |r| tx.send(r).unwrap()));
    let r = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert!(matches!(r, Err(SyncError::Io(_))));
    faults.set_sync_fails(false);
    log.commit(Lsn::new(a.get())).unwrap();
}
