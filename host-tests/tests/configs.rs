//! kong-config/ and envoy-config/ kept honest: every plugin configuration in
//! them (envoy.yaml's `configuration`, kong.yml's filter `config` in both
//! forms, nginx.conf's `proxy_wasm` arguments, the Istio and Envoy Gateway
//! manifests' plugin configuration) is loaded into the real `.wasm` under
//! the host it is written for, and a sample request shows what the file's
//! comments promise: a route limited to N a minute answers 429 to request
//! N + 1, and latency-metrics answers its `metrics_path` with Kong's series.
//! Then the references (clusters, filters, files, routes) are checked, and
//! kong.yml runs in `wasm-gateway` with the seed's scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/http.rs"]
mod http;

use host_tests::services::{Redis, Webdis};
use host_tests::{Clock, HostProfile, Node, Plugin, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const RATE_LIMIT: &str = env!("WASM_RATE_LIMIT");
const LATENCY_METRICS: &str = env!("WASM_LATENCY_METRICS");
const T0_MS: u64 = 1_767_225_600_000;
/// Where kong.yml and nginx.conf put Webdis; replaced by a real one.
const WEBDIS_PLACEHOLDER: &str = "webdis:7379";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every document of a YAML file, as JSON values.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: not YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    RateLimit,
    LatencyMetrics,
}

impl Kind {
    /// The filter named as Kong names it (the `.wasm` file's stem).
    fn from_filter(name: &str) -> Kind {
        match name {
            "rate_limit" => Kind::RateLimit,
            "latency_metrics" => Kind::LatencyMetrics,
            other => panic!("no filter file {other}.wasm is built"),
        }
    }

    /// From an OCI reference such as `oci://ghcr.io/example/rate-limit:0.1.0`.
    fn from_image(url: &str) -> Kind {
        let name = url.rsplit('/').next().unwrap().split(':').next().unwrap();
        match name {
            "rate-limit" => Kind::RateLimit,
            "latency-metrics" => Kind::LatencyMetrics,
            other => panic!("{url}: no plugin named {other}"),
        }
    }

    fn wasm(self) -> &'static str {
        match self {
            Kind::RateLimit => RATE_LIMIT,
            Kind::LatencyMetrics => LATENCY_METRICS,
        }
    }
}

/// One plugin configuration found in a file.
#[derive(Debug, Clone)]
struct Found {
    at: String,
    profile: HostProfile,
    kind: Kind,
    config: Value,
    /// The route the file attaches it to, if it does.
    route: Option<String>,
}

fn envoy_http_filters(doc: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for l in arr(&doc["static_resources"]["listeners"]) {
        for fc in arr(&l["filter_chains"]) {
            for f in arr(&fc["filters"]) {
                out.extend(arr(&f["typed_config"]["http_filters"]).iter().cloned());
            }
        }
    }
    out
}

fn envoy_routes(doc: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for l in arr(&doc["static_resources"]["listeners"]) {
        for fc in arr(&l["filter_chains"]) {
            for f in arr(&fc["filters"]) {
                for vh in arr(&f["typed_config"]["route_config"]["virtual_hosts"]) {
                    out.extend(arr(&vh["routes"]).iter().cloned());
                }
            }
        }
    }
    out
}

fn envoy_configs() -> Vec<Found> {
    let doc = &yaml_docs("envoy-config/envoy.yaml")[0];
    let mut out = Vec::new();
    for f in envoy_http_filters(doc) {
        let c = &f["typed_config"]["config"];
        if c.is_null() {
            continue;
        }
        let file = c["vm_config"]["code"]["local"]["filename"]
            .as_str()
            .unwrap();
        let stem = Path::new(file).file_stem().unwrap().to_str().unwrap();
        let json = c["configuration"]["value"].as_str().unwrap();
        out.push(Found {
            at: format!("envoy.yaml http_filters {}", f["name"]),
            profile: HostProfile::Envoy,
            kind: Kind::from_filter(stem),
            config: serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("envoy.yaml {}: not JSON: {e}", f["name"])),
            route: None,
        });
    }
    out
}

