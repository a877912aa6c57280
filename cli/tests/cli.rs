//! The CLI end to end: every command through the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn tonystore(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonystore"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &str) -> String {
    let out = tonystore(args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn fmt_block_and_wire() {
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], "a: 1\nb: [x, \"y z\"]\n"),
        "{a: 1 b: [x \"y z\"]}\n"
    );
    assert_eq!(
        ok(&["tony", "fmt"], "{a: 1, b: {c: [1]}}"),
        "a: 1\nb:\n  c:\n    - 1\n"
    );
}

#[test]
fn fmt_keeps_comments_and_folded_strings_in_block_form() {
    let text = "# config
name: tony # who
note: \"one \"\n  \"two\"\nlist:\n  # first\n  - 1\n";
    assert_eq!(ok(&["tony", "fmt", "-"], text), text);
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], text),
        "{name: tony note: \"one two\" list: [1]}\n"
    );
}

#[test]
fn fmt_reports_the_position_of_bad_input() {
    let out = tonystore(&["tony", "fmt", "-"], "a: 1\n  b: 2\n");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("line 2, column 3"), "{err}");
}

#[test]
fn patch_diff_match() {
    let dir = tempfile::tempdir().unwrap();
    let doc = file(&dir, "doc", "a: 1\nb: [1, 2]\n");
    let p = file(
        &dir,
        "patch",
        "b: !arraydiff {1: !replace {from: 2, to: 3}}\nc: new\n",
    );
    assert_eq!(
        ok(&["tony", "patch", &doc, &p], ""),
        "{a: 1 b: [1 3] c: new}\n"
    );
    let to = file(&dir, "to", "a: 2\nb: [1, 2]\n");
    assert_eq!(
        ok(&["tony", "diff", &doc, &to], ""),
        "{a: !replace {from: 1 to: 2}}\n"
    );
    assert_eq!(ok(&["tony", "diff", &doc, &doc], ""), "null\n");
    let pattern = file(&dir, "pattern", "a: 1\n");
    assert_eq!(ok(&["tony", "match", &doc, &pattern], ""), "true\n");
    assert_eq!(ok(&["tony", "match", &to, &pattern], ""), "false\n");
    let bad = file(&dir, "bad", "a: !replace {from: 9, to: 1}\n");
    let out = tonystore(&["tony", "patch", &doc, &bad], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 9"));
}

#[test]
fn path_parse() {
    assert_eq!(
        ok(&["path", "parse", "'a b'.c[0]{42}(jane)"], ""),
        "\"a b\".c[0]{42}(jane)\n"
    );
    assert_eq!(
        ok(&["path", "parse", "a[0]{42}(jane)", "--json"], ""),
        "[{\"field\":\"a\"},{\"index\":0},{\"sparse\":42},{\"key\":\"jane\"}]\n"
    );
    let out = tonystore(&["path", "parse", "a..b"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at byte 2"));
}

#[test]
fn store_commands_reopen_the_store_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    assert!(ok(&["init", s], "").contains("head 0"));
    assert_eq!(
        ok(&["commit", s, "", "{users: {ann: {age: 30}}}"], ""),
        "1\n"
    );
    assert_eq!(ok(&["commit", s, "users.ann.age", "31"], ""), "2\n");
    let patch = file(&dir, "p.tony", "bob: {age: 7}\n");
    assert_eq!(ok(&["commit", s, "users", &format!("@{patch}")], ""), "3\n");
    assert_eq!(ok(&["commit", s, "users.bob", "-"], "!delete null"), "4\n");
    assert_eq!(ok(&["read", s, "users.ann.age", "--at", "1"], ""), "30\n");
    assert_eq!(ok(&["read", s, "users.ann.age"], ""), "31\n");
    assert_eq!(
        ok(&["read", s, "users", "--at", "3"], ""),
        "{ann: {age: 31} bob: {age: 7}}\n"
    );
    assert_eq!(ok(&["read", s], ""), "{users: {ann: {age: 31}}}\n");
    let log = ok(&["log", s], "");
    assert_eq!(log.lines().count(), 4);
    assert!(
        log.lines().nth(1).unwrap().ends_with("users.ann.age"),
        "{log}"
    );
    assert!(ok(&["verify", s], "").starts_with("ok: 4 commits"));
    let out = tonystore(
        &["commit", s, "users.ann.age", "!replace {from: 1, to: 2}"],
        "",
    );
    assert!(!out.status.success());
    assert_eq!(
        ok(&["read", s, "users.ann.age"], ""),
        "31\n",
        "a rejected commit changes nothing"
    );
    let out = tonystore(&["read", s, "users", "--at", "9"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn tx_merge_builds_the_root_patch() {
    let list = "- {path: a.b, data: '1'}\n- {path: 'arr[0]', data: 'x'}\n";
    assert_eq!(
        ok(&["tx", "merge", "-"], list),
        "{a: {b: 1} arr: !arraydiff {0: x}}\n"
    );
    let out = tonystore(
        &["tx", "merge", "-"],
        "- {path: a, data: '1'}\n- {path: a.b, data: '2'}\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflicts"));
}

#[test]
fn a_patch_starting_with_a_dash_is_a_value() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let db = db.to_str().unwrap();
    assert_eq!(ok(&["commit", db, "x", "-5"], ""), "1\n");
    assert_eq!(ok(&["commit", db, "y", "-1.5e3"], ""), "2\n");
    assert_eq!(ok(&["read", db, "x"], ""), "-5\n");
}

/// Every file of a directory with its bytes, to compare before and after.
fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn commands_that_read_never_create_truncate_or_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    for args in [
        vec!["read", missing.to_str().unwrap()],
        vec!["log", missing.to_str().unwrap()],
        vec!["verify", missing.to_str().unwrap()],
    ] {
        let out = tonystore(&args, "");
        assert!(!out.status.success(), "{args:?} of a missing store");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no store at"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!missing.exists(), "{args:?} created the store");
    }
    // A store with a torn tail and no index: reads see the complete commits, change nothing.
    let db = tmp.path().join("db");
    let db_s = db.to_str().unwrap();
    ok(&["commit", db_s, "a", "1"], "");
    ok(&["commit", db_s, "b", "2"], "");
    let log = db.join("level0.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"torn");
    std::fs::write(&log, &bytes).unwrap();
    std::fs::remove_file(db.join("index.a")).unwrap();
    std::fs::remove_file(db.join("index.b")).unwrap();
    let before = snapshot(&db);
    assert_eq!(ok(&["read", db_s], ""), "{a: 1 b: 2}\n");
    assert_eq!(ok(&["log", db_s], "").lines().count(), 2);
    assert!(ok(&["verify", db_s], "").starts_with("ok: 2 commits"));
    assert_eq!(
        snapshot(&db),
        before,
        "a read-only command changed the store"
    );
    // Garbage instead of a log: an error naming the file, and the garbage stays.
    std::fs::write(&log, b"garbage garbage garbage").unwrap();
    let before = snapshot(&db);
    let out = tonystore(&["read", db_s], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("level0.log"));
    assert_eq!(snapshot(&db), before);
}
