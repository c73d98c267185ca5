//! The broker's resident set size, read from `/proc/PID/status` (`VmRSS`, in KiB): a sampler
//! thread reads it every 50 ms and keeps every sample, so a run reports its peak and, where
//! memory over time matters (`slow`), the series.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Time between two samples.
const INTERVAL: Duration = Duration::from_millis(50);

/// `VmRSS` of a `/proc/PID/status` text, in KiB.
pub(crate) fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// The current RSS of process `pid`, in KiB.
///
/// # Errors
///
/// The process does not exist (any more) or its status has no `VmRSS` line.
pub(crate) fn read_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {path}: is the broker (--broker-pid) running?"))?;
    match parse_vm_rss_kib(&status) {
        Some(kib) => Ok(kib),
        None => bail!("{path} has no VmRSS line"),
    }
}

/// The RSS figures of one run, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RssSummary {
    /// When the scenario started, before its connections.
    pub(crate) before_kib: u64,
    /// The largest sample.
    pub(crate) peak_kib: u64,
    /// When the scenario finished, its connections still open.
    pub(crate) after_kib: u64,
}

/// One reading of the broker's RSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RssSample {
    /// When it was read.
    pub(crate) at: Instant,
    /// `VmRSS` then, 0 if the broker could not be read.
    pub(crate) kib: u64,
}

/// Samples a process's RSS in the background.
#[derive(Debug)]
pub(crate) struct RssSampler {
    pid: u32,
    before_kib: u64,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<RssSample>>,
}

impl RssSampler {
    /// Takes the first sample and starts sampling.
    ///
    /// # Errors
    ///
    /// As [`read_kib`].
    pub(crate) fn start(pid: u32) -> Result<Self> {
        let before_kib = read_kib(pid)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("rss".to_owned())
            .spawn(move || {
                let mut samples = Vec::new();
                // Relaxed: a flag polled between sleeps, ordering no other data.
                while !flag.load(Ordering::Relaxed) {
                    // The broker may exit mid-run; `finish` reports that.
                    let kib = read_kib(pid).unwrap_or(0);
                    samples.push(RssSample {
                        at: Instant::now(),
                        kib,
                    });
                    thread::sleep(INTERVAL);
                }
                samples
            })?;
        Ok(Self {
            pid,
            before_kib,
            stop,
            thread,
        })
    }

    /// Takes the last sample and stops.
    ///
    /// # Errors
    ///
    /// The broker has exited.
    pub(crate) fn finish(self) -> Result<RssSummary> {
        self.finish_with_samples().map(|(summary, _)| summary)
    }

    /// [`RssSampler::finish`], also returning every sample in time order, the last one taken
    /// now.
    ///
    /// # Errors
    ///
    /// As [`RssSampler::finish`].
    pub(crate) fn finish_with_samples(self) -> Result<(RssSummary, Vec<RssSample>)> {
        let after_kib = read_kib(self.pid);
        let at = Instant::now();
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self.thread.join().unwrap_or_default();
        let after_kib = after_kib?;
        samples.push(RssSample { at, kib: after_kib });
        // The thread may have read once more after `at`, before it saw the flag.
        samples.sort_by_key(|s| s.at);
        let peak = samples.iter().map(|s| s.kib).max().unwrap_or(0);
        let summary = RssSummary {
            before_kib: self.before_kib,
            peak_kib: peak.max(self.before_kib),
            after_kib,
        };
        Ok((summary, samples))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_among_other_lines() {
        let status = "Name:\tmosquitto\nVmPeak:\t  20000 kB\nVmRSS:\t    6144 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss_kib(status), Some(6144));
    }

    #[test]
    fn missing_or_malformed_vm_rss_is_none() {
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn own_process_has_an_rss() {
        let kib = read_kib(std::process::id()).expect("this process runs");
        assert!(kib > 0);
    }
}
