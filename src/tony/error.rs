//! [`ParseError`]: what went wrong in Tony text, and where.

use super::lex::Pos;

/// A syntax error with its position (1-based line and column, 0-based byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {col}: {message}")]
pub struct ParseError {
    /// Byte offset of the error.
    pub offset: u64,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
    /// What was wrong or expected.
    pub message: String,
    /// Set when reading the input failed (an I/O error, not a syntax error): its kind.
    pub read_failure: Option<std::io::ErrorKind>,
}

impl ParseError {
    /// An error at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        ParseError {
            offset: pos.offset,
            line: pos.line,
            col: pos.col,
            message: message.into(),
            read_failure: None,
        }
    }

    /// Reading the input failed at `pos` with `error`.
    pub fn read_failed(pos: Pos, error: &std::io::Error) -> Self {
        ParseError {
            read_failure: Some(error.kind()),
            ..ParseError::new(pos, format!("read failed: {error}"))
        }
    }
}
