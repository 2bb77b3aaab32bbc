//! Each host function and callback of ABI v0.2.1, driven through the
//! `abi-probe` fixture (a real SDK-built module) under both host profiles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use host_tests::{HostError, HostProfile, LogLevel, Plugin, Request, Response, Value};
use std::time::Duration;

fn probe(op: &str, arg: &str) -> Request {
    Request::get("/probe")
        .header("x-probe", op)
        .header("x-probe-arg", arg)
}

fn run(
    node: &mut host_tests::Node,
    id: host_tests::PluginId,
    req: Request,
) -> host_tests::Exchange {
    node.worker(0)
        .run(&[id], req, |_| Response::ok().body("upstream body"))
        .unwrap()
}

#[test]
fn logs_are_captured_per_plugin_and_level() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        run(&mut n, id, probe("log", ""));
        let warn_up: Vec<String> = n
            .logs()
            .of("probe", LogLevel::Warn)
            .into_iter()
            .map(|l| l.message)
            .collect();
        assert_eq!(warn_up, vec!["probe warn", "probe error"], "{profile:?}");
        assert!(n
            .logs()
            .of("probe", LogLevel::Trace)
            .iter()
            .any(|l| l.message == "probe trace"));
    }
}

#[test]
fn node_log_level_filters_lines_as_hosts_do() {
    let mut n = host_tests::Node::builder(HostProfile::Envoy)
        .log_level(LogLevel::Error)
        .build()
        .unwrap();
    let id = n.load(Plugin::new("probe", PROBE)).unwrap();
    run(&mut n, id, probe("log", ""));
    let all: Vec<String> = n.logs().all().into_iter().map(|l| l.message).collect();
    assert_eq!(all, vec!["probe error"]);
}

#[test]
fn current_time_follows_the_virtual_clock() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        n.advance_ms(1234).unwrap();
        let ex = run(&mut n, id, probe("time", ""));
        assert_eq!(
            ex.body_text(),
            ((T0_MS + 1234) as u128 * 1_000_000).to_string()
        );
        let wasi = run(&mut n, id, probe("wasi-time", ""));
        assert_eq!(
            wasi.body_text(),
            ex.body_text(),
            "WASI clock agrees with proxy clock"
        );
    }
}

#[test]
fn ticks_fire_per_worker_at_the_configured_period() {
    for profile in HostProfile::ALL {
        let (mut n, _) = probe_node(profile, 2, "tick_ms=100");
        n.advance_ms(1000).unwrap();
        let (v, _) = n.shared_data().get("probe/ticks").unwrap();
        assert_eq!(
            String::from_utf8(v).unwrap(),
            "20",
            "10 ticks in each of 2 workers ({profile:?})"
        );
    }
}

#[test]
fn request_property_in_on_tick_is_refused_by_kong_and_absent_in_envoy() {
    for (profile, expected) in [
        (HostProfile::Envoy, "None"),
        (HostProfile::Kong, "InternalFailure"),
    ] {
        let (mut n, _) = probe_node(profile, 1, "tick_ms=10");
        n.advance_ms(10).unwrap();
        let (v, _) = n.shared_data().get("probe/tick-property").unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), expected, "{profile:?}");
    }
}

fn prop(n: &mut host_tests::Node, id: host_tests::PluginId, path: &str) -> (u16, String) {
    let req = probe("property", path)
        .client("198.51.100.4", 40001)
        .route("orders")
        .service("orders-svc");
    let ex = run(n, id, req);
    (ex.status, ex.body_text())
}

fn hex(s: &[u8]) -> String {
    s.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn source_address_and_port_are_encoded_as_each_host_does() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    assert_eq!(
        prop(&mut n, id, "source.address"),
        (200, hex(b"198.51.100.4:40001"))
    );
    assert_eq!(
        prop(&mut n, id, "source.port"),
        (200, hex(&40001i64.to_le_bytes()))
    );
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    assert_eq!(
        prop(&mut n, id, "source.address"),
        (200, hex(b"198.51.100.4"))
    );
    assert_eq!(prop(&mut n, id, "source.port"), (200, hex(b"40001")));
}

