//! Member filters: which keys a stretch of a wide object may hold.
//!
//! The members of an object are in no order a path can tell, so seek references into a wide
//! object only help when the reader knows which stretch of members holds the key it wants. An
//! offset index keeps, for every stretch of [`SEEK_BYTES`](super::SEEK_BYTES) of a wide
//! object, a Bloom filter of its member keys: no false negatives, about 0.02 % false
//! positives. A large entry holding a million-member object has thousands of stretches: at
//! 1 % a lookup would scan dozens of them for nothing.

use xxhash_rust::xxh3::xxh3_64;

use crate::kpath::{KPath, Segment};

/// Filter bits per key (about 0.02 % false positives with [`PROBES`]). Readers take a
/// filter's size from its word count, so this can change without a format change (filters
/// written with 10 bits before 2026-11-28 stay at about 1 %).
const BITS_PER_KEY: usize = 20;
/// Bits tested per key.
const PROBES: u32 = 7;

/// The keys of the members of `object` whose values start in `start..end` of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberFilter {
    /// The object.
    pub object: KPath,
    /// Where the stretch starts: the value of its first member, or the object itself.
    pub start: u64,
    /// Where the next stretch (or the object's end) starts.
    pub end: u64,
    /// The Bloom filter's bits.
    pub bits: Vec<u64>,
}

/// The two hashes of a member key (stable: they are persisted).
pub fn key_hashes(key: &Segment) -> (u32, u32) {
    let hash = match key {
        Segment::Field(name) => prefixed_hash(b'f', name.as_bytes()),
        Segment::Sparse(n) => prefixed_hash(b's', &n.to_le_bytes()),
        other => xxh3_64(other.to_string().as_bytes()),
    };
    (hash as u32, (hash >> 32) as u32 | 1)
}

/// The XXH3-64 of `prefix` followed by `bytes`, without allocating: every member of every
/// object of a large entry is hashed while its offset index is built.
fn prefixed_hash(prefix: u8, bytes: &[u8]) -> u64 {
    let mut buffer = [prefix; 64];
    if let Some(rest) = buffer.get_mut(1..).and_then(|b| b.get_mut(..bytes.len())) {
        rest.copy_from_slice(bytes);
        return xxh3_64(buffer.get(..=bytes.len()).unwrap_or_default());
    }
    // A long key: rare, and the streaming hasher would grow the wasm module.
    xxh3_64(&[std::slice::from_ref(&prefix), bytes].concat())
}

impl MemberFilter {
    /// A filter of the keys with `hashes`.
    pub fn new(object: KPath, start: u64, end: u64, hashes: &[(u32, u32)]) -> Self {
        let words = (hashes.len() * BITS_PER_KEY).div_ceil(64).max(1);
        let mut bits = vec![0u64; words];
        for &(first, second) in hashes {
            for bit in probes(first, second, words) {
                bits[bit / 64] |= 1 << (bit % 64);
            }
        }
        MemberFilter {
            object,
            start,
            end,
            bits,
        }
    }

    /// Whether the stretch may hold the member key with `hashes` ([`key_hashes`]; never
    /// `false` when it does). A seek checks one key against every stretch of a wide object,
    /// hashing it once.
    pub fn may_hold_hashed(&self, (first, second): (u32, u32)) -> bool {
        probes(first, second, self.bits.len())
            .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The bits a key sets in a filter of `words` words (double hashing).
fn probes(first: u32, second: u32, words: usize) -> impl Iterator<Item = usize> {
    let size = (words * 64) as u64;
    (0..PROBES)
        .map(move |i| ((u64::from(first) + u64::from(i) * u64::from(second)) % size) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_the_persisted_definition() {
        // FORMAT.md: the XXH3-64 of `f` + the UTF-8 name, or `s` + the u64 little-endian;
        // names short enough for the stack buffer and longer ones alike.
        let split = |hash: u64| (hash as u32, (hash >> 32) as u32 | 1);
        for name in [
            "",
            "a",
            &"k".repeat(62),
            &"k".repeat(63),
            &"k".repeat(64),
            "ünïcødé",
        ] {
            let expected = xxh3_64(&[b"f".as_slice(), name.as_bytes()].concat());
            assert_eq!(
                key_hashes(&Segment::Field(name.into())),
                split(expected),
                "{name}"
            );
        }
        let long = "long key ".repeat(40);
        let expected = xxh3_64(&[b"f".as_slice(), long.as_bytes()].concat());
        assert_eq!(key_hashes(&Segment::Field(long.into())), split(expected));
        for n in [0, 7, u64::MAX] {
            let expected = xxh3_64(&[b"s".as_slice(), &n.to_le_bytes()].concat());
            assert_eq!(key_hashes(&Segment::Sparse(n)), split(expected));
        }
    }

    #[test]
    fn filters_hold_their_keys_and_few_others() {
        let keys: Vec<Segment> = (0..500)
            .map(|i| Segment::Field(format!("user{i}").into()))
            .collect();
        let hashes: Vec<_> = keys.iter().map(key_hashes).collect();
        let filter = MemberFilter::new(KPath::root(), 0, 1, &hashes);
        let may_hold =
            |filter: &MemberFilter, key: &Segment| filter.may_hold_hashed(key_hashes(key));
        assert!(keys.iter().all(|k| may_hold(&filter, k)));
        let others = (500..10_500)
            .filter(|i| may_hold(&filter, &Segment::Field(format!("user{i}").into())))
            .count();
        assert!(others < 300, "{others} of 10,000 absent keys pass");
        let sparse = MemberFilter::new(KPath::root(), 0, 1, &[key_hashes(&Segment::Sparse(3))]);
        assert!(may_hold(&sparse, &Segment::Sparse(3)));
    }
}
