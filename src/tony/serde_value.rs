//! serde support for the value model (feature `serde`): [`Node`] is `Serialize` and
//! `Deserialize`, and [`to_node`]/[`from_node`] convert any serde type to and from it.
//!
//! Only data crosses: tags are presentation and patch ops, not data, so serializing drops them
//! (use the Tony encoders to keep them). Sparse-array keys serialize as integer map keys and
//! the merge key as `"<<"`; map keys deserialize as strings. Deserializing refuses what the model cannot hold exactly: integers
//! beyond `i64`, non-finite floats, bytes, duplicate keys, and nesting deeper than
//! [`MAX_DEPTH`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use ::serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use ::serde::ser::{SerializeMap, SerializeSeq};
use ::serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Key, Node, Value, MAX_DEPTH};

/// A value that could not be converted to or from a [`Node`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SerdeError(String);

/// `value` as a Tony value (through its `Serialize` implementation).
pub fn to_node<T: Serialize + ?Sized>(value: &T) -> Result<Node, SerdeError> {
    let json = serde_json::to_value(value).map_err(|e| SerdeError(e.to_string()))?;
    Node::deserialize(json).map_err(|e| SerdeError(e.to_string()))
}

/// A `T` read from a Tony value (through `T`'s `Deserialize` implementation).
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, SerdeError> {
    let json = serde_json::to_value(node).map_err(|e| SerdeError(e.to_string()))?;
    T::deserialize(json).map_err(|e| SerdeError(e.to_string()))
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::Float(f) => serializer.serialize_f64(f.value),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members.iter() {
                    match key {
                        Key::Str(s) => map.serialize_entry(&**s, value)?,
                        Key::Int(i) => map.serialize_entry(i, value)?,
                        Key::Merge => map.serialize_entry("<<", value)?,
                    }
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor { depth: 0 })
    }
}

/// Builds a [`Node`], `depth` containers down.
struct NodeVisitor {
    depth: usize,
}

impl NodeVisitor {
    /// The visitor for a container's children, or an error past [`MAX_DEPTH`].
    fn below<E: de::Error>(&self) -> Result<NodeSeed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format!(
                "the value nests deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(NodeSeed {
            depth: self.depth.saturating_add(1),
        })
    }
}

/// A [`NodeVisitor`] as a seed, for elements and map values.
struct NodeSeed {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for NodeSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor { depth: self.depth })
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("plain data: null, a boolean, a number, a string, a sequence or a map")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::null())
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::null())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node, E> {
        Ok(Node::bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Node, E> {
        Ok(Node::int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Node, E> {
        i64::try_from(u)
            .map(Node::int)
            .map_err(|_| E::custom(format!("the integer {u} is beyond the 64-bit signed range")))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Node, E> {
        if !f.is_finite() {
            return Err(E::custom(format!("{f} is not a finite number")));
        }
        Ok(Node::float(f))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node, E> {
        Ok(Node::string(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(self.below()?)? {
            items.push(item);
        }
        Ok(Node::array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        let mut seen = HashSet::with_hasher(foldhash::fast::RandomState::default());
        while let Some(key) = map.next_key::<String>()? {
            let key: Arc<str> = Arc::from(key);
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value_seed(self.below()?)?;
            members.push((Key::Str(key), value));
        }
        Ok(Node::object(members))
    }
}
