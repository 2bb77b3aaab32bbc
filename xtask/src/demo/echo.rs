//! The demo's upstream: answers every request with 200 and a short JSON
//! body naming the path it got. std threads only, to keep xtask light.

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A running echo server on a free loopback port; stops when dropped.
pub struct Echo {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    closing: Arc<AtomicBool>,
}

impl Echo {
    pub fn start() -> Result<Echo> {
        let listener =
            TcpListener::bind("127.0.0.1:0").context("the echo upstream cannot listen")?;
        let addr = listener.local_addr()?.to_string();
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        thread::Builder::new()
            .name("demo-echo".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let _ = thread::Builder::new().spawn(move || answer(conn));
                    }
                }
            })
            .context("cannot start the echo upstream's thread")?;
        Ok(Echo { addr, closing })
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and closes the socket.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Reads the request head (the demo sends no bodies) and answers it.
fn answer(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/");
    let body = serde_json::json!({ "upstream": "echo", "path": path }).to_string();
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(reply.as_bytes());
}