#[test]
fn route_names_come_from_xds_in_envoy_and_kong_properties_in_kong() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    assert_eq!(prop(&mut n, id, "xds.route_name"), (200, hex(b"orders")));
    assert_eq!(prop(&mut n, id, "kong.route_name").0, 404);
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    assert_eq!(prop(&mut n, id, "kong.route_name"), (200, hex(b"orders")));
    assert_eq!(
        prop(&mut n, id, "kong.service_name"),
        (200, hex(b"orders-svc"))
    );
    assert_eq!(prop(&mut n, id, "xds.route_name").0, 404);
    assert_eq!(prop(&mut n, id, "node.id").0, 404);
    assert_eq!(prop(&mut n, id, "plugin_vm_id").0, 404);
}

#[test]
fn request_host_is_the_authority_in_envoy_and_the_machine_in_kong() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    assert_eq!(
        prop(&mut n, id, "request.host"),
        (200, hex(b"example.test"))
    );
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    assert_eq!(prop(&mut n, id, "request.host"), (200, hex(b"node-0")));
}

#[test]
fn plugin_and_node_properties_and_request_headers_resolve() {
    for profile in HostProfile::ALL {
        let mut n = node(profile, 1);
        let id = n
            .load(
                Plugin::new("probe", PROBE)
                    .property("node.metadata.NAMESPACE", Value::Str("shop".into())),
            )
            .unwrap();
        assert_eq!(prop(&mut n, id, "plugin_name"), (200, hex(b"probe")));
        assert_eq!(
            prop(&mut n, id, "request.headers.x-probe"),
            (200, hex(b"property"))
        );
        assert_eq!(prop(&mut n, id, "request.method"), (200, hex(b"GET")));
        assert_eq!(prop(&mut n, id, "no.such.thing").0, 404);
        if profile == HostProfile::Envoy {
            assert_eq!(
                prop(&mut n, id, "node.metadata.NAMESPACE"),
                (200, hex(b"shop"))
            );
        }
    }
}

#[test]
fn set_property_is_read_back_within_the_request() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        let ex = run(&mut n, id, probe("set-property", "wasm.probe_flag=on"));
        assert_eq!(ex.body_text(), "Ok(()):on");
    }
}

#[test]
fn shared_data_cas_zero_overwrites_in_envoy_but_only_creates_in_kong() {
    for (profile, second) in [
        (HostProfile::Envoy, "Ok"),
        (HostProfile::Kong, "CasMismatch"),
    ] {
        let (mut n, id) = probe_node(profile, 1, "");
        assert_eq!(
            run(&mut n, id, probe("shared-set-zero", "k=1")).body_text(),
            "Ok"
        );
        assert_eq!(
            run(&mut n, id, probe("shared-set-zero", "k=2")).body_text(),
            second,
            "{profile:?}"
        );
        let got = run(&mut n, id, probe("shared-get", "k")).body_text();
        let (_, cas) = got.split_once('|').unwrap();
        let stale = cas.parse::<u32>().unwrap() + 100;
        assert_eq!(
            run(&mut n, id, probe("shared-set", &format!("k=3@{stale}"))).body_text(),
            "CasMismatch"
        );
        assert_eq!(
            run(&mut n, id, probe("shared-set", &format!("k=4@{cas}"))).body_text(),
            "Ok"
        );
        assert!(run(&mut n, id, probe("shared-get", "k"))
            .body_text()
            .starts_with("4|"));
    }
}

#[test]
fn nonzero_cas_creates_a_missing_key_only_in_envoy() {
    for (profile, expected) in [
        (HostProfile::Envoy, "Ok"),
        (HostProfile::Kong, "CasMismatch"),
    ] {
        let (mut n, id) = probe_node(profile, 1, "");
        assert_eq!(
            run(&mut n, id, probe("shared-set", "fresh=1@77")).body_text(),
            expected,
            "{profile:?}"
        );
    }
}

