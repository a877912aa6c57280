//! [`TransactionBuffer`]: a transaction's `(path, patch)` pairs merged into one root patch.

use std::sync::Arc;

use super::error::{Result, StoreError};
use crate::kpath::{KPath, Segment};
use crate::tony::{Key, Node, Value};

/// The patches of one transaction, merged into a root patch by [`TransactionBuffer::merge`].
#[derive(Default, Clone, Debug)]
pub struct TransactionBuffer {
    patches: Vec<(KPath, Node)>,
}

/// One level of the merge trie: either a patch placed here, or children by segment.
enum Slot {
    Patch(Node),
    Children(Vec<(Segment, Slot)>),
}

fn merge_error(message: impl Into<String>) -> StoreError {
    StoreError::Merge(message.into())
}

impl TransactionBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a patch to apply at `path`.
    pub fn add(&mut self, path: KPath, patch: Node) {
        self.patches.push((path, patch));
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// The patches added, in order.
    pub fn patches(&self) -> &[(KPath, Node)] {
        &self.patches
    }

    /// The root patch: fields become object keys, `{i}` integer keys, and `[i]` slots of an
    /// `!arraydiff` (so array elements are patched in place). `None` when empty.
    ///
    /// Fails when one path is an ancestor of (or equal to) another, when siblings mix accessor
    /// kinds (`a.b` with `a[0]`, `[i]` with `{i}`), or for keyed `(k)` and wildcard segments.
    pub fn merge(&self) -> Result<Option<Node>> {
        // In path order an ancestor comes right before its descendants, so a path containing
        // another is next to one it contains: comparing neighbours finds every conflict.
        let mut sorted: Vec<&KPath> = self.patches.iter().map(|(p, _)| p).collect();
        crate::sort::sort(&mut sorted);
        for pair in sorted.windows(2) {
            if let [a, b] = pair {
                if a.is_prefix_of(b) {
                    return Err(merge_error(format!(
                        "paths {a:?} and {b:?} conflicts: one contains the other",
                        a = a.to_string(),
                        b = b.to_string()
                    )));
                }
            }
        }
        let mut root: Option<Slot> = None;
        for (path, patch) in &self.patches {
            insert(&mut root, path.segments(), patch.clone())?;
        }
        root.map(build).transpose()
    }
}

fn accessor(segment: &Segment) -> Result<u8> {
    match segment {
        Segment::Field(_) => Ok(0),
        Segment::Index(_) => Ok(1),
        Segment::Sparse(_) => Ok(2),
        Segment::Key(k) => Err(merge_error(format!(
            "keyed segment ({k}) cannot be written through a path; patch the list with !key"
        ))),
        _ => Err(merge_error(format!("wildcard {segment} in a patch path"))),
    }
}

fn insert(slot: &mut Option<Slot>, segments: &[Segment], patch: Node) -> Result<()> {
    let Some((first, rest)) = segments.split_first() else {
        *slot = Some(Slot::Patch(patch));
        return Ok(());
    };
    let kind = accessor(first)?;
    let children = match slot.get_or_insert_with(|| Slot::Children(Vec::new())) {
        Slot::Children(children) => children,
        Slot::Patch(_) => unreachable!("conflicts were rejected"),
    };
    if let Some((other, _)) = children.first() {
        if accessor(other)? != kind {
            return Err(merge_error(format!(
                "mixed accessors: {other} and {first} under one parent"
            )));
        }
    }
    match children.iter_mut().find(|(s, _)| s == first) {
        Some((_, child)) => {
            let mut taken = Some(std::mem::replace(child, Slot::Children(Vec::new())));
            insert(&mut taken, rest, patch)?;
            *child = taken.expect("set by insert");
        }
        None => {
            let mut child = None;
            insert(&mut child, rest, patch)?;
            children.push((first.clone(), child.expect("set by insert")));
        }
    }
    Ok(())
}

fn build(slot: Slot) -> Result<Node> {
    let children = match slot {
        Slot::Patch(node) => return Ok(node),
        Slot::Children(children) => children,
    };
    let is_array = matches!(children.first(), Some((Segment::Index(_), _)));
    let mut entries = Vec::with_capacity(children.len());
    for (segment, child) in children {
        let key = match segment {
            Segment::Field(name) => Key::Str(name),
            Segment::Index(i) | Segment::Sparse(i) => Key::Int(
                u32::try_from(i)
                    .map_err(|_| merge_error(format!("index {i} is beyond 32 bits")))?,
            ),
            _ => unreachable!("rejected by accessor"),
        };
        entries.push((key, build(child)?));
    }
    if is_array {
        crate::sort::sort_by(&mut entries, |a, b| a.0.cmp(&b.0));
        return Ok(Node {
            tag: Some(Arc::from("!arraydiff")),
            value: Value::Object(Arc::new(entries.into())),
        });
    }
    Ok(Node::object(entries))
}

impl TransactionBuffer {
    /// The root patch of a single `(path, patch)` pair.
    pub fn from_patch(path: KPath, patch: Node) -> Result<Node> {
        let mut buffer = TransactionBuffer::new();
        buffer.add(path, patch);
        Ok(buffer.merge()?.expect("one patch"))
    }
}
