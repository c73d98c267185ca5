//! The write path: appending records to the head segment, rolling segments, releases and
//! compaction. All of it runs under `Inner::state`.

use crate::error::{AppendError, CompactCause, CompactError, ReadError};
use crate::format::{self, HEADER_BYTES, KIND_RELEASE, RECORD_HEADER_BYTES};
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

    /// Adds pending releases and then `user` to the write buffer (rolling the head segment
    /// first if they do not fit in it), and writes the buffer once it holds at least
    /// `write_buffer_bytes`. Returns the user record's lsn and whether the sync thread should
    /// be woken. On error nothing was added and no lsn was taken; records buffered before
    /// stay buffered.
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
        let first = st.next_lsn;
        let ranges = st.pending_ranges.len().min(MAX_PENDING_RANGES);
        let tomb = (ranges > 0).then(|| format::encode_ranges(&st.pending_ranges[..ranges]));
        let len = tomb.as_ref().map_or(0, |p| RECORD_HEADER_BYTES + p.len())
            + user.map_or(0, |(_, p)| RECORD_HEADER_BYTES + p.len());
        let mut wake = self.make_room(st, len as u64, first)?;
        let active = st
            .books
            .active
            .expect("a head segment exists after make_room");
        let before = st.wbuf.len();
        let offset = st.books.segments[&active].len + before as u64;
        let mut lsn = first;
        if let Some(payload) = &tomb {
            format::encode_record(&mut st.wbuf, Lsn::new(lsn), KIND_RELEASE, payload);
            lsn += 1;
        }
        let tomb_len = st.wbuf.len() - before;
        let user_lsn = match user {
            Some((kind, payload)) => {
                format::encode_record(&mut st.wbuf, Lsn::new(lsn), kind, payload);
                lsn += 1;
                Some(lsn - 1)
            }
            None => None,
        };
        let end = st.wbuf.len();
        // After a failed write, write through until one succeeds: while the disk is full,
        // each append is refused by itself instead of failing a later flush for all.
        if end >= self.write_buffer_bytes || st.write_failed {
            match self.write_out(st, lsn - 1) {
                Ok(w) => wake |= w,
                Err(e) => {
                    st.wbuf.truncate(before);
                    return Err(AppendError::Io(e));
                }
            }
        }
        let w = Written {
            offset,
            len: end - before,
            first,
            next: lsn,
            tomb_len,
            ranges,
            user_lsn,
        };
        self.note_added(st, &w);
        Ok((user_lsn.map(Lsn::new), wake))
    }

    /// Makes room for `len` more bytes in the head segment: if they do not fit, writes the
    /// buffer and rolls to a new segment whose first lsn is `first`. Returns whether the
    /// sync thread should be woken.
    fn make_room(&self, st: &mut State, len: u64, first: u64) -> Result<bool, AppendError> {
        let head = st
            .books
            .active
            .and_then(|a| st.books.segments.get(&a))
            .map(|s| s.len + st.wbuf.len() as u64);
        let roll = match head {
            None => true,
            Some(end) => end > HEADER_BYTES as u64 && end + len > self.segment_bytes,
        };
        if !roll {
            return Ok(false);
        }
        let wake = self.write_out(st, first - 1).map_err(AppendError::Io)?;
        self.roll(st, first).map_err(AppendError::Io)?;
        Ok(wake)
    }

    /// Writes the whole write buffer (see [`Inner::write_out`]).
    pub(crate) fn write_buffer(&self, st: &mut State) -> std::io::Result<bool> {
        self.write_out(st, st.next_lsn - 1)
    }

    /// Writes the write buffer, whose last record is `last`, at the end of the head segment
    /// in one write. Returns whether the sync thread should be woken (too many unsynced
    /// bytes). On error the segment is cut back to its length and the buffer kept, to be
    /// written again by the next flush: nothing in it was acknowledged, and nothing after it
    /// is written before it.
    fn write_out(&self, st: &mut State, last: u64) -> std::io::Result<bool> {
        if st.wbuf.is_empty() {
            return Ok(false);
        }
        let active = st
            .books
            .active
            .expect("buffered records belong to the head segment");
        let seg = &st.books.segments[&active];
        let offset = seg.len;
        if st.needs_truncate {
            if let Err(e) = seg.file.set_len(offset) {
                st.write_failed = true;
                return Err(e);
            }
            st.needs_truncate = false;
        }
        if let Err(e) = seg.file.write_all_at(&st.wbuf, offset) {
            // Leave no partial record behind: the retry writes at `offset` anyway, but a
            // shorter write after it would leave garbage behind it.
            if seg.file.set_len(offset).is_err() {
                st.needs_truncate = true;
            }
            st.write_failed = true;
            return Err(e);
        }
        st.write_failed = false;
        let n = st.wbuf.len();
        if let Some(seg) = st.books.segments.get_mut(&active) {
            seg.len = offset + n as u64;
        }
        let before = self.written.load(Ordering::Relaxed);
        // Release: pairs with the Acquire loads in `Log::when_durable`.
        self.written.store(last, Ordering::Release);
        Counters::add(&self.counters.records_written, last - before);
        Counters::add(&self.counters.bytes_written, n as u64);
        if self.policy == SyncPolicy::None {
            st.wbuf.clear();
            return Ok(false);
        }
        match st.unsynced.last_mut() {
            Some(u) if u.seg == active => u.bytes.extend_from_slice(&st.wbuf),
            _ => {
                let file = Arc::clone(&st.books.segments[&active].file);
                st.unsynced.push(Unsynced {
                    seg: active,
                    file,
                    offset,
                    bytes: st.wbuf.clone(),
                    created: false,
                    rewrite: false,
                });
            }
        }
        st.unsynced_bytes += n;
        st.wbuf.clear();
        Ok(st.unsynced_bytes >= self.max_unsynced_bytes && st.sync_failure.is_none())
    }

    /// Seals the head segment and starts one whose first lsn is `first`.
    fn roll(&self, st: &mut State, first: u64) -> std::io::Result<()> {
        debug_assert!(st.wbuf.is_empty(), "the buffer is written before a roll");
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

    /// Updates the books for records just added to the write buffer (or written).
    fn note_added(&self, st: &mut State, w: &Written) {
        let Written {
            offset,
            len,
            first,
            next,
            tomb_len,
            ranges,
            user_lsn,
        } = *w;
        let active = st.books.active.expect("written to the head segment");
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
            let len = u32::try_from(len - tomb_len).expect("bounded by max_record_bytes");
            let loc = Loc {
                seg: active,
                offset: offset + tomb_len as u64,
                len,
            };
            st.books.add_record(lsn, loc);
        }
        st.next_lsn = next;
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
        let fail = |copied, cause| CompactError { copied, cause };
        // What is buffered goes first, so the copies follow everything appended before.
        if let Err(e) = self.write_buffer(&mut st) {
            return Err(fail(Vec::new(), CompactCause::Append(AppendError::Io(e))));
        }
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
        for (seg, end) in candidates {
            let live: Vec<(u64, Loc)> = st
                .books
                .index
                .range(seg, end.saturating_sub(1))
                .into_iter()
                .filter(|(_, l)| l.seg == seg)
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
        // On error the copies stay buffered (their old lsns are released): the next flush
        // writes them, and the deletions wait until they are durable.
        if let Err(e) = self.write_buffer(&mut st) {
            return Err(fail(copied, CompactCause::Append(AppendError::Io(e))));
        }
        // The deletions wait for the copies and releases to be durable.
        let after = st.next_lsn - 1;
        for d in &mut st.to_delete {
            d.1 = d.1.max(after);
        }
        Ok(copied)
    }
}

/// What one [`Inner::write`] added to the head segment (buffered or written).
#[derive(Debug, Clone, Copy)]
struct Written {
    /// Where its first byte goes in the head segment.
    offset: u64,
    /// Its bytes.
    len: usize,
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
    decode_at(&buf, lsn)
}

/// Verifies and decodes the encoded record `lsn` (from disk or the write buffer).
pub(crate) fn decode_at(buf: &[u8], lsn: Lsn) -> Result<Record, ReadError> {
    match format::decode_record(buf, usize::MAX) {
        Some(r) if r.lsn == lsn => Ok(Record {
            lsn,
            kind: r.kind,
            payload: r.payload.to_vec(),
        }),
        _ => Err(ReadError::Corrupt { lsn }),
    }
}
