//! The host-independent core of the plugin set.
//!
//! Everything here is pure: no proxy-wasm calls, time passed in as integer
//! milliseconds. That is what lets the same logic be tested natively, on
//! wasm32 under Node, and driven by the plugins in any proxy-wasm host.

/// Marks a test to run natively with `#[test]` and on wasm32 with
/// `wasm_bindgen_test`, so the core is checked on the architecture the
/// plugins ship on (32-bit `usize`, no threads).
#[macro_export]
macro_rules! both_targets_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

pub mod cluster;
pub mod config_error;
pub mod config_schema;
pub(crate) mod json_fields;
pub mod metrics;
pub mod ratelimit;
