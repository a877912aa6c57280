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
/// filter's size from its word count, so this can change without a format change.
const BITS_PER_KEY: usize = 20;
/// Bits tested per key.
const PROBES: usize = 7;

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

/// The hash of a member key (stable: the filters built from it are persisted).
pub fn key_hash(key: &Segment) -> u64 {
    match key {
        Segment::Field(name) => prefixed_hash(b'f', name.as_bytes()),
        Segment::Sparse(n) => prefixed_hash(b's', &n.to_le_bytes()),
        other => xxh3_64(other.to_string().as_bytes()),
    }
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
    /// A filter of the keys with `hashes` ([`key_hash`]).
    pub fn new(object: KPath, start: u64, end: u64, hashes: &[u64]) -> Self {
        let words = (hashes.len() * BITS_PER_KEY).div_ceil(64).max(1);
        let mut bits = vec![0u64; words];
        for &hash in hashes {
            for bit in probes(hash, words) {
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

    /// Whether the stretch may hold the member key with `hash` ([`key_hash`]; never `false`
    /// when it does). A seek checks one key against every stretch of a wide object, hashing
    /// it once.
    pub fn may_hold_hashed(&self, hash: u64) -> bool {
        probes(hash, self.bits.len()).all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The bits a key with `hash` sets in a filter of `words` words: the first [`PROBES`]
/// outputs of SplitMix64 seeded with the hash, each scaled to the filter's bits
/// (`output · bits >> 64`). Independent probes matter in filters this small (a stretch of
/// 16 KiB holds a few dozen keys): double hashing (`h1 + i·h2 mod bits`, index versions up
/// to 8) passed 6.5 times as many absent keys.
fn probes(hash: u64, words: usize) -> impl Iterator<Item = usize> {
    let size = (words * 64) as u128;
    let mut state = hash;
    std::iter::repeat_with(move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((u128::from(z) * size) >> 64) as usize
    })
    .take(PROBES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_the_persisted_definition() {
        // FORMAT.md: the XXH3-64 of `f` + the UTF-8 name, or `s` + the u64 little-endian;
        // names short enough for the stack buffer and longer ones alike.
        for name in [
            "",
            "a",
            &"k".repeat(62),
            &"k".repeat(63),
            &"k".repeat(64),
            "ünïcødé",
        ] {
            let expected = xxh3_64(&[b"f".as_slice(), name.as_bytes()].concat());
            assert_eq!(key_hash(&Segment::Field(name.into())), expected, "{name}");
        }
        let long = "long key ".repeat(40);
        let expected = xxh3_64(&[b"f".as_slice(), long.as_bytes()].concat());
        assert_eq!(key_hash(&Segment::Field(long.into())), expected);
        for n in [0, 7, u64::MAX] {
            let expected = xxh3_64(&[b"s".as_slice(), &n.to_le_bytes()].concat());
            assert_eq!(key_hash(&Segment::Sparse(n)), expected);
        }
    }

    #[test]
    fn probes_are_the_persisted_definition() {
        // FORMAT.md: SplitMix64 seeded with the hash, each output scaled to the bits. The
        // first output for seed 0 is SplitMix64's published 0xE220A8397B1DCDAF.
        let first = 0xE220_A839_7B1D_CDAFu64;
        let scaled = ((u128::from(first) * 320) >> 64) as usize;
        assert_eq!(probes(0, 5).next(), Some(scaled));
        assert_eq!(probes(0, 5).count(), PROBES);
        assert!(probes(u64::MAX, 1).all(|bit| bit < 64));
    }

    #[test]
    fn filters_hold_their_keys_and_few_others() {
        let keys: Vec<Segment> = (0..500)
            .map(|i| Segment::Field(format!("user{i}").into()))
            .collect();
        let hashes: Vec<_> = keys.iter().map(key_hash).collect();
        let filter = MemberFilter::new(KPath::root(), 0, 1, &hashes);
        let may_hold = |filter: &MemberFilter, key: &Segment| filter.may_hold_hashed(key_hash(key));
        assert!(keys.iter().all(|k| may_hold(&filter, k)));
        let others = (500..10_500)
            .filter(|i| may_hold(&filter, &Segment::Field(format!("user{i}").into())))
            .count();
        assert!(others < 30, "{others} of 10,000 absent keys pass");
        let sparse = MemberFilter::new(KPath::root(), 0, 1, &[key_hash(&Segment::Sparse(3))]);
        assert!(may_hold(&sparse, &Segment::Sparse(3)));
    }

    #[test]
    fn small_filters_pass_few_absent_keys() {
        // The stretches of a wide object of 1 KiB members hold 16 keys each: 320-bit filters.
        // At 20 bits a key and 7 independent probes, about 0.02 % of absent keys pass each
        // (double hashing passed 0.13 %).
        let key = |n: u32| Segment::Field(format!("u{n}").into());
        let filters: Vec<MemberFilter> = (0..5_000)
            .map(|s| {
                let hashes: Vec<u64> = (0..16).map(|i| key_hash(&key(s * 16 + i))).collect();
                MemberFilter::new(KPath::root(), 0, 1, &hashes)
            })
            .collect();
        assert_eq!(filters[0].bits.len(), 5);
        let passed: usize = (0..1_000)
            .map(|q| {
                let hash = key_hash(&key(1_000_000 + q));
                filters.iter().filter(|f| f.may_hold_hashed(hash)).count()
            })
            .sum();
        // Expected about 1,000; double hashing gave about 6,500.
        assert!(
            passed < 1_600,
            "{passed} of 5,000,000 probes of absent keys pass"
        );
    }
}
