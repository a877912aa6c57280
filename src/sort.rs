//! Stable sorting through one shared instantiation of the standard library's sort.
//!
//! `slice::sort_by` is generic over the element and the comparison, and each of its
//! instantiations is several KiB of wasm (driftsort and its small-sort and merge helpers): a
//! dozen call sites sorting a dozen element types cost over 30 KiB of the bundle. These helpers
//! sort the positions `0..len` (one instantiation, for `usize` under a `dyn` comparison), then
//! move the elements into that order with swaps along the permutation's cycles. The result is
//! exactly `slice::sort_by`'s: stable, O(n log n) comparisons, plus one `Vec<usize>` and at most
//! `len` swaps.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;

/// Up to this many items, the positions are sorted by insertion.
const SMALL: usize = 16;

/// Sorts `items` stably by `cmp` (as `slice::sort_by`).
pub(crate) fn sort_by<T>(items: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let order = sorted_positions(
        items.len(),
        &mut |a, b| match (items.get(a), items.get(b)) {
            (Some(x), Some(y)) => cmp(x, y),
            _ => Ordering::Equal,
        },
    );
    permute(order, &mut |a, b| items.swap(a, b));
}

/// Sorts `items` stably by `key` (as `slice::sort_by_key`).
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `items` (stably: as `slice::sort`; equal elements are equal, so this is also what
/// `slice::sort_unstable` gives).
pub(crate) fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// The positions `0..len` in the order `cmp` sorts them, ties in position order. A few are
/// sorted by insertion (a commit sorts a few ends or a record's fields): moving each back past
/// the greater ones before it.
#[inline(never)]
fn sorted_positions(len: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if len > SMALL {
        order.sort_by(|&a, &b| cmp(a, b));
        return order;
    }
    for i in 1..len {
        let mut j = i;
        while let (Some(before), Some(&a), Some(&b)) = (
            j.checked_sub(1),
            j.checked_sub(1).and_then(|k| order.get(k)),
            order.get(j),
        ) {
            if cmp(a, b) != Ordering::Greater {
                break;
            }
            order.swap(before, j);
            j = before;
        }
    }
    order
}

/// Rearranges a sequence so that position `k` holds what position `order[k]` held, calling
/// `swap` (which must swap two positions of the sequence) along each cycle of the permutation.
#[inline(never)]
fn permute(mut order: Vec<usize>, swap: &mut dyn FnMut(usize, usize)) {
    for start in 0..order.len() {
        // Position `cur` holds what `start` held; `order[cur]`, not yet moved, holds what `cur`
        // needs. Each visited position is marked done by pointing at itself.
        let mut cur = start;
        while let Some(slot) = order.get_mut(cur) {
            let next = std::mem::replace(slot, cur);
            if next == cur || next == start {
                break;
            }
            swap(cur, next);
            cur = next;
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_as_the_standard_library(items in proptest::collection::vec((0u8..8, any::<u16>()), 0..300)) {
            // Keys collide often, so stability shows: the second field tells equal keys apart.
            let mut expected = items.clone();
            expected.sort_by_key(|p| p.0);
            let mut got = items.clone();
            super::sort_by_key(&mut got, |p| p.0);
            prop_assert_eq!(&got, &expected);

            let mut expected = items.clone();
            expected.sort_by(|a, b| b.cmp(a));
            let mut got = items.clone();
            super::sort_by(&mut got, |a, b| b.cmp(a));
            prop_assert_eq!(&got, &expected);

            let mut expected = items.clone();
            expected.sort();
            let mut got = items;
            super::sort(&mut got);
            prop_assert_eq!(got, expected);
        }
    }

    proptest! {
        /// Around the size where sorts switch to insertion in place.
        #[test]
        fn small_sorts_are_stable(items in proptest::collection::vec((0u8..4, any::<u16>()), 0..=20)) {
            let mut expected = items.clone();
            expected.sort_by_key(|p| p.0);
            let mut got = items;
            super::sort_by_key(&mut got, |p| p.0);
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn moves_owned_elements() {
        let mut words: Vec<String> = ["pear", "fig", "apple", "fig", "kiwi", "date"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        super::sort(&mut words);
        assert_eq!(words, ["apple", "date", "fig", "fig", "kiwi", "pear"]);
        let mut empty: Vec<String> = Vec::new();
        super::sort(&mut empty);
        assert!(empty.is_empty());
    }
}
