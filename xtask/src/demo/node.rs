//! One `wasm-gateway` process: one node, as one Kong pod.

use super::stop::Stop;
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a node may take to compile its filters and listen.
const START_LIMIT: Duration = Duration::from_secs(120);

/// Worker threads per node (nginx worker processes in Kong).
pub const WORKERS: usize = 2;

/// A started gateway; killed when dropped.
pub struct Node {
    /// `--node-id`.
    pub name: String,
    /// `IP:port` it listens on, once [`Node::wait_ready`] returned.
    pub addr: String,
    child: Child,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Node {
    /// Starts `wasm-gateway` on a free loopback port; does not wait for it.
    pub fn spawn(gateway: &Path, config: &Path, filters: &Path, name: &str) -> Result<Node> {
        let mut child = Command::new(gateway)
            .arg("--config")
            .arg(config)
            .arg("--filters")
            .arg(filters)
            .args(["--listen", "127.0.0.1:0", "--workers"])
            .arg(WORKERS.to_string())
            .args(["--node-id", name])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", gateway.display()))?;
        let (tx, stdout) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let sink = stderr.clone();
            thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
            });
        }
        Ok(Node {
            name: name.to_string(),
            addr: String::new(),
            child,
            stdout,
            stderr,
        })
    }

    /// Waits for the start-up line `wasm-gateway listening on http://ADDR …`
    /// and keeps the address.
    pub fn wait_ready(&mut self, stop: &Stop) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            stop.check()?;
            match self.stdout.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(addr) = line
                        .split("listening on http://")
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                    {
                        self.addr = addr.to_string();
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "{}: not listening after {START_LIMIT:?}{}",
                        self.name,
                        self.stderr_tail()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Its stderr reader may be a moment behind its exit.
                    thread::sleep(Duration::from_millis(100));
                    let status = self.child.try_wait().ok().flatten();
                    bail!(
                        "{}: wasm-gateway exited ({}) before listening{}",
                        self.name,
                        status.map_or("still running".into(), |s| s.to_string()),
                        self.stderr_tail()
                    )
                }
            }
        }
    }

    /// The node's stderr so far (its filters' log lines), for error messages.
    fn stderr_tail(&self) -> String {
        let text = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        if text.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n    ");
        format!("; its stderr:\n    {tail}")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