/// `filter_chains[].filters[]` and Kong 3.9's `plugins[]` of one entity.
fn kong_entity(rel: &str, e: &Value, route: Option<String>, out: &mut Vec<Found>) {
    let mut filters: Vec<&Value> = Vec::new();
    for c in arr(&e["filter_chains"]) {
        filters.extend(arr(&c["filters"]));
    }
    filters.extend(arr(&e["plugins"]));
    for f in filters {
        let name = f["name"].as_str().unwrap();
        let config = match &f["config"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            v => v.clone(),
        };
        out.push(Found {
            at: format!("{rel} {} {name}", e["name"]),
            profile: HostProfile::Kong,
            kind: Kind::from_filter(name),
            config,
            route: route.clone(),
        });
    }
}

fn kong_configs(rel: &str) -> Vec<Found> {
    let doc = &yaml_docs(rel)[0];
    let mut out = Vec::new();
    for s in arr(&doc["services"]) {
        kong_entity(rel, s, None, &mut out);
        for r in arr(&s["routes"]) {
            kong_entity(rel, r, r["name"].as_str().map(str::to_string), &mut out);
        }
    }
    out
}

fn nginx_configs() -> Vec<Found> {
    let text = read("kong-config/nginx.conf");
    let re = regex::Regex::new(r"proxy_wasm\s+(\w+)\s+'([^']*)';").unwrap();
    re.captures_iter(&text)
        .map(|c| Found {
            at: format!("nginx.conf proxy_wasm {}", &c[1]),
            profile: HostProfile::Kong,
            kind: Kind::from_filter(&c[1]),
            config: serde_json::from_str(&c[2])
                .unwrap_or_else(|e| panic!("nginx.conf {}: not JSON: {e}", &c[2])),
            route: None,
        })
        .collect()
}

fn istio_configs() -> Vec<Found> {
    let rel = "envoy-config/k8s/istio-wasmplugins.yaml";
    yaml_docs(rel)
        .iter()
        .filter(|d| d["kind"] == "WasmPlugin")
        .map(|d| Found {
            at: format!("{rel} {}", d["metadata"]["name"]),
            profile: HostProfile::Envoy,
            kind: Kind::from_image(d["spec"]["url"].as_str().unwrap()),
            config: d["spec"]["pluginConfig"].clone(),
            route: None,
        })
        .collect()
}

fn envoy_gateway_configs() -> Vec<Found> {
    let rel = "envoy-config/k8s/envoy-gateway-extension-policies.yaml";
    let mut out = Vec::new();
    for d in yaml_docs(rel)
        .iter()
        .filter(|d| d["kind"] == "EnvoyExtensionPolicy")
    {
        let route = arr(&d["spec"]["targetRefs"])
            .iter()
            .find(|t| t["kind"] == "HTTPRoute")
            .and_then(|t| t["name"].as_str().map(str::to_string));
        for w in arr(&d["spec"]["wasm"]) {
            out.push(Found {
                at: format!("{rel} {}", d["metadata"]["name"]),
                profile: HostProfile::Envoy,
                kind: Kind::from_image(w["code"]["image"]["url"].as_str().unwrap()),
                config: w["config"].clone(),
                route: route.clone(),
            });
        }
    }
    out
}

fn all_configs() -> Vec<Found> {
    let mut all = envoy_configs();
    all.extend(kong_configs("kong-config/kong.yml"));
    all.extend(kong_configs("kong-config/kong-3.9-plugins.yml"));
    all.extend(nginx_configs());
    all.extend(istio_configs());
    all.extend(envoy_gateway_configs());
    all
}

/// The smallest `max` among a rate-limit configuration's (or rule's) limits.
fn smallest_limit(c: &Value) -> Option<u64> {
    let kong = ["second", "minute", "hour", "day", "month", "year"]
        .iter()
        .filter_map(|w| c[*w].as_u64());
    let own = arr(&c["limits"]).iter().filter_map(|l| l["max"].as_u64());
    kong.chain(own).min()
}

fn is_cluster_policy(c: &Value) -> bool {
    matches!(c["policy"].as_str(), Some("cluster" | "redis"))
}

/// The requests to try: `(route, limit)` per rule that names a route, and
/// the top-level limits on the file's route (or another route for rules).
fn cases(f: &Found) -> Vec<(Option<String>, Option<u64>)> {
    let rules = arr(&f.config["rules"]);
    if rules.is_empty() {
        return vec![(f.route.clone(), smallest_limit(&f.config))];
    }
    let mut out: Vec<_> = rules
        .iter()
        .filter_map(|r| {
            let name = r["match"]["route_name"].as_str()?;
            Some((Some(name.to_string()), smallest_limit(r)))
        })
        .collect();
    out.push((
        Some("a-route-no-rule-names".to_string()),
        smallest_limit(&f.config),
    ));
    out
}

