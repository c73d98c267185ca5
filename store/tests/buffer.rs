//! The write buffer: appends reach the kernel at the next flush or commit (or when the
//! buffer fills), in one write; reads, compaction, rolls and failed writes see buffered
//! records correctly.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mqlite_store::{AppendError, FaultyStorage, Log, LogOptions, Lsn, SyncError, SyncPolicy};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes in the store's segment files (one may be deleted while they are listed).
fn disk_bytes(dir: &Path) -> u64 {
    segments(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// Copies the store's files (not `LOCK`) as a `kill -9` would leave them.
fn crash_copy(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(copy.path().join("log")).unwrap();
    for seg in segments(dir) {
        // A segment deleted meanwhile is not needed.
        let _ = std::fs::copy(&seg, copy.path().join("log").join(seg.file_name().unwrap()));
    }
    std::fs::copy(dir.join("FORMAT"), copy.path().join("FORMAT")).unwrap();
    copy
}

fn open_with(dir: &Path, policy: SyncPolicy) -> Log {
    Log::open(opts(dir).sync(policy)).unwrap().0
}

#[test]
fn buffered_records_reach_the_file_at_flush() {
    for policy in [SyncPolicy::Commit, SyncPolicy::None] {
        let dir = tempfile::tempdir().unwrap();
        let log = open_with(dir.path(), policy);
        let first = log.append(1, &payload(0)).unwrap();
        assert_eq!(log.flush().unwrap(), first);
        let before = disk_bytes(dir.path());
        let lsns: Vec<Lsn> = (1..50)
            .map(|i| log.append(1, &payload(i)).unwrap())
            .collect();
        assert!(log.release(first));
        assert_eq!(
            disk_bytes(dir.path()),
            before,
            "{policy:?}: nothing written yet"
        );
        assert_eq!(log.stats().bytes_on_disk, before);
        // The release record goes out ahead of the next record, so the flush returns it.
        let last = log.flush().unwrap();
        assert!(last > *lsns.last().unwrap(), "{policy:?}");
        assert!(disk_bytes(dir.path()) > before + 49 * 20, "{policy:?}");
        assert_eq!(log.stats().bytes_on_disk, disk_bytes(dir.path()));
        assert_eq!(
            log.stats().records_written,
            51,
            "50 records and a release record"
        );
        // A flush with nothing new writes nothing and returns the same lsn.
        let size = disk_bytes(dir.path());
        assert_eq!(log.flush().unwrap(), last);
        assert_eq!(disk_bytes(dir.path()), size);
        log.commit(last).unwrap();
        drop(log);
        let (_log, rec) = open(dir.path());
        assert!(rec.is_clean(), "{rec}");
        assert_eq!(payloads(&rec), (1..50).map(payload).collect::<Vec<_>>());
    }
}

#[test]
fn commit_of_a_buffered_lsn_writes_it_first() {
    for policy in [
        SyncPolicy::Commit,
        SyncPolicy::Periodic(Duration::from_secs(3600)),
        SyncPolicy::None,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = open_with(dir.path(), policy);
        let a = log.append(1, b"a").unwrap();
        let b = log.append(1, b"b").unwrap();
        assert_eq!(disk_bytes(dir.path()), 24, "{policy:?}: only the header");
        log.commit(a).unwrap();
        assert!(disk_bytes(dir.path()) > 24, "{policy:?}");
        if policy == SyncPolicy::Commit {
            assert!(log.durable_lsn() >= a);
        }
        // `b` went out with `a`: the whole buffer is written.
        let copy = crash_copy(dir.path());
        let (_c, rec) = open(copy.path());
        assert_eq!(payloads(&rec), [b"a".to_vec(), b"b".to_vec()], "{policy:?}");
        let c = log.append(1, b"c").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        log.when_durable(c, Box::new(move |r| tx.send(r).unwrap()));
        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        let never = Lsn::new(c.get() + 1);
        match log.commit(never) {
            Err(SyncError::NotAppended { lsn, last }) => {
                assert_eq!((lsn, last), (never, c), "{policy:?}");
            }
            other => panic!("{policy:?}: {other:?}"),
        }
        let copy = crash_copy(dir.path());
        let (_c, rec) = open(copy.path());
        assert_eq!(rec.records.len(), 3, "{policy:?}");
        let _ = b;
    }
}

#[test]
fn a_copy_taken_after_flush_holds_everything_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(dir.path(), SyncPolicy::None);
    let lsns: Vec<Lsn> = (0..200)
        .map(|i| log.append(1, &payload(i)).unwrap())
        .collect();
    for l in &lsns[..100] {
        log.release(*l);
    }
    log.flush().unwrap();
    // Appended after the flush: still buffered, never acknowledged, not in the copy.
    log.append(1, b"unflushed").unwrap();
    let copy = crash_copy(dir.path());
    let (_c, rec) = open(copy.path());
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(payloads(&rec), (100..200).map(payload).collect::<Vec<_>>());
    // The log itself keeps the buffered record (and writes it when dropped).
    drop(log);
    let (_log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 101);
    assert_eq!(rec.records.last().unwrap().payload, b"unflushed");
}

#[test]
fn buffered_records_are_read_from_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the buffer is written before each roll.
    let (log, _) = Log::open(opts(dir.path()).segment_bytes(1024).sync(SyncPolicy::None)).unwrap();
    let lsns: Vec<Lsn> = (0..300)
        .map(|i| log.append(1, &payload(i)).unwrap())
        .collect();
    assert!(segments(dir.path()).len() > 5, "rolled");
    let on_disk = disk_bytes(dir.path());
    for (i, l) in lsns.iter().enumerate() {
        let r = log.read(*l).unwrap();
        assert_eq!((r.lsn, r.kind, r.payload), (*l, 1, payload(i as u64)));
    }
    assert_eq!(disk_bytes(dir.path()), on_disk, "reading wrote nothing");
    log.flush().unwrap();
    for (i, l) in lsns.iter().enumerate() {
        assert_eq!(log.read(*l).unwrap().payload, payload(i as u64));
    }
    drop(log);
    let (_log, rec) = Log::open(opts(dir.path()).segment_bytes(1024)).unwrap();
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(payloads(&rec), (0..300).map(payload).collect::<Vec<_>>());
}

