//! Raw sync latency of the disk under the store directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use crate::stats::percentile;

const BLOCK: usize = 4096;

/// Latencies in microseconds of `n` durable 4 KiB writes (write + sync, timed together).
#[derive(Clone, Debug)]
pub struct Latency {
    pub p10_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
}

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Append 4 KiB, `fdatasync` (the file grows: its size is metadata the sync must write).
    AppendFdatasync,
    /// Append 4 KiB, `fsync`.
    AppendFsync,
    /// Overwrite 4 KiB inside a preallocated, already synced file, `fdatasync`.
    OverwriteFdatasync,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::AppendFdatasync, Mode::AppendFsync, Mode::OverwriteFdatasync];

    pub fn name(self) -> &'static str {
        match self {
            Mode::AppendFdatasync => "append 4 KiB + fdatasync",
            Mode::AppendFsync => "append 4 KiB + fsync",
            Mode::OverwriteFdatasync => "overwrite 4 KiB (preallocated) + fdatasync",
        }
    }
}

pub fn measure(dir: &Path, mode: Mode, n: usize) -> Result<Latency> {
    let path = dir.join("sync-probe");
    let block = vec![0xa5u8; BLOCK];
    let mut file: File = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path)?;
    if let Mode::OverwriteFdatasync = mode {
        for _ in 0..n {
            file.write_all(&block)?;
        }
        file.sync_all()?;
    }
    let mut micros = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        match mode {
            Mode::AppendFdatasync => {
                file.write_all(&block)?;
                file.sync_data()?;
            }
            Mode::AppendFsync => {
                file.write_all(&block)?;
                file.sync_all()?;
            }
            Mode::OverwriteFdatasync => {
                file.write_all_at(&block, (i * BLOCK) as u64)?;
                file.sync_data()?;
            }
        }
        micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    let mean_us = micros.iter().sum::<f64>() / n as f64;
    Ok(Latency {
        p10_us: percentile(&mut micros, 10.0),
        p50_us: percentile(&mut micros, 50.0), p99_us: percentile(&mut micros, 99.0), mean_us })
}
