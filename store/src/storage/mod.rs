//! The file system as the log sees it: the [`Storage`] and [`StorageFile`] traits, the real
//! implementation over `std::fs` ([`FsStorage`]) and a fault-injecting wrapper for tests
//! ([`FaultyStorage`]). Not here: what the files contain.

mod faulty;

pub use faulty::{Faults, FaultyStorage};

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A held directory lock; dropping it releases the lock.
pub trait LockGuard: fmt::Debug + Send + Sync {}

/// The file-system operations the log performs, so tests can put faults below it.
///
/// Every method maps to one system call (or a short, fixed sequence of them) on
/// [`FsStorage`]. Implementations must be usable from several threads at once.
pub trait Storage: fmt::Debug + Send + Sync {
    /// Creates `path` and its missing parents.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of directory `path`.
    ///
    /// # Errors
    /// The underlying I/O error (`NotFound` if `path` does not exist).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>>;
    /// The whole content of file `path`.
    ///
    /// # Errors
    /// The underlying I/O error (`NotFound` if there is no such file).
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates or replaces file `path` with `bytes` and syncs it (not its directory).
    ///
    /// # Errors
    /// The underlying I/O error.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Creates a new, empty file for reading and writing; fails if it exists.
    ///
    /// # Errors
    /// The underlying I/O error (`AlreadyExists` if it exists).
    fn create_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Opens an existing file for reading and writing.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn open_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>>;
    /// Renames `from` to `to` (same file system).
    ///
    /// # Errors
    /// The underlying I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes file `path`.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of directory `path` (created, renamed, removed files) durable.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive advisory lock on file `path`, creating it if needed, without
    /// blocking.
    ///
    /// # Errors
    /// `WouldBlock` if another holder has it (this process or another); any other I/O error.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>>;
}

/// An open file of a [`Storage`]. Reads and writes are positional, so one handle serves a
/// writer and concurrent readers.
pub trait StorageFile: fmt::Debug + Send + Sync {
    /// Writes all of `buf` at `offset`.
    ///
    /// # Errors
    /// The underlying I/O error; part of `buf` may have been written.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Fills `buf` from `offset`.
    ///
    /// # Errors
    /// `UnexpectedEof` past the end of the file; any other I/O error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    ///
    /// # Errors
    /// The underlying I/O error.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    ///
    /// # Errors
    /// The underlying I/O error; after one, data written since the last successful sync may
    /// be lost even if a later sync succeeds, so the log writes it again.
    fn sync_data(&self) -> io::Result<()>;
}

/// The real file system, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsStorage;

#[derive(Debug)]
struct FsLock(#[allow(dead_code)] File);
impl LockGuard for FsLock {}

#[derive(Debug)]
struct FsFile(File);

impl Storage for FsStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect()
    }
    fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let file = File::create(path)?;
        io::Write::write_all(&mut &file, bytes)?;
        file.sync_all()
    }
    fn create_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(FsFile(file)))
    }
    fn open_file(&self, path: &Path) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(FsFile(file)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            File::open(path)?.sync_all()
        }
        // Windows cannot open a directory as a file; its metadata updates are journaled.
        #[cfg(not(unix))]
        {
            let _ = path;
            Ok(())
        }
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn LockGuard>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(FsLock(file))),
            Err(fs::TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl StorageFile for FsFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::write_all_at(&self.0, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                match std::os::windows::fs::FileExt::seek_write(
                    &self.0,
                    &buf[done..],
                    offset + done as u64,
                ) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(&self.0, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                match std::os::windows::fs::FileExt::seek_read(
                    &self.0,
                    &mut buf[done..],
                    offset + done as u64,
                ) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}
