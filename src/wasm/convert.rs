//! Converting between Tony values and plain JS values.

use std::sync::Arc;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::tony::{Float, Key, Node, Value};

/// Largest integer a JS number holds exactly.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// A Tony value as a plain JS value: objects become plain objects (integer keys as strings),
/// integers beyond 2^53 become BigInts, tags are dropped.
pub fn to_js(node: &Node) -> JsValue {
    match &node.value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(i) if i.abs() <= MAX_SAFE => JsValue::from_f64(*i as f64),
        Value::Int(i) => JsValue::from(js_sys::BigInt::from(*i)),
        Value::Float(f) => JsValue::from_f64(f.value),
        Value::String(s) => JsValue::from_str(s),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Object(entries) => {
            let object = Object::new();
            for (key, value) in entries.iter() {
                let _ = Reflect::set(&object, &JsValue::from_str(&key.to_text()), &to_js(value));
            }
            object.into()
        }
    }
}

/// A plain JS value (JSON-compatible, plus BigInt) as a Tony value.
pub fn from_js(value: &JsValue) -> Result<Node, String> {
    if value.is_null() || value.is_undefined() {
        return Ok(Node::null());
    }
    if let Some(b) = value.as_bool() {
        return Ok(Node::bool(b));
    }
    if let Some(n) = value.as_f64() {
        if !n.is_finite() {
            return Err(format!("{n} has no Tony form"));
        }
        return Ok(if n.fract() == 0.0 && n.abs() <= MAX_SAFE as f64 {
            Node::int(n as i64)
        } else {
            Node::new(Value::Float(Float {
                value: n,
                text: None,
            }))
        });
    }
    if let Some(s) = value.as_string() {
        return Ok(Node::string(&s));
    }
    if value.is_bigint() {
        let text = String::from(
            js_sys::BigInt::unchecked_from_js(value.clone())
                .to_string(10)
                .unwrap_or_default(),
        );
        return text
            .parse::<i64>()
            .map(Node::int)
            .map_err(|_| format!("BigInt {text} does not fit 64 bits"));
    }
    if Array::is_array(value) {
        let items: Result<Vec<Node>, String> =
            Array::from(value).iter().map(|v| from_js(&v)).collect();
        return Ok(Node::array(items?));
    }
    if value.is_object() && !value.is_function() {
        let object: &Object = value.unchecked_ref();
        let mut entries = Vec::new();
        for key in Object::keys(object).iter() {
            let name = key.as_string().unwrap_or_default();
            let v =
                Reflect::get(object, &key).map_err(|_| format!("cannot read property {name}"))?;
            entries.push((Key::Str(Arc::from(name)), from_js(&v)?));
        }
        return Ok(Node::object(entries));
    }
    Err("only JSON-compatible values (and BigInt) can be stored".to_owned())
}
