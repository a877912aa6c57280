//! Matching a document against a pattern (commit preconditions, `!dive` rules).

use std::sync::Arc;

use crate::kpath::{get, key_text, KPath};
use crate::tony::tag::{compose, parse_chain};
use crate::tony::{Key, Node, Value};

/// Ops a pattern may use.
const MATCH_OPS: &[&str] = &[
    "and", "or", "not", "type", "irtype", "glob", "field", "tag", "subtree", "has-path", "all",
    "key", "pass", "let",
];

/// Whether `doc` matches `pattern`:
/// * `null` matches anything;
/// * an object matches when every key of the pattern is present and its value matches;
/// * an array matches when it has the same length and every position matches;
/// * other values match by equality (an integer never equals a float; tags are ignored);
/// * ops: `!and`/`!or` (lists), `!not`, `!type`, `!glob`, `!field`, `!tag`, `!subtree`,
///   `!has-path`, `!all`, `!key(f)`, `!pass`, and `!let` (substitutes `.[name]` bindings).
pub fn matches(doc: &Node, pattern: &Node) -> bool {
    matches_in_field(doc, pattern, None)
}

/// [`matches`] for a value found under field `field` (which `!field` patterns test).
pub(crate) fn matches_in_field(doc: &Node, pattern: &Node, field: Option<&str>) -> bool {
    let Some((name, args, child)) = match_op(pattern) else {
        return structural(doc, pattern);
    };
    let list = || {
        child
            .as_array()
            .map(<[Node]>::to_vec)
            .unwrap_or_else(|| vec![child.clone()])
    };
    match name.as_str() {
        "and" => list().iter().all(|p| matches_in_field(doc, p, field)),
        "or" => list().iter().any(|p| matches_in_field(doc, p, field)),
        "not" => !matches_in_field(doc, &child, field),
        "pass" => true,
        "type" | "irtype" => child
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(doc.kind_name())),
        "glob" => match (doc.as_str(), child.as_str()) {
            (Some(text), Some(glob)) => glob_matches(glob, text),
            _ => false,
        },
        "field" => field.is_some_and(|f| matches(&Node::string(f), &child)),
        "tag" => match doc.tag().and_then(parse_chain) {
            Some(links) => {
                let first = &links[0];
                let as_node = Node::object(vec![
                    (Key::str("name"), Node::string(&first.name)),
                    (
                        Key::str("args"),
                        Node::array(first.args.iter().map(|a| Node::string(a)).collect()),
                    ),
                ]);
                let target = if child.as_str().is_some() {
                    Node::string(&first.name)
                } else {
                    as_node
                };
                matches(&target, &child)
            }
            None => child.is_null(),
        },
        "subtree" => crate::kpath::extract_all(doc)
            .iter()
            .any(|(_, n)| matches(n, &child)),
        "has-path" => child
            .as_str()
            .and_then(|p| KPath::parse(p).ok())
            .is_some_and(|p| matches!(get(doc, &p), Ok(Some(_)))),
        "all" => match &doc.value {
            Value::Array(items) => items.iter().all(|i| matches(i, &child)),
            Value::Object(entries) => entries
                .iter()
                .all(|(k, v)| matches_in_field(v, &child, Some(&k.to_text()))),
            _ => false,
        },
        "key" => keyed(
            doc,
            &child,
            args.first().map(String::as_str).unwrap_or_default(),
        ),
        "let" => let_binding(doc, &child),
        _ => unreachable!("match_op returns match ops only"),
    }
}

/// The first match op in `pattern`'s tag chain, its arguments, and the pattern's remainder.
fn match_op(pattern: &Node) -> Option<(String, Vec<String>, Node)> {
    let links = parse_chain(pattern.tag()?)?;
    let at = links
        .iter()
        .position(|l| MATCH_OPS.contains(&l.name.as_str()))?;
    let child = Node {
        tag: compose(&links[at + 1..]).map(Arc::from),
        value: pattern.value.clone(),
    };
    Some((links[at].name.clone(), links[at].args.clone(), child))
}

fn structural(doc: &Node, pattern: &Node) -> bool {
    match (&pattern.value, &doc.value) {
        (Value::Null, _) => true,
        (Value::Object(want), Value::Object(_)) => want.iter().all(|(k, p)| {
            doc.get_field(k)
                .is_some_and(|v| matches_in_field(v, p, Some(&k.to_text())))
        }),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have.iter()).all(|(p, d)| matches(d, p))
        }
        (Value::Object(_) | Value::Array(_), _) => false,
        (p, d) => p == d,
    }
}

fn keyed(doc: &Node, pattern: &Node, field: &str) -> bool {
    let (Some(items), Some(wanted)) = (doc.as_array(), pattern.as_array()) else {
        return false;
    };
    let key = Key::str(field);
    wanted.iter().all(|w| {
        let Some(k) = w.get_field(&key).map(|v| key_text(&v.clone().untagged())) else {
            return false;
        };
        items
            .iter()
            .find(|i| {
                i.get_field(&key)
                    .is_some_and(|v| key_text(&v.clone().untagged()) == k)
            })
            .is_some_and(|i| matches(i, w))
    })
}

/// `!let {let: [{name: value}...], in: pattern}`: matches `pattern` with every string
/// `.[name]` replaced by the bound value.
fn let_binding(doc: &Node, body: &Node) -> bool {
    let bindings: Vec<(String, Node)> = body
        .get_field(&Key::str("let"))
        .and_then(Node::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::as_object)
        .flatten()
        .map(|(k, v)| (format!(".[{}]", k.to_text()), v.clone()))
        .collect();
    let Some(pattern) = body.get_field(&Key::str("in")) else {
        return false;
    };
    matches(doc, &substitute(pattern, &bindings))
}

fn substitute(node: &Node, bindings: &[(String, Node)]) -> Node {
    match &node.value {
        Value::String(s) => bindings
            .iter()
            .find(|(name, _)| name == &**s)
            .map_or_else(|| node.clone(), |(_, v)| v.clone()),
        Value::Array(items) => Node {
            tag: node.tag.clone(),
            value: Value::Array(Arc::new(
                items.iter().map(|i| substitute(i, bindings)).collect(),
            )),
        },
        Value::Object(entries) => Node {
            tag: node.tag.clone(),
            value: Value::Object(Arc::new(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), substitute(v, bindings)))
                    .collect(),
            )),
        },
        _ => node.clone(),
    }
}

/// Shell-style glob: `*` any run, `?` any one character.
fn glob_matches(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            backtrack = Some((gi, ti));
            gi += 1;
        } else if let Some((bg, bt)) = backtrack {
            gi = bg + 1;
            ti = bt + 1;
            backtrack = Some((bg, bt + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("my*", "mytag"));
        assert!(glob_matches("some-field-*", "some-field-1"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("x*", "y"));
    }
}
