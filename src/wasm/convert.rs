//! Converting between Tony values and plain JS values.
//!
//! JS → Tony accepts exactly the JSON data model plus BigInt: `null`, booleans, finite numbers,
//! strings (well-formed Unicode), BigInts that fit 64 bits, arrays without holes and plain objects
//! (prototype `Object.prototype` of any realm, or `null`) without symbol keys. Anything else —
//! `undefined`, functions, symbols, `Date`, `Map`, `Set`, `RegExp`, typed arrays, boxed
//! primitives, class instances, cycles, nesting deeper than [`MAX_DEPTH`] — is an error naming
//! where in the value it is (`value.a[2].b`). Every JS operation that a hostile value (a
//! `Proxy`, a throwing getter) can make throw is caught, so no exception unwinds through wasm.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::sync::Arc;

use js_sys::{Array, JsString, Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::errors::{coded_error, describe};
use crate::tony::{write_json_string, Float, Key, Node, Value, MAX_DEPTH};

/// Largest integer a JS number holds exactly.
const MAX_SAFE: i64 = (1 << 53) - 1;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    fn own_keys(object: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Object, js_name = getOwnPropertySymbols)]
    fn own_symbols(object: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Object, js_name = getPrototypeOf)]
    fn prototype_of(object: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn is_array(value: &JsValue) -> Result<bool, JsValue>;
}

/// `Array.isArray`, with a throwing check (a revoked `Proxy`) read as "not an array".
pub fn is_js_array(value: &JsValue) -> bool {
    is_array(value).unwrap_or(false)
}

/// A Tony value as a plain JS value: objects become plain objects (integer keys as strings),
/// integers beyond 2^53 become BigInts, tags are dropped. Keys are own data properties, so a
/// `__proto__` key stays a key and never sets a prototype.
pub fn to_js(node: &Node) -> JsValue {
    match &node.value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(i) if i.unsigned_abs() <= MAX_SAFE as u64 => JsValue::from_f64(*i as f64),
        Value::Int(i) => JsValue::from(js_sys::BigInt::from(*i)),
        Value::Float(f) => JsValue::from_f64(f.value),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => {
            let array = Array::new_with_length(items.len() as u32);
            for (i, item) in items.iter().enumerate() {
                array.set(i as u32, to_js(item));
            }
            array.into()
        }
        Value::Object(entries) => {
            let object = Object::new();
            for (key, value) in entries.iter() {
                let value = to_js(value);
                let set = match key {
                    Key::Str(s) if &**s == "__proto__" => {
                        define_data(&object, &"__proto__".into(), &value)
                    }
                    Key::Str(s) => {
                        let key = cached_js_string(s, || Arc::clone(s));
                        Reflect::set(&object, &key, &value).map(drop)
                    }
                    other => Reflect::set(&object, &JsValue::from_str(&other.to_text()), &value)
                        .map(drop),
                };
                // A fresh plain object has no setters and is extensible: setting cannot
                // fail.
                debug_assert!(set.is_ok());
            }
            object.into()
        }
    }
}

thread_local! {
    /// The JS strings of short strings converted so far (object keys, property names): keys
    /// repeat within a value (every record of a list has the same fields) and across reads
    /// (the same records), names in every call, and each conversion from Rust decodes the
    /// text into a new JS string (a third of a small read's conversion, a sixth of a commit's
    /// argument checks).
    static STRINGS: RefCell<HashMap<Arc<str>, JsValue, foldhash::fast::FixedState>> =
        RefCell::new(HashMap::default());
}

/// The JS string of `s`, remembered per thread when short (`owned` gives the key to keep).
fn cached_js_string(s: &str, owned: impl FnOnce() -> Arc<str>) -> JsValue {
    if s.len() > STRING_CACHE_LONGEST {
        return JsValue::from_str(s);
    }
    STRINGS.with(|strings| {
        let mut strings = strings.borrow_mut();
        if let Some(js) = strings.get(s) {
            return js.clone();
        }
        if strings.len() >= STRING_CACHE {
            strings.clear();
        }
        let js = JsValue::from_str(s);
        strings.insert(owned(), js.clone());
        js
    })
}

/// The JS string of `s` (a property name, a key), made once per thread while the table of
/// remembered strings holds it.
pub(super) fn js_string(s: &str) -> JsValue {
    cached_js_string(s, || Arc::from(s))
}

/// Distinct strings remembered; past that, the table starts over.
const STRING_CACHE: usize = 4096;
/// Longer strings are not remembered (they rarely repeat, and the table would hold them).
const STRING_CACHE_LONGEST: usize = 64;

