//! Semantics parity with the original (signadot/tony-format, Go, `go-tony/` at `4508daf`): one
//! test per patch op and match tag, each citing the original file whose behaviour it pins.
//! Where `../shared/reference/tony-format.md` marks an original defect, or the original
//! panics, hangs or contradicts its own diff, the test says so and pins our behaviour instead.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{sorted_keys, tony};
use tonystore::patch::{diff, patch, patch_with, try_matches, PatchError, PatchOptions};
use tonystore::tony::{encode_wire, Node};

/// `doc` patched with `p`, in wire form with object keys sorted (the original sorts keys).
fn patched(doc: &str, p: &str) -> String {
    match patch(&tony(doc), &tony(p)) {
        Ok(out) => encode_wire(&sorted_keys(&out)),
        Err(e) => panic!("{doc} with {p}: {e}"),
    }
}

/// `want` parsed, in the same form as [`patched`].
fn wire(want: &str) -> String {
    encode_wire(&sorted_keys(&tony(want)))
}

fn matched(doc: &str, pattern: &str) -> bool {
    try_matches(&tony(doc), &tony(pattern)).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

// ---- patch ops (mergeop/*.go, patch.go, libdiff/patch_*.go) ----

/// `mergeop/delete.go`: removes the value; the child is not checked.
#[test]
fn delete_removes_without_checking_the_child() {
    assert_eq!(patched("{a: 1, b: 2}", "{a: !delete 99}"), wire("{b: 2}"));
    assert_eq!(patched("[1, 2]", "[!delete 1, 2, 3]"), wire("[2, 3]"));
}

/// `mergeop/arraydiff.go` (`!insert` case): `!insert(t) v` inserts `v` tagged `!t`.
#[test]
fn insert_in_an_arraydiff_carries_its_tag_argument() {
    assert_eq!(
        patched("[a, b]", "!arraydiff {1: !insert(t) x}"),
        wire("[a, !t x, b]")
    );
}

/// `mergeop/replace.go`: the check is `diff(doc, from) == nil`, so object key order does not
/// matter; a mismatch is an error.
#[test]
fn replace_checks_from_up_to_key_order() {
    assert_eq!(
        patched(
            "{k: {b: 1, a: 2}}",
            "{k: !replace {from: {a: 2, b: 1}, to: 3}}"
        ),
        wire("{k: 3}")
    );
    let err = patch(&tony("{k: 1}"), &tony("{k: !replace {from: 2, to: 3}}")).unwrap_err();
    assert!(matches!(err, PatchError::CheckFailed { .. }), "{err}");
}

/// `mergeop/arraydiff.go` `patchArrayByIndex`: every op takes one slot; a plain value patches
/// the element in place; `!delete` and `!replace` are checked with the diff (key order aside).
/// The patch is the original's own diff of `[1,2,3,3,3,7,8]` → `[2,3,3,3,4,7,9]`
/// (`diff_test.go`).
#[test]
fn arraydiff_applies_the_originals_diffs() {
    assert_eq!(
        patched(
            "[1, 2, 3, 3, 3, 7, 8]",
            "!arraydiff {0: !delete 1, 5: !insert 4, 7: !replace {from: 8, to: 9}}"
        ),
        wire("[2, 3, 3, 3, 4, 7, 9]")
    );
    assert_eq!(
        patched(
            "[{a: 1, b: 2}, {c: 3}]",
            "!arraydiff {0: !delete {b: 2, a: 1}, 1: {c: 4}}"
        ),
        wire("[{c: 4}]")
    );
}

/// `libdiff/patch_string.go` `PatchStringRunes`: slots count positions in the result — an
/// `!insert` or `!replace` takes one slot per rune it writes, a `!delete` one slot, an
/// unmentioned slot copies one rune. `patch_test.go:297` ("hello world" → "help the world").
#[test]
fn strdiff_numbers_slots_as_the_original() {
    assert_eq!(
        patched(
            "'hello world'",
            "!strdiff(false) {2: !delete l, 4: !replace {from: o, to: p}, 6: !insert \"the \"}"
        ),
        wire("'help the world'")
    );
    // The insert of "ab" takes slots 0 and 1; slot 2 copies "h"; slot 3 is the "e".
    assert_eq!(
        patched(
            "hello",
            "!strdiff(false) {0: !insert ab, 3: !replace {from: e, to: E}}"
        ),
        wire("abhEllo")
    );
    // A delete takes one slot whatever its length.
    assert_eq!(
        patched("abcdef", "!strdiff(false) {1: !delete b, 3: !delete d}"),
        wire("acef")
    );
    // A slot inside text an earlier op wrote is malformed (the original loops forever).
    let err = patch(
        &Node::string("hello"),
        &tony("!strdiff(false) {0: !insert abc, 1: !delete e}"),
    )
    .unwrap_err();
    assert!(matches!(err, PatchError::Malformed { .. }), "{err}");
}

/// `libdiff/patch_string.go` `PatchStringMultiLine`: the same numbering by lines.
#[test]
fn strdiff_by_lines_numbers_slots_by_lines() {
    assert_eq!(
        patched(
            "\"a\\nb\\nc\"",
            "!strdiff(true) {0: !insert \"x\\ny\", 3: !delete b}"
        ),
        wire("\"x\\ny\\na\\nc\"")
    );
}

/// `mergeop/addtag.go`: the tag becomes `!t` (replacing any tag), the value is unchanged.
#[test]
fn addtag_sets_the_tag() {
    assert_eq!(patched("{a: 5}", "{a: !addtag(j) null}"), wire("{a: !j 5}"));
    assert_eq!(
        patched("{a: !x 5}", "{a: !addtag(j) null}"),
        wire("{a: !j 5}")
    );
}

/// `mergeop/rmtag.go` sets the tag to the bare argument (`j`, not even a tag): a defect that
/// contradicts its own diff (`libdiff` emits `!rmtag(a)` for `!a x` → `x`). We remove the tag.
#[test]
fn rmtag_removes_the_tag() {
    assert_eq!(patched("{a: !j 5}", "{a: !rmtag(j) null}"), wire("{a: 5}"));
    let (from, to) = (tony("!a x"), tony("x"));
    assert_eq!(patch(&from, &diff(&from, &to).unwrap()).unwrap(), to);
}

/// `mergeop/retag.go`: checks the old tag exactly, sets the new one.
#[test]
fn retag_checks_then_sets() {
    assert_eq!(patched("!a 5", "!retag(a,b) null"), wire("!b 5"));
    assert!(patch(&tony("!c 5"), &tony("!retag(a,b) null")).is_err());
}

/// `mergeop/nullify.go`: the value becomes null; the key and the document's tag stay; no
/// arguments.
#[test]
fn nullify_keeps_the_key_and_the_tag() {
    assert_eq!(
        patched("{a: 5, b: 1}", "{a: !nullify 7}"),
        wire("{a: null, b: 1}")
    );
    assert_eq!(
        patched("{a: !t [1, 2], b: 1}", "{a: !nullify 7}"),
        wire("{a: !t null, b: 1}")
    );
    assert!(patch(&tony("{a: 5}"), &tony("{a: !nullify(x) null}")).is_err());
}

/// `mergeop/keyed_list.go`: items match by key field; unmatched patch items are appended in
/// key order.
#[test]
fn key_patches_by_key_and_appends_in_key_order() {
    assert_eq!(
        patched(
            "!key(id) [{id: 2, v: a}, {id: 1, v: b}]",
            "!key(id) [{id: 4, v: d}, {id: 1, v: c}, {id: 3, v: e}]"
        ),
        wire("!key(id) [{id: 2, v: a}, {id: 1, v: c}, {id: 3, v: e}, {id: 4, v: d}]")
    );
}

/// `mergeop/all.go`: every element or field value patched; any other value patched itself.
#[test]
fn all_patches_each_element_or_the_value() {
    assert_eq!(patched("{a: 1, b: 2}", "!all 7"), wire("{a: 7, b: 7}"));
    assert_eq!(patched("[1, 2]", "!all {x: 1}"), wire("[{x: 1}, {x: 1}]"));
    assert_eq!(patched("5", "!all 7"), wire("7"));
}

/// `mergeop/embed.go`: strings equal to the argument in the child become the document.
#[test]
fn embed_puts_the_document_into_the_template() {
    assert_eq!(
        patched("{n: 5}", "!embed(x) {v: x, w: [x, y]}"),
        wire("{v: {n: 5}, w: [{n: 5}, y]}")
    );
}

/// `mergeop/field.go` (`Patch`): `!field(from,to)` renames a field in place.
#[test]
fn field_renames() {
    assert_eq!(
        patched("{a: 1, b: 2}", "!field(a,c) null"),
        wire("{c: 1, b: 2}")
    );
}

/// `mergeop/rename.go`: `!rename [{from, to}, ...]` on an object. The original also keeps the
/// old key; the reference marks that a quirk ("we remove the old key on `!rename`").
#[test]
fn rename_takes_the_originals_list_form() {
    assert_eq!(
        patched(
            "{a: 1, b: 2, c: 3}",
            "!rename [{from: a, to: c}, {from: x, to: y}]"
        ),
        wire("{c: 1, b: 2}")
    );
    assert!(patch(&tony("[1]"), &tony("!rename [{from: a, to: c}]")).is_err());
}

/// `mergeop/dive.go`, case `patch_test.go:143`: patches every field value whose field matches.
#[test]
fn dive_patches_matching_fields() {
    assert_eq!(
        patched(
            "{x: [{key: {some-field-1: thing, with: s}, value: 2}]}",
            "{x: !dive [{match: !field.glob 'some-field-*', patch: {crazy: true}}]}"
        ),
        wire("{x: [{key: {some-field-1: {crazy: true}, with: s}, value: 2}]}")
    );
}

/// `mergeop/if.go`: `{if: M, then: P, else: Q}` patches with `P` when the document matches
/// `M`, else `Q`. A missing branch leaves the document (the original dereferences nil).
#[test]
fn if_chooses_a_branch_by_match() {
    let p = "{k: !if {if: {a: 1}, then: {b: 2}, else: {c: 3}}}";
    assert_eq!(patched("{k: {a: 1}}", p), wire("{k: {a: 1, b: 2}}"));
    assert_eq!(patched("{k: {a: 9}}", p), wire("{k: {a: 9, c: 3}}"));
    assert_eq!(
        patched("{k: 1}", "{k: !if {if: 2, then: 3}}"),
        wire("{k: 1}")
    );
    assert!(
        patch(&tony("1"), &tony("!if {then: 3}")).is_err(),
        "needs if:"
    );
    assert!(
        patch(&tony("1"), &tony("!if {if: 1}")).is_err(),
        "needs a branch"
    );
}

/// `mergeop/pass.go` (`Patch`): the document unchanged.
#[test]
fn pass_keeps_the_document() {
    assert_eq!(patched("{a: 1}", "{a: !pass 7}"), wire("{a: 1}"));
    // A missing key is patched as `null` in the original (`patch.go`, `objPatchYWith`).
    assert_eq!(patched("{a: 1}", "{b: !pass 7}"), wire("{a: 1, b: null}"));
}

/// `mergeop/pipe.go`: the command's words run as a program (no shell); a string goes in and
/// comes out as a string, any other value goes in as Tony text and its output is parsed.
/// Only `patch_with(.., allow_pipe)` runs it.
#[test]
fn pipe_runs_the_program_when_allowed() {
    let allow = PatchOptions { allow_pipe: true };
    let p = tony("!pipe 'tr a-z A-Z'");
    assert_eq!(
        patch_with(&tony("hello"), &p, allow).unwrap(),
        Node::string("HELLO")
    );
    assert_eq!(
        patch_with(&tony("{a: [1, 2]}"), &tony("!pipe cat"), allow).unwrap(),
        tony("{a: [1, 2]}"),
        "a value makes the round trip through text"
    );
    let no_shell = patch_with(&tony("x"), &tony("!pipe 'echo a|b'"), allow).unwrap();
    assert_eq!(no_shell, Node::string("a|b\n"), "words, not a shell line");
    assert!(matches!(
        patch(&tony("hello"), &p),
        Err(PatchError::Unsupported { .. })
    ));
}

/// `mergeop/quote.go` and `mergeop/unquote.go`: a value to its Tony text and back; a string
/// stays as it is under `!quote`; `!unquote` needs a string that parses. (The text is our
/// block form; the original's encoder may space it differently.)
#[test]
fn quote_and_unquote_round_trip() {
    let doc = tony("{a: [1, !t x], b: {c: null}}");
    let quoted = patch(&doc, &tony("!quote null")).unwrap();
    assert!(
        quoted.as_str().is_some_and(|t| t.contains("a:")),
        "{quoted:?}"
    );
    assert_eq!(patch(&quoted, &tony("!unquote null")).unwrap(), doc);
    assert_eq!(patched("s", "!quote null"), wire("s"));
    assert_eq!(patched("'[1, 2]'", "!unquote null"), wire("[1, 2]"));
    assert!(patch(&tony("5"), &tony("!unquote null")).is_err());
    assert!(patch(&tony("'[1,'"), &tony("!unquote null")).is_err());
}

/// `mergeop/jsonpatch.go`: an RFC 6902 patch (the original applies it with
/// `evanphx/json-patch`): add, remove, replace, move, copy, test, with RFC 6901 pointers.
#[test]
fn json_patch_applies_rfc_6902() {
    assert_eq!(
        patched(
            "{a: {b: [1, 2]}, c: x, 'd/e': 1}",
            "!json-patch [
                {op: add, path: /a/b/1, value: 9},
                {op: add, path: /a/b/-, value: 3},
                {op: remove, path: /c},
                {op: replace, path: /d~1e, value: 2},
                {op: copy, from: /a/b/0, path: /f},
                {op: move, from: /f, path: /g},
                {op: test, path: /a/b, value: [1, 9, 2, 3]}
            ]"
        ),
        wire("{a: {b: [1, 9, 2, 3]}, 'd/e': 2, g: 1}")
    );
    for failing in [
        "!json-patch [{op: test, path: /a, value: 2}]",
        "!json-patch [{op: remove, path: /zz}]",
        "!json-patch [{op: replace, path: /zz, value: 1}]",
        "!json-patch [{op: add, path: /l/5, value: 1}]",
        "!json-patch [{op: add, path: /l/01, value: 1}]",
        "!json-patch [{op: move, from: /l, path: /l/0}]",
        "!json-patch [{op: jump, path: /a}]",
        "!json-patch [{op: add, path: a, value: 1}]",
        "!json-patch {op: add}",
    ] {
        let err = patch(&tony("{a: 1, l: [1]}"), &tony(failing)).unwrap_err();
        assert!(
            matches!(err, PatchError::Malformed { .. }),
            "{failing}: {err}"
        );
    }
    assert_eq!(
        patched("1", "!json-patch [{op: add, path: '', value: {n: 2}}]"),
        wire("{n: 2}"),
        "the empty pointer is the whole document"
    );
}

