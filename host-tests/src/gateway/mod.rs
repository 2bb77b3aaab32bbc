//! `wasm-gateway`: a development gateway that runs proxy-wasm filters the
//! way Kong Gateway (3.4–3.10) does, over real HTTP, configured with Kong's
//! DB-less declarative format. It is for trying filters and for tests; it is
//! not a production proxy (production runs the same `.wasm` files in Kong,
//! Envoy or Istio).
//!
//! One process is one node ([`Node`], one shared store); each worker is an
//! OS thread owning its VMs. Requests are read whole, run through the
//! route's filter chain on a worker, sent to the service over HTTP/1.1 and
//! answered whole.

pub mod config;
pub mod filters;
pub mod pool;
pub mod router;
pub mod server;
pub mod upstream;

use crate::abi::LogLevel;
use crate::node::Node;
use crate::profile::HostProfile;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The declarative configuration (`kong.yml`).
    pub config: PathBuf,
    /// Kong's `wasm_filters_path`.
    pub filters: PathBuf,
    pub listen: SocketAddr,
    pub workers: usize,
    pub node_id: String,
    /// Filter log lines below this level are dropped.
    pub log_level: LogLevel,
}

/// Loads everything, serves until Ctrl-C or SIGTERM, drains, returns. Any
/// start-up problem comes back as one message.
pub fn run(opts: Options) -> Result<(), String> {
    let declarative = config::load(&opts.config).map_err(|e| e.to_string())?;
    let dir = filters::FilterDir::scan(&opts.filters)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wasm-gateway-io")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    let mut node = Node::builder(HostProfile::Kong)
        .workers(opts.workers)
        .node_id(&opts.node_id)
        .log_level(opts.log_level)
        .runtime(runtime.handle().clone())
        .build()
        .map_err(|e| e.to_string())?;
    let (chains, instances) = filters::load_chains(&mut node, &declarative, &dir)?;
    let router = router::Router::new(&declarative, chains);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(opts.listen))
        .map_err(|e| format!("--listen {}: cannot listen: {e}", opts.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("--listen {}: {e}", opts.listen))?;
    let queue = Arc::new(pool::Queue::default());
    let shared = Arc::new(server::Shared {
        router,
        queue: queue.clone(),
        listen_port: local.port(),
    });
    println!(
        "wasm-gateway listening on http://{local} (node {}, {} workers, {} routes, {} filter instances from {})",
        opts.node_id,
        node.worker_count(),
        shared.router.routes().len(),
        instances,
        dir.dir.display()
    );
    let node_shared = node.shared().clone();
    let handle = runtime.handle().clone();
    let log_pump = runtime.spawn({
        let node_shared = node_shared.clone();
        async move {
            loop {
                print_logs(&node_shared);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    std::thread::scope(|scope| {
        for worker in node.workers_mut() {
            let queue = queue.clone();
            let handle = handle.clone();
            let name = format!("wasm-gateway-worker-{}", worker.id);
            let spawned = std::thread::Builder::new()
                .name(name)
                .spawn_scoped(scope, move || pool::work(worker, &queue, &handle));
            if let Err(e) = spawned {
                eprintln!("wasm-gateway: cannot start a worker thread: {e}");
            }
        }
        runtime.block_on(server::serve(listener, shared));
        queue.close();
    });
    log_pump.abort();
    print_logs(&node_shared);
    eprintln!("wasm-gateway: stopped");
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Writes the filters' log lines to stderr (nginx's error log), and forgets
/// them: a long-running gateway must not keep them all.
fn print_logs(node: &crate::node::NodeShared) {
    for line in node.logs.drain() {
        eprintln!(
            "[{:?}] {}#{}: {}",
            line.level, line.plugin, line.worker, line.message
        );
    }
}
