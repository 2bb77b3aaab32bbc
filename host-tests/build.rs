//! Builds the plugins and the test fixture for wasm32-wasip1 before the
//! tests run, so `cargo test` always drives the current sources.
//!
//! The nested cargo uses its own target directory (`target/wasm`): the
//! outer cargo holds the lock on the normal one. `cargo xtask build` uses
//! the same directory, so neither builds twice.

use std::path::PathBuf;
use std::process::Command;

// The shipped modules' rustc flags, shared with `cargo xtask build`.
#[path = "../xtask/src/wasm_flags.rs"]
mod wasm_flags;

const CRATES: [(&str, &str); 4] = [
    ("rate-limit", "rate_limit"),
    ("latency-metrics", "latency_metrics"),
    ("abi-probe", "abi_probe"),
    ("noop", "noop"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().map(PathBuf::from).unwrap_or_default();
    for dir in [
        "plugins",
        "shared",
        "host-tests/fixtures",
        "Cargo.toml",
        "Cargo.lock",
        "xtask/src/wasm_flags.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    let target_dir = root.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip1",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (krate, _) in CRATES {
        cmd.args(["-p", krate]);
    }
    // Nothing of the outer build (clippy's wrapper, its flags) may leak in.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", wasm_flags::encoded_rustflags());
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            println!("cargo:warning=building the wasm plugins failed ({s}); run `cargo xtask build` to see why");
            std::process::exit(1);
        }
        Err(e) => {
            println!("cargo:warning=cannot run cargo to build the wasm plugins: {e}");
            std::process::exit(1);
        }
    }
    let out = target_dir.join("wasm32-wasip1").join("release");
    for (_, file) in CRATES {
        println!(
            "cargo:rustc-env=WASM_{}={}",
            file.to_ascii_uppercase(),
            out.join(format!("{file}.wasm")).display()
        );
    }
}
