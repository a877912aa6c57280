//! tonystore: a versioned document store for the Tony format.
//!
//! The engine is pure Rust over the [`storage::BlockFile`] trait; everything JS-facing lives in
//! the wasm32-only `wasm` module.
#![warn(missing_docs)]

pub mod engine;
pub mod patch;
mod sort;
pub mod storage;
pub mod tony;

/// Kinded paths: part of the Tony format ([`tony::kpath`]), re-exported at the crate root.
pub use tony::kpath;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
