//! The project's commands, as a library so their tests can call them:
//! `cargo xtask build` ([`plugins`]) and `cargo xtask demo` ([`demo`]).

pub mod demo;
pub mod plugins;
