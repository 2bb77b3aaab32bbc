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
    let id = n
        .load(Plugin::new("rate_limit", RATE_LIMIT).config(config))
        .unwrap();
    (n, id)
}

fn get() -> Request {
    Request::get("/orders")
        .route("rate-limiting-route")
        .client("198.51.100.9", 4242)
}

fn send(n: &mut Node, id: PluginId, i: usize) -> host_tests::Exchange {
    n.worker(i).run(&[id], get(), |_| Response::ok()).unwrap()
}

#[test]
fn strict_mode_lets_exactly_five_through_three_nodes() {
    for profile in HostProfile::ALL {
        let s = stack();
        let mut nodes: Vec<_> = (0..3)
            .map(|_| cluster_node(profile, &s.webdis.addr(), ""))
            .collect();
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
        assert_eq!(
            &statuses[..5],
            &[200; 5],
            "the first five pass, on whichever node"
        );
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
    assert_eq!(
        r1.header("X-RateLimit-Remaining-Minute").as_deref(),
        Some("4")
    );
    assert_eq!(
        r2.header("X-RateLimit-Remaining-Minute").as_deref(),
        Some("3")
    );
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
        assert_eq!(
            send(&mut n, id, i).status,
            if i < 5 { 200 } else { 429 },
            "request {i}"
        );
    }
    let failures = n.metrics().value("rate_limit_sync_failures_total");
    assert_eq!(failures, Some(host_tests::metrics::MetricValue::Counter(6)));
    let errors: Vec<_> = n
        .logs()
        .since(marks)
        .into_iter()
        .filter(|l| l.level >= LogLevel::Error)
        .collect();
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
    assert!(n
        .logs()
        .all()
        .iter()
        .any(|l| l.message.contains("reachable again")));
}

#[test]
fn webdis_down_without_fault_tolerance_answers_500() {
    let mut s = stack();
    let (mut n, id) = cluster_node(
        HostProfile::Kong,
        &s.webdis.addr(),
        r#", "fault_tolerant": false"#,
    );
    assert_eq!(send(&mut n, id, 0).status, 200);
    s.webdis.kill();
    let ex = send(&mut n, id, 0);
    assert_eq!(ex.status, 500);
    assert_eq!(
        ex.body_text(),
        r#"{"message":"An unexpected error occurred"}"#
    );
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

// ---- batched mode (sync_rate > 0) ----

fn batched_node(webdis: &str, limit: &str, sync_ms: u64, clock: Clock) -> (Node, PluginId) {
    let mut n = Node::builder(HostProfile::Kong)
        .workers(2)
        .clock(clock)
        .build()
        .unwrap();
    let config = format!(
        r#"{{{limit}, "limit_by": "ip", "policy": "cluster", "sync_rate": {},
            "redis_proxy": {{"upstream": "{webdis}", "timeout_ms": 1000}}}}"#,
        sync_ms as f64 / 1000.0
    );
    let id = n
        .load(Plugin::new("rate_limit", RATE_LIMIT).config(config))
        .unwrap();
    (n, id)
}

fn redis_total(redis: &Redis) -> u64 {
    let keys = redis.command(&["KEYS", "ratelimit:0:*"]).unwrap();
    let key = keys
        .lines()
        .find(|l| l.starts_with("ratelimit:"))
        .map(str::to_string);
    match key {
        Some(k) => {
            let v = redis.command(&["GET", &k]).unwrap();
            v.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0)
        }
        None => 0,
    }
}

#[test]
fn batched_mode_holds_five_a_minute_within_the_documented_bound() {
    let s = stack();
    let interval = 100;
    let mut nodes: Vec<_> = (0..3)
        .map(|_| {
            batched_node(
                &s.webdis.addr(),
                r#""minute": 5"#,
                interval,
                Clock::virtual_at_ms(T0_MS + 1_000),
            )
        })
        .collect();
    let mut allowed = 0u64;
    // One request every 20 ms, round robin: each node sees one per 60 ms.
    for i in 0..60 {
        for (n, _) in nodes.iter_mut() {
            n.advance_ms(20).unwrap();
            n.settle(Duration::from_secs(5)).unwrap();
        }
        let (n, id) = &mut nodes[i % 3];
        allowed += u64::from(
            n.worker(i)
                .run(&[*id], get(), |_| Response::ok())
                .unwrap()
                .status
                == 200,
        );
    }
    let rate_per_node = 1000 / 60 + 1;
    let bound = shared::cluster::overshoot_bound(3, rate_per_node, interval);
    eprintln!("batched seed: allowed {allowed} of 60, limit 5, bound +{bound}");
    assert!(allowed >= 5, "{allowed}");
    assert!(allowed <= 5 + bound, "allowed {allowed} > 5 + {bound}");
    assert_eq!(
        redis_total(&s.redis),
        allowed,
        "every allowed request reached Redis once"
    );
}

