//! `cargo xtask demo`: the seed experiment on one machine. Three
//! `wasm-gateway` nodes behind a round-robin client (the load balancer in
//! front of Kong's pods), one upstream, and two routes limited to 5 requests
//! a minute per client: one with the local policy (counted per node), one
//! with the cluster policy (counted in Redis, through Webdis).
//!
//! [`prepare`] sets the machine up and builds; [`run`] starts everything,
//! sends the requests and answers a [`Report`]; everything it started is
//! stopped and removed when it returns, on an error, or on Ctrl-C ([`Stop`]).

mod client;
mod echo;
mod node;
pub mod report;
pub mod setup;
pub mod stop;

// Redis and Webdis on free ports, exactly as the cluster tests start them:
// the file is compiled into xtask as well, rather than copied or reached by
// depending on host-tests (which would build wasmtime into xtask).
#[allow(dead_code)] // restart, command, kill: only the cluster tests use them
#[path = "../../../host-tests/src/services.rs"]
mod services;

pub use report::{Counts, Policy, Report, RouteReport};
pub use stop::{Interrupted, Stop};

use crate::plugins;
use anyhow::{Context, Result};
use node::Node;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Gateway nodes (Kong pods).
pub const NODES: usize = 3;
/// Requests per minute per client, on both routes.
pub const LIMIT: u32 = 5;
/// Requests per route: over 3 × 5, so the two policies differ.
pub const DEFAULT_REQUESTS: u32 = 18;

/// What `cargo xtask demo` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per route.
    pub requests: u32,
    /// Install `redis-server` and `webdis` with apt-get even when not root
    /// (through sudo).
    pub install_deps: bool,
}

/// What [`prepare`] made ready.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The `wasm-gateway` binary.
    pub gateway: PathBuf,
    /// `target/plugins`: Kong's `wasm_filters_path`.
    pub filters: PathBuf,
    /// `Err(why)` when Redis and Webdis are not there: the cluster route is
    /// left out.
    pub cluster: std::result::Result<(), String>,
}

/// Set-up on a fresh machine, then the builds: the wasm targets, Redis and
/// Webdis (when allowed), `cargo xtask build`, and `wasm-gateway`.
pub fn prepare(root: &Path, install_deps: bool) -> Result<Prepared> {
    setup::wasm_targets()?;
    let cluster = setup::redis_and_webdis(install_deps)?;
    plugins::build(root)?;
    let gateway = setup::gateway(root)?;
    Ok(Prepared {
        gateway,
        filters: root.join("target").join("plugins"),
        cluster,
    })
}

/// The whole command: prepare, run, print the tables. Fails when a route's
/// counts are not what its policy promises.
pub fn main(root: &Path, opts: &Options, stop: &Stop) -> Result<()> {
    let started = Instant::now();
    let prepared = prepare(root, opts.install_deps)?;
    stop.check()?;
    let ran = Instant::now();
    let report = run(&prepared, opts.requests, stop)?;
    println!("\n{report}");
    println!(
        "\ndemo: {:.1} s in all ({:.1} s for the run itself); every process and file it started is gone",
        started.elapsed().as_secs_f64(),
        ran.elapsed().as_secs_f64()
    );
    let wrong: Vec<&str> = report
        .routes
        .iter()
        .filter(|r| !r.as_expected())
        .map(|r| r.route)
        .collect();
    if !wrong.is_empty() {
        anyhow::bail!(
            "{} did not behave as its policy promises (see the tables above)",
            wrong.join(" and ")
        );
    }
    Ok(())
}

/// Starts the upstream, Redis and Webdis (when there), three gateway
/// nodes; sends `requests` GETs round-robin over the nodes on each route;
/// stops everything before it returns.
pub fn run(prepared: &Prepared, requests: u32, stop: &Stop) -> Result<Report> {
    // Declared first, dropped last: the nodes stop before what they call.
    let echo = echo::Echo::start()?;
    println!("upstream: echo server on {}", echo.addr);
    let cluster = match &prepared.cluster {
        Ok(()) => {
            let redis = services::Redis::start()?;
            let webdis = services::Webdis::start(redis.port)?;
            println!(
                "redis-server on 127.0.0.1:{}, webdis in front of it on {}",
                redis.port,
                webdis.addr()
            );
            Some((redis, webdis))
        }
        Err(why) => {
            println!("note: {why}. Running the local-policy route only.");
            None
        }
    };
    let webdis = cluster.as_ref().map(|(_, w)| w.addr());
    let dir = TempDir::new()?;
    let config = dir.0.join("kong.yml");
    let specs = routes(webdis.as_deref());
    std::fs::write(&config, kong_yml(&echo.addr, &specs))
        .with_context(|| format!("cannot write {}", config.display()))?;

    let mut nodes = Vec::new();
    for i in 1..=NODES {
        let name = format!("node-{i}");
        nodes.push(Node::spawn(
            &prepared.gateway,
            &config,
            &prepared.filters,
            &name,
        )?);
    }
    for node in &mut nodes {
        node.wait_ready(stop)?;
        println!(
            "{}: wasm-gateway on http://{} ({} workers)",
            node.name,
            node.addr,
            node::WORKERS
        );
    }

    let mut reports = Vec::new();
    for spec in &specs {
        reports.push(burst(&nodes, spec, requests, stop)?);
    }
    // Each node's latency metrics, as Prometheus would scrape them.
    let mut metrics = Vec::new();
    for node in &nodes {
        stop.check()?;
        let reply = client::get(&node.addr, METRICS_PATH)
            .with_context(|| format!("scraping {METRICS_PATH} on {}", node.name))?;
        let lines = reply
            .body
            .lines()
            .filter(|l| {
                l.starts_with("kong_http_requests_total{")
                    || l.starts_with("kong_upstream_latency_ms_count{")
                    || l.starts_with("kong_upstream_latency_ms_sum{")
            })
            .map(str::to_string)
            .collect();
        metrics.push((node.name.clone(), lines));
    }
    Ok(Report {
        routes: reports,
        cluster_skipped: prepared.cluster.clone().err(),
        metrics,
    })
}

