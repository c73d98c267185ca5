//! The index of live user records: lsn → [`Loc`]. Pure bookkeeping, no I/O.
//!
//! Lsns only grow and most records die roughly in the order they were written (a queue), so
//! the index is a window of slots, one per lsn from `base` on, 16 bytes each, with the dead
//! ones popped off the front. A record that outlives the records around it (a session's, a
//! retained message) would hold the window open behind it: once the window is more than
//! [`SPARSE`] times the live records in it (and past [`MIN_WINDOW`] slots), the live records
//! at its front move to `old`, an ordered map, so the window stays bounded by the live
//! records. Compaction moves such records to the head anyway.

use std::collections::{BTreeMap, VecDeque};

/// Where a live user record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    /// The first lsn of its segment (the segment's id).
    pub(crate) seg: u64,
    pub(crate) offset: u64,
    /// Encoded length, header included.
    pub(crate) len: u32,
}

/// A window slot: a [`Loc`] with its segment as the distance back from its lsn (`len` 0:
/// no live record at this lsn). 16 bytes against the 24 of a `Loc`.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    offset: u64,
    seg_back: u32,
    len: u32,
}

impl Slot {
    /// The location of the record at `lsn` in this slot.
    fn loc(self, lsn: u64) -> Loc {
        Loc {
            seg: lsn - u64::from(self.seg_back),
            offset: self.offset,
            len: self.len,
        }
    }
}

/// The window is never shrunk below this many slots by moving records to `old` (small in
/// tests, so that they reach the sparse case).
const MIN_WINDOW: usize = if cfg!(test) { 16 } else { 1024 };
/// Past [`MIN_WINDOW`], the window holds at most this many slots per live record in it.
const SPARSE: usize = 4;

/// Live user records by lsn.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// The lsn of `window[0]`.
    base: u64,
    window: VecDeque<Slot>,
    /// Live records in `window`.
    in_window: usize,
    /// Live records outside the window (behind it, or whose slot could not hold them).
    old: BTreeMap<u64, Loc>,
}

impl Index {
    /// Live records.
    pub(crate) fn len(&self) -> usize {
        self.in_window + self.old.len()
    }

    /// Where live record `lsn` is.
    pub(crate) fn get(&self, lsn: u64) -> Option<Loc> {
        if let Some(slot) = self.slot(lsn)
            && slot.len > 0
        {
            return Some(slot.loc(lsn));
        }
        self.old.get(&lsn).copied()
    }

    fn slot(&self, lsn: u64) -> Option<&Slot> {
        let i = usize::try_from(lsn.checked_sub(self.base)?).ok()?;
        self.window.get(i)
    }