#[test]
fn shared_data_is_shared_by_workers_of_a_node_but_not_across_nodes() {
    let (mut a, id) = probe_node(HostProfile::Envoy, 2, "");
    a.worker(0)
        .run(&[id], probe("shared-set-zero", "k=v"), |_| Response::ok())
        .unwrap();
    let ex = a
        .worker(1)
        .run(&[id], probe("shared-get", "k"), |_| Response::ok())
        .unwrap();
    assert!(ex.body_text().starts_with("v|"));
    let (mut b, id_b) = probe_node(HostProfile::Envoy, 1, "");
    // The SDK reports a missing key as no value and no cas.
    assert_eq!(
        run(&mut b, id_b, probe("shared-get", "k")).body_text(),
        "|0"
    );
}

#[test]
fn kong_without_an_shm_kv_zone_traps_on_shared_data() {
    let mut n = host_tests::Node::builder(HostProfile::Kong)
        .without_shm_kv()
        .build()
        .unwrap();
    let id = n.load(Plugin::new("probe", PROBE)).unwrap();
    let err = n
        .worker(0)
        .run(&[id], probe("shared-get", "k"), |_| Response::ok())
        .unwrap_err();
    assert!(
        err.to_string().contains("could not resolve namespace"),
        "{err}"
    );
}

#[test]
fn queue_ready_reaches_the_registering_worker_in_envoy_only() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 2, "");
        let qid = n
            .worker(0)
            .run(&[id], probe("queue-register", "jobs"), |_| Response::ok())
            .unwrap()
            .body_text();
        let r = n
            .worker(1)
            .run(
                &[id],
                probe("queue-enqueue", &format!("{qid}=job-1")),
                |_| Response::ok(),
            )
            .unwrap();
        assert_eq!(r.body_text(), "Ok(())");
        n.worker(0)
            .process_events(Some(Duration::from_millis(100)))
            .unwrap();
        let ready = n
            .shared_data()
            .get("probe/queue-ready")
            .ok()
            .map(|(v, _)| String::from_utf8(v).unwrap());
        match profile {
            HostProfile::Envoy => assert_eq!(ready.as_deref(), Some("job-1")),
            HostProfile::Kong => {
                assert_eq!(ready, None, "ngx_wasm_module never calls on_queue_ready");
                let item = n
                    .worker(1)
                    .run(&[id], probe("queue-dequeue", &qid), |_| Response::ok())
                    .unwrap();
                assert_eq!(item.body_text(), "job-1", "polling works");
            }
        }
        let empty = n
            .worker(1)
            .run(&[id], probe("queue-dequeue", &qid), |_| Response::ok())
            .unwrap();
        assert_eq!(empty.body_text(), "<empty>");
    }
}

#[test]
fn resolve_shared_queue_works_in_envoy_and_traps_in_kong() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    let qid = run(&mut n, id, probe("queue-register", "jobs")).body_text();
    assert_eq!(
        run(&mut n, id, probe("queue-resolve", "probe/jobs")).body_text(),
        qid
    );
    assert_eq!(
        run(&mut n, id, probe("queue-resolve", "probe/nope")).status,
        404
    );
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    let err = n
        .worker(0)
        .run(&[id], probe("queue-resolve", "probe/jobs"), |_| {
            Response::ok()
        })
        .unwrap_err();
    assert!(matches!(err, HostError::Trap { .. }), "{err}");
}

#[test]
fn metrics_are_summed_across_workers() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 3, "");
        for w in 0..3 {
            n.worker(w)
                .run(&[id], probe("metric", "counter:reqs:increment:2"), |_| {
                    Response::ok()
                })
                .unwrap();
        }
        assert_eq!(
            n.metrics().value("reqs"),
            Some(host_tests::metrics::MetricValue::Counter(6))
        );
        assert_eq!(
            run(&mut n, id, probe("metric", "counter:reqs:get:0")).body_text(),
            "ok:6"
        );
        run(&mut n, id, probe("metric", "histogram:lat:record:300"));
        run(&mut n, id, probe("metric", "histogram:lat:record:5"));
        let Some(host_tests::metrics::MetricValue::Histogram(h)) = n.metrics().value("lat") else {
            panic!()
        };
        assert_eq!((h.count, h.sum), (2, 305));
        run(&mut n, id, probe("metric", "gauge:conns:record:7"));
        assert_eq!(
            run(&mut n, id, probe("metric", "gauge:conns:get:0")).body_text(),
            "ok:7"
        );
    }
}

