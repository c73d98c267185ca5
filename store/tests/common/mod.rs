//! Fixtures shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use mqlite_store::{Log, LogOptions, Recovery};
use std::path::{Path, PathBuf};

/// Opens the store in `dir` with small segments.
pub(crate) fn open(dir: &Path) -> (Log, Recovery) {
    Log::open(opts(dir)).unwrap()
}

pub(crate) fn opts(dir: &Path) -> LogOptions {
    LogOptions::new(dir).segment_bytes(64 << 10)
}

/// The segment files of a store, in lsn order.
pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Payload of the `i`th test record.
pub(crate) fn payload(i: u64) -> Vec<u8> {
    format!("record {i:06} {}", "x".repeat((i % 37) as usize)).into_bytes()
}

/// Appends `n` records (kind 1, `payload(i)`), commits, closes; returns their lsns.
pub(crate) fn fill(dir: &Path, n: u64) -> Vec<u64> {
    let (log, _) = open(dir);
    let lsns: Vec<u64> = (0..n)
        .map(|i| log.append(1, &payload(i)).unwrap().get())
        .collect();
    log.commit(mqlite_store::Lsn::new(*lsns.last().unwrap()))
        .unwrap();
    lsns
}

/// The payloads recovered, in order.
pub(crate) fn payloads(rec: &Recovery) -> Vec<Vec<u8>> {
    rec.records.iter().map(|r| r.payload.clone()).collect()
}

/// Files in the store's `damaged-*` directories.
pub(crate) fn damaged_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("damaged-")
        {
            out.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}
