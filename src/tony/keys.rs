//! Shared key strings: object keys repeat across values (every record has its `name`, every
//! entry its path's field names), so parsing the same short key again hands out the string
//! already allocated instead of a new one. A small direct-mapped table per thread, bounded in
//! size; a key that misses is allocated as usual and replaces the slot's previous key.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Slots in the table (a power of two).
const SLOTS: usize = 1024;
/// Longer keys are not shared (they rarely repeat, and comparing them costs).
const LONGEST: usize = 32;

thread_local! {
    static KEYS: RefCell<Vec<Option<Arc<str>>>> = RefCell::new(vec![None; SLOTS]);
}

/// The shared string for `name` (allocated once while it stays in its slot).
pub(crate) fn shared(name: &str) -> Arc<str> {
    if name.len() > LONGEST {
        return Arc::from(name);
    }
    let hash = foldhash::fast::FixedState::with_seed(0).hash_one(name.as_bytes());
    let slot = (hash as usize) & (SLOTS - 1);
    KEYS.with(|keys| {
        let Ok(mut keys) = keys.try_borrow_mut() else {
            return Arc::from(name);
        };
        match keys.get_mut(slot) {
            Some(Some(found)) if **found == *name => Arc::clone(found),
            Some(entry) => Arc::clone(entry.insert(Arc::from(name))),
            None => Arc::from(name),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_the_same_allocation_and_long_keys_are_not_shared() {
        let a = shared("name");
        let b = shared(&String::from("name"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "name");
        let long = "k".repeat(LONGEST + 1);
        assert!(!Arc::ptr_eq(&shared(&long), &shared(&long)));
        // Every key reads back as itself, whatever else shares its slot.
        for i in 0..2 * SLOTS {
            let key = format!("key{i}");
            assert_eq!(&*shared(&key), key);
        }
    }
}
