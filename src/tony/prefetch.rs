//! Cache hints for walks over a value tree.
//!
//! A parsed document's containers and strings are separate allocations, so a walk that writes
//! it out stalls on a cache miss at each one, one after another. Hinting the allocations the
//! walk reaches next while it writes the current node overlaps those misses.

use super::ir::{Node, Value};

/// Hints that the memory at `address` is read soon. A hint never reads memory and cannot
/// fault, whatever the address; targets without one ignore it.
#[inline(always)]
fn prefetch<T: ?Sized>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint: it does not access memory architecturally and cannot
    // fault, so any address, valid or not, is sound. SSE is part of the x86_64 baseline.
    #[allow(unsafe_code)]
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// Hints the allocation `node` points to: a container's header, a string's bytes.
#[inline]
fn warm(node: &Node) {
    match &node.value {
        Value::Array(items) => prefetch(std::sync::Arc::as_ptr(items)),
        Value::Object(members) => prefetch(std::sync::Arc::as_ptr(members)),
        Value::String(text) => prefetch(std::sync::Arc::as_ptr(text)),
        _ => {}
    }
}

/// Hints a container's first children (reading its header, which [`warm`] should have
/// fetched a step earlier).
#[inline]
fn warm_children(node: &Node) {
    match &node.value {
        Value::Array(items) => prefetch(items.as_ptr()),
        Value::Object(members) => prefetch(members.as_ptr()),
        _ => {}
    }
}

/// How many of a container's first children [`warm_first`] hints.
const FIRST: usize = 16;

/// On entering a container, hints its first children (one record's members, say), so their
/// misses overlap rather than follow one another.
pub(crate) fn warm_first<'a>(children: impl Iterator<Item = &'a Node>) {
    for child in children.take(FIRST) {
        warm(child);
    }
}

/// Before a walk descends into a child, hints what it reaches after that child: the next
/// sibling's children (its header was hinted a step before) and the sibling after that. This
/// keeps hints running ahead along containers wider than [`FIRST`].
pub(crate) fn warm_siblings<'a>(mut rest: impl Iterator<Item = &'a Node>) {
    if let Some(next) = rest.next() {
        warm_children(next);
    }
    if let Some(after) = rest.next() {
        warm(after);
    }
}
