//! `cargo xtask build`: the plugins in release, copied to `target/plugins/`,
//! their sizes reported and held to a budget.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

const KIB: u64 = 1024;

/// A plugin crate and the module it ships as.
pub struct PluginCrate {
    /// The crate, and the image name it is pushed under (`PREFIX/rate-limit`).
    pub package: &'static str,
    /// The file stem cargo gives the cdylib, and the name it ships under.
    pub artifact: &'static str,
    /// One line on what it does, for the OCI description annotation.
    pub description: &'static str,
    /// The most the release module may weigh.
    budget_bytes: u64,
    /// Its configuration's JSON Schema (Kong's `config_schema`).
    schema: fn() -> serde_json::Value,
    /// Its configuration reference (Markdown).
    reference: fn() -> String,
    /// Where the reference is committed.
    reference_path: &'static str,
}

// Size budgets. Every worker of every gateway pod compiles and holds its own
// copy of each plugin (an Envoy worker thread, an nginx worker process), so
// size is load time and memory paid many times over. When the budgets were
// set, rate_limit (local policy only) weighed 239 KiB and latency_metrics (a
// stub) 83 KiB; 400 KiB leaves room for the cluster mode and the metrics
// exposition, and still stops an accidental heavy dependency (regex, a TLS
// stack, a float formatter).
pub const PLUGINS: [PluginCrate; 2] = [
    PluginCrate {
        package: "rate-limit",
        artifact: "rate_limit",
        description: "Rate limiting for proxy-wasm gateways (Envoy, Istio, Kong): per node in \
                      shared data, or across the cluster through Redis behind Webdis",
        budget_bytes: 400 * KIB,
        schema: shared::ratelimit::json_schema,
        reference: shared::ratelimit::reference_markdown,
        reference_path: "docs/config/rate-limit.md",
    },
    PluginCrate {
        package: "latency-metrics",
        artifact: "latency_metrics",
        description: "Upstream latency and request outcomes per route and service as \
                      Prometheus metrics (Kong's kong_upstream_latency_ms), for autoscaling",
        budget_bytes: 400 * KIB,
        schema: shared::metrics::json_schema,
        reference: shared::metrics::reference_markdown,
        reference_path: "docs/config/latency-metrics.md",
    },
];

/// What the gateways load (Envoy's and ngx_wasm_module's WASI).
const SHIP_TARGET: &str = "wasm32-wasip1";
/// Hosts without WASI load these too: the plugins must build for it.
const BARE_TARGET: &str = "wasm32-unknown-unknown";
/// The rustup targets [`build`] needs.
pub const TARGETS: [&str; 2] = [SHIP_TARGET, BARE_TARGET];

/// Builds, copies and measures the plugins; fails when one is over budget
/// or does not build for [`BARE_TARGET`].
pub fn build(root: &Path) -> Result<()> {
    let out_dir = compile(root)?;
    let mut over_budget = Vec::new();
    for plugin in &PLUGINS {
        let shipped = out_dir.join(format!("{}.wasm", plugin.artifact));
        let size = fs::metadata(&shipped)
            .with_context(|| format!("cannot read {}", shipped.display()))?
            .len();
        let shown = shipped.strip_prefix(root).unwrap_or(&shipped);
        println!(
            "{}  {size} bytes ({:.1} KiB; budget {} KiB)",
            shown.display(),
            size as f64 / KIB as f64,
            plugin.budget_bytes / KIB
        );
        if size > plugin.budget_bytes {
            over_budget.push(format!(
                "{} is {size} bytes, over its budget of {} bytes",
                shown.display(),
                plugin.budget_bytes
            ));
        }
    }
    write_metadata(root, &out_dir)?;
    if !over_budget.is_empty() {
        bail!(
            "{} (see the budgets in xtask/src/plugins.rs)",
            over_budget.join("; ")
        );
    }

    cargo_build(root, &root.join("target").join("wasm"), BARE_TARGET, None)?;
    println!("both plugins also build for {BARE_TARGET}");
    Ok(())
}

/// Builds the shipped modules of the workspace at `root` and copies them to
/// `<root>/target/plugins/`, which it returns. Only that: no budgets, no
/// metadata, no second target (the OCI reproducibility test builds a copy of
/// the sources with it).
pub fn compile(root: &Path) -> Result<std::path::PathBuf> {
    compile_with_cargo_home(root, None)
}

/// [`compile`] with cargo's home moved to `cargo_home` (the reproducibility
/// test builds as another machine would, with its cargo home elsewhere).
pub fn compile_with_cargo_home(
    root: &Path,
    cargo_home: Option<&Path>,
) -> Result<std::path::PathBuf> {
    // The same target directory as host-tests/build.rs: neither builds twice.
    let target_dir = root.join("target").join("wasm");
    cargo_build(root, &target_dir, SHIP_TARGET, cargo_home)?;
    let out_dir = root.join("target").join("plugins");
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    for plugin in &PLUGINS {
        let file = format!("{}.wasm", plugin.artifact);
        let built = target_dir.join(SHIP_TARGET).join("release").join(&file);
        let shipped = out_dir.join(&file);
        fs::copy(&built, &shipped)
            .with_context(|| format!("cannot copy {} to {}", built.display(), shipped.display()))?;
    }
    Ok(out_dir)
}

/// Writes each filter's Kong metadata, `<artifact>.meta.json` (`{"config_schema": …}`), next to
/// its module, and regenerates its configuration reference in `docs/config/` (committed; a test
/// in `shared` fails when the committed text is not the generated one).
pub fn write_metadata(root: &Path, out_dir: &Path) -> Result<()> {
    for plugin in &PLUGINS {
        let meta = serde_json::json!({ "config_schema": (plugin.schema)() });
        let text = serde_json::to_string_pretty(&meta)? + "\n";
        let file = out_dir.join(format!("{}.meta.json", plugin.artifact));
        fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        println!("{}", file.strip_prefix(root).unwrap_or(&file).display());

        let doc = root.join(plugin.reference_path);
        let text = (plugin.reference)();
        if fs::read_to_string(&doc).ok().as_deref() != Some(text.as_str()) {
            if let Some(dir) = doc.parent() {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            fs::write(&doc, text).with_context(|| format!("cannot write {}", doc.display()))?;
            println!("{} regenerated", plugin.reference_path);
        }
    }
    Ok(())
}

/// `cargo build --release --target <target>` of every plugin.
fn cargo_build(
    root: &Path,
    target_dir: &Path,
    target: &str,
    cargo_home: Option<&Path>,
) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            target,
            "--target-dir",
        ])
        .arg(target_dir);
    for plugin in &PLUGINS {
        cmd.args(["-p", plugin.package]);
    }
    // The same flags as host-tests/build.rs; nothing of an outer build leaks in.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    if let Some(home) = cargo_home {
        cmd.env("CARGO_HOME", home);
    }
    cmd.env(
        "CARGO_ENCODED_RUSTFLAGS",
        crate::wasm_flags::encoded_rustflags_for(cargo_home),
    );
    let status = cmd
        .status()
        .context("cannot run cargo to build the plugins")?;
    if !status.success() {
        bail!(
            "building the plugins for {target} failed ({status}); is the target installed? \
             (`rustup target add {target}`)"
        );
    }
    Ok(())
}
