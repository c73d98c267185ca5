//! The sync thread: group commit, periodic syncs, retries after a failed sync, and segment
//! deletion. Not here: what is written (`write.rs`).
//!
//! One round: under `state`, write the write buffer (so a periodic sync covers every
//! record appended before it), note the last lsn written and the files with unsynced bytes;
//! outside every lock, write those bytes again if an earlier sync failed, `fdatasync` each
//! file, then sync the directory if a file is new; then delete the segments that waited for
//! that durability, and answer every waiter at or below the lsn noted. Waiters that arrive
//! during a round are answered by the next one, so any number of committers share one
//! fsync per round.

use crate::error::SyncError;
use crate::log::Inner;
use crate::options::SyncPolicy;
use crate::stats::Counters;
use crate::storage::StorageFile;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What [`crate::Log::when_durable`] calls.
pub type Callback = Box<dyn FnOnce(Result<(), SyncError>) + Send>;

/// The sync side, under `Inner::sync`.
pub(crate) struct SyncState {
    /// Everything up to here is fsynced.
    pub(crate) durable: u64,
    /// The highest lsn a waiter asked for.
    pub(crate) requested: u64,
    pub(crate) waiters: Vec<(u64, Callback)>,
    /// Deletions wait.
    pub(crate) work: bool,
    /// Unsynced bytes passed `max_unsynced_bytes`, or a compaction waits for its copies to
    /// be durable: sync without waiting for a commit or the interval.
    pub(crate) backlog: bool,
    pub(crate) shutdown: bool,
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState")
            .field("durable", &self.durable)
            .field("requested", &self.requested)
            .field("waiters", &self.waiters.len())
            .finish_non_exhaustive()
    }
}

impl SyncState {
    pub(crate) fn new(durable: u64, work: bool) -> Self {
        Self {
            durable,
            requested: durable,
            waiters: Vec::new(),
            work,
            backlog: false,
            shutdown: false,
        }
    }
}

/// A file to sync in this round.
struct Job {
    seg: u64,
    file: Arc<dyn StorageFile>,
    /// Bytes to write again first (a previous sync failed).
    rewrite: Option<(u64, Vec<u8>)>,
    /// Bytes of the file's unsynced buffer this round covers.
    covered: usize,
    created: bool,
}

/// The sync thread's body; returns when the log is dropped.
pub(crate) fn run(inner: &Inner) {
    let mut next_tick = match inner.policy {
        SyncPolicy::Periodic(d) => Some(Instant::now() + d),
        _ => None,
    };
    loop {
        let (shutdown, need_sync) = {
            let mut s = inner.sync.lock();
            let tick = loop {
                let tick = next_tick.is_some_and(|t| Instant::now() >= t);
                if tick || s.shutdown || s.work || s.backlog || s.requested > s.durable {
                    break tick;
                }
                match next_tick {
                    Some(t) => {
                        inner.wake.wait_until(&mut s, t);
                    }
                    None => inner.wake.wait(&mut s),
                }
            };
            let need_sync = tick || s.shutdown || s.backlog || s.requested > s.durable;
            s.work = false;
            s.backlog = false;
            (s.shutdown, need_sync)
        };
        if let (Some(t), SyncPolicy::Periodic(d)) = (next_tick, inner.policy)
            && Instant::now() >= t
        {
            next_tick = Some(Instant::now() + d);
        }
        round(inner, need_sync);
        if shutdown {
            let waiters = std::mem::take(&mut inner.sync.lock().waiters);
            for (_, w) in waiters {
                w(Err(SyncError::Closed));
            }
            return;
        }
    }
}

/// One round (see the module docs); without `need_sync`, only the deletions that need no
/// sync.
fn round(inner: &Inner, need_sync: bool) {
    let (target, jobs, deletions) = {
        let mut st = inner.state.lock();
        if need_sync && let Err(e) = inner.write_buffer(&mut st) {
            // Kept buffered; the next flush or commit retries and reports it.
            tracing::debug!("store: writing the buffer before a sync failed: {e}");
        }
        let target = if need_sync || inner.policy == SyncPolicy::None {
            inner.written.load(Ordering::Relaxed)
        } else {
            inner.durable.load(Ordering::Relaxed)
        };
        let jobs: Vec<Job> = st
            .unsynced
            .iter()
            .filter(|_| need_sync)
            .map(|u| Job {
                seg: u.seg,
                file: Arc::clone(&u.file),
                rewrite: u.rewrite.then(|| (u.offset, u.bytes.clone())),
                covered: u.bytes.len(),
                created: u.created,
            })
            .collect();
        let (ready, later): (Vec<_>, Vec<_>) = st
            .to_delete
            .drain(..)
            .partition(|(_, after)| *after <= target);
        st.to_delete = later;
        let deletions: Vec<(u64, PathBuf)> = ready
            .into_iter()
            .filter_map(|(seg, _)| st.books.segments.get(&seg).map(|s| (seg, s.path.clone())))
            .collect();
        (target, jobs, deletions)
    };
    if let Err(e) = sync_files(inner, &jobs) {
        fail(inner, target, &deletions, e);
        return;
    }
    {
        let mut st = inner.state.lock();
        for job in &jobs {
            if let Some(u) = st.unsynced.iter_mut().find(|u| u.seg == job.seg) {
                u.bytes.drain(..job.covered.min(u.bytes.len()));
                u.offset += job.covered as u64;
                u.rewrite = false;
                u.created &= !job.created;
            }
        }
        let active = st.books.active;
        st.unsynced
            .retain(|u| !u.bytes.is_empty() || u.created || Some(u.seg) == active);
        st.unsynced_bytes = st.unsynced.iter().map(|u| u.bytes.len()).sum();
        if st.sync_failure.take().is_some() {
            tracing::info!(lsn = target, "store syncs work again");
        }
    }
    delete_segments(inner, deletions);
    let waiters = {
        let mut s = inner.sync.lock();
        s.durable = s.durable.max(target);
        // Release: pairs with the Acquire load in `Log::durable_lsn`.
        inner.durable.store(s.durable, Ordering::Release);
        let durable = s.durable;
        take_waiters(&mut s.waiters, durable)
    };
    for w in waiters {
        w(Ok(()));
    }
}