#[test]
fn kong_traps_on_gauge_increment_and_histogram_get_where_envoy_answers() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    assert_eq!(
        run(&mut n, id, probe("metric", "gauge:g:increment:1")).body_text(),
        "ok:"
    );
    assert_eq!(
        run(&mut n, id, probe("metric", "histogram:h:get:0")).body_text(),
        "BadArgument"
    );
    for op in ["gauge:g:increment:1", "histogram:h:get:0"] {
        let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
        let err = n
            .worker(0)
            .run(&[id], probe("metric", op), |_| Response::ok())
            .unwrap_err();
        assert!(matches!(err, HostError::Trap { .. }), "{op}: {err}");
    }
}

#[test]
fn header_changes_reach_the_upstream_except_kong_removals() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        let req = probe("headers", "")
            .header("x-replace", "old")
            .header("x-remove", "gone");
        let ex = n.worker(0).run(&[id], req, |_| Response::ok()).unwrap();
        let up = ex.upstream_request.unwrap();
        assert_eq!(up.header("x-added").as_deref(), Some("1"));
        assert_eq!(up.header("x-replace").as_deref(), Some("new"));
        match profile {
            HostProfile::Envoy => assert_eq!(up.header("x-remove"), None),
            HostProfile::Kong => assert_eq!(up.header("x-remove").as_deref(), Some("gone")),
        }
    }
}

#[test]
fn a_whole_header_map_can_be_replaced() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    let ex = n
        .worker(0)
        .run(
            &[id],
            probe("set-headers", "").header("dropped", "1"),
            |_| Response::ok(),
        )
        .unwrap();
    let up = ex.upstream_request.unwrap();
    assert_eq!(up.header(":path").as_deref(), Some("/replaced"));
    assert_eq!(up.header("only").as_deref(), Some("this"));
    assert_eq!(up.header("dropped"), None);
}

#[test]
fn request_body_replacement_is_cut_to_the_original_length_in_kong() {
    for (profile, expected) in [
        (HostProfile::Envoy, "a much longer body"),
        (HostProfile::Kong, "a much"),
    ] {
        let (mut n, id) = probe_node(profile, 1, "");
        let req = Request::post("/b", "short!")
            .header("x-probe", "body")
            .header("x-probe-arg", "a much longer body");
        let ex = n.worker(0).run(&[id], req, |_| Response::ok()).unwrap();
        assert_eq!(
            ex.upstream_request.unwrap().body,
            expected.as_bytes(),
            "{profile:?}"
        );
    }
}

#[test]
fn large_request_bodies_are_not_visible_to_kong_filters() {
    let big = vec![b'x'; 20 * 1024];
    for (profile, seen) in [(HostProfile::Envoy, true), (HostProfile::Kong, false)] {
        let (mut n, id) = probe_node(profile, 1, "");
        n.worker(0)
            .run(&[id], Request::post("/b", big.clone()), |_| Response::ok())
            .unwrap();
        let saw_body = n
            .logs()
            .all()
            .iter()
            .any(|l| l.message.starts_with("probe: request body"));
        assert_eq!(saw_body, seen, "{profile:?}");
    }
}

#[test]
fn end_of_stream_is_never_set_in_kong_header_phases() {
    for (profile, eos) in [
        (HostProfile::Envoy, "eos=true"),
        (HostProfile::Kong, "eos=false"),
    ] {
        let (mut n, id) = probe_node(profile, 1, "");
        n.worker(0)
            .run(&[id], Request::get("/"), |_| Response::ok())
            .unwrap();
        let line = n
            .logs()
            .all()
            .into_iter()
            .find(|l| l.message.starts_with("probe: request headers"))
            .unwrap();
        assert!(line.message.contains(eos), "{profile:?}: {}", line.message);
    }
}

