// The package version, for entries that answer `version()` without loading the wasm module
// (the window entry). scripts/build-pkg writes the crate version here.
export const VERSION = '0.0.0';
