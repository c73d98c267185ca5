//! Filters with wildcards: a trie with one node per filter level.
//!
//! A node's literal children are keyed by the level (laid out as [`super::level`] explains);
//! `+` has its own child, and a filter ending in `#` is kept in the `hash` list of the node for
//! the levels before it. A match walks the topic's levels (split on `/` without allocating),
//! following the literal child and the `+` child at each level, so its cost is bounded by the
//! nodes on those paths, never by the number of filters.
//!
//! Filters and topics may have tens of thousands of levels (65,535 bytes of `/`), so nothing
//! here recurses once per level: insert and remove loop, `Drop` flattens, and a match recurses
//! only where it branches into `+`, switching to a heap stack past [`BRANCH_DEPTH`].

use std::hash::Hash;

use super::exact::Subscribers;
use super::level::Children;
use crate::types::qos::SubOptions;

/// How many `+` branches a match follows by recursion before it continues on a heap stack.
/// Real topics never get near it, so the match path stays free of allocation.
const BRANCH_DEPTH: usize = 64;

/// One level of the trie; the root stands for zero levels.
#[derive(Debug)]
pub(crate) struct Node<H> {
    children: Children<H>,
    plus: Option<Box<Node<H>>>,
    /// Filters that end at this node.
    subs: Subscribers<H>,
    /// Filters that are this node's path followed by `/#` (or just `#` at the root).
    hash: Subscribers<H>,
}

/// A node to visit, and the topic levels still to match there (`None`: all matched).
type Frame<'n, 't, H> = (&'n Node<H>, Option<&'t str>);

#[derive(Clone, Copy)]
enum Terminal {
    /// The filter ends at the node.
    Node,
    /// The filter ends in `#` after the node.
    Hash,
}

impl<H> Default for Node<H> {
    fn default() -> Self {
        Self {
            children: Children::default(),
            plus: None,
            subs: Subscribers::Empty,
            hash: Subscribers::Empty,
        }
    }
}

impl<H> Drop for Node<H> {
    fn drop(&mut self) {
        // Dropped field by field, a chain of thousands of levels would overflow the stack.
        // Moving children out first leaves every dropped node childless.
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut node) = stack.pop() {
            node.take_children(&mut stack);
        }
    }
}

impl<H> Node<H> {
    fn take_children(&mut self, stack: &mut Vec<Node<H>>) {
        self.children.drain_into(stack);
        stack.extend(self.plus.take().map(|plus| *plus));
    }

    fn child(&self, level: &str) -> Option<&Node<H>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<H>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    fn list_mut(&mut self, terminal: Terminal) -> &mut Subscribers<H> {
        match terminal {
            Terminal::Node => &mut self.subs,
            Terminal::Hash => &mut self.hash,
        }
    }

    fn edge_count(&self) -> usize {
        self.children.len() + usize::from(self.plus.is_some())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.hash.is_empty() && self.edge_count() == 0
    }

    /// Emits the subscriptions at this node and returns the children to visit next.
    fn visit<'n, 't>(
        &'n self,
        rest: Option<&'t str>,
        f: &mut impl FnMut(H, SubOptions),
    ) -> [Option<Frame<'n, 't, H>>; 2]
    where
        H: Copy,
    {
        // `#` matches the remaining levels, and the parent level itself when none remain.
        emit(&self.hash, f);
        let Some(rest) = rest else {
            emit(&self.subs, f);
            return [None, None];
        };
        let (level, tail) = split_level(rest);
        let literal = self.children.get(level).map(|child| (child, tail));
        [literal, self.plus.as_deref().map(|plus| (plus, tail))]
    }
}

impl<H: Copy + Eq + Hash> Node<H> {
    /// Adds or replaces `handle`'s subscription to the wildcard `filter`.
    pub(crate) fn insert(
        &mut self,
        filter: &str,
        handle: H,
        opts: SubOptions,
    ) -> Option<SubOptions> {
        let (path, terminal) = parse(filter);
        let mut node = self;
        for level in levels(path) {
            node = node.child_or_insert(level);
        }
        node.list_mut(terminal).insert(handle, opts)
    }

