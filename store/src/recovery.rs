//! Opening a store: reading every segment in lsn order, verifying each record, moving what
//! cannot be read aside into `DIR/damaged-<unix time>/`, and rebuilding the books.
//! Not here: appending, syncing.

use crate::format::{self, HEADER_BYTES, Header, KIND_RELEASE};
use crate::state::{Books, Loc, Segment};
use crate::storage::Storage;
use crate::{Lsn, OpenError, Record};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What [`crate::Log::open`] found: the live records in lsn order, and what was lost.
///
/// The records are held in memory (the whole live set of the store); see the crate docs.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Recovery {
    /// Live records (appended and not released), in lsn order.
    pub records: Vec<Record>,
    /// Payload bytes of `records`.
    pub bytes: u64,
    /// Segment files read.
    pub segments: usize,
    /// Bytes that could not be read and were moved aside.
    pub discarded_bytes: u64,
    /// Files (whole or their tail) moved aside.
    pub damaged_files: usize,
    /// Where they went, if anywhere.
    pub damaged_dir: Option<PathBuf>,
    /// How long opening took.
    pub duration: Duration,
}

impl Recovery {
    /// Whether anything was lost.
    pub fn is_clean(&self) -> bool {
        self.damaged_files == 0
    }
}

impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recovered {} records ({} bytes) from {} segments in {:.1} ms",
            self.records.len(),
            self.bytes,
            self.segments,
            self.duration.as_secs_f64() * 1e3
        )?;
        match &self.damaged_dir {
            Some(d) if self.damaged_files > 0 => write!(
                f,
                "; lost {} unreadable bytes from {} damaged files, moved to `{}`",
                self.discarded_bytes,
                self.damaged_files,
                d.display()
            ),
            _ => write!(f, "; nothing lost"),
        }
    }
}

/// The result of reading the log directory.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) books: Books,
    pub(crate) next_lsn: u64,
    pub(crate) report: Recovery,
}

/// Where damaged bytes go; the directory is made on first use.
pub(crate) struct Quarantine<'a> {
    storage: &'a dyn Storage,
    root: &'a Path,
    dir: Option<PathBuf>,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

impl<'a> Quarantine<'a> {
    pub(crate) fn new(storage: &'a dyn Storage, root: &'a Path) -> Self {
        Self {
            storage,
            root,
            dir: None,
            files: 0,
            bytes: 0,
        }
    }

    fn target(&mut self, name: &str) -> Result<PathBuf, OpenError> {
        let dir = match &self.dir {
            Some(d) => d.clone(),
            None => {
                let secs = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let d = self.root.join(format!("damaged-{secs}"));
                self.storage.create_dir_all(&d).map_err(io_at(&d))?;
                self.dir = Some(d.clone());
                d
            }
        };
        let mut path = dir.join(name);
        let mut n = 1;
        while path.exists() {
            path = dir.join(format!("{name}.{n}"));
            n += 1;
        }
        Ok(path)
    }

    /// Moves a whole file aside.
    pub(crate) fn move_file(&mut self, path: &Path, len: u64) -> Result<(), OpenError> {
        let name = file_name(path);
        let to = self.target(&name)?;
        self.storage.rename(path, &to).map_err(io_at(path))?;
        tracing::warn!(file = %path.display(), to = %to.display(), len, "moved damaged file aside");
        self.files += 1;
        self.bytes += len;
        Ok(())
    }

    /// Copies `tail`, the unreadable end of `path` from `offset`, aside.
    fn copy_tail(&mut self, path: &Path, offset: u64, tail: &[u8]) -> Result<(), OpenError> {
        let name = format!("{}.from-{offset}", file_name(path));
        let to = self.target(&name)?;
        self.storage.write_file(&to, tail).map_err(io_at(&to))?;
        tracing::warn!(file = %path.display(), offset, len = tail.len(), "moved damaged tail aside");
        self.files += 1;
        self.bytes += tail.len() as u64;
        Ok(())
    }

    /// Makes the moves durable; returns the damaged directory, if one was made.
    pub(crate) fn finish(self, log_dir: &Path) -> Result<Option<PathBuf>, OpenError> {
        if let Some(d) = &self.dir {
            self.storage.sync_dir(d).map_err(io_at(d))?;
            self.storage.sync_dir(log_dir).map_err(io_at(log_dir))?;
            self.storage.sync_dir(self.root).map_err(io_at(self.root))?;
        }
        Ok(self.dir)
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "unnamed".into(), |n| n.to_string_lossy().into_owned())
}

pub(crate) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> OpenError + '_ {
    move |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The name of the segment whose first lsn is `first`.
