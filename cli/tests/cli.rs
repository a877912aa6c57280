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

fn fails(args: &[&str], stdin: &str) -> String {
    let out = tonystore(args, stdin);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn fmt_formats_every_document() {
    let text = "# first\na: 1\n---\n# second\nb: [x]\n---\nc: !time:time null\n";
    assert_eq!(
        ok(&["tony", "fmt", "-"], text),
        "# first\na: 1\n---\n# second\nb:\n  - x\n---\nc: !time:time null\n"
    );
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], text),
        "{a: 1}\n{b: [x]}\n{c: !time:time null}\n"
    );
    // A leading separator and an empty document between two separators.
    assert_eq!(
        ok(
            &["tony", "fmt", "--wire", "-"],
            "---\na: 1\n---\n---\nb: 2\n"
        ),
        "{a: 1}\nnull\n{b: 2}\n"
    );
    // An empty input is one null document, as before.
    assert_eq!(ok(&["tony", "fmt", "--wire", "-"], ""), "null\n");
}

#[test]
fn fmt_reads_a_stream_of_bracketed_documents() {
    // A session script: one bracketed document a line, comments between them.
    let text = "# handshake\n{hello: {clientId: \"x\"}}\n\n# create\n{patch: {path: users, data: !key(id) [{name: Alice}]}}\n[1, 2]\n";
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], text),
        "{hello: {clientId: x}}\n{patch: {path: users data: !key(id) [{name: Alice}]}}\n[1 2]\n"
    );
    let block = ok(&["tony", "fmt", "-"], text);
    assert_eq!(
        block,
        "# handshake\nhello:\n  clientId: x\n---\n# create\npatch:\n  path: users\n  data: !key(id)\n    - name: Alice\n---\n- 1\n- 2\n"
    );
    // Formatting is a fixpoint, and the block form reads back to the same documents.
    assert_eq!(ok(&["tony", "fmt", "-"], &block), block);
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], &block),
        ok(&["tony", "fmt", "--wire", "-"], text)
    );
    // A block document is not a stream element: what follows it at column 1 is an error.
    let err = fails(&["tony", "fmt", "-"], "a: 1\n{b: 2}\n");
    assert!(err.contains("line 2, column 1"), "{err}");
}

