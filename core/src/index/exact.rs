//! Filters without wildcards, the common case: one hash-map lookup per publish.
//!
//! Also [`Subscribers`], the list of subscriptions to one filter, which the trie's nodes use too.

use std::hash::Hash;

use super::hash::{FxHashMap, shrink_if_sparse};
use crate::types::qos::SubOptions;

/// Lists longer than this get a handle → position map, so that a filter with thousands of
/// subscribers (a broadcast topic) still inserts and removes in O(1).
const POSITIONS_ABOVE: usize = 32;

/// The subscriptions to one filter, at most one per handle, in no particular order.
///
/// One subscriber is stored inline, since most filters have exactly one.
#[derive(Debug, Default)]
pub(crate) enum Subscribers<H> {
    #[default]
    Empty,
    One((H, SubOptions)),
    Many(Box<Many<H>>),
}

#[derive(Debug)]
pub(crate) struct Many<H> {
    list: Vec<(H, SubOptions)>,
    /// Where each handle sits in `list`; filled exactly when `list` is long (see
    /// [`POSITIONS_ABOVE`]), so it is non-empty exactly when in use.
    positions: FxHashMap<H, usize>,
}

impl<H> Subscribers<H> {
    /// The subscriptions, to iterate on the match path.
    pub(crate) fn as_slice(&self) -> &[(H, SubOptions)] {
        match self {
            Self::Empty => &[],
            Self::One(entry) => std::slice::from_ref(entry),
            Self::Many(many) => &many.list,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
}

impl<H: Copy + Eq + Hash> Subscribers<H> {
    /// Adds or replaces `handle`'s options; returns the options replaced.
    pub(crate) fn insert(&mut self, handle: H, opts: SubOptions) -> Option<SubOptions> {
        match self {
            Self::Empty => *self = Self::One((handle, opts)),
            Self::One((h, old)) if *h == handle => return Some(std::mem::replace(old, opts)),
            Self::One(first) => {
                let list = vec![*first, (handle, opts)];
                let positions = FxHashMap::default();
                *self = Self::Many(Box::new(Many { list, positions }));
            }
            Self::Many(many) => return many.insert(handle, opts),
        }
        None
    }

    /// Removes `handle`'s subscription; returns its options, `None` if it had none.
    pub(crate) fn remove(&mut self, handle: H) -> Option<SubOptions> {
        match self {
            Self::One((h, opts)) if *h == handle => {
                let opts = *opts;
                *self = Self::Empty;
                Some(opts)
            }
            Self::Empty | Self::One(_) => None,
            Self::Many(many) => {
                let removed = many.remove(handle)?;
                if let [last] = many.list.as_slice() {
                    *self = Self::One(*last);
                }
                Some(removed)
            }
        }
    }
}

impl<H: Copy + Eq + Hash> Many<H> {
    fn position(&self, handle: H) -> Option<usize> {
        if self.positions.is_empty() {
            self.list.iter().position(|&(h, _)| h == handle)
        } else {
            self.positions.get(&handle).copied()
        }
    }

    fn insert(&mut self, handle: H, opts: SubOptions) -> Option<SubOptions> {
        if let Some(i) = self.position(handle) {
            return self
                .list
                .get_mut(i)
                .map(|(_, old)| std::mem::replace(old, opts));
        }
        self.list.push((handle, opts));
        if !self.positions.is_empty() {
            self.positions.insert(handle, self.list.len() - 1);
        } else if self.list.len() > POSITIONS_ABOVE {
            let entries = self.list.iter().enumerate().map(|(i, &(h, _))| (h, i));
            self.positions.extend(entries);
        }
        None
    }

    fn remove(&mut self, handle: H) -> Option<SubOptions> {
        let i = self.position(handle)?;
        let (_, opts) = self.list.swap_remove(i);
        if !self.positions.is_empty() {
            self.positions.remove(&handle);
            if let Some(&(moved, _)) = self.list.get(i) {
                self.positions.insert(moved, i);
            }
            // Hysteresis: a list hovering around the threshold does not rebuild the map each time.
            if self.list.len() <= POSITIONS_ABOVE / 2 {
                self.positions = FxHashMap::default();
            } else {
                shrink_if_sparse(&mut self.positions);
            }
        }
        if self.list.len() * 4 < self.list.capacity() {
            self.list.shrink_to(self.list.len() * 2);
        }
        Some(opts)
    }
}

/// Exact filters, keyed by the filter string; looked up with the topic itself.
#[derive(Debug)]
pub(crate) struct Table<H> {
    map: FxHashMap<Box<str>, Subscribers<H>>,
}

// Not derived: that would demand `H: Default`.
impl<H> Default for Table<H> {
    fn default() -> Self {
        Self {
            map: FxHashMap::default(),
        }
    }
}

impl<H: Copy + Eq + Hash> Table<H> {
    /// Adds or replaces `handle`'s subscription to `filter`; returns the options replaced.
    pub(crate) fn insert(
        &mut self,
        filter: &str,
        handle: H,
        opts: SubOptions,
    ) -> Option<SubOptions> {
        if let Some(subscribers) = self.map.get_mut(filter) {
            return subscribers.insert(handle, opts);
        }
        self.map
            .insert(filter.into(), Subscribers::One((handle, opts)));
        None
    }

    /// Removes `handle`'s subscription to `filter`, and the entry once it has no subscribers.
    pub(crate) fn remove(&mut self, filter: &str, handle: H) -> Option<SubOptions> {
        let subscribers = self.map.get_mut(filter)?;
        let removed = subscribers.remove(handle)?;
        if subscribers.is_empty() {
            self.map.remove(filter);
            shrink_if_sparse(&mut self.map);
        }
        Some(removed)
    }

    /// The subscriptions to the filter equal to `topic`.
    pub(crate) fn get(&self, topic: &str) -> &[(H, SubOptions)] {
        self.map.get(topic).map_or(&[], Subscribers::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::qos::QoS;

    fn opts(id: u32) -> SubOptions {
        SubOptions::new(QoS::AtLeastOnce).subscription_id(Some(id))
    }

    fn handles(subscribers: &Subscribers<u32>) -> Vec<u32> {
        let mut hs: Vec<u32> = subscribers.as_slice().iter().map(|&(h, _)| h).collect();
        hs.sort_unstable();
        hs
    }

    /// A list keeps one entry per handle through growth past the position-map threshold and back.
    #[test]
    fn subscribers_stay_consistent_across_the_position_map_threshold() {
        let mut subs = Subscribers::default();
        let n = 3 * POSITIONS_ABOVE as u32;
        for h in 0..n {
            assert_eq!(subs.insert(h, opts(h)), None);
        }
        assert_eq!(subs.insert(7, opts(100)), Some(opts(7)));
        assert_eq!(handles(&subs), (0..n).collect::<Vec<_>>());
        for h in (0..n).filter(|h| h % 3 != 0) {
            assert_eq!(
                subs.remove(h),
                Some(if h == 7 { opts(100) } else { opts(h) })
            );
            assert_eq!(subs.remove(h), None);
        }
        assert_eq!(handles(&subs), (0..n).step_by(3).collect::<Vec<_>>());
        for h in (0..n).step_by(3) {
            assert_eq!(subs.remove(h), Some(opts(h)));
        }
        assert!(subs.is_empty());
    }

    /// Two subscribers shrink back to the inline form when one leaves.
    #[test]
    fn subscribers_return_to_inline_form() {
        let mut subs = Subscribers::default();
        subs.insert(1, opts(1));
        subs.insert(2, opts(2));
        assert!(matches!(subs, Subscribers::Many(_)));
        assert_eq!(subs.remove(1), Some(opts(1)));
        assert!(matches!(subs, Subscribers::One((2, _))));
    }

    /// An entry is dropped with its last subscriber.
    #[test]
    fn table_prunes_empty_entries() {
        let mut table = Table::default();
        assert_eq!(table.insert("a/b", 1, opts(1)), None);
        assert_eq!(table.insert("a/b", 2, opts(2)), None);
        assert_eq!(table.get("a/b").len(), 2);
        assert_eq!(table.remove("a/b", 3), None);
        assert_eq!(table.remove("a/b", 1), Some(opts(1)));
        assert_eq!(table.remove("a/b", 2), Some(opts(2)));
        assert!(table.map.is_empty());
        assert!(table.get("a/b").is_empty());
    }
}
