//! Recovery from damaged files: every valid record before the damage is kept, the rest is
//! moved into `DIR/damaged-*`, later files are still read, and the next open is clean.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// Copies a store (FORMAT and segments) to a fresh directory.
fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to.join("log")).unwrap();
    fs::copy(from.join("FORMAT"), to.join("FORMAT")).unwrap();
    for seg in segments(from) {
        fs::copy(&seg, to.join("log").join(seg.file_name().unwrap())).unwrap();
    }
}

/// Reopens after damage and checks that the second open is clean and keeps the same records.
fn assert_reopen_clean(dir: &Path, expected: usize) {
    let (log, rec) = open(dir);
    assert!(rec.is_clean(), "second open: {rec}");
    assert_eq!(rec.records.len(), expected);
    // The log accepts appends after damage.
    let lsn = log.append(1, b"after damage").unwrap();
    log.commit(lsn).unwrap();
}

#[test]
fn torn_last_record_at_every_offset_keeps_every_earlier_record() {
    let src = tempfile::tempdir().unwrap();
    fill(src.path(), 20);
    let seg = segments(src.path()).pop().unwrap();
    let full = fs::read(&seg).unwrap();
    let last_len = 17 + payload(19).len();
    let last_start = full.len() - last_len;
    for cut in last_start..=full.len() {
        let dir = tempfile::tempdir().unwrap();
        copy_store(src.path(), dir.path());
        let copy = dir.path().join("log").join(seg.file_name().unwrap());
        fs::write(&copy, &full[..cut]).unwrap();
        let (log, rec) = open(dir.path());
        let expected = if cut == full.len() { 20 } else { 19 };
        assert_eq!(
            payloads(&rec),
            (0..expected).map(payload).collect::<Vec<_>>(),
            "cut {cut}"
        );
        assert_eq!(
            rec.discarded_bytes,
            (cut - last_start) as u64 % last_len as u64,
            "cut {cut}"
        );
        assert_eq!(
            rec.is_clean(),
            cut == last_start || cut == full.len(),
            "cut {cut}: {rec}"
        );
        assert_eq!(
            fs::metadata(&copy).unwrap().len() as usize,
            last_start.max(cut * (cut == full.len()) as usize)
        );
        drop(log);
        assert_reopen_clean(dir.path(), expected as usize);
    }
}

#[test]
fn appended_garbage_is_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 100);
    let seg = segments(dir.path()).pop().unwrap();
    let before = fs::metadata(&seg).unwrap().len();
    let mut bytes = fs::read(&seg).unwrap();
    bytes.extend((0..1000u32).map(|i| (i * 7919 % 251) as u8));
    fs::write(&seg, &bytes).unwrap();
    let (log, rec) = open(dir.path());
    assert_eq!(rec.records.len(), 100);
    assert_eq!((rec.damaged_files, rec.discarded_bytes), (1, 1000), "{rec}");
    assert!(
        rec.to_string()
            .contains("lost 1000 unreadable bytes from 1 damaged files"),
        "{rec}"
    );
    assert_eq!(fs::metadata(&seg).unwrap().len(), before);
    let aside = damaged_files(dir.path());
    assert_eq!(aside.len(), 1);
    assert_eq!(fs::read(&aside[0]).unwrap(), &bytes[before as usize..]);
    drop(log);
    assert_reopen_clean(dir.path(), 100);
}

#[test]
fn zeroed_middle_file_is_moved_aside_whole_and_later_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 5000);
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    let victim = &segs[1];
    let victim_len = fs::metadata(victim).unwrap().len();
    // Power loss on an SD card: the file keeps its length, its blocks read as zeros.
    fs::write(victim, vec![0u8; victim_len as usize]).unwrap();
    let (log, rec) = open(dir.path());
    assert_eq!(
        (rec.damaged_files, rec.discarded_bytes),
        (1, victim_len),
        "{rec}"
    );
    assert!(!victim.exists());
    assert!(rec.records.len() < 5000 && rec.records.len() > 2000);
    // The records of the first and of the later segments are all there, in order.
    assert_eq!(rec.records.first().unwrap().payload, payload(0));
    assert_eq!(rec.records.last().unwrap().payload, payload(4999));
    assert!(rec.records.windows(2).all(|w| w[0].lsn < w[1].lsn));
    let n = rec.records.len();
    drop(log);
    assert_reopen_clean(dir.path(), n);
}

#[test]
fn zeroed_only_file_leaves_an_empty_working_store() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    let seg = segments(dir.path()).pop().unwrap();
    fs::write(&seg, vec![0u8; 4096]).unwrap();
    let (log, rec) = open(dir.path());
    assert!(rec.records.is_empty());
    assert_eq!(rec.damaged_files, 1);
    drop(log);
    assert_reopen_clean(dir.path(), 0);
}

#[test]
fn truncated_file_keeps_the_records_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 1000);
    let seg = segments(dir.path()).pop().unwrap();
    let bytes = fs::read(&seg).unwrap();
    fs::write(&seg, &bytes[..bytes.len() / 2]).unwrap();
    let (log, rec) = open(dir.path());
    let n = rec.records.len();
    assert!(n > 0 && n < 1000);
    assert_eq!(
        payloads(&rec),
        (0..n as u64).map(payload).collect::<Vec<_>>()
    );
    drop(log);
    assert_reopen_clean(dir.path(), n);
}

#[test]
fn corrupt_byte_mid_segment_keeps_records_before_it_and_moves_the_tail_aside() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 3000);
    let segs = segments(dir.path());
    let (first, second) = (&segs[0], &segs[1]);
    let mut bytes = fs::read(first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(first, &bytes).unwrap();
    let first_of_second = {
        let (log, rec) = open(dir.path());
        let lost = rec
            .records
            .windows(2)
            .filter(|w| w[1].lsn.get() != w[0].lsn.get() + 1)
            .count();
        assert_eq!(lost, 1, "one gap: the tail of the first segment");
        assert_eq!(rec.damaged_files, 1);
        assert!(rec.discarded_bytes > 0 && rec.discarded_bytes <= (bytes.len() - mid + 60) as u64);
        assert!((fs::metadata(first).unwrap().len() as usize) <= mid);
        assert_eq!(
            rec.records.last().unwrap().payload,
            payload(2999),
            "later files are read"
        );
        drop(log);
        fs::read(second).unwrap()
    };
    assert_eq!(
        fs::read(second).unwrap(),
        first_of_second,
        "later segment untouched"
    );
    let (_log, rec) = open(dir.path());
    assert!(rec.is_clean(), "{rec}");
}

#[test]
fn bad_header_is_moved_aside_whole() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&seg).unwrap();
    bytes[3] = b'?';
    fs::write(&seg, &bytes).unwrap();
    let (_log, rec) = open(dir.path());
    assert_eq!((rec.records.len(), rec.damaged_files), (0, 1));
    assert_eq!(fs::read(&damaged_files(dir.path())[0]).unwrap(), bytes);
}
