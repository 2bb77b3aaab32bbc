//! ABI calls and callbacks the Rust SDK never makes (or makes only in
//! passing), driven from hand-written WAT plugins. Each module writes what
//! it saw into shared data, so a failure shows the values, not a `false`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod wat;

use host_tests::abi::deserialize_map;
use host_tests::{HostError, HostProfile, LogLevel, Node, Request, Response};
use wat::*;

const SET_SHARED_DATA: &str = r#"(import "env" "proxy_set_shared_data"
    (func $set (param i32 i32 i32 i32 i32) (result i32)))"#;

/// The shared-data value at `key`, read as little-endian i32 words.
fn words(node: &Node, key: &str) -> Vec<i32> {
    let (bytes, _) = node
        .shared_data()
        .get(key)
        .unwrap_or_else(|s| panic!("the plugin wrote no `{key}`: {s:?}"));
    bytes
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}

/// An `on_configure` that runs `body` (which stores i32 results from
/// address 256 on), then saves `n` words of them as `raw/results`.
fn configure_recording(body: &str, n: usize) -> String {
    format!(
        r#"(data (i32.const 2048) "raw/results")
  (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
{body}
    (drop (call $set (i32.const 2048) (i32.const 11) (i32.const 256) (i32.const {}) (i32.const 0)))
    (i32.const 1))"#,
        n * 4
    )
}

#[test]
fn get_log_level_reports_the_nodes_level_in_envoy() {
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "env" "proxy_get_log_level" (func $level (param i32) (result i32)))"#
    );
    let configure = configure_recording(
        r#"    (i32.store (i32.const 256) (call $level (i32.const 0)))
    (i32.store (i32.const 260) (i32.load (i32.const 0)))"#,
        2,
    );
    let mut node = Node::builder(HostProfile::Envoy)
        .log_level(LogLevel::Warn)
        .build()
        .unwrap();
    load_into(
        &mut node,
        "log-level",
        &plugin_with(&imports, &[&configure]),
    )
    .unwrap();
    assert_eq!(words(&node, "raw/results"), vec![0, LogLevel::Warn as i32]);
}

#[test]
fn buffer_status_reports_sizes_and_refuses_what_is_not_there() {
    let configure = configure_recording(
        r#"    ;; PLUGIN_CONFIGURATION (7), VM_CONFIGURATION (6), a request body
    ;; outside a request (0), and a buffer type that does not exist.
    (i32.store (i32.const 256) (call $status (i32.const 7) (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 260) (i32.load (i32.const 0)))
    (i32.store (i32.const 264) (call $status (i32.const 6) (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 268) (i32.load (i32.const 0)))
    (i32.store (i32.const 272) (call $status (i32.const 0) (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 276) (call $status (i32.const 99) (i32.const 0) (i32.const 4)))"#,
        6,
    );
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "env" "proxy_get_buffer_status" (func $status (param i32 i32 i32) (result i32)))"#
    );
    // Envoy only: ngx_wasm_module does not declare proxy_get_buffer_status
    // (the SDK never imports it); see README.md.
    let file = WatFile::new("buffer-status", &plugin_with(&imports, &[&configure]));
    let mut node = Node::builder(HostProfile::Envoy).build().unwrap();
    let plugin = host_tests::Plugin::new("buffer-status", &file.0)
        .config("plugin-conf")
        .vm_config("vm");
    node.load(plugin).unwrap();
    // OK + 11 bytes, OK + 2 bytes, NOT_FOUND, BAD_ARGUMENT.
    assert_eq!(words(&node, "raw/results"), vec![0, 11, 0, 2, 1, 2]);
}

#[test]
fn grpc_stream_send_cancel_and_close_answer_unimplemented() {
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "env" "proxy_grpc_stream"
    (func $stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $cancel (param i32) (result i32)))
  (import "env" "proxy_grpc_close" (func $close (param i32) (result i32)))"#
    );
    let configure = configure_recording(
        r#"    (i32.store (i32.const 256) (call $stream (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (i32.store (i32.const 260) (call $send (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 1)))
    (i32.store (i32.const 264) (call $cancel (i32.const 1)))
    (i32.store (i32.const 268) (call $close (i32.const 1)))"#,
        4,
    );
    let text = plugin_with(&imports, &[&configure]);
    for profile in HostProfile::ALL {
        let (node, loaded) = load(profile, "grpc", &text);
        loaded.unwrap();
        assert_eq!(words(&node, "raw/results"), vec![12; 4], "{profile:?}");
        let warnings = node.logs().of("grpc", LogLevel::Warn);
        for f in [
            "proxy_grpc_stream",
            "proxy_grpc_send",
            "proxy_grpc_cancel",
            "proxy_grpc_close",
        ] {
            assert!(
                warnings.iter().any(|l| l.message.contains(f)),
                "{profile:?}: no warning names {f}"
            );
        }
    }
}

