//! Arguments from JS: checked and converted, every problem a coded error naming the argument.

use std::fmt::Display;

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use super::convert::{from_js, is_js_array, js_string};
use super::errors::{coded_error, describe};
use crate::kpath::KPath;
use crate::tony::{parse, Node};

/// 2^53 - 1: the largest integer a JS number holds exactly.
pub(super) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// One patch of a commit.
pub(super) struct PatchArg {
    /// Where it applies.
    pub path: KPath,
    /// The patch (or, with `replace`, the value).
    pub node: Node,
    /// `{replace: true}`: the value at `path` becomes exactly `node` instead of merging.
    pub replace: bool,
}

/// What kind of JS value `value` is, for error messages.
pub(super) fn kind(value: &JsValue) -> String {
    if value.is_null() {
        "null".to_owned()
    } else if is_js_array(value) {
        "an array".to_owned()
    } else {
        value.js_typeof().as_string().unwrap_or_default()
    }
}

/// `object[name]` of an object argument called `what`; a throwing getter or `Proxy` trap is an
/// `invalid_argument` error.
pub(super) fn field(
    object: &JsValue,
    name: &'static str,
    what: impl Display,
) -> Result<JsValue, JsValue> {
    Reflect::get(object, &js_string(name)).map_err(|e| threw(what, name, &e))
}

/// Whether `object` (an object argument called `what`) has a property `name`.
pub(super) fn has(
    object: &JsValue,
    name: &'static str,
    what: impl Display,
) -> Result<bool, JsValue> {
    Reflect::has(object, &js_string(name)).map_err(|e| threw(what, name, &e))
}

pub(super) fn threw(what: impl Display, name: &str, err: &JsValue) -> JsValue {
    let (_, message) = describe(err);
    coded_error(
        "invalid_argument",
        &format!("reading {what}.{name} threw: {message}"),
    )
}

/// `options[name]`, where `options` may be absent (`undefined` or `null`) or an object.
pub(super) fn option(options: &JsValue, name: &'static str) -> Result<JsValue, JsValue> {
    if options.is_undefined() || options.is_null() {
        Ok(JsValue::UNDEFINED)
    } else if options.is_object() && !is_js_array(options) {
        field(options, name, "options")
    } else {
        Err(coded_error(
            "invalid_option",
            &format!("options must be an object, not {}", kind(options)),
        ))
    }
}

/// A string option: absent (`None`) or one of `allowed`.
pub(super) fn choice(
    options: &JsValue,
    name: &'static str,
    allowed: &[&str],
) -> Result<Option<String>, JsValue> {
    let value = option(options, name)?;
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_string() {
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        _ => Err(coded_error(
            "invalid_option",
            &format!(
                "options.{name} must be one of {allowed:?}, not {}",
                value
                    .as_string()
                    .map_or_else(|| kind(&value), |s| format!("{s:?}"))
            ),
        )),
    }
}

/// A path argument called `what`: a string in kinded-path syntax.
pub(super) fn path_arg(value: &JsValue, what: impl Display) -> Result<KPath, JsValue> {
    let text = value.as_string().ok_or_else(|| {
        coded_error(
            "invalid_path",
            &format!("{what} must be a string, not {}", kind(value)),
        )
    })?;
    KPath::parse(&text).map_err(|e| coded_error("invalid_path", &format!("{what}: {e}")))
}

/// A commit argument called `what`: absent means `default`; otherwise a non-negative integer.
pub(super) fn commit_arg(value: &JsValue, what: &str, default: u64) -> Result<u64, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(default);
    }
    match value.as_f64() {
        Some(c) if c >= 0.0 && c.fract() == 0.0 && c <= u64::MAX as f64 => Ok(c as u64),
        Some(c) => Err(coded_error(
            "no_such_commit",
            &format!("{c} is not a commit number"),
        )),
        None => Err(coded_error(
            "invalid_argument",
            &format!("{what} must be a number, not {}", kind(value)),
        )),
    }
}

/// A number argument called `what` that must be an integer in `min..=max`.
pub(super) fn integer_arg(value: &JsValue, what: &str, min: f64, max: f64) -> Result<f64, JsValue> {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && (min..=max).contains(&n) => Ok(n),
        _ => Err(coded_error(
            "invalid_argument",
            &format!(
                "{what} must be an integer from {min} to {max}, not {}",
                value
                    .as_f64()
                    .map_or_else(|| kind(value), |n| n.to_string())
            ),
        )),
    }
}

/// `{path, value}` or `{path, tony}` — exactly one of the two — with an optional boolean
/// `replace`; `what` names the patch in error messages (`patches[1]`).
pub(super) fn patch_arg(item: &JsValue, what: &str) -> Result<PatchArg, JsValue> {
    if !item.is_object() || is_js_array(item) {
        return Err(coded_error(
            "invalid_patch",
            &format!(
                "{what} must be an object {{path, value}} or {{path, tony}}, not {}",
                kind(item)
            ),
        ));
    }
    // The names in error messages are formatted only for an error.
    let path = path_arg(&field(item, "path", what)?, format_args!("{what}.path"))?;
    let node = match (has(item, "value", what)?, has(item, "tony", what)?) {
        (true, false) => from_js(
            &field(item, "value", what)?,
            format_args!("{what}: "),
            "value",
        )?,
        (false, true) => {
            let tony = field(item, "tony", what)?;
            let text = tony.as_string().ok_or_else(|| {
                coded_error(
                    "invalid_tony",
                    &format!("{what}.tony must be a string, not {}", kind(&tony)),
                )
            })?;
            parse(&text).map_err(|e| coded_error("invalid_tony", &format!("{what}.tony: {e}")))?
        }
        (has_value, _) => {
            return Err(coded_error(
                "invalid_patch",
                &format!(
                    "{what} has {} of value and tony: give exactly one",
                    if has_value { "both" } else { "neither" }
                ),
            ))
        }
    };
    let replace = match field(item, "replace", what)? {
        r if r.is_undefined() => false,
        r => r.as_bool().ok_or_else(|| {
            coded_error(
                "invalid_patch",
                &format!("{what}.replace must be a boolean, not {}", kind(&r)),
            )
        })?,
    };
    Ok(PatchArg {
        path,
        node,
        replace,
    })
}

/// A patch, or an array of patches, called `what`.
pub(super) fn patches_arg(value: &JsValue, what: &str) -> Result<Vec<PatchArg>, JsValue> {
    if !is_js_array(value) {
        if value.is_object() {
            return Ok(vec![patch_arg(value, what)?]);
        }
        return Err(coded_error(
            "invalid_argument",
            &format!(
                "{what} must be a patch {{path, value | tony}} or an array of them, not {}",
                kind(value)
            ),
        ));
    }
    let length = field(value, "length", what)?.as_f64().unwrap_or(0.0) as u32;
    (0..length)
        .map(|i| {
            let item = Reflect::get_u32(value, i).map_err(|e| threw(what, &i.to_string(), &e))?;
            patch_arg(&item, &format!("{what}[{i}]"))
        })
        .collect()
}
