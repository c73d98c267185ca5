//! Worker threads with bounded waits: spawn one per connection, watch them while the
//! measurement runs, and join them with a deadline so a stuck worker fails the run instead
//! of hanging it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// Stack of a worker: its buffers are on the heap.
const STACK_BYTES: usize = 256 * 1024;

/// A named worker thread.
#[derive(Debug)]
pub(crate) struct Worker<T> {
    name: String,
    handle: JoinHandle<Result<T>>,
}

/// Starts `f` on a thread called `name`.
///
/// # Errors
///
/// The thread cannot be created.
pub(crate) fn spawn<T: Send + 'static>(
    name: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<Worker<T>> {
    let handle = thread::Builder::new()
        .name(name.clone())
        .stack_size(STACK_BYTES)
        .spawn(f)
        .with_context(|| format!("starting {name}"))?;
    Ok(Worker { name, handle })
}

/// Sleeps for `d`, or returns `false` as soon as `ended()` says a worker has ended: workers
/// end only when told to, so an early end is a failure the caller reports at once.
pub(crate) fn sleep_unless(d: Duration, ended: impl Fn() -> bool) -> bool {
    let until = Instant::now() + d;
    loop {
        if ended() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

/// Whether any of `workers` has ended.
pub(crate) fn any_ended<T>(workers: &[Worker<T>]) -> bool {
    workers.iter().any(|w| w.handle.is_finished())
}

/// Joins every worker, waiting at most until `deadline`.
///
/// # Errors
///
/// The first worker error (named), a panic, or workers still running at `deadline`.
pub(crate) fn join_all<T>(workers: Vec<Worker<T>>, deadline: Instant) -> Result<Vec<T>> {
    while workers.iter().any(|w| !w.handle.is_finished()) {
        if Instant::now() >= deadline {
            let stuck = workers.iter().filter(|w| !w.handle.is_finished()).count();
            bail!("{stuck} worker(s) still running at the deadline");
        }
        thread::sleep(Duration::from_millis(5));
    }
    workers.into_iter().map(join_one).collect()
}

fn join_one<T>(worker: Worker<T>) -> Result<T> {
    let name = worker.name;
    match worker.handle.join() {
        Ok(result) => result.with_context(|| name.clone()),
        Err(_) => bail!("{name} panicked"),
    }
}

/// Sets every flag when dropped, so an early return (an error) stops every worker too.
#[derive(Debug)]
pub(crate) struct StopOnDrop(pub(crate) Vec<Arc<AtomicBool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for flag in &self.0 {
            // Relaxed: workers poll the flag between bounded waits.
            flag.store(true, Ordering::Relaxed);
        }
    }
}