#[test]
fn wasi_reports_no_arguments_and_no_preopened_directories() {
    // What Rust's std asks at start-up, and where Envoy (proxy-wasm-cpp-host)
    // and ngx_wasm_module agree: args_sizes_get writes 0 and 0 with
    // SUCCESS, and fd_prestat_get answers BADF (no preopened directory).
    // (Elsewhere their WASI differs; see README.md.)
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))"#
    );
    let configure = configure_recording(
        r#"    (i32.store (i32.const 0) (i32.const -1))
    (i32.store (i32.const 4) (i32.const -1))
    (i32.store (i32.const 256) (call $args_sizes (i32.const 0) (i32.const 4)))
    (i32.store (i32.const 260) (i32.load (i32.const 0)))
    (i32.store (i32.const 264) (i32.load (i32.const 4)))
    (i32.store (i32.const 268) (call $prestat (i32.const 3) (i32.const 0)))"#,
        4,
    );
    let text = plugin_with(&imports, &[&configure]);
    for profile in HostProfile::ALL {
        let (node, loaded) = load(profile, "wasi", &text);
        loaded.unwrap();
        assert_eq!(words(&node, "raw/results"), vec![0, 0, 0, 8], "{profile:?}");
    }
}

#[test]
fn proc_exit_traps_the_plugin() {
    let imports = r#"(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))"#;
    let configure = r#"(func (export "proxy_on_configure") (param i32 i32) (result i32)
    (call $exit (i32.const 3))
    (i32.const 1))"#;
    match load(
        HostProfile::Envoy,
        "exit",
        &plugin_with(imports, &[configure]),
    )
    .1
    {
        Err(err @ HostError::Trap { .. }) => {
            let HostError::Trap { callback, .. } = &err else {
                unreachable!()
            };
            assert_eq!(callback, "proxy_on_configure");
            assert!(err.to_string().contains("proc_exit(3)"), "{err}");
        }
        Err(other) => panic!("expected a trap, got {other}"),
        Ok(_) => panic!("the module loaded"),
    }
}

#[test]
fn header_map_size_is_the_size_of_the_serialized_pairs() {
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "env" "proxy_get_header_map_size" (func $size (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))"#
    );
    let on_request_headers = r#"(data (i32.const 2048) "raw/sizes")
  (data (i32.const 2064) "raw/pairs")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ;; HTTP_REQUEST_HEADERS (0): [status, size, status, pairs size] at 256.
    (i32.store (i32.const 256) (call $size (i32.const 0) (i32.const 260)))
    (i32.store (i32.const 264) (call $pairs (i32.const 0) (i32.const 0) (i32.const 268)))
    (drop (call $set (i32.const 2048) (i32.const 9) (i32.const 256) (i32.const 16) (i32.const 0)))
    (drop (call $set (i32.const 2064) (i32.const 9)
      (i32.load (i32.const 0)) (i32.load (i32.const 268)) (i32.const 0)))
    (i32.const 0))"#;
    let text = plugin_with(&imports, &[CONFIGURE_OK, on_request_headers]);
    // Envoy only: ngx_wasm_module does not declare proxy_get_header_map_size
    // (the SDK never imports it); see README.md.
    let (mut node, loaded) = load(HostProfile::Envoy, "sizes", &text);
    let id = loaded.unwrap();
    node.worker(0)
        .run(&[id], Request::get("/sized").header("x-a", "1"), |_| {
            Response::ok()
        })
        .unwrap();
    let sizes = words(&node, "raw/sizes");
    let (pairs, _) = node.shared_data().get("raw/pairs").unwrap();
    assert_eq!(sizes, vec![0, pairs.len() as i32, 0, pairs.len() as i32]);
    let map = deserialize_map(&pairs).unwrap();
    assert!(
        map.contains(&(":path".to_string(), b"/sized".to_vec())),
        "{map:?}"
    );
    assert!(map.contains(&("x-a".to_string(), b"1".to_vec())), "{map:?}");
}