#[test]
fn local_response_reaches_the_client_and_skips_the_upstream() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        let ex = n
            .worker(0)
            .run(&[id], probe("local", "429"), |_| {
                panic!("upstream must not be called")
            })
            .unwrap();
        assert_eq!(ex.status, 429);
        assert_eq!(ex.body_text(), "denied by probe");
        assert_eq!(ex.header("x-local").as_deref(), Some("yes"));
        assert!(ex.upstream_request.is_none());
        // Both hosts run on_http_response_headers for a local response too.
        assert_eq!(ex.header("x-probe-seen").as_deref(), Some("probe"));
    }
}

#[test]
fn response_phases_run_in_reverse_chain_order_in_envoy_only() {
    for (profile, order) in [
        (HostProfile::Envoy, vec!["b", "a"]),
        (HostProfile::Kong, vec!["a", "b"]),
    ] {
        let mut n = node(profile, 1);
        let a = n.load(Plugin::new("a", PROBE)).unwrap();
        let b = n.load(Plugin::new("b", PROBE)).unwrap();
        let ex = n
            .worker(0)
            .run(&[a, b], Request::get("/"), |_| Response::ok())
            .unwrap();
        assert_eq!(ex.headers_named("x-probe-seen"), order, "{profile:?}");
    }
}

#[test]
fn bodies_and_trailers_pass_through_every_phase() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    let req = Request::post("/b", "hello")
        .header("x-probe", "upper-body")
        .trailer("grpc-status", "0");
    let ex = n
        .worker(0)
        .run(&[id], req, |up| {
            Response::ok().body(up.body.clone()).trailer("t", "1")
        })
        .unwrap();
    assert_eq!(ex.body_text(), "HELLO");
    assert_eq!(ex.trailers, vec![("t".to_string(), b"1".to_vec())]);
    let msgs: Vec<String> = n.logs().all().into_iter().map(|l| l.message).collect();
    for expected in [
        "probe: request body size=5 eos=false",
        "probe: request trailers n=1",
        "probe: response body size=5 eos=false",
        "probe: response trailers n=1",
    ] {
        assert!(
            msgs.iter().any(|m| m == expected),
            "missing {expected:?} in {msgs:?}"
        );
    }
    assert!(msgs.iter().any(|m| m.starts_with("probe: on_log")));
}

#[test]
fn callouts_are_real_http_requests_to_envoy_clusters() {
    let server = TestServer::start(Duration::ZERO);
    let mut n = host_tests::Node::builder(HostProfile::Envoy)
        .cluster("webdis", &server.addr)
        .build()
        .unwrap();
    let id = n.load(Plugin::new("probe", PROBE)).unwrap();
    let req = probe("callout", "webdis")
        .header("x-probe-path", "/GET/k")
        .header("x-probe-authority", "redis.local");
    let ex = n
        .worker(0)
        .run(&[id], req, |_| panic!("answered locally"))
        .unwrap();
    assert!(
        ex.body_text().starts_with("status=200;"),
        "{}",
        ex.body_text()
    );
    assert!(
        ex.body_text()
            .ends_with("body=GET /GET/k HTTP/1.1 host=redis.local"),
        "{}",
        ex.body_text()
    );
    // Unknown cluster, and a missing :authority, are refused at dispatch.
    let ex = n
        .worker(0)
        .run(
            &[id],
            probe("callout", "nope").header("x-probe-authority", "a"),
            |_| Response::ok(),
        )
        .unwrap();
    assert_eq!(ex.body_text(), "dispatch refused: BadArgument");
    let ex = n
        .worker(0)
        .run(&[id], probe("callout", "webdis"), |_| Response::ok())
        .unwrap();
    assert_eq!(ex.body_text(), "dispatch refused: BadArgument");
}

#[test]
fn callouts_name_host_and_port_in_kong() {
    let server = TestServer::start(Duration::ZERO);
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    let ex = n
        .worker(0)
        .run(
            &[id],
            probe("callout", &server.addr).header("x-probe-path", "/x"),
            |_| Response::ok(),
        )
        .unwrap();
    assert!(
        ex.body_text().starts_with("status=200;"),
        "{}",
        ex.body_text()
    );
    assert!(ex.body_text().contains(&format!("host={}", server.addr)));
}