#[test]
fn fmt_keeps_repeated_keys_with_a_note_and_commit_refuses_them() {
    // Two old versions of the original's schema/base.tony repeat keys; the original keeps both.
    let text = "define:\n  string: a\n  int: 1\n  string: b\n";
    let out = tonystore(&["tony", "fmt", "-"], text);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    let note = String::from_utf8(out.stderr).unwrap();
    assert!(
        note.contains("at define: duplicate key \"string\" (kept"),
        "{note}"
    );
    assert_eq!(
        ok(&["tony", "fmt", "--wire", "-"], text),
        "{define: {string: a int: 1 string: b}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let s = store.to_str().unwrap();
    ok(&["init", s], "");
    let doc = file(&dir, "doc.tony", text);
    let err = fails(&["commit", s, "", &format!("@{doc}")], "");
    assert!(
        err.contains("line 2, column 3: duplicate key \"string\""),
        "{err}"
    );
    assert_eq!(ok(&["read", s], ""), "null\n", "nothing was committed");
}

#[test]
fn patch_diff_match_refuse_several_documents() {
    let dir = tempfile::tempdir().unwrap();
    let one = file(&dir, "one", "a: 1\n");
    let three = file(&dir, "three", "a: 1\n---\na: 2\n---\na: 3\n");
    for args in [
        ["tony", "patch", &three, &one],
        ["tony", "patch", &one, &three],
        ["tony", "diff", &three, &one],
        ["tony", "match", &one, &three],
    ] {
        let err = fails(&args, "");
        assert!(
            err.contains(&format!("{three}: holds 3 documents, but one is expected")),
            "{args:?}: {err}"
        );
    }
    let err = fails(&["tony", "diff", "-", &one], "{a: 1}\n{a: 2}\n");
    assert!(err.contains("<stdin>: holds 2 documents"), "{err}");
    // A single bad document still reports the parse error, not a count.
    let bad = file(&dir, "bad", "a: 1\n  b: 2\n");
    let err = fails(&["tony", "match", &bad, &one], "");
    assert!(err.contains("line 2, column 3"), "{err}");
}

#[test]
fn commit_refuses_a_multi_document_patch() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["init", s], "");
    let two = file(&dir, "two.tony", "a: 1\n---\nb: 2\n");
    let err = fails(&["commit", s, "", &format!("@{two}")], "");
    assert!(
        err.contains(&format!("patch: {two} holds 2 documents"))
            && err.contains("nothing committed"),
        "{err}"
    );
    let err = fails(&["commit", s, "", "-"], "{a: 1}\n{b: 2}\n");
    assert!(err.contains("patch: <stdin> holds 2 documents"), "{err}");
    assert_eq!(ok(&["read", s], ""), "null\n", "nothing was committed");
    assert!(ok(&["verify", s], "").starts_with("ok: 0 commits"));
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
    // Commit 2's ends, in path order: the objects it rewrote whole (`users` had only `ann`,
    // `ann` only `age`), then the member it set.
    assert!(
        log.lines()
            .nth(1)
            .unwrap()
            .ends_with("\tusers users.ann users.ann.age"),
        "{log}"
    );
    // With a path: only the commits that changed it, and what they changed there.
    let of_bob: Vec<String> = ok(&["log", s, "users.bob"], "")
        .lines()
        .map(|l| {
            format!(
                "{} {}",
                l.split('\t').next().unwrap(),
                l.rsplit('\t').next().unwrap()
            )
        })
        .collect();
    assert_eq!(of_bob, ["3 users.bob.age", "4 users.bob"]);
    let of_ann = ok(&["log", s, "users.ann", "--from", "2", "--to", "3"], "");
    assert_eq!(of_ann.lines().count(), 1, "{of_ann}");
    assert!(
        of_ann.starts_with("2\ttx 2\t") && of_ann.ends_with("\tusers.ann.age\n"),
        "{of_ann}"
    );
    assert_eq!(ok(&["log", s, "--from", "3"], "").lines().count(), 2);
    assert!(!tonystore(&["log", s, "--to", "9"], "").status.success());
    // Diffs between commits.
    assert_eq!(
        ok(&["diff", s, "users.ann.age", "1", "2"], ""),
        "!replace {from: 30 to: 31}\n"
    );
    assert_eq!(
        ok(&["diff", s, "users", "3"], ""),
        "{bob: !delete {age: 7}}\n"
    );
    assert_eq!(ok(&["diff", s, "users.ann", "2", "4"], ""), "null\n");
    assert!(!tonystore(&["diff", s, "users", "1", "5"], "")
        .status
        .success());
    assert!(ok(&["verify", s], "").starts_with("ok: 4 commits"));
    // Shipping to a replica: everything, again (skipped), then a gap refused.
    let replica = dir.path().join("replica");
    let r = replica.to_str().unwrap();
    let shipment = dir.path().join("ship.bin");
    ok(&["export", s, "--out", shipment.to_str().unwrap()], "");
    assert_eq!(
        ok(&["import", r, shipment.to_str().unwrap()], ""),
        "skipped 0, added 4, head 4\n"
    );
    assert_eq!(
        ok(&["import", r, shipment.to_str().unwrap()], ""),
        "skipped 4, added 0, head 4\n"
    );
    assert_eq!(ok(&["read", r, "users"], ""), ok(&["read", s, "users"], ""));
    let fresh = dir.path().join("fresh");
    ok(
        &[
            "export",
            s,
            "--after",
            "2",
            "--out",
            shipment.to_str().unwrap(),
        ],
        "",
    );
    let out = tonystore(
        &[
            "import",
            fresh.to_str().unwrap(),
            shipment.to_str().unwrap(),
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("starts at commit 3"),
        "{out:?}"
    );
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
    std::fs::remove_file(db.join("index.log")).unwrap();
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