/// Records each callback as one letter: `_initialize` I, root context R,
/// `on_vm_start` V, `on_configure` C, stream context S, request headers,
/// body, trailers H B T, response headers, body, trailers h b t, `on_log` L,
/// `on_done` D, `on_delete` X — and saves the letters at `on_delete`.
const SEQUENCE_RECORDER: &str = r#"
  (global $pos (mut i32) (i32.const 1024))
  (data (i32.const 2048) "raw/sequence")
  (func $mark (param $c i32)
    (i32.store8 (global.get $pos) (local.get $c))
    (global.set $pos (i32.add (global.get $pos) (i32.const 1))))
  (func (export "_initialize") (call $mark (i32.const 73)))
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (call $mark (select (i32.const 82) (i32.const 83) (i32.eqz (local.get $parent)))))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (call $mark (i32.const 86)) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (call $mark (i32.const 67)) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $mark (i32.const 72)) (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (call $mark (i32.const 66)) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32)
    (call $mark (i32.const 84)) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (call $mark (i32.const 104)) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32)
    (call $mark (i32.const 98)) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32)
    (call $mark (i32.const 116)) (i32.const 0))
  (func (export "proxy_on_log") (param i32) (call $mark (i32.const 76)))
  (func (export "proxy_on_done") (param i32) (result i32)
    (call $mark (i32.const 68)) (i32.const 1))
  (func (export "proxy_on_delete") (param i32)
    (call $mark (i32.const 88))
    (drop (call $set (i32.const 2048) (i32.const 12) (i32.const 1024)
      (i32.sub (global.get $pos) (i32.const 1024)) (i32.const 0))))
"#;

fn sequence(node: &Node) -> String {
    let (bytes, _) = node.shared_data().get("raw/sequence").unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn stream_callbacks_run_in_order_from_context_create_to_delete() {
    let text = module(&[
        SET_SHARED_DATA,
        MEMORY_AND_ALLOCATOR,
        ABI_VERSION,
        SEQUENCE_RECORDER,
    ]);
    for profile in HostProfile::ALL {
        let (mut node, loaded) = load(profile, "sequence", &text);
        let id = loaded.unwrap();
        let request = Request::post("/", "body").trailer("t", "1");
        node.worker(0)
            .run(&[id], request, |_| {
                Response::ok().body("answer").trailer("t", "2")
            })
            .unwrap();
        assert_eq!(sequence(&node), "IRVCSHBThbtLDX", "{profile:?}");
    }
    // Phases with nothing to carry are skipped. (Envoy only: Kong's CAS
    // rule refuses the plugin's cas-0 overwrite of the key.)
    let (mut node, loaded) = load(HostProfile::Envoy, "sequence", &text);
    let id = loaded.unwrap();
    node.worker(0)
        .run(&[id], Request::get("/"), |_| Response::ok())
        .unwrap();
    assert_eq!(sequence(&node), "IRVCSHhLDX");
}

#[test]
fn foreign_function_callbacks_read_their_arguments_buffer() {
    let imports = format!(
        "{SET_SHARED_DATA}\n{}",
        r#"(import "env" "proxy_get_buffer_bytes" (func $get (param i32 i32 i32 i32 i32) (result i32)))"#
    );
    let callback = r#"(data (i32.const 2048) "raw/foreign")
  (func (export "proxy_on_foreign_function") (param $ctx i32) (param $fid i32) (param $size i32)
    ;; [function id, status] then the FOREIGN_FUNCTION_ARGUMENTS (8) bytes.
    (i32.store (i32.const 256) (local.get $fid))
    (i32.store (i32.const 260)
      (call $get (i32.const 8) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (memory.copy (i32.const 264) (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (drop (call $set (i32.const 2048) (i32.const 11) (i32.const 256)
      (i32.add (i32.const 8) (i32.load (i32.const 4))) (i32.const 0))))"#;
    let (mut node, loaded) = load(
        HostProfile::Envoy,
        "foreign",
        &plugin_with(&imports, &[CONFIGURE_OK, callback]),
    );
    let id = loaded.unwrap();
    node.worker(0)
        .vm(id)
        .unwrap()
        .foreign_function(7, b"args")
        .unwrap();
    let (bytes, _) = node.shared_data().get("raw/foreign").unwrap();
    assert_eq!(bytes, [&7i32.to_le_bytes()[..], &[0; 4], b"args"].concat());
}
