//! The native file lock holds against another process. This test spawns a process, so it lives
//! in its own test binary: a fork in a parallel test would briefly share other tests' open files
//! (and their locks).
#![cfg(not(target_arch = "wasm32"))]

use tonystore::storage::{contract, FileBlockFile};

#[test]
fn second_writer_in_another_process_is_locked() {
    // flock is per open file description, so a child process sees the lock too.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("held");
    let _held = FileBlockFile::open(&path).unwrap();
    let status = std::process::Command::new("flock")
        .args(["--nonblock", "--exclusive"])
        .arg(&path)
        .arg("true")
        .status();
    if let Ok(status) = status {
        assert!(
            !status.success(),
            "another process must not get the lock while we hold it"
        );
    }
    contract::locked(FileBlockFile::open(&path)).unwrap();
}
