//! Shared subscriptions: `$share/{group}/{filter}` groups (MQTT 5.0 §4.8.2).
//!
//! A group is keyed by its whole filter string, so `(group, filter)` pairs are distinct groups.
//! Group filters are indexed like direct subscriptions, in a [`Filters`] of group ids, so a
//! publish finds its groups in one lookup plus a trie walk however many groups exist; with no
//! groups at all the index skips this part entirely. Choosing a member is the router's job: a
//! group only offers a round-robin cursor.

use std::hash::Hash;

use super::Filters;
use super::hash::{FxHashMap, shrink_if_sparse};
use crate::types::qos::SubOptions;
use crate::types::topic::TopicFilter;

/// A slot in [`Groups::slots`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct GroupId(usize);

/// One shared subscription group and its members.
#[derive(Debug)]
pub(crate) struct SharedGroup<H> {
    filter: TopicFilter,
    members: Vec<(H, SubOptions)>,
    cursor: cursor::Cursor,
}

impl<H> SharedGroup<H> {
    /// The share name, `g` in `$share/g/a/+`.
    #[cfg(test)]
    pub(crate) fn name(&self) -> &str {
        self.filter
            .share_group()
            .expect("groups are only made from shared filters")
    }

    /// The shared filter, `$share/g/a/+`.
    pub(crate) fn filter(&self) -> &TopicFilter {
        &self.filter
    }

    /// The members, in the order they joined.
    pub(crate) fn members(&self) -> &[(H, SubOptions)] {
        &self.members
    }

    /// Round-robin start position: returns the cursor and advances it (wrapping).
    pub(crate) fn next_start(&self) -> usize {
        self.cursor.next()
    }
}

mod cursor {
    use crate::sync::{AtomicUsize, Ordering};

    /// A shared group's round-robin cursor.
    #[derive(Debug)]
    pub(crate) struct Cursor(AtomicUsize);

    impl Cursor {
        pub(crate) fn new() -> Self {
            Self(AtomicUsize::new(0))
        }

        /// Returns the cursor and advances it, wrapping.
        pub(crate) fn next(&self) -> usize {
            // Relaxed: the cursor only spreads load; it publishes no other memory, so it pairs
            // with nothing, and two publishers reading the same value merely pick the same start.
            self.0.fetch_add(1, Ordering::Relaxed)
        }
    }
}

impl<H: Copy + Eq> SharedGroup<H> {
    fn join(&mut self, handle: H, opts: SubOptions) -> Option<SubOptions> {
        match self.members.iter_mut().find(|(h, _)| *h == handle) {
            Some((_, old)) => Some(std::mem::replace(old, opts)),
            None => {
                self.members.push((handle, opts));
                None
            }
        }
    }

    fn leave(&mut self, handle: H) -> Option<SubOptions> {
        let i = self.members.iter().position(|(h, _)| *h == handle)?;
        // `remove`, not `swap_remove`: members stay in join order.
        Some(self.members.remove(i).1)
    }
}

/// Every shared group, and the index of their filters.
#[derive(Debug)]
pub(crate) struct Groups<H> {
    filters: Filters<GroupId>,
    ids: FxHashMap<Box<str>, GroupId>,
    slots: Vec<Option<SharedGroup<H>>>,
    free: Vec<GroupId>,
}

impl<H> Default for Groups<H> {
    fn default() -> Self {
        Self {
            filters: Filters::default(),
            ids: FxHashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<H: Copy + Eq + Hash> Groups<H> {
    /// Adds `handle` to the group of the shared `filter`, or replaces its options there.
    pub(crate) fn insert(
        &mut self,
        filter: &TopicFilter,
        handle: H,
        opts: SubOptions,
    ) -> Option<SubOptions> {
        let id = match self.ids.get(filter.as_str()) {
            Some(&id) => id,
            None => self.create(filter),
        };
        self.group_mut(id)?.join(handle, opts)
    }

    /// Removes `handle` from the group of `filter`, dropping the group when it empties.
    pub(crate) fn remove(&mut self, filter: &TopicFilter, handle: H) -> Option<SubOptions> {
        let id = *self.ids.get(filter.as_str())?;
        let group = self.group_mut(id)?;
        let removed = group.leave(handle)?;
        if group.members.is_empty() {
            self.destroy(filter, id);
        }
        Some(removed)
    }

    /// Calls `f` once for every group whose filter matches `topic`.
    pub(crate) fn for_each_match<'a>(
        &'a self,
        topic: &str,
        f: &mut impl FnMut(&'a SharedGroup<H>),
    ) {
        self.filters.for_each_match(topic, &mut |id, _| {
            if let Some(Some(group)) = self.slots.get(id.0) {
                f(group);
            }
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The group of the shared `filter`, if it has members.
    pub(crate) fn get(&self, filter: &TopicFilter) -> Option<&SharedGroup<H>> {
        let id = *self.ids.get(filter.as_str())?;
        self.slots.get(id.0)?.as_ref()
    }

    /// Whether nothing is left of any group: ids, slots and filter index.
    #[cfg(test)]
    pub(crate) fn is_pruned(&self) -> bool {
        let filters = &self.filters;
        let filters_empty = filters.wildcard_len == 0 && filters.wildcard.is_empty();
        self.ids.is_empty() && self.slots.is_empty() && self.free.is_empty() && filters_empty
    }

    fn group_mut(&mut self, id: GroupId) -> Option<&mut SharedGroup<H>> {
        self.slots.get_mut(id.0).and_then(Option::as_mut)
    }

    fn create(&mut self, filter: &TopicFilter) -> GroupId {
        let group = SharedGroup {
            filter: filter.clone(),
            members: Vec::new(),
            cursor: cursor::Cursor::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id.0] = Some(group);
                id
            }
            None => {
                self.slots.push(Some(group));
                GroupId(self.slots.len() - 1)
            }
        };
        self.ids.insert(filter.as_str().into(), id);
        // Group ids carry no options of their own; the members do.
        let unused = SubOptions::default();
        self.filters
            .insert(filter.filter(), filter.has_wildcards(), id, unused);
        id
    }

    fn destroy(&mut self, filter: &TopicFilter, id: GroupId) {
        self.ids.remove(filter.as_str());
        shrink_if_sparse(&mut self.ids);
        self.filters
            .remove(filter.filter(), filter.has_wildcards(), id);
        if self.ids.is_empty() {
            // Groups are few; reclaiming the slots once none is left is enough.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.slots[id.0] = None;
            self.free.push(id);
        }
    }
}