/// Loads one rate-limit configuration and checks its limits with requests.
fn check_rate_limit(f: &Found) {
    let mut config = f.config.clone();
    // Cluster policy: a real Redis behind a real Webdis, named as the host
    // names upstreams (Envoy: the cluster in the config; Kong: host:port).
    let stack = is_cluster_policy(&config).then(|| {
        let redis = Redis::start().expect("redis-server (scripts/test installs it)");
        let webdis = Webdis::start(redis.port).expect("webdis (scripts/test installs it)");
        (redis, webdis)
    });
    let mut builder = Node::builder(f.profile)
        .workers(2)
        .clock(Clock::virtual_at_ms(T0_MS + 1_000));
    if let Some((_, webdis)) = &stack {
        let upstream = config["redis_proxy"]["upstream"]
            .as_str()
            .unwrap()
            .to_string();
        match f.profile {
            HostProfile::Envoy => builder = builder.cluster(&upstream, &webdis.addr()),
            HostProfile::Kong => {
                assert_eq!(upstream, WEBDIS_PLACEHOLDER, "{}", f.at);
                config["redis_proxy"]["upstream"] = Value::String(webdis.addr());
            }
        }
    }
    let mut node = builder.build().unwrap();
    let id = node
        .load(Plugin::new("rate_limit", RATE_LIMIT).config(config.to_string()))
        .unwrap_or_else(|e| panic!("{}: does not configure: {e}", f.at));
    for (i, (route, limit)) in cases(f).into_iter().enumerate() {
        let ip = format!("203.0.113.{}", i + 1);
        let request = || {
            let r = Request::get("/").client(&ip, 40_000);
            match &route {
                Some(name) => r.route(name),
                None => r,
            }
        };
        let allowed = match limit {
            Some(n) if n <= 100 => n,
            _ => 1, // a large or no limit: the first request goes on
        };
        for k in 0..allowed {
            let ex = node
                .worker((k % 2) as usize)
                .run(&[id], request(), |_| Response::ok())
                .unwrap();
            assert_eq!(ex.status, 200, "{} {route:?}: request {}", f.at, k + 1);
        }
        if let Some(n) = limit.filter(|n| *n <= 100) {
            let ex = node
                .worker(0)
                .run(&[id], request(), |_| Response::ok())
                .unwrap();
            assert_eq!(ex.status, 429, "{} {route:?}: request {}", f.at, n + 1);
        }
    }
}

/// Loads one latency-metrics configuration: a request is measured and the
/// metrics path answers with it.
fn check_latency_metrics(f: &Found) {
    let mut node = Node::builder(f.profile)
        .workers(2)
        .clock(Clock::virtual_at_ms(T0_MS))
        .build()
        .unwrap();
    let id = node
        .load(
            Plugin::new("latency_metrics", LATENCY_METRICS)
                .config(f.config.to_string())
                .env("POD_NAMESPACE", "demo"),
        )
        .unwrap_or_else(|e| panic!("{}: does not configure: {e}", f.at));
    let ex = node
        .worker(0)
        .run(
            &[id],
            Request::get("/limited")
                .route("rate-limiting-route")
                .service("echo"),
            |_| Response::ok().body("hello"),
        )
        .unwrap();
    assert_eq!(ex.status, 200, "{}", f.at);
    let path = f.config["metrics_path"].as_str().unwrap_or("/metrics");
    let ex = node
        .worker(1)
        .run(&[id], Request::get(path).route("metrics"), |_| {
            Response::new(404)
        })
        .unwrap();
    assert_eq!(ex.status, 200, "{}: {path}", f.at);
    let body = ex.body_text();
    assert!(
        body.contains("kong_http_requests_total{") && body.contains("rate-limiting-route"),
        "{}: {body}",
        f.at
    );
}

