//! The write path: appending records to the head segment, rolling segments, releases and
//! compaction. All of it runs under `Inner::state`.

use crate::error::{AppendError, CompactCause, CompactError, ReadError};
use crate::format::{self, HEADER_BYTES, KIND_RELEASE};
use crate::log::{Inner, State, Unsynced};
use crate::options::SyncPolicy;
use crate::recovery::segment_name;
use crate::state::{Loc, Segment};
use crate::stats::Counters;
use crate::storage::StorageFile;
use crate::{Lsn, Record};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Released ranges are written once this many are pending even without an append, so
/// memory stays bounded.
const MAX_PENDING_RANGES: usize = 256;
/// The largest release record payload (16 bytes per range).
pub(crate) const MAX_RELEASE_PAYLOAD: usize = MAX_PENDING_RANGES * 16;

impl State {
    /// Queues `seg` for deletion once everything up to `after` is durable.
    pub(crate) fn schedule_delete(&mut self, seg: u64, after: u64) {
        if let Some(s) = self.books.segments.get_mut(&seg) {
            s.deleting = true;
            self.to_delete.push((seg, after));
        }
    }

    fn note_released(&mut self, lsn: u64, seg: u64) {
        match self.pending_ranges.last_mut() {
            Some((_, last)) if *last + 1 == lsn => *last = lsn,
            _ => self.pending_ranges.push((lsn, lsn)),
        }
        self.pending_segs.insert(seg);
    }
}

impl Inner {
    /// Wakes the sync thread for work other than a commit: deletions, and with `backlog`
    /// a sync (too many unsynced bytes, or compacted segments wait for their copies).
    pub(crate) fn request_work(&self, backlog: bool) {
        let mut s = self.sync.lock();
        s.work = true;
        s.backlog |= backlog;
        drop(s);
        self.wake.notify_one();
    }

    /// Writes pending releases and then `user`, in one write to the head segment. Returns
    /// the user record's lsn and whether the sync thread should be woken.
    pub(crate) fn write(
        &self,
        st: &mut State,
        user: Option<(u8, &[u8])>,
    ) -> Result<(Option<Lsn>, bool), AppendError> {
        if let Some(cause) = &st.sync_failure
            && st.unsynced_bytes > self.max_unsynced_bytes
        {
            return Err(AppendError::NotDurable {
                unsynced_bytes: st.unsynced_bytes,
                max: self.max_unsynced_bytes,
                cause: cause.clone(),
            });
        }
        let mut buf = std::mem::take(&mut st.buf);
        buf.clear();
        let first = st.next_lsn;
        let mut lsn = first;
        let mut tomb_len = 0;
        let ranges = st.pending_ranges.len().min(MAX_PENDING_RANGES);
        if ranges > 0 {
            format::encode_record(
                &mut buf,
                Lsn::new(lsn),
                KIND_RELEASE,
                &format::encode_ranges(&st.pending_ranges[..ranges]),
            );
            tomb_len = buf.len();
            lsn += 1;
        }
        let user_lsn = user.map(|(kind, payload)| {
            format::encode_record(&mut buf, Lsn::new(lsn), kind, payload);
            lsn += 1;
            lsn - 1
        });
        let result = self.write_head(st, &buf, first);
        let wake = match result {
            Ok(offset) => {
                let w = Written {
                    offset,
                    first,
                    next: lsn,
                    tomb_len,
                    ranges,
                    user_lsn,
                };
                self.commit_write(st, &buf, &w)
            }
            Err(e) => {
                st.buf = buf;
                return Err(AppendError::Io(e));
            }
        };
        st.buf = buf;
        Ok((user_lsn.map(Lsn::new), wake))
    }

    /// Writes `buf` at the end of the head segment (rolling first if needed); returns the
    /// offset written at. On error the segment is cut back to its length.
    fn write_head(&self, st: &mut State, buf: &[u8], first: u64) -> std::io::Result<u64> {
        let head = st
            .books
            .active
            .and_then(|a| st.books.segments.get(&a).map(|s| (a, s.len)));
        let roll = match head {
            None => true,
            Some((_, len)) => {
                len > HEADER_BYTES as u64 && len + buf.len() as u64 > self.segment_bytes
            }
        };
        if roll {
            self.roll(st, first)?;
        } else if st.needs_truncate
            && let Some((a, len)) = head
        {
            st.books.segments[&a].file.set_len(len)?;
            st.needs_truncate = false;
        }
        let active = st.books.active.expect("a head segment exists after roll");
        let seg = &st.books.segments[&active];
        let offset = seg.len;
        if let Err(e) = seg.file.write_all_at(buf, offset) {
            // Leave no partial record behind: the next append writes at `offset` anyway,
            // but a shorter one would leave garbage after it.
            if seg.file.set_len(offset).is_err() {
                st.needs_truncate = true;
            }
            return Err(e);
        }
        Ok(offset)
    }