#[test]
fn failed_callouts_are_reported_as_each_host_reports_them() {
    let refused = closed_port();
    let slow = TestServer::start(Duration::from_millis(1500));
    for profile in HostProfile::ALL {
        let mut n = host_tests::Node::builder(profile)
            .cluster("down", &refused)
            .cluster("slow", &slow.addr)
            .build()
            .unwrap();
        let id = n.load(Plugin::new("probe", PROBE)).unwrap();
        let (down, slow_target) = match profile {
            HostProfile::Envoy => ("down".to_string(), "slow".to_string()),
            HostProfile::Kong => (refused.clone(), slow.addr.clone()),
        };
        let ex = n
            .worker(0)
            .run(
                &[id],
                probe("callout", &down).header("x-probe-authority", "a"),
                |_| Response::ok(),
            )
            .unwrap();
        let timed = n
            .worker(0)
            .run(
                &[id],
                probe("callout", &slow_target)
                    .header("x-probe-authority", "a")
                    .header("x-probe-timeout", "200"),
                |_| Response::ok(),
            )
            .unwrap();
        match profile {
            HostProfile::Envoy => {
                assert_eq!(ex.body_text(), "failed;headers=0;dispatch_status=");
                assert_eq!(timed.body_text(), "failed;headers=0;dispatch_status=");
            }
            HostProfile::Kong => {
                assert_eq!(
                    ex.body_text(),
                    "failed;headers=1;dispatch_status=broken connection"
                );
                assert_eq!(
                    timed.body_text(),
                    "failed;headers=1;dispatch_status=timeout"
                );
            }
        }
    }
}

#[test]
fn a_paused_request_resumes_after_its_callout() {
    let server = TestServer::start(Duration::from_millis(50));
    let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
    let ex = n
        .worker(0)
        .run(&[id], probe("callout-continue", &server.addr), |_| {
            Response::ok().body("from upstream")
        })
        .unwrap();
    assert_eq!(ex.status, 200);
    assert_eq!(ex.body_text(), "from upstream");
    assert_eq!(
        ex.upstream_request
            .unwrap()
            .header("x-callout-status")
            .as_deref(),
        Some("200")
    );
}

#[test]
fn ticks_can_dispatch_callouts_from_the_root_context() {
    let server = TestServer::start(Duration::ZERO);
    let (mut n, _) = probe_node(
        HostProfile::Kong,
        1,
        &format!("tick_ms=100 tick_callout={}", server.addr),
    );
    n.advance_ms(100).unwrap();
    n.settle(Duration::from_secs(5)).unwrap();
    let (v, _) = n.shared_data().get("probe/tick-callout").unwrap();
    assert!(String::from_utf8(v).unwrap().contains("status=200"));
}

#[test]
fn grpc_and_foreign_functions_answer_unimplemented_and_log_it() {
    for profile in HostProfile::ALL {
        let (mut n, id) = probe_node(profile, 1, "");
        assert_eq!(run(&mut n, id, probe("grpc", "")).body_text(), "status=12");
        assert_eq!(
            run(&mut n, id, probe("foreign", "")).body_text(),
            "status=12"
        );
        let warns = n.logs().of("probe", LogLevel::Warn);
        assert!(warns.iter().any(|l| l.message.contains("proxy_grpc_call")));
        assert!(warns
            .iter()
            .any(|l| l.message.contains("proxy_call_foreign_function")));
    }
}

#[test]
fn a_trap_names_the_plugin_the_callback_and_the_wasm_backtrace() {
    for op in ["trap", "panic"] {
        let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
        let err = n
            .worker(0)
            .run(&[id], probe(op, ""), |_| Response::ok())
            .unwrap_err();
        match &err {
            HostError::Trap {
                plugin,
                callback,
                detail,
            } => {
                assert_eq!(plugin, "probe");
                assert_eq!(callback, "proxy_on_request_headers");
                assert!(detail.contains("wasm backtrace"), "{detail}");
            }
            other => panic!("{op}: expected a trap, got {other}"),
        }
        let again = n
            .worker(0)
            .run(&[id], Request::get("/"), |_| Response::ok())
            .unwrap_err();
        assert!(matches!(again, HostError::Broken { .. }), "{again}");
    }
}

