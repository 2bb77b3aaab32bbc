//! Loading a module, and what the host does with a module that is wrong:
//! small hand-written WAT modules, each missing or misusing one thing, so
//! the failure the host reports can be checked exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod wat;

use host_tests::{HostError, HostProfile, Node, Plugin};
use wat::*;

fn load_error(profile: HostProfile, name: &str, text: &str) -> (String, String) {
    match load(profile, name, text).1 {
        Err(HostError::Load { plugin, message }) => (plugin, message),
        Err(other) => panic!("{profile:?}: expected a load error, got {other}"),
        Ok(_) => panic!("{profile:?}: the module loaded"),
    }
}

#[test]
fn a_well_formed_module_loads_under_both_profiles() {
    let text = plugin_with("", &[CONTEXT_CREATE, VM_START_OK, CONFIGURE_OK]);
    for profile in HostProfile::ALL {
        load(profile, "minimal", &text).1.unwrap();
    }
}

#[test]
fn a_module_without_the_abi_version_export_is_refused_naming_it() {
    let text = module(&[
        MEMORY_AND_ALLOCATOR,
        INITIALIZE,
        CONTEXT_CREATE,
        VM_START_OK,
        CONFIGURE_OK,
    ]);
    for profile in HostProfile::ALL {
        let (plugin, message) = load_error(profile, "no-abi", &text);
        assert_eq!(plugin, "no-abi");
        assert!(message.contains("proxy_abi_version_0_2_1"), "{message}");
    }
}

#[test]
fn a_module_without_an_allocation_export_is_refused() {
    let text = module(&[
        r#"(memory (export "memory") 1)"#,
        ABI_VERSION,
        INITIALIZE,
        CONFIGURE_OK,
    ]);
    let (_, message) = load_error(HostProfile::Envoy, "no-alloc", &text);
    assert!(
        message.contains("proxy_on_memory_allocate") && message.contains("malloc"),
        "{message}"
    );
}

#[test]
fn an_import_the_host_does_not_define_is_refused_naming_it() {
    let import = r#"(import "env" "proxy_frobnicate" (func (param i32) (result i32)))"#;
    let text = plugin_with(import, &[CONFIGURE_OK]);
    for profile in HostProfile::ALL {
        let (plugin, message) = load_error(profile, "unknown-import", &text);
        assert_eq!(plugin, "unknown-import");
        assert!(message.contains("proxy_frobnicate"), "{message}");
    }
}

#[test]
fn get_log_level_with_the_abi_signature_loads_in_envoy_but_not_in_kong() {
    // ABI v0.2.1: proxy_get_log_level(return_log_level: i32) -> status.
    // ngx_wasm_module declares another signature, so such a module fails to
    // load there (HOSTS.md: the worker exits, requests hang).
    let import = r#"(import "env" "proxy_get_log_level" (func (param i32) (result i32)))"#;
    let text = plugin_with(import, &[CONFIGURE_OK]);
    load(HostProfile::Envoy, "log-level", &text).1.unwrap();
    let (_, message) = load_error(HostProfile::Kong, "log-level", &text);
    assert!(message.contains("proxy_get_log_level"), "{message}");
}

#[test]
fn callbacks_run_in_the_spec_order_when_a_plugin_loads() {
    // Each step traps unless the one before it ran: `_initialize`, then
    // `proxy_on_context_create(1, 0)` for the root context, then
    // `proxy_on_vm_start(1, vm_config_size)`, then
    // `proxy_on_configure(1, plugin_config_size)`.
    let text = module(&[
        MEMORY_AND_ALLOCATOR,
        ABI_VERSION,
        r#"(global $step (mut i32) (i32.const 0))
  (func (export "_initialize")
    (if (i32.ne (global.get $step) (i32.const 0)) (then unreachable))
    (global.set $step (i32.const 1)))
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (if (i32.ne (global.get $step) (i32.const 1)) (then unreachable))
    (if (i32.ne (local.get $ctx) (i32.const 1)) (then unreachable))
    (if (i32.ne (local.get $parent) (i32.const 0)) (then unreachable))
    (global.set $step (i32.const 2)))
  (func (export "proxy_on_vm_start") (param $ctx i32) (param $size i32) (result i32)
    (if (i32.ne (global.get $step) (i32.const 2)) (then unreachable))
    (if (i32.ne (local.get $size) (i32.const 7)) (then unreachable))
    (global.set $step (i32.const 3))
    (i32.const 1))
  (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
    (if (i32.ne (global.get $step) (i32.const 3)) (then unreachable))
    (i32.eq (local.get $size) (i32.const 11)))"#,
    ]);
    for profile in HostProfile::ALL {
        let file = WatFile::new("order", &text);
        let mut node = Node::builder(profile).build().unwrap();
        let plugin = Plugin::new("order", &file.0)
            .vm_config("vm-conf")
            .config("plugin-conf");
        node.load(plugin).unwrap();
    }
}

