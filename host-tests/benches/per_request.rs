//! Per-request cost of each plugin against a no-op proxy-wasm filter in the
//! same host: `cargo bench -p host-tests --bench per_request`.
//!
//! Each figure is the mean wall time of one request through
//! `Worker::run` (all phases, host included) over many requests after a
//! warm-up; the ratio to the no-op filter is what the plugin adds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use host_tests::{Clock, HostProfile, Node, Plugin, Request, Response};
use std::time::Instant;

const REQUESTS: u32 = 200_000;

fn measure(profile: HostProfile, name: &str, wasm: &str, config: &str, distinct_keys: bool) -> f64 {
    let mut node = Node::builder(profile)
        .clock(Clock::virtual_at_ms(1_767_225_600_000))
        .build()
        .unwrap();
    let id = node.load(Plugin::new(name, wasm).config(config)).unwrap();
    let w = node.worker(0);
    let req = |i: u32| {
        let ip = if distinct_keys {
            format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
        } else {
            "10.0.0.1".to_string()
        };
        Request::get("/bench").route("bench").client(&ip, 1000)
    };
    for i in 0..10_000 {
        w.run(&[id], req(i), |_| Response::ok()).unwrap();
    }
    let reqs: Vec<Request> = (0..REQUESTS).map(req).collect();
    let start = Instant::now();
    for r in reqs {
        w.run(&[id], r, |_| Response::ok()).unwrap();
    }
    start.elapsed().as_nanos() as f64 / f64::from(REQUESTS)
}

fn main() {
    let noop = env!("WASM_NOOP");
    let rl = env!("WASM_RATE_LIMIT");
    let lm = env!("WASM_LATENCY_METRICS");
    println!("per-request cost, {REQUESTS} requests each (ns/request, ratio to the no-op filter)");
    for profile in HostProfile::ALL {
        let base = measure(profile, "noop", noop, "", false);
        println!(
            "{:>6} noop filter                        {base:>9.0} ns  1.00x",
            profile.name()
        );
        let cases = [
            (
                "rate-limit local, one client",
                r#"{"second": 1000000000, "limit_by": "ip"}"#,
                false,
            ),
            (
                "rate-limit local, distinct clients",
                r#"{"second": 1000000000, "limit_by": "ip"}"#,
                true,
            ),
        ];
        for (label, config, distinct) in cases {
            let t = measure(profile, "rate_limit", rl, config, distinct);
            println!(
                "{:>6} {label:<35} {t:>9.0} ns  {:.2}x",
                profile.name(),
                t / base
            );
        }
        let t = measure(profile, "latency_metrics", lm, "{}", false);
        println!(
            "{:>6} {:<35} {t:>9.0} ns  {:.2}x",
            profile.name(),
            "latency-metrics, one series",
            t / base
        );
    }
}