pub(crate) fn segment_name(first: u64) -> String {
    format!("{first:016x}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Reads every segment of `log_dir` (see the crate docs, "Recovery").
pub(crate) fn recover(
    storage: &dyn Storage,
    root: &Path,
    log_dir: &Path,
    max_record_bytes: usize,
    quarantine: &mut Quarantine<'_>,
) -> Result<Recovered, OpenError> {
    let mut names: Vec<(u64, PathBuf)> = storage
        .list_dir(log_dir)
        .map_err(io_at(log_dir))?
        .into_iter()
        .filter_map(|n| {
            let first = parse_segment_name(n.to_str()?)?;
            Some((first, log_dir.join(n)))
        })
        .collect();
    names.sort_unstable();

    let mut books = Books::default();
    let mut live: BTreeMap<u64, (u8, Vec<u8>)> = BTreeMap::new();
    let mut last_lsn = 0u64;
    let mut max_name = 0u64;
    let mut segments = 0;
    for (first, path) in names {
        let bytes = storage.read_file(&path).map_err(io_at(&path))?;
        match format::parse_header(&bytes) {
            Header::Newer { version } => {
                return Err(OpenError::NewerFormat {
                    dir: root.to_path_buf(),
                    found: version,
                    supported: format::VERSION,
                });
            }
            Header::Valid { first: f } if f.get() == first => {}
            _ => {
                quarantine.move_file(&path, bytes.len() as u64)?;
                continue;
            }
        }
        segments += 1;
        max_name = max_name.max(first);
        let file = storage.open_file(&path).map_err(io_at(&path))?;
        books.segments.insert(
            first,
            Segment {
                path: path.clone(),
                file,
                len: HEADER_BYTES as u64,
                live: 0,
                live_bytes: 0,
                tomb_refs: Vec::new(),
                deleting: false,
            },
        );
        let mut offset = HEADER_BYTES;
        while offset < bytes.len() {
            let Some(r) = format::decode_record(&bytes[offset..], max_record_bytes)
                .filter(|r| r.lsn.get() > last_lsn && r.lsn.get() >= first)
            else {
                break;
            };
            let lsn = r.lsn.get();
            let len = u32::try_from(r.encoded_len()).expect("bounded by max_record_bytes");
            if r.kind == KIND_RELEASE {
                let ranges: Vec<(u64, u64)> = format::decode_ranges(r.payload).collect();
                let mut from = BTreeSet::new();
                for &(a, b) in &ranges {
                    let dead: Vec<u64> = books
                        .index
                        .range(a, b)
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    for lsn in dead {
                        live.remove(&lsn);
                        from.extend(books.release(lsn));
                    }
                }
                books.add_tomb(lsn, first, len, ranges, &from);
            } else if r.kind < crate::FIRST_RESERVED_KIND {
                live.insert(lsn, (r.kind, r.payload.to_vec()));
                let loc = Loc {
                    seg: first,
                    offset: offset as u64,
                    len,
                };
                books.add_record(lsn, loc);
            }
            last_lsn = lsn;
            offset += r.encoded_len();
        }
        if offset < bytes.len() {
            quarantine.copy_tail(&path, offset as u64, &bytes[offset..])?;
            let seg = &books.segments[&first];
            seg.file.set_len(offset as u64).map_err(io_at(&path))?;
            seg.file.sync_data().map_err(io_at(&path))?;
        }
        if let Some(seg) = books.segments.get_mut(&first) {
            seg.len = offset as u64;
        }
    }
    let records: Vec<Record> = live
        .into_iter()
        .map(|(lsn, (kind, payload))| Record {
            lsn: Lsn::new(lsn),
            kind,
            payload,
        })
        .collect();
    let report = Recovery {
        bytes: records.iter().map(|r| r.payload.len() as u64).sum(),
        records,
        segments,
        ..Recovery::default()
    };
    Ok(Recovered {
        books,
        next_lsn: (last_lsn + 1).max(max_name).max(1),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_name(0x1f), "000000000000001f.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("1f.seg"), None);
        assert_eq!(parse_segment_name("000000000000001f.tmp"), None);
    }

    #[test]
    fn display_says_what_was_lost() {
        let mut r = Recovery::default();
        assert!(r.to_string().ends_with("nothing lost"), "{r}");
        r.damaged_files = 2;
        r.discarded_bytes = 40;
        r.damaged_dir = Some("/s/damaged-1".into());
        assert!(
            r.to_string().ends_with(
                "lost 40 unreadable bytes from 2 damaged files, moved to `/s/damaged-1`"
            ),
            "{r}"
        );
    }
}