#[test]
fn start_is_called_when_there_is_no_initialize() {
    // A WASI command exports `_start` instead of `_initialize`.
    let text = module(&[
        MEMORY_AND_ALLOCATOR,
        ABI_VERSION,
        r#"(global $started (mut i32) (i32.const 0))
  (func (export "_start") (global.set $started (i32.const 1)))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (global.get $started))"#,
    ]);
    load(HostProfile::Envoy, "command", &text).1.unwrap();
}

#[test]
fn malloc_serves_as_the_allocator_for_older_sdks() {
    // on_configure asks for the plugin configuration; the host must
    // allocate it through `malloc` and write the bytes there.
    let text = module(&[
        r#"(import "env" "proxy_get_buffer_bytes"
    (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(memory (export "memory") 1)
  (global $mallocs (mut i32) (i32.const 0))
  (func (export "malloc") (param $size i32) (result i32)
    (global.set $mallocs (i32.add (global.get $mallocs) (i32.const 1)))
    (i32.const 4096))"#,
        ABI_VERSION,
        INITIALIZE,
        r#"(func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
    ;; PLUGIN_CONFIGURATION (7), whole buffer; pointer at 0, size at 4.
    (if (i32.ne (call $get_buffer (i32.const 7) (i32.const 0) (local.get $size)
                                  (i32.const 0) (i32.const 4))
                (i32.const 0))
      (then (return (i32.const 0))))
    (i32.and
      (i32.and
        (i32.eq (global.get $mallocs) (i32.const 1))
        (i32.eq (i32.load (i32.const 0)) (i32.const 4096)))
      (i32.and
        (i32.eq (i32.load (i32.const 4)) (i32.const 2))
        ;; "ok" as a little-endian u16.
        (i32.eq (i32.load16_u (i32.const 4096)) (i32.const 0x6b6f)))))"#,
    ]);
    let file = WatFile::new("malloc", &text);
    let mut node = Node::builder(HostProfile::Envoy).build().unwrap();
    node.load(Plugin::new("malloc", &file.0).config("ok"))
        .unwrap();
}

#[test]
fn out_of_bounds_pointers_answer_invalid_memory_access() {
    // proxy_log with a pointer past the end of memory, with a length that
    // runs past it, and a return pointer out of bounds for a value the host
    // writes: each must answer INVALID_MEMORY_ACCESS (6), never trap the
    // plugin or panic the host. on_configure returns whether all three did.
    let text = plugin_with(
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))"#,
        &[r#"(global $bad_ptr (mut i32) (i32.const -1))
  (global $bad_len (mut i32) (i32.const -1))
  (global $bad_ret (mut i32) (i32.const -1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (global.set $bad_ptr (call $log (i32.const 2) (i32.const 0x7fff0000) (i32.const 16)))
    (global.set $bad_len (call $log (i32.const 2) (i32.const 100) (i32.const -1)))
    (global.set $bad_ret (call $now (i32.const 65533)))
    (i32.and
      (i32.and
        (i32.eq (global.get $bad_ptr) (i32.const 6))
        (i32.eq (global.get $bad_len) (i32.const 6)))
      (i32.eq (global.get $bad_ret) (i32.const 6))))"#],
    );
    for profile in HostProfile::ALL {
        let (node, loaded) = load(profile, "oob", &text);
        loaded.unwrap();
        assert!(node.logs().all().is_empty(), "nothing was logged");
    }
}

#[test]
fn get_status_outside_a_callout_answers_not_found() {
    // The host's own contract: neither real host has one here. Envoy
    // (proxy-wasm-cpp-host) answers OK with the root context's last status;
    // ngx_wasm_module traps (not yet implemented). Plugins must not call it
    // outside `on_http_call_response`; see README.md.
    let text = plugin_with(
        r#"(import "env" "proxy_get_status" (func $status (param i32 i32 i32) (result i32)))"#,
        &[
            r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
    ;; NOT_FOUND (1): there is no call response to report on.
    (i32.eq (call $status (i32.const 0) (i32.const 4) (i32.const 8)) (i32.const 1)))"#,
        ],
    );
    for profile in HostProfile::ALL {
        load(profile, "status", &text).1.unwrap();
    }
}

#[test]
fn a_trap_in_initialize_is_reported_naming_the_callback() {
    let text = module(&[
        MEMORY_AND_ALLOCATOR,
        ABI_VERSION,
        r#"(func (export "_initialize") unreachable)"#,
        CONFIGURE_OK,
    ]);
    for profile in HostProfile::ALL {
        match load(profile, "init-trap", &text).1 {
            Err(HostError::Trap {
                plugin,
                callback,
                detail,
            }) => {
                assert_eq!(plugin, "init-trap");
                assert_eq!(callback, "_initialize");
                assert!(detail.contains("unreachable"), "{detail}");
            }
            Err(other) => panic!("{profile:?}: expected a trap, got {other}"),
            Ok(_) => panic!("{profile:?}: the module loaded"),
        }
    }
}