// ---- match tags (match.go, mergeop/*.go) ----

/// `match.go` `MatchWith`: null matches anything; objects by subset; arrays by length and
/// position; an int never equals a float.
#[test]
fn structural_matching() {
    assert!(matched("{a: 1, b: 2}", "{a: 1}"));
    assert!(
        !matched("{a: 1}", "{a: 1, c: null}"),
        "every pattern key must be present"
    );
    assert!(!matched("[1, 2]", "[1]"));
    assert!(!matched("1", "1.0"));
    assert!(matched("[1, x]", "null"));
}

/// `mergeop/and.go`: a list must all match; any other child is matched itself.
#[test]
fn and_matches_all() {
    assert!(matched("{a: 1, b: 2}", "!and [{a: 1}, {b: 2}]"));
    assert!(!matched("{a: 1, b: 2}", "!and [{a: 1}, {b: 3}]"));
    assert!(matched("{a: 1}", "!and {a: 1}"));
}

/// `mergeop/or.go`: a list matches when any item does; an object when any key both have
/// matches; a scalar child never matches null.
#[test]
fn or_matches_any() {
    assert!(matched("3", "!or [1, 3]"));
    assert!(matched("{a: 1, b: 2}", "!or {a: 1, b: 9}"));
    assert!(!matched("{a: 2, b: 2}", "!or {a: 1, b: 9}"));
    assert!(!matched("[1]", "!or {a: 1}"));
    assert!(!matched("null", "!or 1"));
}