#[test]
fn compaction_writes_the_buffer_and_its_copies() {
    let dir = tempfile::tempdir().unwrap();
    let options = || opts(dir.path()).segment_bytes(1024).sync(SyncPolicy::None);
    let (log, _) = Log::open(options()).unwrap();
    let lsns: Vec<Lsn> = (0..200)
        .map(|i| log.append(1, &payload(i)).unwrap())
        .collect();
    // Keep every 20th record; the rest are released.
    for (i, l) in lsns.iter().enumerate() {
        if i % 20 != 0 {
            log.release(*l);
        }
    }
    let tail: Vec<Lsn> = (200..205)
        .map(|i| log.append(1, &payload(i)).unwrap())
        .collect();
    let copied = log.compact(0.5).unwrap();
    assert!(!copied.is_empty());
    // The buffer and the copies were written: a crash now loses none of them.
    let copy = crash_copy(dir.path());
    let (_c, rec) = Log::open(LogOptions::new(copy.path()).segment_bytes(1024)).unwrap();
    let mut want: Vec<Vec<u8>> = (0..200).step_by(20).map(payload).collect();
    want.extend((200..205).map(payload));
    let mut got = payloads(&rec);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    for (old, new) in &copied {
        assert!(log.read(*old).is_err());
        let i = lsns.iter().position(|l| l == old).unwrap();
        assert_eq!(log.read(*new).unwrap().payload, payload(i as u64));
    }
    for (i, l) in tail.iter().enumerate() {
        assert_eq!(log.read(*l).unwrap().payload, payload(200 + i as u64));
    }
    drop(log);
    let (_log, rec) = Log::open(options()).unwrap();
    assert!(rec.is_clean(), "{rec}");
    let mut got = payloads(&rec);
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn failed_flush_keeps_the_buffer_and_a_later_flush_writes_it_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FaultyStorage::new();
    let faults = storage.faults();
    let (log, _) = Log::open(opts(dir.path()).storage(storage)).unwrap();
    let a = log.append(1, b"a").unwrap();
    log.commit(a).unwrap();
    let size = disk_bytes(dir.path());
    faults.set_no_space(true);
    let b = log.append(1, b"b").unwrap();
    let c = log.append(1, b"c").unwrap();
    assert!(log.release(a));
    match log.flush() {
        Err(AppendError::Io(e)) => assert_eq!(e.raw_os_error(), Some(28), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(log.commit(c), Err(SyncError::Io(_))));
    let (tx, rx) = std::sync::mpsc::channel();
    log.when_durable(b, Box::new(move |r| tx.send(r).unwrap()));
    assert!(matches!(rx.recv().unwrap(), Err(SyncError::Io(_))));
    assert_eq!(disk_bytes(dir.path()), size, "nothing half-written stays");
    assert!(log.durable_lsn() < b);
    // Still readable from the buffer.
    assert_eq!(log.read(c).unwrap().payload, b"c");
    // While the write keeps failing, appends write through and are refused one by one.
    assert!(matches!(log.append(1, b"refused"), Err(AppendError::Io(_))));
    assert_eq!(disk_bytes(dir.path()), size);
    // A torn write is cut back too.
    faults.set_no_space(false);
    faults.tear_next_write(7);
    assert!(log.flush().is_err());
    assert_eq!(disk_bytes(dir.path()), size, "the torn write was cut back");
    // The first append after the failures writes through, and everything before it.
    let d = log.append(1, b"d").unwrap();
    assert_eq!(
        d.get(),
        c.get() + 2,
        "a release record, no lsn for refused records"
    );
    assert!(disk_bytes(dir.path()) > size, "written through");
    let size = disk_bytes(dir.path());
    let e = log.append(1, b"e").unwrap();
    assert_eq!(disk_bytes(dir.path()), size, "buffered again");
    let last = log.flush().unwrap();
    assert!(last >= e);
    assert!(last >= d);
    log.commit(last).unwrap();
    assert!(log.durable_lsn() >= e);
    drop(log);
    let (_log, rec) = open(dir.path());
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(
        payloads(&rec),
        [b"b".to_vec(), b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]
    );
    let lsns: Vec<Lsn> = rec.records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, [b, c, d, e]);
}

