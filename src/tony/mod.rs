//! The Tony format: data model, parser, encoders and token streaming.
// No panics on user input: no unwrap/expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod annotate;
mod chunks;
mod encode;
mod error;
mod fast;
mod ir;
pub(crate) mod keys;
pub mod kpath;
mod lex;
mod object;
mod parse;
mod prefetch;
pub mod quote;
#[cfg(feature = "serde")]
mod serde_value;
mod storable;
mod stream;
pub mod tag;

pub use annotate::{parse_annotated, parse_documents_annotated, Annotations};
pub use chunks::{encode_text, write_json_string, ChunkEncoder, JsonSink, TextFormat};
pub use encode::{
    encode_block, encode_block_annotated, encode_wire, write_key, write_scalar, write_wire,
};
pub(crate) use encode::{write_wire_reporting, NodeStarts, Slot};
pub use error::ParseError;
pub(crate) use fast::{member_at, member_in_run, RunStart};
pub use ir::{canonical_float, Float, Key, Node, Value};
pub use lex::{Lexer, Pos, Token, TokenKind, TokenSource};
pub(crate) use lex::{RawScan, RawStop};
pub use object::Object;
pub use parse::{parse, parse_documents, parse_from_token_source, ParseOptions, MAX_DEPTH};
#[cfg(feature = "serde")]
pub use serde_value::{from_node, to_node, SerdeError};
pub(crate) use storable::reads_back_as_tag;
pub use storable::{check_storable, NotStorable, Problem};
pub use stream::{build_node, Event, EventReader, NodeCallback, NodeEvents, TokenSink};