    /// Seals the head segment and starts one whose first lsn is `first`.
    fn roll(&self, st: &mut State, first: u64) -> std::io::Result<()> {
        let path = self.log_dir.join(segment_name(first));
        let file = match self.storage.create_file(&path) {
            Ok(f) => f,
            // Left by an earlier roll whose header write failed; nothing can be in it.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.storage.open_file(&path)?
            }
            Err(e) => return Err(e),
        };
        let header = format::encode_header(Lsn::new(first));
        if let Err(e) = file
            .write_all_at(&header, 0)
            .and_then(|()| file.set_len(header.len() as u64))
        {
            let _ = self.storage.remove_file(&path);
            return Err(e);
        }
        if st.needs_truncate
            && let Some(old) = st.books.active.and_then(|a| st.books.segments.get(&a))
        {
            // Best effort: a tail left after the sealed segment's end is set aside as
            // damage at the next open; nothing acknowledged is in it.
            let _ = old.file.set_len(old.len);
        }
        st.needs_truncate = false;
        if self.policy != SyncPolicy::None {
            st.unsynced.push(Unsynced {
                seg: first,
                file: Arc::clone(&file),
                offset: 0,
                bytes: header.to_vec(),
                created: true,
                rewrite: false,
            });
            st.unsynced_bytes += header.len();
        }
        st.books.segments.insert(
            first,
            Segment {
                path,
                file,
                len: HEADER_BYTES as u64,
                live: 0,
                live_bytes: 0,
                tomb_refs: Vec::new(),
                deleting: false,
            },
        );
        let old = st.books.active.replace(first);
        if let Some(old) = old
            && st.books.is_deletable(old)
        {
            st.schedule_delete(old, 0);
        }
        Ok(())
    }

    /// Updates the books after a successful write; returns whether to wake the sync thread.
    fn commit_write(&self, st: &mut State, buf: &[u8], w: &Written) -> bool {
        let Written {
            offset,
            first,
            next,
            tomb_len,
            ranges,
            user_lsn,
        } = *w;
        let active = st.books.active.expect("written to the head segment");
        if let Some(seg) = st.books.segments.get_mut(&active) {
            seg.len = offset + buf.len() as u64;
        }
        if tomb_len > 0 {
            let ranges: Vec<(u64, u64)> = st.pending_ranges.drain(..ranges).collect();
            // Ranges left for the next release record may point into any of these segments:
            // a superset of targets only keeps a release record a little longer.
            let from = if st.pending_ranges.is_empty() {
                std::mem::take(&mut st.pending_segs)
            } else {
                st.pending_segs.clone()
            };
            let len = u32::try_from(tomb_len).expect("release records are small");
            st.books.add_tomb(first, active, len, ranges, &from);
        }
        if let Some(lsn) = user_lsn {
            let len = u32::try_from(buf.len() - tomb_len).expect("bounded by max_record_bytes");
            let loc = Loc {
                seg: active,
                offset: offset + tomb_len as u64,
                len,
            };
            st.books.add_record(lsn, loc);
        }
        st.next_lsn = next;
        // Release: pairs with the Acquire loads in `Log::when_durable`.
        self.written.store(next - 1, Ordering::Release);
        Counters::add(&self.counters.records_written, next - first);
        Counters::add(&self.counters.bytes_written, buf.len() as u64);
        if self.policy == SyncPolicy::None {
            return false;
        }
        match st.unsynced.last_mut() {
            Some(u) if u.seg == active => u.bytes.extend_from_slice(buf),
            _ => {
                let file = Arc::clone(&st.books.segments[&active].file);
                st.unsynced.push(Unsynced {
                    seg: active,
                    file,
                    offset,
                    bytes: buf.to_vec(),
                    created: false,
                    rewrite: false,
                });
            }
        }
        st.unsynced_bytes += buf.len();
        st.unsynced_bytes >= self.max_unsynced_bytes && st.sync_failure.is_none()
    }

    /// See [`crate::Log::release`]; returns (released, wake the sync thread).
    pub(crate) fn release(&self, lsn: u64) -> (bool, bool) {
        let mut st = self.state.lock();
        let Some(seg) = st.books.release(lsn) else {
            return (false, false);
        };
        st.note_released(lsn, seg);
        let mut wake = false;
        if st.books.is_deletable(seg) {
            // Nothing needs to be durable first: its records are dead, and its own release
            // records guard nothing (else it would not be deletable).
            st.schedule_delete(seg, 0);
            wake = true;
        }
        if st.pending_ranges.len() >= MAX_PENDING_RANGES {
            // On error the ranges stay pending and go out with the next append.
            if let Ok((_, w)) = self.write(&mut st, None) {
                wake |= w;
            }
        }
        (true, wake)
    }

    /// See [`crate::Log::compact`].
    pub(crate) fn compact(&self, max_live_ratio: f64) -> Result<Vec<(Lsn, Lsn)>, CompactError> {
        let mut st = self.state.lock();
        let candidates: Vec<(u64, u64)> = {
            let segs = &st.books.segments;
            let ends = segs.keys().skip(1).copied().chain([u64::MAX]);
            segs.iter()
                .zip(ends)
                .filter(|((k, s), _)| {
                    let body = s.len.saturating_sub(HEADER_BYTES as u64) as f64;
                    st.books.active != Some(**k)
                        && !s.deleting
                        && s.live > 0
                        && (s.live_bytes as f64) <= max_live_ratio * body
                })
                .map(|((k, _), end)| (*k, end))
                .collect()
        };
        let mut copied = Vec::new();
        let fail = |copied, cause| CompactError { copied, cause };
        for (seg, end) in candidates {
            let live: Vec<(u64, Loc)> = st
                .books
                .index
                .range(seg..end)
                .filter(|(_, l)| l.seg == seg)
                .map(|(k, l)| (*k, *l))
                .collect();
            let file = Arc::clone(&st.books.segments[&seg].file);
            for (old, loc) in live {
                let r = match read_at(&*file, Lsn::new(old), loc) {
                    Ok(r) => r,
                    Err(e) => return Err(fail(copied, CompactCause::Read(e))),
                };
                let new = match self.write(&mut st, Some((r.kind, &r.payload))) {
                    Ok((lsn, _)) => lsn.expect("a user record was written"),
                    Err(e) => return Err(fail(copied, CompactCause::Append(e))),
                };
                st.books.release(old);
                st.note_released(old, seg);
                copied.push((Lsn::new(old), new));
            }
            let tombs: Vec<u64> = st
                .books
                .tombs
                .range(seg..end)
                .filter(|(_, t)| t.seg == seg)
                .map(|(k, _)| *k)
                .collect();
            for lsn in tombs {
                if let Some(t) = st.books.remove_tomb(lsn) {
                    st.pending_ranges.extend(t.ranges);
                    st.pending_segs.extend(t.targets);
                }
            }
            if st.books.is_deletable(seg) {
                let after = st.next_lsn;
                st.schedule_delete(seg, after);
            }
        }
        // Write the releases (and carried-over ranges) now, so the segments can go.
        while !st.pending_ranges.is_empty() {
            if let Err(e) = self.write(&mut st, None) {
                return Err(fail(copied, CompactCause::Append(e)));
            }
        }
        // The deletions wait for the copies and releases to be durable.
        let after = st.next_lsn - 1;
        for d in &mut st.to_delete {
            d.1 = d.1.max(after);
        }
        Ok(copied)
    }
}

/// What one write put in the head segment.
#[derive(Debug, Clone, Copy)]
struct Written {
    offset: u64,
    first: u64,
    next: u64,
    /// Bytes of the release record at the front (0: none).
    tomb_len: usize,
    /// Pending ranges it holds.
    ranges: usize,
    user_lsn: Option<u64>,
}

/// Reads and verifies the record `lsn` at `loc`.
pub(crate) fn read_at(file: &dyn StorageFile, lsn: Lsn, loc: Loc) -> Result<Record, ReadError> {
    let mut buf = vec![0; loc.len as usize];
    file.read_exact_at(&mut buf, loc.offset)
        .map_err(|source| ReadError::Io { lsn, source })?;
    match format::decode_record(&buf, usize::MAX) {
        Some(r) if r.lsn == lsn => Ok(Record {
            lsn,
            kind: r.kind,
            payload: r.payload.to_vec(),
        }),
        _ => Err(ReadError::Corrupt { lsn }),
    }
}
