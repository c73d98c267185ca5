//! The log's books: which segments exist, which records are live and where, and which
//! release records (tombstones) must be kept. Shared by recovery and the running log; pure
//! bookkeeping, no I/O.
//!
//! A segment may be deleted when it is sealed and holds no live record. A user record is
//! live until released. A release record is live while a segment other than its own still
//! holds one of the records it released: deleting that segment first would let the record
//! come back at the next open.

use crate::index::Index;
pub(crate) use crate::index::Loc;
use crate::storage::StorageFile;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<dyn StorageFile>,
    /// Valid bytes in the file, header included.
    pub(crate) len: u64,
    /// Live user records plus live release records.
    pub(crate) live: u64,
    /// Encoded bytes of those records.
    pub(crate) live_bytes: u64,
    /// Release records that released a record of this segment and may still be live.
    pub(crate) tomb_refs: Vec<u64>,
    /// Queued for deletion.
    pub(crate) deleting: bool,
}

/// A live release record.
#[derive(Debug)]
pub(crate) struct Tomb {
    pub(crate) seg: u64,
    pub(crate) len: u32,
    pub(crate) ranges: Vec<(u64, u64)>,
    /// Other segments still holding a record it released.
    pub(crate) targets: Vec<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Books {
    pub(crate) segments: BTreeMap<u64, Segment>,
    pub(crate) index: Index,
    pub(crate) tombs: BTreeMap<u64, Tomb>,
    /// The segment appends go to; never deleted.
    pub(crate) active: Option<u64>,
}

impl Books {
    /// Records a live user record.
    pub(crate) fn add_record(&mut self, lsn: u64, loc: Loc) {
        if let Some(s) = self.segments.get_mut(&loc.seg) {
            s.live += 1;
            s.live_bytes += u64::from(loc.len);
        }
        self.index.insert(lsn, loc);
    }

    /// Marks a user record dead; returns its segment, or `None` if it was not live.
    pub(crate) fn release(&mut self, lsn: u64) -> Option<u64> {
        let loc = self.index.remove(lsn)?;
        self.drop_live(loc.seg, loc.len);
        Some(loc.seg)
    }

    fn drop_live(&mut self, seg: u64, len: u32) {
        if let Some(s) = self.segments.get_mut(&seg) {
            s.live = s.live.saturating_sub(1);
            s.live_bytes = s.live_bytes.saturating_sub(u64::from(len));
        }
    }

    /// Records a release record at `lsn` in segment `seg` that released records of
    /// `released_from`; it is live only if one of those is another, existing segment.
    pub(crate) fn add_tomb(
        &mut self,
        lsn: u64,
        seg: u64,
        len: u32,
        ranges: Vec<(u64, u64)>,
        released_from: &BTreeSet<u64>,
    ) {
        let targets: Vec<u64> = released_from
            .iter()
            .copied()
            .filter(|t| *t != seg && self.segments.contains_key(t))
            .collect();
        if targets.is_empty() {
            return;
        }
        for t in &targets {
            if let Some(s) = self.segments.get_mut(t) {
                s.tomb_refs.push(lsn);
            }
        }
        if let Some(s) = self.segments.get_mut(&seg) {
            s.live += 1;
            s.live_bytes += u64::from(len);
        }
        self.tombs.insert(
            lsn,
            Tomb {
                seg,
                len,
                ranges,
                targets,
            },
        );
    }

    /// Removes a live release record (its ranges are being written again elsewhere).
    pub(crate) fn remove_tomb(&mut self, lsn: u64) -> Option<Tomb> {
        let t = self.tombs.remove(&lsn)?;
        self.drop_live(t.seg, t.len);
        Some(t)
    }

    /// Whether `seg` can be queued for deletion.
    pub(crate) fn is_deletable(&self, seg: u64) -> bool {
        self.active != Some(seg)
            && self
                .segments
                .get(&seg)
                .is_some_and(|s| s.live == 0 && !s.deleting)
    }

    /// Forgets a segment whose file is durably gone; returns the segments that became
    /// deletable because release records that guarded it died.
    pub(crate) fn forget_segment(&mut self, seg: u64) -> Vec<u64> {
        let Some(s) = self.segments.remove(&seg) else {
            return Vec::new();
        };
        let mut freed = Vec::new();
        for tomb in s.tomb_refs {
            let Some(t) = self.tombs.get_mut(&tomb) else {
                continue;
            };
            t.targets.retain(|x| *x != seg);
            if t.targets.is_empty() {
                let own = t.seg;
                self.remove_tomb(tomb);
                if self.is_deletable(own) && !freed.contains(&own) {
                    freed.push(own);
                }
            }
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{FsStorage, Storage};

    fn books_with(segs: &[u64]) -> (tempfile::TempDir, Books) {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Books::default();
        for &s in segs {
            let path = dir.path().join(format!("{s}"));
            let file = FsStorage.create_file(&path).unwrap();
            b.segments.insert(
                s,
                Segment {
                    path,
                    file,
                    len: 0,
                    live: 0,
                    live_bytes: 0,
                    tomb_refs: Vec::new(),
                    deleting: false,
                },
            );
        }
        (dir, b)
    }

    fn loc(seg: u64) -> Loc {
        Loc {
            seg,
            offset: 0,
            len: 20,
        }
    }

    #[test]
    fn tomb_lives_until_the_segment_it_guards_is_gone() {
        let (_d, mut b) = books_with(&[1, 10, 20]);
        b.active = Some(20);
        b.add_record(1, loc(1));
        b.add_record(10, loc(10));
        assert_eq!(b.release(1), Some(1));
        assert!(b.is_deletable(1));
        // The release record of lsn 1 sits in segment 10, which also empties.
        b.add_tomb(11, 10, 33, vec![(1, 1)], &BTreeSet::from([1]));
        b.release(10);
        assert!(!b.is_deletable(10), "its tomb guards segment 1");
        assert_eq!(b.forget_segment(1), vec![10]);
        assert!(b.tombs.is_empty());
        assert!(!b.is_deletable(20), "the active segment stays");
    }

    #[test]
    fn tomb_of_its_own_segment_is_dead_at_once() {
        let (_d, mut b) = books_with(&[1]);
        b.add_record(1, loc(1));
        b.release(1);
        b.add_tomb(2, 1, 33, vec![(1, 1)], &BTreeSet::from([1]));
        assert!(b.tombs.is_empty());
        assert!(b.is_deletable(1));
        assert_eq!(b.release(1), None, "released twice");
    }
}