/// `mergeop/not.go`.
#[test]
fn not_negates() {
    assert!(matched("2", "!not 1"));
    assert!(!matched("1", "!not 1"));
}

/// `mergeop/type.go` (registered as `irtype`): the document has the pattern value's kind.
#[test]
fn irtype_compares_kinds() {
    assert!(matched("{x: 1}", "!irtype {}"));
    assert!(matched("s", "!irtype \"\""));
    assert!(
        matched("1.5", "!irtype 0"),
        "ints and floats are both numbers"
    );
    assert!(
        !matched("{}", "!irtype object"),
        "a string pattern matches strings"
    );
    assert!(matched("object", "!irtype object"));
}

/// `mergeop/glob.go`: Go's `filepath.Match`; a non-string document does not match; a
/// non-string pattern or a bad pattern is an error.
#[test]
fn glob_is_filepath_match() {
    assert!(matched("acd", "!glob 'a[bc]d'"));
    assert!(!matched("a/b", "!glob 'a*'"), "* stops at /");
    assert!(matched("a/b", "!glob 'a/*'"));
    assert!(!matched("1", "!glob '*'"));
    assert!(try_matches(&tony("x"), &tony("!glob 1")).is_err());
    assert!(try_matches(&tony("x"), &tony("!glob '['")).is_err());
}

