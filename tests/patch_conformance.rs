//! The patch, diff and match conformance cases (`tests/conformance/*.jsonl`).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{field, sorted_keys, text, tony};
use tonystore::patch::{diff, matches, patch, patch_with, reverse, PatchError, PatchOptions};
use tonystore::tony::{encode_wire, Value};

#[test]
fn every_patch_case_passes() {
    for case in common::conformance("patch.jsonl") {
        let id = text(&case, "id").unwrap();
        let doc = tony(text(&case, "doc").unwrap());
        let p = tony(text(&case, "patch").unwrap());
        let tags = field(&case, "tags").as_array().unwrap();
        let pipes = tags.iter().any(|t| t.as_str() == Some("pipe"));
        if pipes {
            // `!pipe` runs a shell command: refused unless explicitly allowed.
            assert!(
                matches!(patch(&doc, &p), Err(PatchError::Unsupported { .. })),
                "{id}"
            );
        }
        let want_error = matches!(field(&case, "error").value, Value::Bool(true));
        match patch_with(&doc, &p, PatchOptions { allow_pipe: pipes }) {
            Ok(got) => {
                assert!(
                    !want_error,
                    "{id}: expected an error, got {}",
                    encode_wire(&got)
                );
                let want = tony(text(&case, "result").unwrap());
                assert_eq!(
                    encode_wire(&sorted_keys(&got)),
                    encode_wire(&sorted_keys(&want)),
                    "{id}"
                );
            }
            Err(e) => assert!(want_error, "{id}: {e}"),
        }
    }
}

#[test]
fn every_diff_case_passes_with_the_exact_diff() {
    for case in common::conformance("diff.jsonl") {
        let id = text(&case, "id").unwrap();
        let from = tony(text(&case, "from").unwrap());
        let to = tony(text(&case, "to").unwrap());
        let got = diff(&from, &to);
        match text(&case, "diff") {
            None => assert!(got.is_none(), "{id}"),
            Some(want) => {
                let got = got.unwrap_or_else(|| panic!("{id}: no diff"));
                assert_eq!(
                    encode_wire(&sorted_keys(&got)),
                    encode_wire(&sorted_keys(&tony(want))),
                    "{id}"
                );
                assert_eq!(
                    sorted_keys(&patch(&from, &got).unwrap()),
                    sorted_keys(&to),
                    "{id}: patch(from, diff) == to"
                );
                assert_eq!(
                    reverse(&reverse(&got).unwrap()).unwrap(),
                    got,
                    "{id}: reversing twice is the identity"
                );
            }
        }
    }
}

#[test]
fn every_match_case_passes() {
    for case in common::conformance("match.jsonl") {
        let id = text(&case, "id").unwrap();
        let doc = tony(text(&case, "doc").unwrap());
        let pattern = tony(text(&case, "match").unwrap());
        let want = matches!(field(&case, "want").value, Value::Bool(true));
        assert_eq!(matches(&doc, &pattern), want, "{id}");
    }
}