#[test]
fn every_file_holds_the_configurations_its_comments_describe() {
    let count = |v: Vec<Found>| v.len();
    assert_eq!(count(envoy_configs()), 3, "envoy.yaml");
    assert_eq!(count(kong_configs("kong-config/kong.yml")), 4, "kong.yml");
    assert_eq!(
        count(kong_configs("kong-config/kong-3.9-plugins.yml")),
        4,
        "kong-3.9-plugins.yml"
    );
    assert_eq!(count(nginx_configs()), 7, "nginx.conf");
    assert_eq!(count(istio_configs()), 3, "Istio WasmPlugins");
    assert_eq!(count(envoy_gateway_configs()), 3, "EnvoyExtensionPolicies");
}

#[test]
fn the_seed_route_is_five_a_minute_wherever_it_is_configured() {
    let mut seen = 0;
    for f in all_configs()
        .iter()
        .filter(|f| f.kind == Kind::RateLimit && !is_cluster_policy(&f.config))
    {
        for (route, limit) in cases(f) {
            if route.as_deref() == Some("rate-limiting-route") {
                assert_eq!(limit, Some(5), "{}", f.at);
                seen += 1;
            }
        }
    }
    // kong.yml, kong-3.9-plugins.yml, envoy.yaml, Istio, Envoy Gateway.
    assert_eq!(seen, 5);
}

#[test]
fn every_rate_limit_configuration_configures_and_limits_as_written() {
    let found: Vec<Found> = all_configs()
        .into_iter()
        .filter(|f| f.kind == Kind::RateLimit)
        .collect();
    assert!(found.len() >= 10);
    for f in &found {
        check_rate_limit(f);
    }
}

#[test]
fn every_latency_metrics_configuration_configures_and_serves_its_metrics() {
    let found: Vec<Found> = all_configs()
        .into_iter()
        .filter(|f| f.kind == Kind::LatencyMetrics)
        .collect();
    assert!(found.len() >= 8);
    for f in &found {
        check_latency_metrics(f);
    }
}

#[test]
fn envoy_yaml_references_exist() {
    let doc = &yaml_docs("envoy-config/envoy.yaml")[0];
    let clusters: BTreeSet<String> = arr(&doc["static_resources"]["clusters"])
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let filters = envoy_http_filters(doc);
    let disabled: BTreeSet<String> = filters
        .iter()
        .filter(|f| f["disabled"] == true)
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let routes = envoy_routes(doc);
    let route_names: BTreeSet<String> = routes
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for r in &routes {
        let cluster = r["route"]["cluster"].as_str().unwrap();
        assert!(clusters.contains(cluster), "route {}: {cluster}", r["name"]);
        for (name, per) in r["typed_per_filter_config"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(
                disabled.contains(name),
                "route {} enables {name}, not a disabled http_filter",
                r["name"]
            );
            assert_eq!(
                per["@type"],
                "type.googleapis.com/envoy.config.route.v3.FilterConfig"
            );
        }
    }
    // Every disabled filter is enabled somewhere, else it never runs.
    for name in &disabled {
        assert!(
            routes
                .iter()
                .any(|r| !r["typed_per_filter_config"][name.as_str()].is_null()),
            "{name} is disabled and no route enables it"
        );
    }
    for f in &filters {
        let c = &f["typed_config"]["config"];
        if c.is_null() {
            continue;
        }
        assert_eq!(c["name"], f["name"], "the plugin name matches the filter's");
        assert_eq!(
            c["configuration"]["@type"],
            "type.googleapis.com/google.protobuf.StringValue"
        );
        let file = c["vm_config"]["code"]["local"]["filename"]
            .as_str()
            .unwrap();
        let built = Kind::from_filter(Path::new(file).file_stem().unwrap().to_str().unwrap());
        assert_eq!(
            Path::new(file).file_name(),
            Path::new(built.wasm()).file_name(),
            "{file}"
        );
    }
    // Filters sharing a vm_id run the same code.
    let mut by_vm: std::collections::BTreeMap<String, String> = Default::default();
    for f in &filters {
        let vm = &f["typed_config"]["config"]["vm_config"];
        if let (Some(id), Some(file)) = (
            vm["vm_id"].as_str(),
            vm["code"]["local"]["filename"].as_str(),
        ) {
            let prev = by_vm.entry(id.to_string()).or_insert(file.to_string());
            assert_eq!(prev, file, "vm_id {id} is shared by different code");
        }
    }
    // Cluster-policy upstreams are clusters; rules name existing routes.
    for f in envoy_configs().iter().chain(&istio_configs()) {
        for r in arr(&f.config["rules"]) {
            if let Some(name) = r["match"]["route_name"].as_str() {
                assert!(route_names.contains(name), "{}: rule on {name}", f.at);
            }
        }
    }
    for f in envoy_configs() {
        if let Some(up) = f.config["redis_proxy"]["upstream"].as_str() {
            assert!(clusters.contains(up), "{}: {up} is not a cluster", f.at);
        }
    }
    for f in envoy_gateway_configs() {
        if let Some(route) = &f.route {
            assert!(route_names.contains(route), "{}: HTTPRoute {route}", f.at);
        }
    }
}

