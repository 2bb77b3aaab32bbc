//! The rate-limit plugin's cluster policy against a real `redis-server`
//! and a real `webdis` on loopback, started by each test on free ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use host_tests::services::{Redis, Webdis};
use host_tests::{Clock, HostProfile, LogLevel, Node, Plugin, PluginId, Request, Response};
use std::time::Duration;

struct Stack {
    redis: Redis,
    webdis: Webdis,
}

fn stack() -> Stack {
    let redis = Redis::start().expect("redis-server (scripts/test installs it)");
    let webdis = Webdis::start(redis.port).expect("webdis (scripts/test installs it)");
    Stack { redis, webdis }
}

/// A node whose plugin reaches Webdis as its host names upstreams: an
/// Envoy cluster `webdis`, or Kong's `host:port`.
fn cluster_node(profile: HostProfile, webdis: &str, extra: &str) -> (Node, PluginId) {
    let upstream = match profile {
        HostProfile::Envoy => "webdis",
        HostProfile::Kong => webdis,
    };
    let mut n = Node::builder(profile)
        .workers(2)
        .clock(Clock::virtual_at_ms(T0_MS + 1_000))
        .cluster("webdis", webdis)
        .build()
        .unwrap();
    let config = format!(
        r#"{{"minute": 5, "limit_by": "ip", "policy": "redis", "sync_rate": -1,
            "redis_proxy": {{"upstream": "{upstream}", "authority": "webdis.local", "timeout_ms": 500}}{extra}}}"#
    );
    let id = n.load(Plugin::new("rate_limit", RATE_LIMIT).config(config)).unwrap();
    (n, id)
}

fn get() -> Request {
    Request::get("/orders").route("rate-limiting-route").client("198.51.100.9", 4242)
}

fn send(n: &mut Node, id: PluginId, i: usize) -> host_tests::Exchange {
    n.worker(i).run(&[id], get(), |_| Response::ok()).unwrap()
}

#[test]
fn strict_mode_lets_exactly_five_through_three_nodes() {
    for profile in HostProfile::ALL {
        let s = stack();
        let mut nodes: Vec<_> = (0..3).map(|_| cluster_node(profile, &s.webdis.addr(), "")).collect();
        let mut statuses = Vec::new();
        for i in 0..15 {
            let (n, id) = &mut nodes[i % 3];
            let ex = send(n, *id, i / 3);
            statuses.push(ex.status);
            if ex.status == 200 {
                assert_eq!(ex.header("X-RateLimit-Limit-Minute").as_deref(), Some("5"));
            }
        }
        let allowed = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(allowed, 5, "{profile:?}: {statuses:?}");
        assert_eq!(&statuses[..5], &[200; 5], "the first five pass, on whichever node");
        assert!(statuses[5..].iter().all(|s| *s == 429));
        // The counter is in Redis, under the documented key scheme.
        let keys = s.redis.command(&["KEYS", "ratelimit:*"]).unwrap();
        assert!(keys.contains("ratelimit:0:2:"), "{keys}");
    }
}

#[test]
fn remaining_counts_down_across_nodes() {
    let s = stack();
    let mut a = cluster_node(HostProfile::Kong, &s.webdis.addr(), "");
    let mut b = cluster_node(HostProfile::Kong, &s.webdis.addr(), "");
    let r1 = send(&mut a.0, a.1, 0);
    let r2 = send(&mut b.0, b.1, 0);
    assert_eq!(r1.header("X-RateLimit-Remaining-Minute").as_deref(), Some("4"));
    assert_eq!(r2.header("X-RateLimit-Remaining-Minute").as_deref(), Some("3"));
}

#[test]
fn redis_restart_is_survived_and_noscript_handled() {
    let mut s = stack();
    let (mut n, id) = cluster_node(HostProfile::Envoy, &s.webdis.addr(), "");
    assert_eq!(send(&mut n, id, 0).status, 200);
    let marks = n.logs().len();
    // Killed: no error reaches the client (fault tolerant), failures counted,
    // one error line for the incident however many requests see it. The
    // node falls back on its own counters, which start from what it saw
    // locally: the limit still holds per node.
    s.redis.kill();
    for i in 0..6 {
        assert_eq!(send(&mut n, id, i).status, if i < 5 { 200 } else { 429 }, "request {i}");
    }
    let failures = n.metrics().value("rate_limit_sync_failures_total");
    assert_eq!(failures, Some(host_tests::metrics::MetricValue::Counter(6)));
    let errors: Vec<_> = n.logs().since(marks).into_iter().filter(|l| l.level >= LogLevel::Error).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Back, empty and without the script: EVALSHA answers NOSCRIPT, the
    // plugin falls back to EVAL, and counting is on the cluster again.
    s.redis.restart().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // webdis reconnects by itself
    let mut ok = None;
    for attempt in 0..20 {
        let ex = send(&mut n, id, attempt);
        if ex.header("X-RateLimit-Remaining-Minute").as_deref() == Some("4") {
            ok = Some(attempt);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(ok.is_some(), "counting resumed on the restarted Redis");
    assert!(n.logs().all().iter().any(|l| l.message.contains("reachable again")));
}

#[test]
fn webdis_down_without_fault_tolerance_answers_500() {
    let mut s = stack();
    let (mut n, id) = cluster_node(HostProfile::Kong, &s.webdis.addr(), r#", "fault_tolerant": false"#);
    assert_eq!(send(&mut n, id, 0).status, 200);
    s.webdis.kill();
    let ex = send(&mut n, id, 0);
    assert_eq!(ex.status, 500);
    assert_eq!(ex.body_text(), r#"{"message":"An unexpected error occurred"}"#);
}

#[test]
fn garbage_from_the_proxy_is_handled_and_counted() {
    // Not Webdis: an HTTP server answering 200 with a body that is no RESP.
    let garbage = TestServer::start(Duration::ZERO);
    let (mut n, id) = cluster_node(HostProfile::Kong, &garbage.addr, "");
    for i in 0..3 {
        assert_eq!(send(&mut n, id, i).status, 200);
    }
    assert_eq!(
        n.metrics().value("rate_limit_sync_failures_total"),
        Some(host_tests::metrics::MetricValue::Counter(3))
    );
}
