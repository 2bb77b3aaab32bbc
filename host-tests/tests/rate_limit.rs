//! The rate-limit plugin's local policy, through the real .wasm, under both
//! host profiles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use host_tests::{
    Clock, Exchange, HostError, HostProfile, Node, Plugin, PluginId, Request, Response,
};

fn limited(profile: HostProfile, workers: usize, config: &str) -> (Node, PluginId) {
    let mut n = node(profile, workers);
    let id = n
        .load(Plugin::new("rate_limit", RATE_LIMIT).config(config))
        .unwrap();
    (n, id)
}

fn send(n: &mut Node, id: PluginId, req: Request) -> Exchange {
    n.worker(0)
        .run(&[id], req, |_| Response::ok().body("hello"))
        .unwrap()
}

fn get() -> Request {
    Request::get("/orders")
        .route("rate-limiting-route")
        .client("198.51.100.9", 4242)
}

#[test]
fn sixth_request_in_a_minute_is_rejected_with_kongs_answer() {
    for profile in HostProfile::ALL {
        let (mut n, id) = limited(profile, 1, r#"{"minute": 5, "limit_by": "ip"}"#);
        // 23.5 s into the minute: 37 s until it resets.
        n.advance_ms(23_500).unwrap();
        let mut remaining = Vec::new();
        for _ in 0..5 {
            let ex = send(&mut n, id, get());
            assert_eq!(ex.status, 200, "{profile:?}");
            assert_eq!(ex.body_text(), "hello");
            assert_eq!(ex.header("X-RateLimit-Limit-Minute").as_deref(), Some("5"));
            assert_eq!(ex.header("RateLimit-Limit").as_deref(), Some("5"));
            assert_eq!(ex.header("RateLimit-Reset").as_deref(), Some("37"));
            assert_eq!(
                ex.header("X-RateLimit-Remaining-Minute"),
                ex.header("RateLimit-Remaining")
            );
            remaining.push(ex.header("X-RateLimit-Remaining-Minute").unwrap());
        }
        assert_eq!(remaining, ["4", "3", "2", "1", "0"], "{profile:?}");
        let ex = send(&mut n, id, get());
        assert_eq!(ex.status, 429);
        assert!(
            ex.upstream_request.is_none(),
            "a rejected request never reaches the upstream"
        );
        assert_eq!(ex.body_text(), r#"{"message":"API rate limit exceeded"}"#);
        assert_eq!(
            ex.header("content-type").as_deref(),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(ex.header("Retry-After").as_deref(), Some("37"));
        assert_eq!(
            ex.header("X-RateLimit-Remaining-Minute").as_deref(),
            Some("0")
        );
        // Headers appear once, though hosts run the response phase for the
        // plugin's own answer too.
        assert_eq!(ex.headers_named("X-RateLimit-Limit-Minute").len(), 1);
    }
}

#[test]
fn headers_are_exactly_kongs_names_in_kongs_order() {
    let (mut n, id) = limited(
        HostProfile::Kong,
        1,
        r#"{"second": 10, "hour": 100, "limit_by": "ip"}"#,
    );
    let ex = send(&mut n, id, get());
    let names: Vec<&str> = ex
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.contains("RateLimit"))
        .collect();
    assert_eq!(
        names,
        [
            "X-RateLimit-Limit-Second",
            "X-RateLimit-Remaining-Second",
            "X-RateLimit-Limit-Hour",
            "X-RateLimit-Remaining-Hour",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset"
        ]
    );
    assert_eq!(
        ex.header("RateLimit-Limit").as_deref(),
        Some("10"),
        "the most restrictive limit"
    );
}

#[test]
fn the_window_rolls_over_at_the_minute_boundary() {
    let (mut n, id) = limited(HostProfile::Envoy, 1, r#"{"minute": 2, "limit_by": "ip"}"#);
    n.advance_ms(59_000).unwrap();
    assert_eq!(send(&mut n, id, get()).status, 200);
    assert_eq!(send(&mut n, id, get()).status, 200);
    assert_eq!(send(&mut n, id, get()).status, 429);
    n.advance_ms(1_000).unwrap();
    let ex = send(&mut n, id, get());
    assert_eq!(ex.status, 200, "a new fixed window starts on the minute");
    assert_eq!(
        ex.header("X-RateLimit-Remaining-Minute").as_deref(),
        Some("1")
    );
}

#[test]
fn sliding_window_refuses_the_boundary_burst_a_fixed_window_lets_through() {
    let burst = |window_type: &str| {
        let config =
            format!(r#"{{"minute": 10, "limit_by": "ip", "window_type": "{window_type}"}}"#);
        let (mut n, id) = limited(HostProfile::Envoy, 1, &config);
        n.advance_ms(50_000).unwrap();
        let mut allowed = 0;
        for _ in 0..10 {
            allowed += u32::from(send(&mut n, id, get()).status == 200);
        }
        n.advance_ms(10_000).unwrap(); // the next minute starts
        for _ in 0..10 {
            allowed += u32::from(send(&mut n, id, get()).status == 200);
        }
        allowed
    };
    assert_eq!(burst("fixed"), 20, "fixed windows allow 2x at the boundary");
    // At the start of the next minute the previous one weighs fully: 10
    // already used, nothing more.
    assert_eq!(burst("sliding"), 10);
}

#[test]
fn three_nodes_with_the_local_policy_let_fifteen_through() {
    let mut nodes: Vec<(Node, PluginId)> = (0..3)
        .map(|_| limited(HostProfile::Kong, 2, r#"{"minute": 5, "limit_by": "ip"}"#))
        .collect();
    let mut allowed = 0;
    for i in 0..30 {
        let (n, id) = &mut nodes[i % 3];
        allowed += u32::from(
            n.worker(i)
                .run(&[*id], get(), |_| Response::ok())
                .unwrap()
                .status
                == 200,
        );
    }
    assert_eq!(allowed, 15, "each node counts alone: 3 x 5");
}

#[test]
fn four_workers_hammering_one_key_end_on_the_exact_count() {
    for profile in HostProfile::ALL {
        let mut n = Node::builder(profile)
            .workers(4)
            .clock(Clock::virtual_at_ms(T0_MS))
            .build()
            .unwrap();
        let id = n
            .load(
                Plugin::new("rate_limit", RATE_LIMIT).config(r#"{"hour": 1000, "limit_by": "ip"}"#),
            )
            .unwrap();
        let counts: Vec<(u32, u32)> = std::thread::scope(|s| {
            let handles: Vec<_> = n
                .workers_mut()
                .iter_mut()
                .map(|w| {
                    s.spawn(move || {
                        let (mut ok, mut limited) = (0, 0);
                        for _ in 0..300 {
                            match w.run(&[id], get(), |_| Response::ok()).unwrap().status {
                                200 => ok += 1,
                                429 => limited += 1,
                                other => panic!("unexpected status {other}"),
                            }
                        }
                        (ok, limited)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: u32 = counts.iter().map(|c| c.0).sum();
        let limited: u32 = counts.iter().map(|c| c.1).sum();
        assert_eq!((ok, limited), (1000, 200), "{profile:?}: {counts:?}");
    }
}

#[test]
fn a_flood_of_new_keys_keeps_memory_bounded_and_never_frees_a_limited_key() {
    // 1,000 slots per table against a million distinct clients.
    let (mut n, id) = limited(
        HostProfile::Envoy,
        1,
        r#"{"minute": 3, "limit_by": "header", "header_name": "x-key", "local_slots": 1000}"#,
    );
    let victim = || get().header("x-key", "victim");
    for _ in 0..3 {
        assert_eq!(send(&mut n, id, victim()).status, 200);
    }
    assert_eq!(send(&mut n, id, victim()).status, 429);
    for i in 0..1_000_000u32 {
        let ex = send(&mut n, id, get().header("x-key", format!("client-{i}")));
        assert_eq!(ex.status, 200);
    }
    assert_eq!(
        send(&mut n, id, victim()).status,
        429,
        "the flood did not reset the victim's count"
    );
    // Slot keys, the seed and the host probe: nothing per client.
    assert!(
        n.shared_data().key_count() <= 1000 + 2,
        "{} keys",
        n.shared_data().key_count()
    );
    let full = n.metrics().value("rate_limit_table_full_total");
    assert!(
        matches!(full, Some(host_tests::metrics::MetricValue::Counter(c)) if c > 0),
        "{full:?}"
    );
}

#[test]
fn keys_follow_kongs_limit_by_with_ip_fallback() {
    let (mut n, id) = limited(
        HostProfile::Kong,
        1,
        r#"{"minute": 1, "limit_by": "consumer"}"#,
    );
    let alice = || get().header("X-Consumer-ID", "alice");
    assert_eq!(send(&mut n, id, alice()).status, 200);
    assert_eq!(send(&mut n, id, alice()).status, 429);
    assert_eq!(
        send(&mut n, id, get().header("X-Consumer-ID", "bob")).status,
        200
    );
    // No consumer: the client IP is the key.
    assert_eq!(send(&mut n, id, get()).status, 200);
    assert_eq!(send(&mut n, id, get()).status, 429);
    assert_eq!(send(&mut n, id, get().client("192.0.2.1", 1)).status, 200);
}

#[test]
fn forwarded_for_is_trusted_only_from_configured_proxies() {
    let (mut n, id) = limited(HostProfile::Envoy, 1, r#"{"minute": 1, "limit_by": "ip"}"#);
    let via = |xff: &str| {
        Request::get("/")
            .client("10.0.0.5", 1)
            .header("x-forwarded-for", xff)
    };
    assert_eq!(send(&mut n, id, via("203.0.113.1")).status, 200);
    assert_eq!(
        send(&mut n, id, via("203.0.113.2")).status,
        429,
        "untrusted XFF is ignored"
    );
    let (mut n, id) = limited(
        HostProfile::Envoy,
        1,
        r#"{"minute": 1, "limit_by": "ip", "trusted_proxies": ["10.0.0.0/8"]}"#,
    );
    assert_eq!(send(&mut n, id, via("203.0.113.1")).status, 200);
    assert_eq!(
        send(&mut n, id, via("203.0.113.2")).status,
        200,
        "each client counts alone"
    );
    assert_eq!(send(&mut n, id, via("203.0.113.1")).status, 429);
}

#[test]
fn counters_are_kept_per_route() {
    let (mut n, id) = limited(HostProfile::Kong, 1, r#"{"minute": 1, "limit_by": "ip"}"#);
    assert_eq!(send(&mut n, id, get().route("a")).status, 200);
    assert_eq!(send(&mut n, id, get().route("a")).status, 429);
    assert_eq!(send(&mut n, id, get().route("b")).status, 200);
}

#[test]
fn rules_select_limits_by_route_name_host_and_path() {
    let config = r#"{
        "rules": [
            {"match": {"route_name": "orders"}, "minute": 1},
            {"match": {"path_prefix": "/public"}, "limits": [{"max": 2, "window": "10s"}]}
        ],
        "minute": 3, "limit_by": "ip"
    }"#;
    let (mut n, id) = limited(HostProfile::Envoy, 1, config);
    let statuses = |n: &mut Node, req: fn() -> Request, k: usize| -> Vec<u16> {
        (0..k).map(|_| send(n, id, req()).status).collect()
    };
    assert_eq!(
        statuses(&mut n, || Request::get("/x").route("orders"), 2),
        [200, 429]
    );
    assert_eq!(
        statuses(&mut n, || Request::get("/public/a").route("other"), 3),
        [200, 200, 429]
    );
    let ex = send(&mut n, id, Request::get("/public/b").route("other2"));
    assert_eq!(ex.header("X-RateLimit-Limit-10").as_deref(), Some("2"));
    assert_eq!(
        statuses(&mut n, || Request::get("/else").route("default"), 4),
        [200, 200, 200, 429]
    );
}

#[test]
fn hidden_and_ietf_headers_follow_the_config() {
    let (mut n, id) = limited(
        HostProfile::Envoy,
        1,
        r#"{"minute": 5, "limit_by": "ip", "hide_client_headers": true}"#,
    );
    let ex = send(&mut n, id, get());
    assert!(
        ex.headers
            .iter()
            .all(|(k, _)| !k.to_ascii_lowercase().contains("ratelimit")),
        "{:?}",
        ex.headers
    );
    let (mut n, id) = limited(
        HostProfile::Envoy,
        1,
        r#"{"minute": 5, "limit_by": "ip", "headers": "ietf"}"#,
    );
    let ex = send(&mut n, id, get());
    assert_eq!(
        ex.header("RateLimit-Policy").as_deref(),
        Some("\"minute\";q=5;w=60")
    );
    assert!(ex
        .header("RateLimit")
        .unwrap()
        .starts_with("\"minute\";r=4;t="));
    assert_eq!(ex.header("X-RateLimit-Limit-Minute"), None);
}

#[test]
fn custom_error_code_and_message() {
    let (mut n, id) = limited(
        HostProfile::Kong,
        1,
        r#"{"second": 1, "limit_by": "ip", "error_code": 503, "error_message": "slow \"down\""}"#,
    );
    send(&mut n, id, get());
    let ex = send(&mut n, id, get());
    assert_eq!(ex.status, 503);
    assert_eq!(ex.body_text(), r#"{"message":"slow \"down\""}"#);
}

#[test]
fn a_bad_config_is_refused_at_configure_time_naming_the_field() {
    let cases = [
        (r#"{"minute": "five"}"#, "`minute`"),
        (r#"{"minute": 5, "bogus": 1}"#, "bogus"),
        (
            r#"{"limit_by": "ip"}"#,
            "at least one of these fields must be non-empty",
        ),
        (
            r#"{"minute": 5, "redis": {"host": "redis.internal"}}"#,
            "redis_proxy",
        ),
        (r#"{"minute": 5, "limit_by": "header"}"#, "`header_name`"),
        ("not json", "JSON"),
    ];
    for profile in HostProfile::ALL {
        for (config, needle) in cases {
            let mut n = node(profile, 1);
            let err = n
                .load(Plugin::new("rate_limit", RATE_LIMIT).config(config))
                .unwrap_err();
            let HostError::Config { ref logs, .. } = err else {
                panic!("{config}: {err}")
            };
            let text = logs
                .iter()
                .map(|l| l.message.clone())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                text.contains(needle),
                "{config}: expected {needle:?} in {text:?}"
            );
        }
    }
}

#[test]
fn hostile_request_headers_never_trap_the_plugin() {
    let (mut n, id) = limited(
        HostProfile::Envoy,
        1,
        r#"{"minute": 100, "limit_by": ["header", "ip"], "header_name": "x-key", "trusted_proxies": ["0.0.0.0/0"]}"#,
    );
    let huge = vec![b'a'; 1 << 20];
    let reqs = vec![
        get().header("x-key", vec![0xff, 0xfe, 0x00, 0x80]),
        get().header("x-key", huge.clone()),
        get()
            .header("x-key", "a")
            .header("x-key", "b")
            .header("x-key", "c"),
        get().header("x-forwarded-for", vec![0xc3, 0x28, b',', b' ']),
        get().header("x-forwarded-for", huge),
        get().header("forwarded", "for=\"[::1"),
        Request::get("/").client("not-an-ip", 0),
    ];
    for req in reqs {
        let ex = send(&mut n, id, req);
        assert_eq!(ex.status, 200);
    }
}
