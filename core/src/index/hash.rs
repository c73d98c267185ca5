//! A small, fast hasher for the index's maps, and the map type built on it.
//!
//! SipHash (std's default) costs more than the rest of an exact-filter lookup, so the index uses
//! an FxHash-style hasher: each 8-byte word is mixed in with one 64×64→128-bit multiply whose
//! halves are folded together, which spreads entropy into both the low bits (hashbrown's bucket
//! index) and the high bits (its control byte). Keys are topic strings chosen by clients, so
//! every map starts from its own random seed, taken from std's `RandomState`: fixed collisions
//! cannot be precomputed.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A map with [`FxBuildHasher`].
pub(crate) type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;

/// The multiplier of rustc-hash 2: odd, with well-spread bits.
const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

/// Builds [`FxHasher`]s from a seed drawn once per map.
#[derive(Debug, Clone)]
pub(crate) struct FxBuildHasher {
    seed: u64,
}

impl Default for FxBuildHasher {
    fn default() -> Self {
        Self {
            seed: RandomState::new().hash_one(MULTIPLIER),
        }
    }
}

impl BuildHasher for FxBuildHasher {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher { hash: self.seed }
    }
}

/// The hasher: a multiply-fold per word (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        let product = u128::from(self.hash ^ word) * u128::from(MULTIPLIER);
        // Truncations intended: the fold keeps both halves of the product.
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for chunk in &mut words {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let mut word = [0; 8];
            word[..tail.len()].copy_from_slice(tail);
            // The tail fills at most 7 bytes; its length in the 8th tells "a" from "a\0".
            word[7] = tail.len() as u8;
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Gives memory back after mass removals: shrinks `map` once it is less than a quarter full.
///
/// Amortised O(1): after a shrink the map must lose half its entries again before the next one.
pub(crate) fn shrink_if_sparse<K: Eq + std::hash::Hash, V>(map: &mut FxHashMap<K, V>) {
    const MIN_CAPACITY: usize = 16;
    if map.capacity() > MIN_CAPACITY && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_str(builder: &FxBuildHasher, s: &str) -> u64 {
        builder.hash_one(s)
    }

    /// Strings differing only in trailing null bytes or in one bit hash apart.
    #[test]
    fn near_identical_strings_hash_apart() {
        let builder = FxBuildHasher::default();
        assert_ne!(hash_str(&builder, "a"), hash_str(&builder, "a\0"));
        assert_ne!(
            hash_str(&builder, "sensors/1"),
            hash_str(&builder, "sensors/3")
        );
        assert_eq!(
            hash_str(&builder, "sensors/1"),
            hash_str(&builder, "sensors/1")
        );
    }

    /// Sequential keys spread over the low bits hashbrown uses for its bucket index.
    #[test]
    fn sequential_keys_spread_over_low_bits() {
        let builder = FxBuildHasher::default();
        let mut buckets = [0u32; 64];
        for i in 0..6400 {
            let h = hash_str(&builder, &format!("devices/{i}/temperature"));
            buckets[(h % 64) as usize] += 1;
        }
        // 100 expected per bucket; a clustered hash would leave some nearly empty.
        assert!(
            buckets.iter().all(|&n| (50..=150).contains(&n)),
            "{buckets:?}"
        );
    }

    /// Shrinking happens only once the map is sparse, and keeps every entry.
    #[test]
    fn shrink_if_sparse_keeps_entries() {
        let mut map = FxHashMap::default();
        for i in 0..1000 {
            map.insert(i, i);
        }
        for i in 100..1000 {
            map.remove(&i);
            shrink_if_sparse(&mut map);
        }
        assert!(map.capacity() < 1000);
        assert!((0..100).all(|i| map.get(&i) == Some(&i)));
    }
}
