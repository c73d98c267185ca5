//! [`FaultyStorage`]: [`FsStorage`] with switchable faults, for tests of the log and of its
//! users.

use super::{FsStorage, LockGuard, Storage, StorageFile};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The switches of a [`FaultyStorage`], shared with the test that flips them.
///
/// All orderings are `SeqCst`: these are test switches, not a hot path.
#[derive(Debug)]
pub struct Faults {
    no_space: AtomicBool,
    sync_fails: AtomicBool,
    /// `usize::MAX`: no tear pending; otherwise the next write stops after this many bytes.
    tear_after: AtomicUsize,
    syncs: AtomicU64,
    failed_syncs: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            no_space: AtomicBool::new(false),
            sync_fails: AtomicBool::new(false),
            tear_after: AtomicUsize::new(usize::MAX),
            syncs: AtomicU64::new(0),
            failed_syncs: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// While `on`, every write fails with "no space left on device" (ENOSPC) and writes
    /// nothing.
    pub fn set_no_space(&self, on: bool) {
        self.no_space.store(on, Ordering::SeqCst);
    }
    /// While `on`, every `sync_data` and `sync_dir` fails with an I/O error (EIO).
    pub fn set_sync_fails(&self, on: bool) {
        self.sync_fails.store(on, Ordering::SeqCst);
    }
    /// The next write writes only its first `bytes` bytes, then fails with EIO (a torn
    /// write, as a crash or a full disk leaves it).
    pub fn tear_next_write(&self, bytes: usize) {
        self.tear_after.store(bytes, Ordering::SeqCst);
    }
    /// Successful file and directory syncs so far.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }
    /// Syncs failed on purpose so far.
    pub fn failed_syncs(&self) -> u64 {
        self.failed_syncs.load(Ordering::SeqCst)
    }

    fn check_write(&self) -> io::Result<()> {
        if self.no_space.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(ENOSPC));
        }
        Ok(())
    }
    fn check_sync(&self) -> io::Result<()> {
        if self.sync_fails.load(Ordering::SeqCst) {
            self.failed_syncs.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

/// [`FsStorage`] with faults that a test switches on and off through [`Faults`].
///
/// # Examples
/// ```
/// use mqlite_store::{FaultyStorage, Log, LogOptions, AppendError};
/// let dir = tempfile::tempdir().unwrap();
/// let storage = FaultyStorage::new();
/// let faults = storage.faults();
/// let (log, _) = Log::open(LogOptions::new(dir.path()).storage(storage)).unwrap();
/// let a = log.append(1, b"a").unwrap();
/// log.commit(a).unwrap();
/// faults.set_no_space(true);
/// let b = log.append(1, b"b").unwrap(); // buffered
/// assert!(matches!(log.flush(), Err(AppendError::Io(_))));
/// faults.set_no_space(false);
/// assert_eq!(log.flush().unwrap(), b); // still buffered, written now
/// log.commit(b).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct FaultyStorage {
    faults: Arc<Faults>,
}

impl FaultyStorage {
    /// A storage with every fault off.
    pub fn new() -> Self {
        Self::default()
    }
    /// The switches, to keep after the storage is moved into a [`crate::Log`].
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.faults)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    faults: Arc<Faults>,
}

impl Storage for FaultyStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        FsStorage.create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        FsStorage.list_dir(path)
    }
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        FsStorage.read_file(path)
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.faults.check_write()?;
        FsStorage.write_file(path, bytes)
    }
    fn create_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        self.faults.check_write()?;
        let inner = FsStorage.create_file(path)?;
        Ok(Arc::new(FaultyFile {
            inner,
            faults: self.faults(),
        }))
    }
    fn open_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let inner = FsStorage.open_file(path)?;
        Ok(Arc::new(FaultyFile {
            inner,
            faults: self.faults(),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        FsStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        FsStorage.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.faults.check_sync()?;
        FsStorage.sync_dir(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        FsStorage.lock(path)
    }
}

impl StorageFile for FaultyFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.faults.check_write()?;
        let tear = self.faults.tear_after.swap(usize::MAX, Ordering::SeqCst);
        if tear < buf.len() {
            self.inner.write_all_at(&buf[..tear], offset)?;
            return Err(io::Error::from_raw_os_error(EIO));
        }
        self.inner.write_all_at(buf, offset)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.faults.check_sync()?;
        self.inner.sync_data()
    }
}
