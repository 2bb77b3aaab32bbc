//! The project's commands, as a library so their tests can call them:
//! `cargo xtask build` ([`plugins`]), `cargo xtask demo` ([`demo`]) and
//! `cargo xtask oci` ([`oci`]).

pub mod demo;
pub mod flags;
pub mod oci;
pub mod plugins;
pub mod wasm_flags;
