//! Helpers shared by the host's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::{Clock, HostProfile, Node, Plugin, PluginId};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub const PROBE: &str = env!("WASM_ABI_PROBE");
pub const RATE_LIMIT: &str = env!("WASM_RATE_LIMIT");
pub const LATENCY_METRICS: &str = env!("WASM_LATENCY_METRICS");

/// 2026-01-01T00:00:00Z, a round start for virtual clocks.
pub const T0_MS: u64 = 1_767_225_600_000;

pub fn node(profile: HostProfile, workers: usize) -> Node {
    Node::builder(profile)
        .workers(workers)
        .clock(Clock::virtual_at_ms(T0_MS))
        .build()
        .unwrap()
}

pub fn probe_node(profile: HostProfile, workers: usize, config: &str) -> (Node, PluginId) {
    let mut n = node(profile, workers);
    let id = n.load(Plugin::new("probe", PROBE).config(config)).unwrap();
    (n, id)
}

/// A real HTTP/1.1 server on a free loopback port, answering every request
/// with `200` and a body naming the method and path; `delay` holds each
/// answer back.
pub struct TestServer {
    pub addr: String,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    pub fn start(delay: Duration) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        thread::spawn(move || serve(conn, delay));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TestServer { addr, hits, stop }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut conn: TcpStream, delay: Duration) {
    conn.set_nonblocking(false).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let first = head.lines().next().unwrap_or("").to_string();
            let host = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("host:")
                        .map(|v| v.trim().to_string())
                })
                .unwrap_or_default();
            thread::sleep(delay);
            let body = format!("{first} host={host}");
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-upstream: yes\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(resp.as_bytes());
            return;
        }
    }
}

/// A loopback port with nothing listening.
pub fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}