    /// Removes `handle`'s subscription to the wildcard `filter`, pruning nodes left empty.
    pub(crate) fn remove(&mut self, filter: &str, handle: H) -> Option<SubOptions> {
        let (path, terminal) = parse(filter);
        let mut node = &mut *self;
        for level in levels(path) {
            node = node.child_mut(level)?;
        }
        let removed = node.list_mut(terminal).remove(handle)?;
        if node.is_empty() {
            self.prune(path);
        }
        Some(removed)
    }

    /// Calls `f` for every subscription whose filter matches `topic`.
    pub(crate) fn for_each_match(&self, topic: &str, f: &mut impl FnMut(H, SubOptions)) {
        let (level, tail) = split_level(topic);
        // [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics starting with `$`.
        if !topic.starts_with('$') {
            emit(&self.hash, f);
            if let Some(plus) = self.plus.as_deref() {
                walk((plus, tail), BRANCH_DEPTH, f);
            }
        }
        if let Some(child) = self.children.get(level) {
            walk((child, tail), BRANCH_DEPTH, f);
        }
    }

    fn child_or_insert(&mut self, level: &str) -> &mut Node<H> {
        if level == "+" {
            self.plus.get_or_insert_with(Box::default)
        } else {
            self.children.get_or_insert(level)
        }
    }

    /// Cuts the chain of nodes that led only to the now-empty node at the end of `path`.
    fn prune(&mut self, path: Option<&str>) {
        let Some(path) = path else { return };
        // The cut goes below the deepest node that holds more than the edge along `path`.
        let mut cut = 0;
        let mut node = &*self;
        for (depth, level) in path.split('/').enumerate() {
            let only_the_edge =
                node.subs.is_empty() && node.hash.is_empty() && node.edge_count() == 1;
            if !only_the_edge {
                cut = depth;
            }
            let Some(next) = node.child(level) else {
                return;
            };
            node = next;
        }
        let mut node = self;
        for (depth, level) in path.split('/').enumerate() {
            if depth == cut {
                if level == "+" {
                    node.plus = None;
                } else {
                    node.children.remove(level);
                }
                return;
            }
            let Some(next) = node.child_mut(level) else {
                return;
            };
            node = next;
        }
    }
}

/// Follows `frame` and everything below it, recursing only into `+` branches.
fn walk<H: Copy>(mut frame: Frame<'_, '_, H>, budget: usize, f: &mut impl FnMut(H, SubOptions)) {
    loop {
        match frame.0.visit(frame.1, f) {
            [Some(literal), Some(plus)] => {
                if budget == 0 {
                    walk_on_heap(plus, f);
                } else {
                    walk(plus, budget - 1, f);
                }
                frame = literal;
            }
            [Some(next), None] | [None, Some(next)] => frame = next,
            [None, None] => return,
        }
    }
}

/// [`walk`] for topics with more `+` branches than [`BRANCH_DEPTH`].
fn walk_on_heap<H: Copy>(start: Frame<'_, '_, H>, f: &mut impl FnMut(H, SubOptions)) {
    let mut stack = vec![start];
    while let Some((node, rest)) = stack.pop() {
        stack.extend(node.visit(rest, f).into_iter().flatten());
    }
}

fn emit<H: Copy>(subscribers: &Subscribers<H>, f: &mut impl FnMut(H, SubOptions)) {
    for &(handle, opts) in subscribers.as_slice() {
        f(handle, opts);
    }
}

/// The first level of `rest` and the levels after it (`None` if it was the last).
fn split_level(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('/') {
        Some((level, tail)) => (level, Some(tail)),
        None => (rest, None),
    }
}