#[test]
fn unbuffered_appends_write_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        opts(dir.path())
            .sync(SyncPolicy::None)
            .write_buffer_bytes(0),
    )
    .unwrap();
    let mut size = disk_bytes(dir.path());
    for i in 0..10 {
        let l = log.append(1, &payload(i)).unwrap();
        let now = disk_bytes(dir.path());
        assert!(now > size, "record {l} was written by its append");
        size = now;
    }
    let copy = crash_copy(dir.path());
    let (_c, rec) = open(copy.path());
    assert_eq!(payloads(&rec), (0..10).map(payload).collect::<Vec<_>>());
}

#[test]
fn a_full_buffer_is_written_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(
        opts(dir.path())
            .sync(SyncPolicy::None)
            .write_buffer_bytes(1024),
    )
    .unwrap();
    log.flush().unwrap(); // nothing appended yet: creates no segment
    assert_eq!(disk_bytes(dir.path()), 0);
    log.append(1, &[7; 100]).unwrap();
    let mut n = 1;
    while disk_bytes(dir.path()) == 24 {
        log.append(1, &[7; 100]).unwrap();
        n += 1;
        assert!(
            n <= 9,
            "a 1 KiB buffer holds fewer than 9 records of 117 bytes"
        );
    }
    assert!(n >= 8, "written once full, not before ({n})");
}

#[test]
fn periodic_sync_writes_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_with(dir.path(), SyncPolicy::Periodic(Duration::from_millis(10)));
    let a = log.append(1, b"a").unwrap();
    let start = Instant::now();
    while log.durable_lsn() < a {
        assert!(start.elapsed() < Duration::from_secs(10), "never synced");
        std::thread::sleep(Duration::from_millis(5));
    }
    let copy = crash_copy(dir.path());
    let (_c, rec) = open(copy.path());
    assert_eq!(payloads(&rec), [b"a".to_vec()]);
}

/// `append_with` stores what its closure encodes, exactly as `append` of those bytes, and
/// refuses an oversized or reserved-kind record without taking an lsn.
#[test]
fn append_with_encodes_into_the_logs_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(opts(dir.path()).max_record_bytes(64)).unwrap();
    let a = log
        .append_with(1, &mut |buf| {
            assert!(buf.is_empty(), "handed an empty buffer");
            buf.extend_from_slice(&payload(0));
        })
        .unwrap();
    let too_large = log.append_with(1, &mut |buf| buf.extend_from_slice(&[7; 65]));
    assert!(matches!(
        too_large,
        Err(AppendError::TooLarge { size: 65, max: 64 })
    ));
    let reserved = log.append_with(0xF0, &mut |buf| buf.push(1));
    assert!(matches!(
        reserved,
        Err(AppendError::ReservedKind { kind: 0xF0 })
    ));
    let b = log
        .append_with(2, &mut |buf| buf.extend_from_slice(&payload(1)))
        .unwrap();
    assert_eq!(b.get(), a.get() + 1, "refused records took no lsn");
    assert_eq!(log.read(b).unwrap().payload, payload(1));
    log.flush().unwrap();
    drop(log);
    let (_log, rec) = Log::open(opts(dir.path())).unwrap();
    assert_eq!(payloads(&rec), vec![payload(0), payload(1)]);
}
