//! The topic index: maps topic filters to subscriber handles and finds the matches of a publish.
//!
//! Not here: sessions, queues, locks. The router owns the index, wraps it in its `RwLock` and
//! decides what a handle means; handles are small `Copy` values (session slots).
//!
//! Layout, chosen for the publish hot path (no allocation while matching):
//! - [`exact`]: filters without wildcards, the common case, in a hash map keyed by the filter
//!   and looked up with the topic string itself;
//! - [`trie`]: filters with `+` / `#`, one node per level, skipped when it holds none;
//!   [`level`] lays out each node's children for few cache misses;
//! - [`shared`]: `$share/{group}/{filter}` groups, indexed by their filters the same way and
//!   skipped when there are none;
//! - [`hash`]: the seeded FxHash-style hasher of all these maps.

mod exact;
mod hash;
mod level;
mod shared;
mod trie;

#[cfg(test)]
mod tests;

use std::hash::Hash;

use crate::types::qos::SubOptions;
use crate::types::topic::{TopicFilter, TopicName};

pub(crate) use shared::SharedGroup;

/// Subscriptions keyed by topic filter. `H` is a small `Copy` handle (a session slot).
#[derive(Debug)]
pub(crate) struct TopicIndex<H> {
    direct: Filters<H>,
    shared: shared::Groups<H>,
    /// Subscriptions, shared members included.
    len: usize,
}

/// One match of a publish.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Match<'a, H> {
    /// A non-shared subscription.
    Direct(H, SubOptions),
    /// A shared group `$share/{group}/{filter}` whose filter matches; the router picks one member.
    Shared(&'a SharedGroup<H>),
}

impl<H> Default for TopicIndex<H> {
    fn default() -> Self {
        Self {
            direct: Filters::default(),
            shared: shared::Groups::default(),
            len: 0,
        }
    }
}

impl<H: Copy + Eq + Hash> TopicIndex<H> {
    /// An empty index.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `handle`'s subscription to `filter`; returns the options it replaced.
    ///
    /// A shared filter joins `handle` to its group, keyed by (group, filter).
    pub(crate) fn insert(
        &mut self,
        filter: &TopicFilter,
        handle: H,
        opts: SubOptions,
    ) -> Option<SubOptions> {
        let replaced = if filter.is_shared() {
            self.shared.insert(filter, handle, opts)
        } else {
            self.direct
                .insert(filter.filter(), filter.has_wildcards(), handle, opts)
        };
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// Removes `handle`'s subscription to `filter`; returns its options, `None` if there was none.
    ///
    /// Entries, trie nodes and groups left empty are removed, so their memory is returned.
    pub(crate) fn remove(&mut self, filter: &TopicFilter, handle: H) -> Option<SubOptions> {
        let removed = if filter.is_shared() {
            self.shared.remove(filter, handle)
        } else {
            self.direct
                .remove(filter.filter(), filter.has_wildcards(), handle)
        }?;
        self.len -= 1;
        Some(removed)
    }

    /// The group of the shared `filter`, if it has members.
    pub(crate) fn shared_group(&self, filter: &TopicFilter) -> Option<&SharedGroup<H>> {
        self.shared.get(filter)
    }

    /// Calls `f` for every matching subscription, each shared group once, in no particular
    /// order. Filters that start with a wildcard never match `$` topics [MQTT-4.7.2-1].
    pub(crate) fn for_each_match<'a>(&'a self, topic: &TopicName, mut f: impl FnMut(Match<'a, H>)) {
        let topic = topic.as_str();
        self.direct
            .for_each_match(topic, &mut |handle, opts| f(Match::Direct(handle, opts)));
        if !self.shared.is_empty() {
            self.shared
                .for_each_match(topic, &mut |group| f(Match::Shared(group)));
        }
    }

    /// Number of subscriptions (shared members included).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    /// Whether there are no subscriptions.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Filters (the matched part only) mapped to handles: exact ones in a table, wildcard ones in
/// a trie. Serves both direct subscriptions and the filters of shared groups.
#[derive(Debug)]
pub(crate) struct Filters<H> {
    exact: exact::Table<H>,
    wildcard: trie::Node<H>,
    /// Subscriptions in `wildcard`: while 0 a match skips the trie.
    wildcard_len: usize,
}

impl<H> Default for Filters<H> {
    fn default() -> Self {
        Self {
            exact: exact::Table::default(),
            wildcard: trie::Node::default(),
            wildcard_len: 0,
        }
    }
}

impl<H: Copy + Eq + Hash> Filters<H> {
    /// Adds or replaces `handle`'s subscription to `filter` (which has wildcards or not).
    pub(crate) fn insert(
        &mut self,
        filter: &str,
        wildcards: bool,
        handle: H,
        opts: SubOptions,
    ) -> Option<SubOptions> {
        if !wildcards {
            return self.exact.insert(filter, handle, opts);
        }
        let replaced = self.wildcard.insert(filter, handle, opts);
        if replaced.is_none() {
            self.wildcard_len += 1;
        }
        replaced
    }

    /// Removes `handle`'s subscription to `filter`; returns its options.
    pub(crate) fn remove(
        &mut self,
        filter: &str,
        wildcards: bool,
        handle: H,
    ) -> Option<SubOptions> {
        if !wildcards {
            return self.exact.remove(filter, handle);
        }
        let removed = self.wildcard.remove(filter, handle)?;
        self.wildcard_len -= 1;
        Some(removed)
    }

    /// Calls `f` for every subscription whose filter matches `topic`.
    pub(crate) fn for_each_match(&self, topic: &str, f: &mut impl FnMut(H, SubOptions)) {
        // An exact filter equals its topic, and cannot start with a wildcard [MQTT-4.7.2-1].
        for &(handle, opts) in self.exact.get(topic) {
            f(handle, opts);
        }
        if self.wildcard_len > 0 {
            self.wildcard.for_each_match(topic, f);
        }
    }
}
