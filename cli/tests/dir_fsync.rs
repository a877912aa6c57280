//! The native backend makes new directory entries durable: the CLI's first commit into a new
//! store is traced with `strace`, and the trace must show the store directory synced after each
//! of its files is created, and the new directory's parent synced after it is made, all before
//! the commit is acknowledged (written to stdout). Without those syncs a power cut could lose a
//! whole file whose contents were synced. (`strace` is installed by `scripts/setup`; without it
//! the test is skipped, except under `CI=true` where it fails.)
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

/// The system calls of one run of the CLI, one per line, with file descriptors resolved to
/// paths (`strace -y`).
fn trace(args: &[&str]) -> Option<Vec<String>> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-e",
            "trace=mkdir,openat,fsync,fdatasync,write",
            "-o",
        ])
        .arg(out.path())
        .arg(env!("CARGO_BIN_EXE_tonystore"))
        .args(args)
        .output();
    match status {
        Ok(output) => {
            assert!(output.status.success(), "{output:?}");
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1");
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("strace is needed under CI (scripts/setup installs it): {e}")
        }
        Err(e) => {
            eprintln!("skipped: strace cannot run ({e}); scripts/setup installs it");
            return None;
        }
    }
    let text = std::fs::read_to_string(out.path()).unwrap();
    Some(text.lines().map(str::to_owned).collect())
}

/// The index of the first line at or after `from` that contains every one of `parts`.
fn find(lines: &[String], from: usize, parts: &[&str]) -> Option<usize> {
    (from..lines.len()).find(|&i| parts.iter().all(|p| lines[i].contains(p)))
}

#[test]
fn new_files_and_directories_are_synced_before_a_commit_is_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("parent");
    let store = parent.join("store");
    let store_text = store.to_str().unwrap();
    let Some(lines) = trace(&["commit", store_text, "a", "1"]) else {
        return;
    };
    let dump = || lines.join("\n");
    // The acknowledgement: the commit number written to stdout.
    let ack = find(&lines, 0, &["write(1", "\"1\\n\""])
        .unwrap_or_else(|| panic!("no acknowledgement in the trace:\n{}", dump()));
    let made = find(&lines, 0, &["mkdir(\"", store_text, "= 0"])
        .unwrap_or_else(|| panic!("the store directory was not made:\n{}", dump()));
    // Both new directories' entries: `store` in `parent`, `parent` in the temporary directory.
    for dir in [&parent, &tmp.path().to_owned()] {
        let synced = find(&lines, made, &["fsync(", &format!("<{}>", dir.display())])
            .unwrap_or_else(|| panic!("{} was never synced:\n{}", dir.display(), dump()));
        assert!(
            synced < ack,
            "{} synced after the ack:\n{}",
            dir.display(),
            dump()
        );
    }
    for name in ["level0.log", "compact.log", "index.log"] {
        let created = find(
            &lines,
            0,
            &["openat(", &format!("{store_text}/{name}"), "O_CREAT"],
        )
        .unwrap_or_else(|| panic!("{name} was not created:\n{}", dump()));
        let synced = find(&lines, created, &["fsync(", &format!("<{store_text}>")])
            .unwrap_or_else(|| panic!("the directory was not synced after {name}:\n{}", dump()));
        assert!(
            synced < ack,
            "{name}'s entry synced after the ack:\n{}",
            dump()
        );
    }
    // And the commit itself reached the disk before the acknowledgement.
    let level0 = format!("{store_text}/level0.log>");
    let last_sync_before_ack = (0..ack)
        .rev()
        .find(|&i| lines[i].contains("fdatasync(") || lines[i].contains("fsync("));
    assert!(
        last_sync_before_ack.is_some_and(|i| lines[i].contains(&level0)),
        "the log was not synced last before the ack:\n{}",
        dump()
    );
}