/// Where the latency-metrics filter serves the node's metrics.
const METRICS_PATH: &str = "/metrics";

/// A route of the demo and its filter's configuration.
struct RouteSpec {
    name: &'static str,
    path: &'static str,
    policy: Policy,
    config: serde_json::Value,
}

/// The local route, and the cluster route when Webdis is there.
fn routes(webdis: Option<&str>) -> Vec<RouteSpec> {
    let mut routes = vec![RouteSpec {
        name: "local-route",
        path: "/local",
        policy: Policy::Local,
        config: serde_json::json!({"minute": LIMIT, "limit_by": "ip"}),
    }];
    if let Some(webdis) = webdis {
        routes.push(RouteSpec {
            name: "cluster-route",
            path: "/cluster",
            policy: Policy::Cluster,
            // Strict: one callout per request, so the count is exact.
            config: serde_json::json!({
                "minute": LIMIT, "limit_by": "ip", "policy": "redis", "sync_rate": -1,
                "redis_proxy": {"upstream": webdis, "timeout_ms": 500}
            }),
        });
    }
    routes
}

/// The declarative configuration: one service (the echo), and the routes,
/// each with a `rate_limit` filter chain (JSON is YAML's flow style).
fn kong_yml(echo: &str, routes: &[RouteSpec]) -> String {
    // latency-metrics on the service (every route's requests are counted,
    // and it answers `/metrics` itself), labelled as KGO labels the
    // upstream Service.
    let mut yml = format!(
        r#"_format_version: "3.0"
services:
  - name: echo
    url: http://{echo}
    filter_chains:
      - filters:
          - name: latency_metrics
            config: {{"labels": {{"kubernetes_namespace": "demo", "kubernetes_name": "echo", "kubernetes_kind": "service"}}}}
    routes:
      - name: metrics
        paths: ["{METRICS_PATH}"]
"#
    );
    for r in routes {
        yml.push_str(&format!(
            r#"      - name: {}
        paths: ["{}"]
        filter_chains:
          - filters:
              - name: rate_limit
                config: {}
"#,
            r.name, r.path, r.config
        ));
    }
    yml
}

/// Sends `requests` GETs to `path`, request `i` to node `i mod 3`.
fn burst(nodes: &[Node], spec: &RouteSpec, requests: u32, stop: &Stop) -> Result<RouteReport> {
    fresh_minute(stop)?;
    let mut per_node: Vec<(String, Counts)> = nodes
        .iter()
        .map(|n| (n.name.clone(), Counts::default()))
        .collect();
    let mut total = Counts::default();
    let mut last = None;
    for i in 0..requests as usize {
        stop.check()?;
        let k = i % nodes.len();
        let reply = client::get(&nodes[k].addr, spec.path)
            .with_context(|| format!("{} on {}", spec.name, nodes[k].name))?;
        per_node[k].1.add(reply.status);
        total.add(reply.status);
        last = Some(reply);
    }
    let (last_status, last_headers) = last.map_or((0, Vec::new()), |r| {
        let headers = r
            .headers
            .into_iter()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                k.starts_with("x-ratelimit-") || k.starts_with("ratelimit") || k == "retry-after"
            })
            .collect();
        (r.status, headers)
    });
    Ok(RouteReport {
        route: spec.name,
        path: spec.path,
        policy: spec.policy,
        config: spec.config.to_string(),
        limit: LIMIT,
        per_node,
        total,
        last_status,
        last_headers,
    })
}

/// The limits count fixed minutes of the wall clock: a burst that crossed
/// into the next minute would be counted in two windows. Close to the end
/// of a minute, wait for the next one.
fn fresh_minute(stop: &Stop) -> Result<()> {
    const GUARD_MS: u64 = 5_000;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = 60_000 - now_ms % 60_000;
    if left < GUARD_MS {
        println!(
            "waiting {:.1} s for the next minute, so no burst is split over two rate-limit windows",
            left as f64 / 1000.0
        );
        stop.sleep_ms(left + 100)?;
    }
    Ok(())
}

/// The demo's scratch directory (`kong.yml`), removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("wasm-gateway-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