/// `mergeop/field.go` (`Match`): the name of the field the value sits under (`""` at the
/// root).
#[test]
fn field_matches_the_parent_field_name() {
    assert!(matched("{bee: 1}", "{bee: !field.glob 'b*'}"));
    assert!(!matched("{bee: 1}", "{bee: !field.glob 'x*'}"));
    assert!(matched("1", "!field ''"));
    assert!(matched("{a: 1, b: 2}", "!all.field.glob '[ab]'"));
}

/// `mergeop/tag.go`: `{name, args}` of the document's first tag link (`name: ""` untagged).
#[test]
fn tag_matches_name_and_args() {
    assert!(matched("!x(a) 1", "!tag {name: x, args: [a]}"));
    assert!(matched("1", "!tag {name: ''}"));
    assert!(matched("{c: !mytag d}", "{c: !tag {name: !glob my*}}"));
}

/// `mergeop/subtree.go`: the document or any node below matches, each node with its field —
/// so chains such as `!not.subtree.field.glob` work.
#[test]
fn subtree_and_chained_tags() {
    assert!(matched("{a: b, e: [1, true, 42]}", "!subtree 42"));
    assert!(matched("{a: [{xy: 1}]}", "!subtree.field.glob 'x*'"));
    assert!(matched("{a: {b: 1}}", "!not.subtree.field.glob 'x*'"));
    assert!(!matched("{a: {xy: 1}}", "!not.subtree.field.glob 'x*'"));
}

