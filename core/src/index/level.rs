//! A trie node's literal children, laid out for few cache misses on the match path.
//!
//! Matching against a million cold filters costs cache misses, not instructions, so: labels up
//! to [`INLINE_BYTES`] long are stored inline (comparing them chases no pointer), and a node with
//! at most [`FEW`] children keeps them in a short vector scanned in place instead of a hash map
//! (whose control bytes and buckets are two more misses). Most levels have few children; a
//! level such as a device id with thousands gets the map.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::hash::{FxHashMap, shrink_if_sparse};
use super::trie::Node;

/// Longest label kept inline; 22 bytes plus length and tag make the key as big as a `Box<[u8]>`
/// with its tag.
const INLINE_BYTES: usize = 22;
/// Most children kept in a vector; above this a node switches to a hash map.
const FEW: usize = 8;

/// One level of a filter, as a trie edge label.
#[derive(Clone)]
pub(crate) enum LevelKey {
    Inline { len: u8, bytes: [u8; INLINE_BYTES] },
    Boxed(Box<[u8]>),
}

impl LevelKey {
    fn new(level: &str) -> Self {
        let src = level.as_bytes();
        match u8::try_from(src.len()) {
            Ok(len) if src.len() <= INLINE_BYTES => {
                let mut bytes = [0; INLINE_BYTES];
                bytes[..src.len()].copy_from_slice(src);
                Self::Inline { len, bytes }
            }
            _ => Self::Boxed(src.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Boxed(bytes) => bytes,
        }
    }
}

// Keys compare and hash as the bytes of the level (never validated again as UTF-8), so the map
// is queried with `level.as_bytes()`.
impl Borrow<[u8]> for LevelKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for LevelKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for LevelKey {}

impl Hash for LevelKey {
    fn hash<S: Hasher>(&self, state: &mut S) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for LevelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

/// The literal children of a trie node.
#[derive(Debug)]
pub(crate) enum Children<H> {
    Few(Vec<(LevelKey, Node<H>)>),
    Many(FxHashMap<LevelKey, Node<H>>),
}

impl<H> Default for Children<H> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<H> Children<H> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Few(few) => few.len(),
            Self::Many(many) => many.len(),
        }
    }

    pub(crate) fn get(&self, level: &str) -> Option<&Node<H>> {
        let level = level.as_bytes();
        match self {
            Self::Few(few) => few
                .iter()
                .find(|(key, _)| key.as_bytes() == level)
                .map(|(_, node)| node),
            Self::Many(many) => many.get(level),
        }
    }

    pub(crate) fn get_mut(&mut self, level: &str) -> Option<&mut Node<H>> {
        let level = level.as_bytes();
        match self {
            Self::Few(few) => few
                .iter_mut()
                .find(|(key, _)| key.as_bytes() == level)
                .map(|(_, node)| node),
            Self::Many(many) => many.get_mut(level),
        }
    }

    /// The child for `level`, created empty if missing.
    pub(crate) fn get_or_insert(&mut self, level: &str) -> &mut Node<H> {
        let key = level.as_bytes();
        if let Self::Few(few) = self
            && few.len() >= FEW
            && !few.iter().any(|(k, _)| k.as_bytes() == key)
        {
            *self = Self::Many(std::mem::take(few).into_iter().collect());
        }
        match self {
            Self::Few(few) => {
                let i = match few.iter().position(|(k, _)| k.as_bytes() == key) {
                    Some(i) => i,
                    None => {
                        few.push((LevelKey::new(level), Node::default()));
                        few.len() - 1
                    }
                };
                &mut few[i].1
            }
            Self::Many(many) => {
                if !many.contains_key(key) {
                    many.insert(LevelKey::new(level), Node::default());
                }
                many.get_mut(key)
                    .expect("the child was inserted just above")
            }
        }
    }

    /// Removes the child for `level`, giving memory back as the node shrinks.
    pub(crate) fn remove(&mut self, level: &str) {
        let key = level.as_bytes();
        match self {
            Self::Few(few) => {
                if let Some(i) = few.iter().position(|(k, _)| k.as_bytes() == key) {
                    few.swap_remove(i);
                }
                if few.is_empty() {
                    *few = Vec::new();
                }
            }
            Self::Many(many) => {
                many.remove(key);
                if many.len() <= FEW / 2 {
                    *self = Self::Few(std::mem::take(many).into_iter().collect());
                } else {
                    shrink_if_sparse(many);
                }
            }
        }
    }

    /// Moves every child into `out`.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<Node<H>>) {
        match self {
            Self::Few(few) => out.extend(few.drain(..).map(|(_, node)| node)),
            Self::Many(many) => out.extend(many.drain().map(|(_, node)| node)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        // Short labels stay inline; every third one is too long to.
        (0..n)
            .map(|i| {
                if i % 3 == 0 {
                    format!("{i}-{}", "x".repeat(INLINE_BYTES))
                } else {
                    i.to_string()
                }
            })
            .collect()
    }

    /// Children stay findable while a node grows past [`FEW`] into a map and shrinks back.
    #[test]
    fn children_survive_growing_into_a_map_and_back() {
        let mut children: Children<u32> = Children::default();
        let labels = labels(4 * FEW);
        for label in &labels {
            children.get_or_insert(label);
            children.get_or_insert(label);
        }
        assert!(matches!(children, Children::Many(_)));
        assert_eq!(children.len(), labels.len());
        assert!(labels.iter().all(|l| children.get(l).is_some()));
        assert!(children.get("missing").is_none() && children.get("").is_none());
        for label in &labels[1..] {
            children.remove(label);
            assert!(children.get(label).is_none());
        }
        assert!(matches!(children, Children::Few(_)));
        assert!(children.get(&labels[0]).is_some());
        children.remove(&labels[0]);
        assert_eq!(children.len(), 0);
    }

    /// A label of exactly the inline size and one byte over compare apart and by content.
    #[test]
    fn inline_and_boxed_keys_compare_by_content() {
        let inline = "a".repeat(INLINE_BYTES);
        let boxed = "a".repeat(INLINE_BYTES + 1);
        assert!(matches!(LevelKey::new(&inline), LevelKey::Inline { .. }));
        assert!(matches!(LevelKey::new(&boxed), LevelKey::Boxed(_)));
        assert_ne!(LevelKey::new(&inline), LevelKey::new(&boxed));
        assert_eq!(LevelKey::new("ü"), LevelKey::new("ü"));
        assert_eq!(format!("{:?}", LevelKey::new("ü")), "\"ü\"");
    }
}