/// Defines `object[key] = value` as an own enumerable data property: unlike assignment, a
/// `__proto__` key stays a key and never sets the prototype.
fn define_data(object: &Object, key: &JsValue, value: &JsValue) -> Result<(), JsValue> {
    let descriptor = Object::new();
    for (name, v) in [
        ("value", value.clone()),
        ("writable", JsValue::TRUE),
        ("enumerable", JsValue::TRUE),
        ("configurable", JsValue::TRUE),
    ] {
        Reflect::set(&descriptor, &name.into(), &v)?;
    }
    Reflect::define_property(object, key, &descriptor).map(drop)
}

/// One step from a value's root to where an error is.
enum Step {
    Index(u32),
    /// A key (a JS string: decoded only for an error message).
    Key(JsValue),
}

/// A plain JS value as a Tony value, or a coded error (`invalid_value`, `too_deep`) whose
/// message starts with `context` and names the place in the value, starting from `root`.
pub fn from_js(value: &JsValue, context: impl Display, root: &str) -> Result<Node, JsValue> {
    let mut walk = Walk::new(TRACK_FROM);
    let converted = match walk.node(value) {
        // A cycle found below `TRACK_FROM` is reported where it closes first: walked again
        // with every container tracked.
        Err(_) if walk.tracked => {
            walk = Walk::new(0);
            walk.node(value)
        }
        converted => converted,
    };
    converted.map_err(|Reason { code, what }| {
        coded_error(code, &format!("{context}{} {what}", walk.location(root)))
    })
}

/// Containers this deep and deeper are tracked for cycles: every cycle reaches that depth
/// (it nests without end), and tracking costs three JS calls a container.
const TRACK_FROM: usize = 32;

/// The state of one conversion: where it is, and the containers it is inside from depth
/// `track_from` down (for cycles).
struct Walk {
    steps: Vec<Step>,
    track_from: usize,
    ancestors: Option<js_sys::Set>,
    /// Whether some container was tracked.
    tracked: bool,
}

impl Walk {
    fn new(track_from: usize) -> Self {
        Walk {
            steps: Vec::new(),
            track_from,
            ancestors: None,
            tracked: false,
        }
    }

    /// `root`, then `.key`, `["odd key"]` and `[index]` steps.
    fn location(&self, root: &str) -> String {
        let mut out = root.to_owned();
        for step in &self.steps {
            match step {
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Step::Key(key) => {
                    // Keys on the way were checked well-formed before the step was taken.
                    let k = key.as_string().unwrap_or_default();
                    if is_identifier(&k) {
                        let _ = write!(out, ".{k}");
                    } else {
                        out.push('[');
                        write_json_string(&mut out, &k);
                        out.push(']');
                    }
                }
            }
        }
        out
    }

    /// Converts `value`; an error is the reason, to follow the location. The likely kinds
    /// are asked first: each question is a call into JS.
    fn node(&mut self, value: &JsValue) -> Result<Node, Reason> {
        if let Some(s) = value.as_string() {
            return well_formed(value, s).map(|s| Node::string(&s));
        }
        if let Some(n) = value.as_f64() {
            return number(n);
        }
        if let Some(b) = value.as_bool() {
            return Ok(Node::bool(b));
        }
        if value.is_null() {
            return Ok(Node::null());
        }
        if value.is_object() {
            return self.container(value);
        }
        if value.is_bigint() {
            return bigint(value);
        }
        Err(invalid(if value.is_undefined() {
            "is undefined; use null, or leave the key out"
        } else if value.is_function() {
            "is a function"
        } else {
            "is a symbol"
        }))
    }

    fn container(&mut self, value: &JsValue) -> Result<Node, Reason> {
        let tracked = self.steps.len() >= self.track_from;
        if tracked {
            self.tracked = true;
            let set = self
                .ancestors
                .get_or_insert_with(|| js_sys::Set::new(&JsValue::UNDEFINED));
            if set.has(value) {
                return Err(invalid("is a cycle: it contains itself"));
            }
        }
        if self.steps.len() >= MAX_DEPTH {
            return Err(Reason {
                code: "too_deep",
                what: format!("is nested deeper than {MAX_DEPTH} levels"),
            });
        }
        let ancestors = self.ancestors.clone().filter(|_| tracked);
        if let Some(set) = &ancestors {
            set.add(value);
        }
        let node = if is_array(value).map_err(|e| threw("checking the value", &e))? {
            self.array(value)
        } else {
            self.object(value)
        };
        if let Some(set) = ancestors {
            set.delete(value);
        }
        node
    }