#[test]
fn kong_files_name_built_filters_and_the_same_routes() {
    let names = |rel: &str| -> Vec<String> {
        let doc = &yaml_docs(rel)[0];
        arr(&doc["services"])
            .iter()
            .flat_map(|s| arr(&s["routes"]))
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("kong-config/kong.yml"),
        names("kong-config/kong-3.9-plugins.yml")
    );
    // Filter names are files `cargo xtask build` writes (Kind panics if not).
    let a: Vec<_> = kong_configs("kong-config/kong.yml")
        .into_iter()
        .map(|f| (f.kind, f.config, f.route))
        .collect();
    let b: Vec<_> = kong_configs("kong-config/kong-3.9-plugins.yml")
        .into_iter()
        .map(|f| (f.kind, f.config, f.route))
        .collect();
    assert_eq!(
        format!("{a:?}"),
        format!("{b:?}"),
        "both forms configure the same"
    );
    // kong.conf names what the filters need.
    let conf = read("kong-config/kong.conf");
    for setting in [
        "wasm = on",
        "wasm_filters_path = /kong/wasm",
        "nginx_wasm_shm_kv = 12m",
        "nginx_wasm_resolver = ",
    ] {
        assert!(conf.contains(setting), "kong.conf lacks {setting}");
    }
    let nginx = read("kong-config/nginx.conf");
    for module in ["rate_limit", "latency_metrics"] {
        assert!(nginx.contains(&format!("module {module} ")), "{module}");
    }
    assert!(nginx.contains("shm_kv * 12m;"));
}

#[test]
fn kubernetes_manifests_mount_what_they_reference() {
    let dp = &yaml_docs("kong-config/k8s/dataplane.yaml")[0];
    let pod = &dp["spec"]["deployment"]["podTemplateSpec"]["spec"];
    assert_eq!(dp["spec"]["deployment"]["replicas"], 3);
    let volumes: BTreeSet<&str> = arr(&pod["volumes"])
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    let containers = arr(&pod["containers"])
        .iter()
        .chain(arr(&pod["initContainers"]));
    for c in containers {
        for m in arr(&c["volumeMounts"]) {
            assert!(volumes.contains(m["name"].as_str().unwrap()), "{m}");
        }
    }
    let proxy = arr(&pod["containers"])
        .iter()
        .find(|c| c["name"] == "proxy")
        .unwrap();
    let env = |k: &str| {
        arr(&proxy["env"])
            .iter()
            .find(|e| e["name"] == k)
            .map(|e| e["value"].as_str().unwrap().to_string())
    };
    assert_eq!(env("KONG_WASM").as_deref(), Some("on"));
    let path = env("KONG_WASM_FILTERS_PATH").unwrap();
    assert!(arr(&proxy["volumeMounts"])
        .iter()
        .any(|m| m["mountPath"] == path.as_str()));
    let values = &yaml_docs("kong-config/k8s/kong-helm-values.yaml")[0];
    let hpa = &values["autoscaling"];
    assert_eq!(
        (&hpa["minReplicas"], &hpa["maxReplicas"]),
        (&Value::from(1), &Value::from(20))
    );
    assert_eq!(
        hpa["metrics"][0]["resource"]["target"]["averageUtilization"],
        75
    );
    // Services the configurations name exist.
    for rel in [
        "kong-config/k8s/redis-webdis.yaml",
        "envoy-config/k8s/redis-webdis.yaml",
    ] {
        let services: Vec<_> = yaml_docs(rel)
            .into_iter()
            .filter(|d| d["kind"] == "Service")
            .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(services, ["redis", "webdis"], "{rel}");
    }
}

