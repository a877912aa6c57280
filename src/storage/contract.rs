//! The [`BlockFile`] contract as executable checks, shared by every backend's tests.
//!
//! Each backend's test suite (native, Node, Chromium worker) calls these on its own files, so all
//! backends are held to the same behaviour. The checks panic with a message on violation.

use super::{BlockFile, Result, StorageError, StoreDir};

/// The bytes the persistence checks write and expect back after a reopen.
const MARKER: &[u8] = b"tonystore persistence marker";
/// Where the persistence marker is written (not at 0, to cover zero-filled holes on reopen).
const MARKER_AT: u64 = 4096;

fn assert_out_of_range(result: Result<()>, what: &str) {
    match result {
        Err(StorageError::OutOfRange { .. }) => {}
        other => panic!("{what}: expected OutOfRange, got {other:?}"),
    }
}

fn read(f: &dyn BlockFile, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xAA; len];
    f.read_exact_at(offset, &mut buf)
        .unwrap_or_else(|e| panic!("read {len}@{offset}: {e}"));
    buf
}

/// Runs every single-file check on `f`, which must be empty and open. Closes `f` at the end.
pub fn check_fresh_file(f: &dyn BlockFile) {
    assert_eq!(f.len().unwrap(), 0, "a fresh file is empty");
    assert_out_of_range(f.read_exact_at(0, &mut [0]), "read from an empty file");
    f.read_exact_at(0, &mut [])
        .expect("an empty read at the end succeeds");

    // Round trip at offset 0 and overwrite in the middle.
    f.write_all_at(0, b"hello world").unwrap();
    assert_eq!(read(f, 0, 11), b"hello world");
    f.write_all_at(6, b"WORLD").unwrap();
    assert_eq!(read(f, 0, 11), b"hello WORLD");
    assert_eq!(read(f, 4, 3), b"o W", "reads at an inner offset");

    // A write past the end zero-fills the hole.
    f.write_all_at(1000, b"xyz").unwrap();
    assert_eq!(f.len().unwrap(), 1003);
    assert!(
        read(f, 11, 989).iter().all(|&b| b == 0),
        "hole is zero-filled"
    );
    assert_eq!(read(f, 1000, 3), b"xyz");

    // Reads past the end fail whole; nothing partial is returned.
    assert_out_of_range(
        f.read_exact_at(1000, &mut [0; 4]),
        "read straddling the end",
    );
    assert_out_of_range(f.read_exact_at(5000, &mut [0; 1]), "read beyond the end");
    assert_out_of_range(f.read_exact_at(u64::MAX, &mut [0; 1]), "read at u64::MAX");

    // set_len shrinks and grows (growth reads as zeros).
    f.set_len(8).unwrap();
    assert_eq!(f.len().unwrap(), 8);
    assert_eq!(read(f, 0, 8), b"hello WO");
    assert_out_of_range(f.read_exact_at(6, &mut [0; 4]), "read past a shrunk end");
    f.set_len(64).unwrap();
    assert_eq!(f.len().unwrap(), 64);
    assert!(
        read(f, 8, 56).iter().all(|&b| b == 0),
        "set_len growth is zero-filled"
    );

    // A larger write at an unaligned offset.
    let big: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    f.write_all_at(12345, &big).unwrap();
    assert_eq!(read(f, 12345, big.len()), big, "1 MiB round trip");
    assert_eq!(f.len().unwrap(), 12345 + big.len() as u64);

    f.sync().expect("sync");
    f.set_len(0).unwrap();
    assert_eq!(f.len().unwrap(), 0);

    // Close is idempotent and everything after it is Closed.
    f.close().unwrap();
    f.close().expect("close twice");
    for (what, result) in [
        ("len", f.len().map(drop)),
        ("read", f.read_exact_at(0, &mut [])),
        ("write", f.write_all_at(0, b"x")),
        ("set_len", f.set_len(1)),
        ("sync", f.sync()),
    ] {
        assert!(
            matches!(result, Err(StorageError::Closed { .. })),
            "{what} after close: {result:?}"
        );
    }
}

/// Writes the persistence marker and syncs; [`check_persistence_marker`] expects it after a reopen.
pub fn write_persistence_marker(f: &dyn BlockFile) {
    f.write_all_at(MARKER_AT, MARKER).unwrap();
    f.sync().unwrap();
}

/// Checks that a reopened file holds what [`write_persistence_marker`] wrote.
pub fn check_persistence_marker(f: &dyn BlockFile) {
    assert_eq!(
        f.len().unwrap(),
        MARKER_AT + MARKER.len() as u64,
        "length survives a reopen"
    );
    assert_eq!(
        read(f, MARKER_AT, MARKER.len()),
        MARKER,
        "bytes survive a reopen"
    );
    assert!(
        read(f, 0, MARKER_AT as usize).iter().all(|&b| b == 0),
        "hole survives as zeros"
    );
}

/// Asserts that an open attempt failed because another writer holds the file.
pub fn assert_locked<T>(result: Result<T>) {
    match result {
        Err(StorageError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("expected Locked, but the second open succeeded"),
    }
}

/// Runs the whole contract on a directory whose `open` is synchronous: fresh-file checks,
/// persistence across close and reopen, the second-writer lock (when `exclusive`), and name
/// validation. Uses files whose names start with `contract-`.
pub fn check_dir(dir: &dyn StoreDir, exclusive: bool) {
    check_fresh_file(&*dir.open("contract-fresh").unwrap());

    let file = dir.open("contract-persist").unwrap();
    write_persistence_marker(&*file);
    if exclusive {
        assert_locked(dir.open("contract-persist"));
    }
    file.close().unwrap();
    let reopened = dir.open("contract-persist").expect("reopen after close");
    check_persistence_marker(&*reopened);
    drop(reopened);
    let reopened = dir
        .open("contract-persist")
        .expect("reopen after drop releases the lock");
    check_persistence_marker(&*reopened);

    for bad in ["", ".", "..", "a/b", "a\\b", "x\ny", &"n".repeat(129)] {
        assert!(
            matches!(dir.open(bad), Err(StorageError::InvalidName { .. })),
            "name {bad:?} must be rejected"
        );
    }
}
