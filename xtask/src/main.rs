//! The project's commands, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`). Only `build` exists so far; the others say so.

mod plugins;

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

Commands:
  build   Build rate-limit and latency-metrics in release for wasm32-wasip1,
          write target/plugins/rate_limit.wasm and target/plugins/latency_metrics.wasm,
          print their sizes and fail if one is over its size budget; also check
          that both build for wasm32-unknown-unknown.
  demo    (not yet implemented) Run the gateways with the plugins.
  oci     (not yet implemented) Package the plugins as OCI images.
  bench   (not yet implemented) Run the benchmarks.

Options:
  -h, --help   Print this help.
";

/// Exit code for a command line we cannot act on, and for the commands
/// that are not written yet.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["-h" | "--help" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["build"] => match plugins::build(&workspace_root()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cargo xtask build: {e:#}");
                ExitCode::FAILURE
            }
        },
        [cmd @ ("demo" | "oci" | "bench"), ..] => {
            eprintln!("cargo xtask {cmd}: not yet implemented");
            ExitCode::from(USAGE)
        }
        [] => {
            eprint!("cargo xtask: no command given\n\n{HELP}");
            ExitCode::from(USAGE)
        }
        ["build", extra @ ..] => {
            eprint!("cargo xtask build: unexpected arguments {extra:?}\n\n{HELP}");
            ExitCode::from(USAGE)
        }
        [cmd, ..] => {
            eprint!("cargo xtask: unknown command `{cmd}`\n\n{HELP}");
            ExitCode::from(USAGE)
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