/// The levels leading to a filter's node (`None`: the root) and where the filter ends there.
fn parse(filter: &str) -> (Option<&str>, Terminal) {
    match filter.strip_suffix("/#") {
        Some(path) => (Some(path), Terminal::Hash),
        None if filter == "#" => (None, Terminal::Hash),
        None => (Some(filter), Terminal::Node),
    }
}

fn levels(path: Option<&str>) -> impl Iterator<Item = &str> {
    path.into_iter().flat_map(|path| path.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::qos::QoS;

    fn matches(trie: &Node<u32>, topic: &str) -> Vec<u32> {
        let mut found = Vec::new();
        trie.for_each_match(topic, &mut |h, _| found.push(h));
        found.sort_unstable();
        found
    }

    /// Removing the last filter below a node prunes the whole chain, and only that chain.
    #[test]
    fn remove_prunes_only_the_dead_chain() {
        let mut trie = Node::default();
        let opts = SubOptions::new(QoS::AtMostOnce);
        trie.insert("a/+/c/d/#", 1, opts);
        trie.insert("a/+", 2, opts);
        assert_eq!(trie.remove("a/+/c/d/#", 1), Some(opts));
        let plus = trie
            .child("a")
            .and_then(|a| a.child("+"))
            .expect("a/+ is still subscribed");
        assert_eq!(plus.children.len(), 0);
        assert_eq!(trie.remove("a/+", 2), Some(opts));
        assert!(trie.is_empty());
    }

    /// Nodes with more children than a short vector holds still find every match, and prune.
    #[test]
    fn wide_nodes_find_every_child() {
        let mut trie = Node::default();
        let opts = SubOptions::new(QoS::AtMostOnce);
        for i in 0..40 {
            trie.insert(&format!("dev/{i}/+"), i, opts);
            trie.insert(&format!("+/{i}/#"), 100 + i, opts);
        }
        for i in 0..40 {
            assert_eq!(matches(&trie, &format!("dev/{i}/t")), vec![i, 100 + i]);
            assert_eq!(trie.remove(&format!("dev/{i}/+"), i), Some(opts));
            assert_eq!(matches(&trie, &format!("dev/{i}/t")), vec![100 + i]);
        }
        for i in 0..40 {
            assert_eq!(trie.remove(&format!("+/{i}/#"), 100 + i), Some(opts));
        }
        assert!(trie.is_empty());
    }

    /// Filters of 20,000 levels insert, match, remove and drop without deep recursion.
    #[test]
    fn very_deep_filters_do_not_overflow_the_stack() {
        let deep = vec!["a"; 20_000].join("/");
        let mut trie = Node::default();
        let opts = SubOptions::new(QoS::AtMostOnce);
        trie.insert(&format!("{deep}/#"), 1, opts);
        trie.insert(&format!("+/{deep}"), 2, opts);
        assert_eq!(matches(&trie, &format!("{deep}/a")), vec![1, 2]);
        assert_eq!(trie.remove(&format!("{deep}/#"), 1), Some(opts));
        assert_eq!(matches(&trie, &deep), Vec::<u32>::new());
        drop(trie);
    }

    /// A topic that branches into `+` at every one of 300 levels is matched in full, past the
    /// point where the walk moves from recursion to a heap stack.
    #[test]
    fn branching_beyond_the_recursion_budget_finds_every_match() {
        let mut trie = Node::default();
        let opts = SubOptions::new(QoS::AtMostOnce);
        for k in 0..200u32 {
            let prefix: String = "a/".repeat(k as usize);
            trie.insert(&format!("{prefix}+/#"), k, opts);
        }
        let topic = vec!["a"; 300].join("/");
        assert_eq!(matches(&trie, &topic), (0..200).collect::<Vec<_>>());
        let short = vec!["a"; 50].join("/");
        assert_eq!(matches(&trie, &short), (0..50).collect::<Vec<_>>());
    }
}
