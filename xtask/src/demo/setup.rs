//! What the demo needs on a fresh machine: the wasm targets, `redis-server`
//! and `webdis` (when it may install them), the plugins and the gateway.

use super::services;
use crate::plugins;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The profile `wasm-gateway` is built with (see the root Cargo.toml).
pub const GATEWAY_PROFILE: &str = "gateway";

/// Adds the wasm targets `cargo xtask build` needs, when missing.
pub fn wasm_targets() -> Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        // Without rustup the toolchain came some other way: let the build
        // say what is missing.
        _ => {
            println!("rustup not found: not checking the wasm targets");
            return Ok(());
        }
    };
    let missing: Vec<&str> = plugins::TARGETS
        .into_iter()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("adding the rustup targets {}", missing.join(", "));
    let status = Command::new("rustup")
        .args(["target", "add"])
        .args(&missing)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!(
            "`rustup target add {}` failed ({status})",
            missing.join(" ")
        );
    }
    Ok(())
}

/// The command that installs Redis and Webdis, as the user would type it.
pub const INSTALL_HINT: &str = "sudo apt-get update && sudo apt-get install -y redis-server webdis";

/// Whether `redis-server` and `webdis` can run here; installs them with
/// apt-get when missing and allowed to (running as root, or
/// `--install-deps`). `Ok(Err(why))` when they are missing and were not
/// installed: the demo runs its local-policy route only.
pub fn redis_and_webdis(install_deps: bool) -> Result<std::result::Result<(), String>> {
    if services::installed() {
        return Ok(Ok(()));
    }
    let root = is_root();
    let apt = on_path("apt-get");
    if !apt || !(root || install_deps) {
        let how = if apt {
            format!("`{INSTALL_HINT}`, or `cargo xtask demo --install-deps`")
        } else {
            "your system's package manager (the Debian packages are `redis-server` and `webdis`)"
                .to_string()
        };
        return Ok(Err(format!(
            "redis-server and webdis are not installed; install them with {how}, then run the demo again"
        )));
    }
    let sudo: &[&str] = if root { &[] } else { &["sudo"] };
    for args in [
        &["apt-get", "update"][..],
        &["apt-get", "install", "-y", "redis-server", "webdis"][..],
    ] {
        let line: Vec<&str> = sudo.iter().chain(args).copied().collect();
        println!("running `{}`", line.join(" "));
        let status = Command::new(line[0])
            .args(&line[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .with_context(|| format!("cannot run {}", line[0]))?;
        if !status.success() {
            bail!("`{}` failed ({status})", line.join(" "));
        }
    }
    if !services::installed() {
        bail!("apt-get installed redis-server and webdis, but they are not on the PATH");
    }
    Ok(Ok(()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(bin).is_file()))
}

/// Builds `wasm-gateway` with the gateway profile into `<root>/target`
/// and answers the binary's path.
pub fn gateway(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let target_dir = root.join("target");
    println!("building wasm-gateway (cargo build --profile {GATEWAY_PROFILE} -p host-tests --bin wasm-gateway)");
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--profile", GATEWAY_PROFILE])
        .args(["-p", "host-tests", "--bin", "wasm-gateway", "--target-dir"])
        .arg(&target_dir)
        .status()
        .context("cannot run cargo to build wasm-gateway")?;
    if !status.success() {
        bail!("building wasm-gateway failed ({status})");
    }
    let bin = target_dir
        .join(GATEWAY_PROFILE)
        .join(format!("wasm-gateway{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!(
            "cargo built wasm-gateway, but {} is not there",
            bin.display()
        );
    }
    Ok(bin)
}