#[test]
fn close_stream_and_done_work_in_envoy_and_trap_in_kong() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    let ex = n
        .worker(0)
        .run(&[id], probe("close", ""), |_| {
            panic!("closed stream reached upstream")
        })
        .unwrap();
    assert!(ex.closed);
    assert_eq!(run(&mut n, id, probe("done", "")).body_text(), "Ok(())");
    for op in ["close", "done"] {
        let (mut n, id) = probe_node(HostProfile::Kong, 1, "");
        let err = n
            .worker(0)
            .run(&[id], probe(op, ""), |_| Response::ok())
            .unwrap_err();
        assert!(matches!(err, HostError::Trap { .. }), "{op}: {err}");
    }
}

#[test]
fn effective_context_accepts_only_known_contexts() {
    let (mut n, id) = probe_node(HostProfile::Envoy, 1, "");
    assert_eq!(
        run(&mut n, id, probe("effective", "")).body_text(),
        "Err(BadArgument)/Ok(())"
    );
}

#[test]
fn plugin_and_vm_configuration_buffers_reach_the_plugin() {
    let mut n = node(HostProfile::Envoy, 1);
    let id = n
        .load(
            Plugin::new("probe", PROBE)
                .config("tick_ms=0")
                .vm_config("vm-conf"),
        )
        .unwrap();
    assert_eq!(
        run(&mut n, id, probe("buffer", "")).body_text(),
        "tick_ms=0|vm-conf"
    );
}

#[test]
fn a_refused_configuration_is_a_config_error_with_the_plugins_logs() {
    for profile in HostProfile::ALL {
        let mut n = node(profile, 2);
        let err = n
            .load(Plugin::new("probe", PROBE).config("fail"))
            .unwrap_err();
        match &err {
            HostError::Config {
                plugin,
                callback,
                logs,
            } => {
                assert_eq!(
                    (plugin.as_str(), *callback),
                    ("probe", "proxy_on_configure")
                );
                assert!(logs
                    .iter()
                    .any(|l| l.message.contains("`fail`: this configuration is refused")));
            }
            other => panic!("expected a config error, got {other}"),
        }
        assert!(err.to_string().contains("refused on purpose"));
        let err = n
            .load(Plugin::new("probe", PROBE).vm_config("fail"))
            .unwrap_err();
        assert!(
            matches!(
                err,
                HostError::Config {
                    callback: "proxy_on_vm_start",
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn wasi_environment_and_stdio_are_provided_as_envoy_does() {
    let mut n = node(HostProfile::Envoy, 1);
    let id = n
        .load(Plugin::new("probe", PROBE).env("POD_NAMESPACE", "shop"))
        .unwrap();
    assert_eq!(
        run(&mut n, id, probe("env", "POD_NAMESPACE")).body_text(),
        "shop"
    );
    assert_eq!(run(&mut n, id, probe("env", "HOME")).body_text(), "<unset>");
    run(&mut n, id, probe("stdout", "hi"));
    let lines = n.logs().all();
    assert!(lines
        .iter()
        .any(|l| l.level == LogLevel::Info && l.message == "probe says hi"));
    // Unbuffered stderr arrives as the plugin wrote it, piece by piece.
    assert!(lines
        .iter()
        .any(|l| l.level == LogLevel::Error && l.message.starts_with("probe complains")));
    assert_eq!(
        run(&mut n, id, probe("random", "")).body_text(),
        "true:true"
    );
}

#[test]
fn kong_clock_has_millisecond_resolution() {
    let mut n = host_tests::Node::builder(HostProfile::Kong)
        .build()
        .unwrap();
    let id = n.load(Plugin::new("probe", PROBE)).unwrap();
    let ns: u128 = run(&mut n, id, probe("time", ""))
        .body_text()
        .parse()
        .unwrap();
    assert_eq!(ns % 1_000_000, 0);
}