/// Writes again what a failed sync may have lost, syncs every file, then the directory.
fn sync_files(inner: &Inner, jobs: &[Job]) -> std::io::Result<()> {
    if inner.policy == SyncPolicy::None {
        return Ok(());
    }
    for job in jobs {
        if let Some((offset, bytes)) = &job.rewrite {
            job.file.write_all_at(bytes, *offset)?;
        }
        if job.covered > 0 || job.rewrite.is_some() {
            let start = Instant::now();
            job.file.sync_data()?;
            inner.counters.fsync_took(start.elapsed());
        }
    }
    if jobs.iter().any(|j| j.created) {
        inner.storage.sync_dir(&inner.log_dir)?;
    }
    Ok(())
}

/// A sync failed: every waiter up to `target` gets the error, the unsynced bytes are
/// marked for writing again, the deletions wait for the next round.
fn fail(inner: &Inner, target: u64, deletions: &[(u64, PathBuf)], e: std::io::Error) {
    let err = SyncError::Io(Arc::new(e));
    Counters::add(&inner.counters.sync_errors, 1);
    {
        let mut st = inner.state.lock();
        for u in &mut st.unsynced {
            u.rewrite = true;
        }
        if st.sync_failure.is_none() {
            tracing::warn!(
                lsn = target,
                "store sync failed, commits are refused until one succeeds: {err}"
            );
        }
        st.sync_failure = Some(err.clone());
        for (seg, _) in deletions {
            st.to_delete.push((*seg, target));
        }
    }
    let waiters = {
        let mut s = inner.sync.lock();
        let failed = take_waiters(&mut s.waiters, target);
        // Retry when asked again, not in a loop: the cause may last.
        s.requested = s.waiters.iter().map(|(l, _)| *l).max().unwrap_or(s.durable);
        failed
    };
    for w in waiters {
        w(Err(err.clone()));
    }
    // Do not spin on a persistent error when later waiters remain.
    std::thread::sleep(Duration::from_millis(1));
}

fn take_waiters(waiters: &mut Vec<(u64, Callback)>, upto: u64) -> Vec<Callback> {
    let mut done = Vec::new();
    let mut i = 0;
    while i < waiters.len() {
        if waiters[i].0 <= upto {
            done.push(waiters.swap_remove(i).1);
        } else {
            i += 1;
        }
    }
    done
}

/// Deletes segments whose records are all dead (and, after a compaction, durably copied),
/// then forgets them. Segments freed by that (their release records no longer guard
/// anything) are deleted in the next wave of the same round: one directory sync per wave
/// keeps a release record on disk until the segment it guards is durably gone.
fn delete_segments(inner: &Inner, mut wave: Vec<(u64, PathBuf)>) {
    while !wave.is_empty() {
        let mut gone = Vec::new();
        let mut retry = Vec::new();
        for (seg, path) in wave {
            match inner.storage.remove_file(&path) {
                Ok(()) => gone.push(seg),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(seg),
                Err(e) => {
                    tracing::warn!(file = %path.display(), "cannot delete segment: {e}");
                    retry.push(seg);
                }
            }
        }
        let synced =
            inner.policy == SyncPolicy::None || inner.storage.sync_dir(&inner.log_dir).is_ok();
        let mut st = inner.state.lock();
        if !synced {
            retry.append(&mut gone);
        }
        let after = inner.written.load(Ordering::Relaxed);
        for seg in retry {
            st.to_delete.push((seg, after));
        }
        wave = Vec::new();
        for seg in gone {
            Counters::add(&inner.counters.segments_deleted, 1);
            for freed in st.books.forget_segment(seg) {
                if let Some(s) = st.books.segments.get_mut(&freed) {
                    s.deleting = true;
                    wave.push((freed, s.path.clone()));
                }
            }
        }
    }
}
