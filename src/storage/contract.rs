//! The [`BlockFile`] contract as executable checks, shared by every backend's tests.
//!
//! Each backend's test suite (native, Node, Chromium worker, workerd) calls these on its own
//! files, so all backends are held to the same behaviour; JS users can run them on a backend of
//! their own (`TonyStore.checkBackend`). A check returns the first violation it finds, as a
//! message.

use super::{BlockFile, Result, StorageError, StoreDir};

/// What a backend did against the contract.
pub type Violation = String;

/// Fails the check with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// `result`, or the violation `what` failing with its error.
fn ok<T>(result: Result<T>, what: &str) -> std::result::Result<T, Violation> {
    result.map_err(|e| format!("{what}: {e}"))
}

/// The bytes the persistence checks write and expect back after a reopen.
const MARKER: &[u8] = b"tonystore persistence marker";
/// Where the persistence marker is written (not at 0, to cover zero-filled holes on reopen).
const MARKER_AT: u64 = 4096;

fn out_of_range(result: Result<()>, what: &str) -> std::result::Result<(), Violation> {
    match result {
        Err(StorageError::OutOfRange { .. }) => Ok(()),
        other => Err(format!("{what}: expected OutOfRange, got {other:?}")),
    }
}

fn read(f: &dyn BlockFile, offset: u64, len: usize) -> std::result::Result<Vec<u8>, Violation> {
    let mut buf = vec![0xAA; len];
    ok(
        f.read_exact_at(offset, &mut buf),
        &format!("read {len}@{offset}"),
    )?;
    Ok(buf)
}

/// Runs every single-file check on `f`, which must be empty and open. Closes `f` at the end.
pub fn check_fresh_file(f: &dyn BlockFile) -> std::result::Result<(), Violation> {
    ensure!(ok(f.len(), "len")? == 0, "a fresh file is empty");
    out_of_range(f.read_exact_at(0, &mut [0]), "read from an empty file")?;
    ok(f.read_exact_at(0, &mut []), "an empty read at the end")?;
    out_of_range(f.read_exact_at(1, &mut []), "an empty read past the end")?;

    // Round trip at offset 0 and overwrite in the middle.
    ok(f.write_all_at(0, b"hello world"), "write at 0")?;
    ensure!(read(f, 0, 11)? == b"hello world", "a write reads back");
    ok(f.write_all_at(6, b"WORLD"), "overwrite")?;
    ensure!(read(f, 0, 11)? == b"hello WORLD", "an overwrite reads back");
    ensure!(read(f, 4, 3)? == b"o W", "reads at an inner offset");

    // A write past the end zero-fills the hole.
    ok(f.write_all_at(1000, b"xyz"), "write past the end")?;
    ensure!(
        ok(f.len(), "len")? == 1003,
        "a write past the end sets the length"
    );
    ensure!(
        read(f, 11, 989)?.iter().all(|&b| b == 0),
        "a hole is zero-filled"
    );
    ensure!(
        read(f, 1000, 3)? == b"xyz",
        "a write past the end reads back"
    );

    // Reads past the end fail whole; nothing partial is returned.
    out_of_range(
        f.read_exact_at(1000, &mut [0; 4]),
        "read straddling the end",
    )?;
    out_of_range(f.read_exact_at(5000, &mut [0; 1]), "read beyond the end")?;
    out_of_range(f.read_exact_at(u64::MAX, &mut [0; 1]), "read at u64::MAX")?;

    // set_len shrinks and grows (growth reads as zeros).
    ok(f.set_len(8), "shrink")?;
    ensure!(ok(f.len(), "len")? == 8, "set_len shrinks");
    ensure!(read(f, 0, 8)? == b"hello WO", "shrinking keeps the start");
    out_of_range(f.read_exact_at(6, &mut [0; 4]), "read past a shrunk end")?;
    ok(f.set_len(64), "grow")?;
    ensure!(ok(f.len(), "len")? == 64, "set_len grows");
    ensure!(
        read(f, 8, 56)?.iter().all(|&b| b == 0),
        "set_len growth is zero-filled"
    );

    // A larger write at an unaligned offset.
    let big: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    ok(f.write_all_at(12345, &big), "1 MiB write")?;
    ensure!(read(f, 12345, big.len())? == big, "1 MiB round trip");
    ensure!(
        ok(f.len(), "len")? == 12345 + big.len() as u64,
        "a large write sets the length"
    );

    ok(f.sync(), "sync")?;
    ok(f.set_len(0), "truncate to 0")?;
    ensure!(ok(f.len(), "len")? == 0, "set_len(0) empties the file");

    // Close is idempotent and everything after it is Closed.
    ok(f.close(), "close")?;
    ok(f.close(), "close twice")?;
    for (what, result) in [
        ("len", f.len().map(drop)),
        ("read", f.read_exact_at(0, &mut [])),
        ("write", f.write_all_at(0, b"x")),
        ("set_len", f.set_len(1)),
        ("sync", f.sync()),
    ] {
        ensure!(
            matches!(result, Err(StorageError::Closed { .. })),
            "{what} after close: expected Closed, got {result:?}"
        );
    }
    Ok(())
}