#[test]
fn two_thousand_requests_at_full_speed_stay_within_the_bound() {
    let s = stack();
    let interval = 100;
    let limit = 200u64;
    let mut nodes: Vec<_> = (0..3)
        .map(|_| {
            batched_node(
                &s.webdis.addr(),
                &format!(r#""hour": {limit}"#),
                interval,
                Clock::Real,
            )
        })
        .collect();
    let mut seed = 0x9e37_79b9_u64;
    let mut allowed = 0u64;
    let start = std::time::Instant::now();
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (n, id) = &mut nodes[(seed % 3) as usize];
        let w = n.worker((seed >> 8) as usize % 2);
        allowed += u64::from(w.run(&[*id], get(), |_| Response::ok()).unwrap().status == 200);
        w.fire_due_ticks().unwrap();
        w.process_events(None).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let rate_per_node = (2000.0 / 3.0 / secs).ceil() as u64;
    let bound = shared::cluster::overshoot_bound_with_latency(3, rate_per_node, interval, 10);
    eprintln!(
        "2000 requests in {secs:.2} s ({rate_per_node}/s per node): allowed {allowed}, limit {limit}, overshoot {}, bound {bound}",
        allowed.saturating_sub(limit)
    );
    assert!(allowed >= limit);
    assert!(
        allowed - limit <= bound,
        "overshoot {} > bound {bound}",
        allowed - limit
    );
    for (n, _) in nodes.iter_mut() {
        std::thread::sleep(Duration::from_millis(2 * interval));
        for w in n.workers_mut() {
            w.fire_due_ticks().unwrap();
        }
        n.settle(Duration::from_secs(5)).unwrap();
    }
    assert_eq!(
        redis_total(&s.redis),
        allowed,
        "nothing lost, nothing counted twice"
    );
}

#[test]
fn a_webdis_outage_loses_no_increment_and_counts_none_twice() {
    let mut s = stack();
    let (mut n, id) = batched_node(
        &s.webdis.addr(),
        r#""hour": 1000"#,
        100,
        Clock::virtual_at_ms(T0_MS + 1_000),
    );
    let mut sent = 0;
    let mut burst = |n: &mut Node, k: usize| {
        for i in 0..k {
            assert_eq!(
                n.worker(i)
                    .run(&[id], get(), |_| Response::ok())
                    .unwrap()
                    .status,
                200
            );
            sent += 1;
        }
    };
    burst(&mut n, 10);
    n.advance_ms(100).unwrap();
    n.settle(Duration::from_secs(5)).unwrap();
    assert_eq!(redis_total(&s.redis), 10);
    s.webdis.kill();
    burst(&mut n, 7);
    for _ in 0..3 {
        n.advance_ms(100).unwrap();
        n.settle(Duration::from_secs(5)).unwrap();
    }
    let failures = n.metrics().value("rate_limit_sync_failures_total");
    assert!(
        matches!(failures, Some(host_tests::metrics::MetricValue::Counter(c)) if c >= 1),
        "{failures:?}"
    );
    s.webdis.restart().unwrap();
    burst(&mut n, 5);
    for _ in 0..3 {
        n.advance_ms(100).unwrap();
        n.settle(Duration::from_secs(5)).unwrap();
    }
    assert_eq!(
        redis_total(&s.redis),
        sent as u64,
        "every increment landed exactly once"
    );
}

#[test]
fn batched_sync_survives_a_redis_restart() {
    let mut s = stack();
    let (mut n, id) = batched_node(
        &s.webdis.addr(),
        r#""hour": 1000"#,
        100,
        Clock::virtual_at_ms(T0_MS + 1_000),
    );
    for i in 0..3 {
        n.worker(i).run(&[id], get(), |_| Response::ok()).unwrap();
    }
    n.advance_ms(100).unwrap();
    n.settle(Duration::from_secs(5)).unwrap();
    s.redis.restart().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..4 {
        n.worker(i).run(&[id], get(), |_| Response::ok()).unwrap();
    }
    for _ in 0..5 {
        n.advance_ms(100).unwrap();
        n.settle(Duration::from_secs(5)).unwrap();
    }
    // The restarted Redis lost its data and its script: EVAL re-loaded it
    // and the new increments are there.
    assert_eq!(redis_total(&s.redis), 4);
}