    fn array(&mut self, array: &JsValue) -> Result<Node, Reason> {
        let length = Reflect::get(array, &"length".into())
            .map_err(|e| threw("reading length", &e))?
            .as_f64()
            .unwrap_or(0.0) as u32;
        let mut items = Vec::new();
        for i in 0..length {
            let item = Reflect::get_u32(array, i).map_err(|e| threw("reading an element", &e))?;
            self.steps.push(Step::Index(i));
            items.push(self.node(&item)?);
            self.steps.pop();
        }
        Ok(Node::array(items))
    }

    fn object(&mut self, object: &JsValue) -> Result<Node, Reason> {
        plain(object)?;
        let symbols = own_symbols(object).map_err(|e| threw("listing keys", &e))?;
        if symbols.length() > 0 {
            return Err(invalid("has a symbol key"));
        }
        let keys = own_keys(object).map_err(|e| threw("listing keys", &e))?;
        let mut entries = Vec::with_capacity(keys.length() as usize);
        for key in keys.iter() {
            let name = well_formed(&key, key.as_string().unwrap_or_default())?;
            let value = Reflect::get(object, &key);
            self.steps.push(Step::Key(key));
            let value = value.map_err(|e| threw("reading it", &e))?;
            entries.push((Key::str(&name), self.node(&value)?));
            self.steps.pop();
        }
        Ok(Node::object(entries))
    }
}

/// Accepts a plain object: its prototype is `null`, or has none itself (some realm's
/// `Object.prototype`). Otherwise says what it is (`a Date`, `a Map`, `an instance of Point`).
fn plain(object: &JsValue) -> Result<(), Reason> {
    let proto = prototype_of(object).map_err(|e| threw("reading its prototype", &e))?;
    if proto.is_null()
        || prototype_of(&proto)
            .map_err(|e| threw("reading its prototype", &e))?
            .is_null()
    {
        return Ok(());
    }
    let name = Reflect::get(&proto, &"constructor".into())
        .ok()
        .and_then(|c| Reflect::get(&c, &"name".into()).ok())
        .and_then(|n| n.as_string())
        .filter(|n| !n.is_empty());
    Err(invalid(match name.as_deref() {
        Some(
            n @ ("Date" | "Map" | "Set" | "WeakMap" | "WeakSet" | "RegExp" | "Promise" | "Error"
            | "ArrayBuffer" | "SharedArrayBuffer" | "DataView" | "Number" | "String"
            | "Boolean"),
        ) => format!("is {} {n}, not a plain object", article(n)),
        Some(n) if n.ends_with("Array") => format!("is {} {n}, not a plain array", article(n)),
        Some(n) => format!("is an instance of {n}, not a plain object"),
        None => "is not a plain object".to_owned(),
    }))
}

/// "a" or "an" before `word`.
fn article(word: &str) -> &'static str {
    if word.starts_with(['A', 'E', 'I', 'O']) {
        "an"
    } else {
        "a"
    }
}

fn number(n: f64) -> Result<Node, Reason> {
    if !n.is_finite() {
        let n = if n.is_nan() {
            "NaN"
        } else if n > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        return Err(invalid(format!("is {n}, which has no Tony form")));
    }
    Ok(if n.fract() == 0.0 && n.abs() <= MAX_SAFE as f64 {
        Node::int(n as i64)
    } else {
        Node::new(Value::Float(Float {
            value: n,
            text: None,
        }))
    })
}

fn bigint(value: &JsValue) -> Result<Node, Reason> {
    let text = js_sys::BigInt::unchecked_from_js_ref(value)
        .to_string(10)
        .map(String::from)
        .map_err(|e| threw("formatting a BigInt", &e))?;
    text.parse::<i64>()
        .map(Node::int)
        .map_err(|_| invalid(format!("is the BigInt {text}, which does not fit 64 bits")))
}

/// The JS string `value` as UTF-8 (`s`, as decoded); a lone surrogate is an error rather
/// than a silent U+FFFD.
fn well_formed(value: &JsValue, s: String) -> Result<String, Reason> {
    // Decoding replaces lone surrogates with U+FFFD: only then is the slow check needed.
    if s.contains('\u{FFFD}') && !value.unchecked_ref::<JsString>().is_valid_utf16() {
        return Err(invalid(
            "has a string with a lone surrogate (not valid Unicode)",
        ));
    }
    Ok(s)
}

/// Whether `key` can follow a `.` in a location.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// An error thrown by JS while `doing` something with the value (a getter, a `Proxy` trap).
fn threw(doing: &str, err: &JsValue) -> Reason {
    let (_, message) = describe(err);
    invalid(format!("threw while {doing}: {message}"))
}

/// Why a value cannot be stored: an error code and what is wrong, to follow the location.
struct Reason {
    code: &'static str,
    what: String,
}

fn invalid(what: impl Into<String>) -> Reason {
    Reason {
        code: "invalid_value",
        what: what.into(),
    }
}