/// Writes the persistence marker and syncs; [`check_persistence_marker`] expects it after a reopen.
pub fn write_persistence_marker(f: &dyn BlockFile) -> std::result::Result<(), Violation> {
    ok(f.write_all_at(MARKER_AT, MARKER), "write the marker")?;
    ok(f.sync(), "sync the marker")
}

/// Checks that a reopened file holds what [`write_persistence_marker`] wrote.
pub fn check_persistence_marker(f: &dyn BlockFile) -> std::result::Result<(), Violation> {
    ensure!(
        ok(f.len(), "len")? == MARKER_AT + MARKER.len() as u64,
        "the length survives a reopen"
    );
    ensure!(
        read(f, MARKER_AT, MARKER.len())? == MARKER,
        "the bytes survive a reopen"
    );
    ensure!(
        read(f, 0, MARKER_AT as usize)?.iter().all(|&b| b == 0),
        "a hole survives as zeros"
    );
    Ok(())
}

/// Checks that an open attempt failed because another writer holds the file.
pub fn locked<T>(result: Result<T>) -> std::result::Result<(), Violation> {
    match result {
        Err(StorageError::Locked { .. }) => Ok(()),
        Err(other) => Err(format!("a second writer: expected Locked, got {other}")),
        Ok(_) => Err("a second writer: expected Locked, but the second open succeeded".into()),
    }
}

/// Runs the whole contract on a directory whose `open` is synchronous: fresh-file checks,
/// persistence across close and reopen, the second-writer lock (when `exclusive`), and name
/// validation. Uses files whose names start with `contract-`.
pub fn check_dir(dir: &dyn StoreDir, exclusive: bool) -> std::result::Result<(), Violation> {
    let fresh = ok(dir.open("contract-fresh"), "open contract-fresh")?;
    // A file left by an earlier run (persistent backends) starts the check empty.
    ok(fresh.set_len(0), "empty contract-fresh")?;
    check_fresh_file(&*fresh)?;

    let file = ok(dir.open("contract-persist"), "open contract-persist")?;
    ok(file.set_len(0), "empty contract-persist")?;
    write_persistence_marker(&*file)?;
    if exclusive {
        locked(dir.open("contract-persist"))?;
    }
    ok(file.close(), "close")?;
    let reopened = ok(dir.open("contract-persist"), "reopen after close")?;
    check_persistence_marker(&*reopened)?;
    drop(reopened);
    let reopened = ok(
        dir.open("contract-persist"),
        "reopen after drop releases the lock",
    )?;
    check_persistence_marker(&*reopened)?;

    for bad in ["", ".", "..", "a/b", "a\\b", "x\ny", &"n".repeat(129)] {
        ensure!(
            matches!(dir.open(bad), Err(StorageError::InvalidName { .. })),
            "the name {bad:?} must be rejected"
        );
    }
    Ok(())
}
