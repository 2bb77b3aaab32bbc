//! Hand-written WAT plugins for tests that need a module the SDK would
//! never produce: a missing export, a bad pointer, a raw ABI call.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::{HostError, HostProfile, Node, Plugin, PluginId};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Memory and a bump allocator from 4096 up: what every proxy-wasm module
/// exports. Addresses below 4096 are the test's own scratch space.
pub const MEMORY_AND_ALLOCATOR: &str = r#"
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
"#;

pub const ABI_VERSION: &str = r#"(func (export "proxy_abi_version_0_2_1"))"#;
pub const INITIALIZE: &str = r#"(func (export "_initialize"))"#;
pub const CONTEXT_CREATE: &str = r#"(func (export "proxy_on_context_create") (param i32 i32))"#;
pub const VM_START_OK: &str =
    r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))"#;
pub const CONFIGURE_OK: &str =
    r#"(func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))"#;

/// A module from its parts; imports must come first.
pub fn module(parts: &[&str]) -> String {
    format!("(module\n{}\n)", parts.join("\n"))
}

/// A valid plugin: `imports`, memory, allocator, ABI version,
/// `_initialize`, and the given callbacks.
pub fn plugin_with(imports: &str, callbacks: &[&str]) -> String {
    let mut parts = vec![imports, MEMORY_AND_ALLOCATOR, ABI_VERSION, INITIALIZE];
    parts.extend_from_slice(callbacks);
    module(&parts)
}

/// A WAT file under the temp dir with a name no other test (or test run)
/// uses: the host caches compiled modules by path. Removed on drop.
pub struct WatFile(pub PathBuf);

impl WatFile {
    pub fn new(name: &str, text: &str) -> WatFile {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "host-tests-{name}-{}-{}.wat",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        WatFile(path)
    }
}

impl Drop for WatFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Loads the module as plugin `name` into `node`.
pub fn load_into(node: &mut Node, name: &str, text: &str) -> Result<PluginId, HostError> {
    let file = WatFile::new(name, text);
    node.load(Plugin::new(name, &file.0))
}

/// Loads the module as plugin `name` into a fresh one-worker node.
pub fn load(profile: HostProfile, name: &str, text: &str) -> (Node, Result<PluginId, HostError>) {
    let mut node = Node::builder(profile).build().unwrap();
    let loaded = load_into(&mut node, name, text);
    (node, loaded)
}