/// Istio and Envoy Gateway read only the compat image (`<version>`, not the
/// CNCF `<version>-wasm`): every image the manifests pull is a plugin
/// `cargo xtask oci` publishes, at this workspace's version, in that form.
#[test]
fn kubernetes_manifests_pull_the_compat_images_cargo_xtask_oci_publishes() {
    let mut urls = Vec::new();
    for d in yaml_docs("envoy-config/k8s/istio-wasmplugins.yaml") {
        if d["kind"] == "WasmPlugin" {
            urls.push(d["spec"]["url"].as_str().unwrap().to_string());
        }
    }
    for d in yaml_docs("envoy-config/k8s/envoy-gateway-extension-policies.yaml") {
        for w in arr(&d["spec"]["wasm"]) {
            assert_eq!(w["code"]["type"], "Image", "{w}");
            urls.push(w["code"]["image"]["url"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(urls.len(), 6, "{urls:?}");
    for url in &urls {
        let reference = url.strip_prefix("oci://").unwrap_or(url);
        let (repository, tag) = reference.rsplit_once(':').unwrap();
        let name = repository.rsplit('/').next().unwrap();
        assert!(
            ["rate-limit", "latency-metrics"].contains(&name),
            "{url}: not an image cargo xtask oci publishes"
        );
        assert_eq!(
            tag,
            env!("CARGO_PKG_VERSION"),
            "{url}: the compat tag is the workspace version"
        );
    }
}

/// kong.yml's `echo:8080` and `webdis:7379` replaced by real ones.
fn runnable(rel: &str, echo: &str, webdis: &str) -> String {
    let text = read(rel);
    assert!(text.contains("http://echo:8080") && text.contains(WEBDIS_PLACEHOLDER));
    text.replace("echo:8080", echo)
        .replace(WEBDIS_PLACEHOLDER, webdis)
}

fn seed_scenario_in_the_gateway(rel: &str) {
    let echo = http::Echo::start();
    let redis = Redis::start().expect("redis-server");
    let webdis = Webdis::start(redis.port).expect("webdis");
    let gw = http::Gateway::start(
        &runnable(rel, &echo.addr, &webdis.addr()),
        &[
            ("rate_limit", RATE_LIMIT),
            ("latency_metrics", LATENCY_METRICS),
        ],
    );
    for path in ["/limited", "/cluster"] {
        let codes: Vec<u16> = (0..6)
            .map(|_| http::get(&gw.addr, path, &[]).status)
            .collect();
        assert_eq!(codes, [200, 200, 200, 200, 200, 429], "{rel} {path}");
    }
    let local: Vec<u16> = (0..21)
        .map(|_| http::get(&gw.addr, "/local", &[]).status)
        .collect();
    assert_eq!(local.iter().filter(|c| **c == 200).count(), 20, "{rel}");
    assert_eq!(local[20], 429, "{rel}");
    let m = http::get(&gw.addr, "/metrics", &[]);
    assert_eq!(m.status, 200, "{rel}: {}", m.body);
    assert!(
        m.body.contains("route=\"rate-limiting-route\"") && m.body.contains("code=\"429\""),
        "{rel}: {}",
        m.body
    );
}

#[test]
fn kong_yml_runs_the_seed_scenario_in_wasm_gateway() {
    seed_scenario_in_the_gateway("kong-config/kong.yml");
}

#[test]
fn kong_3_9_plugins_yml_runs_the_seed_scenario_in_wasm_gateway() {
    seed_scenario_in_the_gateway("kong-config/kong-3.9-plugins.yml");
}

/// The Kong filter metadata's `config_schema` (what `cargo xtask build`
/// writes to `<filter>.meta.json`) accepts every configuration in the repo,
/// as the plugins do: Kong validates a filter's config against it on load.
#[test]
fn every_configuration_in_the_repo_passes_the_filters_config_schema() {
    let rate_limit = jsonschema::validator_for(&shared::ratelimit::json_schema()).unwrap();
    let latency = jsonschema::validator_for(&shared::metrics::json_schema()).unwrap();
    let all = all_configs();
    assert!(!all.is_empty());
    for f in &all {
        let validator = match f.kind {
            Kind::RateLimit => &rate_limit,
            Kind::LatencyMetrics => &latency,
        };
        let errors: Vec<String> = validator
            .iter_errors(&f.config)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: refused by the config_schema: {errors:?}",
            f.at
        );
    }
}
