//! A native proxy-wasm host for tests.