/// `mergeop/has_path.go`: the path resolves; a non-string path is an error.
#[test]
fn has_path() {
    assert!(matched("{a: {b: [1, 2]}}", "!has-path 'a.b[1]'"));
    assert!(!matched("{a: {b: [1, 2]}}", "!has-path 'a.c'"));
    assert!(try_matches(&tony("{}"), &tony("!has-path 1")).is_err());
}

/// `mergeop/all.go` (`Match`): every element or field value; a scalar is matched itself.
#[test]
fn all_matches_every_element() {
    assert!(matched("[1, 2.5]", "!all.irtype 0"));
    assert!(!matched("{a: 1, b: x}", "!all.irtype 0"));
    assert!(matched("3", "!all 3"));
}

/// `mergeop/keyed_list.go` (`Match`): every pattern item has a document item with its key
/// that matches.
#[test]
fn key_matches_by_key() {
    assert!(matched(
        "[{id: 2}, {id: 1, v: a, w: 3}]",
        "!key(id) [{id: 1, v: a}]"
    ));
    assert!(!matched("[{id: 2}]", "!key(id) [{id: 1}]"));
}

/// `mergeop/pass.go` (`Match`): always true.
#[test]
fn pass_matches_anything() {
    assert!(matched("[1, {a: 2}]", "!pass 0"));
}

