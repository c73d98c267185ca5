//! Opening a store: round trips, the directory lock, the format version.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mqlite_store::{AppendError, Log, LogOptions, Lsn, OpenError, ReadError, SyncError};

#[test]
fn records_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let lsns = fill(dir.path(), 5000);
    assert!(
        lsns.windows(2).all(|w| w[0] < w[1]),
        "lsns strictly increase"
    );
    assert!(
        segments(dir.path()).len() > 3,
        "rolled into several segments"
    );
    let (log, rec) = open(dir.path());
    assert!(rec.is_clean(), "{rec}");
    assert_eq!(rec.records.len(), 5000);
    assert_eq!(payloads(&rec), (0..5000).map(payload).collect::<Vec<_>>());
    assert!(rec.records.iter().all(|r| r.kind == 1));
    assert_eq!(
        log.read(Lsn::new(lsns[1234])).unwrap().payload,
        payload(1234)
    );
    // Appends continue after the last lsn.
    let next = log.append(2, b"after").unwrap();
    assert!(next.get() > lsns[4999]);
    assert!(rec.to_string().contains("recovered 5000 records"), "{rec}");
}

#[test]
fn second_open_of_one_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    let err = Log::open(opts(dir.path())).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"), "{err}");
    drop(log);
    open(dir.path());
}

#[test]
fn newer_format_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3);
    std::fs::write(dir.path().join("FORMAT"), "mqlite-store 7\n").unwrap();
    let err = Log::open(opts(dir.path())).unwrap_err();
    assert!(matches!(
        err,
        OpenError::NewerFormat {
            found: 7,
            supported: 1,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("version 7") && msg.contains("version 1"),
        "{msg}"
    );
}

#[test]
fn garbage_format_file_is_moved_aside_and_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3);
    std::fs::write(dir.path().join("FORMAT"), [0u8; 16]).unwrap();
    let (_log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 3);
    assert_eq!(rec.damaged_files, 1);
    let format = std::fs::read_to_string(dir.path().join("FORMAT")).unwrap();
    assert_eq!(format, "mqlite-store 1\n");
}

#[test]
fn oversized_and_reserved_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(LogOptions::new(dir.path()).max_record_bytes(100)).unwrap();
    let err = log.append(1, &[0; 101]).unwrap_err();
    assert!(matches!(
        err,
        AppendError::TooLarge {
            size: 101,
            max: 100
        }
    ));
    assert_eq!(
        err.to_string(),
        "record of 101 bytes exceeds max_record_bytes (100)"
    );
    assert!(matches!(
        log.append(0xF0, b""),
        Err(AppendError::ReservedKind { kind: 0xF0 })
    ));
    log.append(1, &[0; 100]).unwrap();
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Log::open(LogOptions::new(dir.path()).segment_bytes(10)).unwrap_err();
    assert!(matches!(err, OpenError::InvalidOption(_)), "{err}");
}

#[test]
fn read_and_commit_of_unknown_lsns_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path());
    let a = log.append(1, b"a").unwrap();
    assert!(matches!(
        log.read(Lsn::new(99)),
        Err(ReadError::NotFound(_))
    ));
    assert!(matches!(
        log.commit(Lsn::new(99)),
        Err(SyncError::NotAppended { .. })
    ));
    log.commit(a).unwrap();
    assert!(log.durable_lsn() >= a);
    assert!(log.release(a));
    assert!(!log.release(a));
    assert!(matches!(log.read(a), Err(ReadError::NotFound(_))));
}

#[test]
fn empty_store_opens_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let (_log, rec) = open(dir.path());
    assert!(rec.records.is_empty() && rec.is_clean(), "{rec}");
    assert!(rec.to_string().ends_with("nothing lost"));
}
