//! Group commit under `SyncPolicy::Commit`: appends + commits per second with 1, 8 and 64
//! concurrent committers on this machine's disk (a temporary directory under `target/`,
//! so on the same file system as the workspace), beside a bare `fdatasync` of a file.
//! Group `store/no_sync`: the broker's path under `SyncPolicy::None` (and `Periodic`
//! between its fsyncs): `batch` appends of 64 bytes, then `flush` and `commit` of the lsn it
//! returns, as one event loop turn does before acknowledging.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mqlite_store::{Log, LogOptions, SyncPolicy};
use std::io::Write;
use std::time::{Duration, Instant};

fn scratch() -> tempfile::TempDir {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/store-bench");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("store/commit");
    g.measurement_time(Duration::from_secs(3)).sample_size(10);
    // The physical reference: one 64-byte write + fdatasync.
    g.throughput(Throughput::Elements(1));
    g.bench_function("fdatasync", |b| {
        let dir = scratch();
        let mut f = std::fs::File::create(dir.path().join("f")).unwrap();
        b.iter(|| {
            f.write_all(&[7; 64]).unwrap();
            f.sync_data().unwrap();
        });
    });
    for committers in [1usize, 8, 64] {
        g.throughput(Throughput::Elements(committers as u64));
        g.bench_with_input(
            BenchmarkId::new("append_commit_64B", committers),
            &committers,
            |b, &n| {
                let dir = scratch();
                let (log, _) = Log::open(LogOptions::new(dir.path())).unwrap();
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..n {
                            s.spawn(|| {
                                for _ in 0..iters {
                                    let lsn = log.append(1, &[7; 64]).unwrap();
                                    log.commit(lsn).unwrap();
                                }
                            });
                        }
                    });
                    start.elapsed()
                });
            },
        );
    }
    g.finish();
}

fn no_sync(c: &mut Criterion) {
    let mut g = c.benchmark_group("store/no_sync");
    g.measurement_time(Duration::from_secs(3)).sample_size(10);
    for batch in [1u64, 16] {
        g.throughput(Throughput::Elements(batch));
        g.bench_with_input(
            BenchmarkId::new("append_flush_64B", batch),
            &batch,
            |b, &n| {
                let dir = scratch();
                let (log, _) =
                    Log::open(LogOptions::new(dir.path()).sync(SyncPolicy::None)).unwrap();
                b.iter(|| {
                    for _ in 0..n {
                        log.append(1, &[7; 64]).unwrap();
                    }
                    let lsn = log.flush().unwrap();
                    log.commit(lsn).unwrap();
                });
            },
        );
    }
    g.finish();
}

criterion_group!(benches, commit, no_sync);
criterion_main!(benches);
