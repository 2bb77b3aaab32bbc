//! `wasm-gateway`: run proxy-wasm filters as Kong Gateway does, over real
//! HTTP, from a Kong DB-less declarative file. A development host, not a
//! production proxy.
//!
//! ```text
//! wasm-gateway --config kong.yml --filters target/plugins --listen 127.0.0.1:8000 \
//!     [--workers N] [--node-id NAME] [--log-level info]
//! ```

use clap::Parser;
use host_tests::gateway::{run, Options};
use host_tests::LogLevel;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs proxy-wasm filters the way Kong Gateway does, configured with Kong's
/// DB-less declarative format (services, routes, filter_chains). A
/// development host, not a production proxy.
#[derive(Debug, Parser)]
#[command(name = "wasm-gateway", version)]
struct Args {
    /// Kong declarative configuration file (YAML or JSON, `_format_version: "3.0"`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Directory of filters (Kong's `wasm_filters_path`): a filter's name is
    /// its file name without `.wasm`.
    #[arg(long, value_name = "DIR")]
    filters: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start-up).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Worker threads, each with its own VMs (nginx worker processes).
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    /// This node's name (one gateway process is one node).
    #[arg(long, value_name = "NAME", default_value = "wasm-gateway-0")]
    node_id: String,
    /// Lowest level of filter log lines written to stderr: trace, debug,
    /// info, warn, error, critical.
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = parse_level)]
    log_level: LogLevel,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "info" => LogLevel::Info,
        "warn" | "warning" => LogLevel::Warn,
        "error" => LogLevel::Error,
        "critical" | "crit" => LogLevel::Critical,
        other => return Err(format!("unknown log level \"{other}\"")),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        config: args.config,
        filters: args.filters,
        listen: args.listen,
        workers: args.workers.max(1),
        node_id: args.node_id,
        log_level: args.log_level,
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wasm-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}