    /// Adds live record `lsn` (greater than every lsn added before, except in tests of
    /// recovery: an lsn behind the window goes to `old`).
    pub(crate) fn insert(&mut self, lsn: u64, loc: Loc) {
        let seg_back = lsn.checked_sub(loc.seg).and_then(|d| u32::try_from(d).ok());
        let (Some(seg_back), true) = (seg_back, loc.len > 0) else {
            self.old.insert(lsn, loc);
            return;
        };
        let end = self.base + self.window.len() as u64;
        if lsn >= end && lsn - end > MIN_WINDOW.max(SPARSE * self.in_window) as u64 {
            // A jump in lsns (records lost to damage at recovery): start a new window
            // rather than fill the gap with dead slots.
            self.retire_window();
        }
        if self.window.is_empty() {
            self.base = lsn;
        }
        let Some(i) = lsn
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            self.old.insert(lsn, loc);
            return;
        };
        if i >= self.window.len() {
            self.window.resize(i + 1, Slot::default());
        }
        let slot = &mut self.window[i];
        if slot.len == 0 {
            self.in_window += 1;
        }
        *slot = Slot {
            offset: loc.offset,
            seg_back,
            len: loc.len,
        };
        self.keep_dense();
    }

    /// Removes live record `lsn`; `None` if it was not live.
    pub(crate) fn remove(&mut self, lsn: u64) -> Option<Loc> {
        let found = self.get(lsn)?;
        match lsn
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.window.get_mut(i))
        {
            Some(slot) if slot.len > 0 => {
                slot.len = 0;
                self.in_window -= 1;
                self.pop_dead();
            }
            _ => {
                self.old.remove(&lsn);
            }
        }
        Some(found)
    }

    /// The live records with lsns in `first..=last`, in lsn order.
    pub(crate) fn range(&self, first: u64, last: u64) -> Vec<(u64, Loc)> {
        let mut out: Vec<(u64, Loc)> = self
            .old
            .range(first..=last)
            .map(|(k, l)| (*k, *l))
            .collect();
        let from_old = out.len();
        let end = self.base + self.window.len() as u64;
        let from = first.max(self.base);
        let to = last.min(end.saturating_sub(1));
        for lsn in (from..=to).take(self.window.len()) {
            let slot = self.window[usize::try_from(lsn - self.base).expect("in the window")];
            if slot.len > 0 {
                out.push((lsn, slot.loc(lsn)));
            }
        }
        if from_old > 0 {
            out.sort_unstable_by_key(|(k, _)| *k);
        }
        out
    }

    /// Moves every live record of the window to `old` and empties it.
    fn retire_window(&mut self) {
        for (i, slot) in self.window.iter().enumerate() {
            if slot.len > 0 {
                let lsn = self.base + i as u64;
                self.old.insert(lsn, slot.loc(lsn));
            }
        }
        self.window.clear();
        self.in_window = 0;
    }

    /// Pops dead slots off the front of the window.
    fn pop_dead(&mut self) {
        while self.window.front().is_some_and(|s| s.len == 0) {
            self.window.pop_front();
            self.base += 1;
        }
    }

    /// Moves the live records at the front of a sparse window to `old`.
    fn keep_dense(&mut self) {
        while self.window.len() > MIN_WINDOW
            && self.window.len() > SPARSE.saturating_mul(self.in_window)
        {
            let Some(front) = self.window.pop_front() else {
                break;
            };
            let lsn = self.base;
            self.base += 1;
            if front.len > 0 {
                self.in_window -= 1;
                self.old.insert(lsn, front.loc(lsn));
            }
            self.pop_dead();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(lsn: u64) -> Loc {
        Loc {
            seg: lsn - lsn % 7,
            offset: lsn * 3,
            len: 20 + (lsn % 5) as u32,
        }
    }

    #[test]
    fn a_queue_keeps_a_small_window() {
        let mut ix = Index::default();
        for lsn in 1..100_000u64 {
            ix.insert(lsn, loc(lsn));
            if lsn > 10 {
                assert_eq!(ix.remove(lsn - 10), Some(loc(lsn - 10)));
            }
        }
        assert_eq!(ix.len(), 10);
        assert_eq!(ix.window.len(), 10);
        assert!(ix.old.is_empty());
    }

    #[test]
    fn an_old_live_record_does_not_hold_the_window_open() {
        let mut ix = Index::default();
        ix.insert(1, loc(1));
        for lsn in 2..100_000u64 {
            ix.insert(lsn, loc(lsn));
            if lsn > 11 {
                ix.remove(lsn - 10);
            }
        }
        assert_eq!(ix.get(1), Some(loc(1)));
        assert!(ix.window.len() <= MIN_WINDOW + 1, "{}", ix.window.len());
        assert_eq!(ix.len(), 11);
        assert_eq!(ix.range(0, 20), vec![(1, loc(1))]);
        assert_eq!(ix.remove(1), Some(loc(1)));
        assert_eq!(ix.remove(1), None);
        assert_eq!(ix.len(), 10);
    }

    #[test]
    fn a_segment_too_far_back_for_a_slot_goes_to_old() {
        let mut ix = Index::default();
        let far = Loc {
            seg: 1,
            offset: 24,
            len: 30,
        };
        ix.insert(1 << 40, far);
        assert_eq!(ix.get(1 << 40), Some(far));
        assert_eq!(ix.range(0, u64::MAX), vec![(1 << 40, far)]);
        assert_eq!(ix.remove(1 << 40), Some(far));
        assert_eq!(ix.len(), 0);
    }

    #[test]
    fn a_jump_in_lsns_starts_a_new_window() {
        let mut ix = Index::default();
        ix.insert(5, loc(5));
        ix.insert(1 << 33, loc(1 << 33));
        assert!(ix.window.len() < 2, "{}", ix.window.len());
        assert_eq!(ix.get(5), Some(loc(5)));
        assert_eq!(
            ix.range(0, u64::MAX),
            vec![(5, loc(5)), (1 << 33, loc(1 << 33))]
        );
        assert_eq!(ix.len(), 2);
    }

    /// The index answers as a `BTreeMap` does, whatever the order of releases (a seeded
    /// xorshift drives inserts, releases and range queries).
    #[test]
    fn behaves_as_an_ordered_map() {
        for seed in 1..=20u64 {
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut rand = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut ix = Index::default();
            let mut model = BTreeMap::new();
            let mut next = 1u64;
            for _ in 0..5000 {
                match rand() % 7 {
                    0..=2 => {
                        ix.insert(next, loc(next));
                        model.insert(next, loc(next));
                        next += 1 + rand() % 2;
                        if rand() % 500 == 0 {
                            next += 5000;
                        }
                    }
                    3..=5 => {
                        // Mostly near the front, as a queue releases.
                        let back = if rand() % 4 == 0 { next } else { 40 };
                        let lsn = next.saturating_sub(rand() % back.max(1));
                        assert_eq!(ix.remove(lsn), model.remove(&lsn), "seed {seed} lsn {lsn}");
                    }
                    _ => {
                        let a = rand() % (next + 1);
                        let b = a + rand() % 300;
                        let want: Vec<_> = model.range(a..=b).map(|(k, l)| (*k, *l)).collect();
                        assert_eq!(ix.range(a, b), want, "seed {seed}");
                    }
                }
                assert_eq!(ix.len(), model.len());
            }
            for (k, l) in &model {
                assert_eq!(ix.get(*k), Some(*l));
            }
        }
    }
}
