//! The project's commands, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`).

use std::path::PathBuf;
use std::process::ExitCode;
use xtask::{demo, oci, plugins};

const HELP: &str = "\
cargo xtask <command>

Commands:
  build   Build rate-limit and latency-metrics in release for wasm32-wasip1,
          write target/plugins/rate_limit.wasm and target/plugins/latency_metrics.wasm,
          print their sizes and fail if one is over its size budget; also check
          that both build for wasm32-unknown-unknown.
  demo    Build the plugins and wasm-gateway, start an upstream, three gateway
          nodes and (when installed) Redis and Webdis on free loopback ports,
          send one client's requests round-robin over the nodes through a
          local-policy and a cluster-policy route (5 per minute each), and
          print what each node allowed and rejected. Stops all it started.
            --requests N     requests per route (default 18)
            --install-deps   install redis-server and webdis with apt-get
                             (through sudo) when missing; as root it does
                             so anyway
  oci     Build the plugins and package each as OCI artifacts in two forms:
          `<version>`, the Istio compat image (one tar+gzip layer holding
          plugin.wasm) that Istio and Envoy Gateway pull, and
          `<version>-wasm`, the CNCF Wasm OCI artifact (one application/wasm
          layer). Writes OCI image layouts to target/oci/<plugin>/ and prints
          every digest. Dated by SOURCE_DATE_EPOCH, else the commit time: the
          same sources and date give the same digests.
            --push REGISTRY/PREFIX
                     also push PREFIX/rate-limit and PREFIX/latency-metrics
                     with both tags, e.g. --push 127.0.0.1:5000/wasm; plain
                     HTTP for loopback registries, HTTPS otherwise;
                     credentials from REGISTRY_USERNAME and
                     REGISTRY_PASSWORD when set
  bench   (not yet implemented) Run the benchmarks.

Options:
  -h, --help   Print this help.
";

/// Exit code for a command line we cannot act on, and for the commands
/// that are not written yet.
const USAGE: u8 = 2;
/// Exit code after Ctrl-C, as shells report a SIGINT death.
const INTERRUPTED: u8 = 130;

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
        ["demo", rest @ ..] => match demo_options(rest) {
            Ok(opts) => run_demo(&opts),
            Err(e) => {
                eprint!("cargo xtask demo: {e}\n\n{HELP}");
                ExitCode::from(USAGE)
            }
        },
        ["oci", rest @ ..] => match oci::options(rest) {
            Ok(opts) => match oci::main(&workspace_root(), &opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cargo xtask oci: {e:#}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprint!("cargo xtask oci: {e}\n\n{HELP}");
                ExitCode::from(USAGE)
            }
        },
        [cmd @ "bench", ..] => {
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

fn demo_options(args: &[&str]) -> Result<demo::Options, String> {
    let mut opts = demo::Options {
        requests: demo::DEFAULT_REQUESTS,
        install_deps: false,
    };
    let mut flags = xtask::flags::Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag.name {
            "--install-deps" if !flag.has_inline_value() => opts.install_deps = true,
            "--requests" => {
                let value = flags
                    .value(&flag)
                    .ok_or("--requests: expected a number of requests")?;
                opts.requests = value.parse().ok().filter(|n| *n > 0).ok_or(format!(
                    "--requests: expected a positive integer, got {value:?}"
                ))?;
            }
            _ => return Err(format!("unexpected argument {:?}", flag.arg)),
        }
    }
    Ok(opts)
}

fn run_demo(opts: &demo::Options) -> ExitCode {
    let stop = match demo::Stop::on_signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("cargo xtask demo: cannot handle Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    match demo::main(&workspace_root(), opts, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<demo::Interrupted>() => {
            eprintln!("cargo xtask demo: interrupted; stopped everything it had started");
            ExitCode::from(INTERRUPTED)
        }
        Err(e) => {
            eprintln!("cargo xtask demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::demo_options;

    #[test]
    fn demo_flags_are_read_in_both_spellings_and_bad_counts_refused() {
        let o = demo_options(&["--requests", "30", "--install-deps"]).unwrap();
        assert_eq!((o.requests, o.install_deps), (30, true));
        assert_eq!(demo_options(&["--requests=7"]).unwrap().requests, 7);
        assert_eq!(demo_options(&[]).unwrap().requests, 18);
        assert!(demo_options(&["--requests", "0"]).is_err());
        assert!(demo_options(&["--requests"]).is_err());
        assert!(demo_options(&["--keep-going"]).is_err());
    }
}