/// `mergeop/let.go`: bindings are substituted into `in` before matching.
#[test]
fn let_substitutes_bindings() {
    assert!(matched("{a: 3}", "!let {let: [{v: 3}], in: {a: .[v]}}"));
    assert!(!matched("{a: 4}", "!let {let: [{v: 3}], in: {a: .[v]}}"));
}

/// `eval/expand_env.go` (`ExpandIRWithOptions`, as `mergeop/let.go` calls it): a string that
/// is exactly `.[name]` becomes the bound value, whatever its kind, expanded in turn (so a
/// binding may name another, in any order); object values and array elements are expanded,
/// keys are not.
#[test]
fn let_whole_references_become_the_bound_value() {
    let p = "!let {let: [{v: {b: [1, x]}}], in: {a: .[v], l: [.[v]]}}";
    assert!(matched("{a: {b: [1, x]}, l: [{b: [1, x]}]}", p));
    assert!(!matched("{a: {b: [1, y]}, l: [{b: [1, x]}]}", p));
    let chained = "!let {let: [{b: .[a]}, {a: 5}], in: {x: .[b]}}";
    assert!(matched("{x: 5}", chained));
    assert!(!matched("{x: \".[a]\"}", chained));
    // The name between the brackets is trimmed.
    assert!(matched(
        "{a: 3}",
        "!let {let: [{v: 3}], in: {a: \".[ v ]\"}}"
    ));
    // Keys are not expanded.
    let key = "!let {let: [{k: a}], in: {\".[k]\": 1}}";
    assert!(matched("{\".[k]\": 1}", key));
    assert!(!matched("{a: 1}", key));
}

/// `eval/expand_env.go` (`expandStringWithOptions`, `anyToBytes`): `.[name]` and `$[name]`
/// inside a longer string (and a whole `$[name]`) are replaced by the bound node's wire form
/// (`encode.EncodeWire`): a string as text, any other value as its wire text, tag included.
#[test]
fn let_expands_references_inside_strings() {
    let p = "!let {let: [{who: world}, {n: 3}], in: {s: \"hello .[who], $[n] times\"}}";
    assert!(matched("{s: \"hello world, 3 times\"}", p));
    assert!(!matched("{s: \"hello .[who], $[n] times\"}", p));
    // A whole `$[name]` is text: the number 3 becomes the string \"3\".
    let dollar = "!let {let: [{n: 3}], in: {s: $[n]}}";
    assert!(matched("{s: \"3\"}", dollar));
    assert!(!matched("{s: 3}", dollar));
    // Objects, arrays, tagged values and strings that need quotes, in wire form.
    let wire_forms = "!let {let: [{o: {a: [1, x]}}, {t: !t y}, {q: \"a b\"}], \
                      in: [\"o=.[o]\", \"t=.[t]\", \"q=.[q]\"]}";
    assert!(matched(
        "[\"o={a: [1 x]}\", \"t=!t y\", \"q=\\\"a b\\\"\"]",
        wire_forms
    ));
    // The bound value is written as bound: a reference inside it is not expanded again.
    let raw = "!let {let: [{a: 5}, {b: \"v.[a]\"}], in: {x: \"=.[b]\"}}";
    assert!(matched("{x: \"=\\\"v.[a]\\\"\"}", raw));
}

/// `eval/expand_env.go` (`expandStringWithOptions`): inside the brackets `\x` stands for `x`
/// (so `\]` does not close them); brackets that never close, and a `]` or `\` outside them,
/// are text; a reference opened inside an open one starts over.
#[test]
fn let_string_expansion_escapes_and_unclosed_brackets() {
    let escaped = "!let {let: [{\"a]b\": X}], in: {s: \"<.[a\\\\]b]>\"}}";
    assert!(matched("{s: \"<X>\"}", escaped));
    for literal in ["x .[who", "x .[who\\\\]", "a] b\\\\ c", "$[", "ab."] {
        let p = format!("!let {{let: [{{who: W}}], in: {{s: \"{literal}\"}}}}");
        let doc = format!("{{s: \"{literal}\"}}");
        assert!(matched(&doc, &p), "{literal} is text");
    }
    let restarted = "!let {let: [{b: B}], in: {s: \"x.[a.[b]y\"}}";
    assert!(matched("{s: xBy}", restarted));
}
