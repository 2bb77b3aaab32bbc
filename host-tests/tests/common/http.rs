//! Helpers for the gateway's tests over real HTTP: an upstream that echoes
//! what it got, the `wasm-gateway` binary as a child process with its own
//! `kong.yml` and filters directory, and a tiny HTTP/1.1 client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const GATEWAY: &str = env!("CARGO_BIN_EXE_wasm-gateway");
pub const PROBE: &str = env!("WASM_ABI_PROBE");
pub const NOOP: &str = env!("WASM_NOOP");
pub const RATE_LIMIT: &str = env!("WASM_RATE_LIMIT");

/// How long the gateway may take to compile its filters and start.
const START_LIMIT: Duration = Duration::from_secs(120);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "wasm-gateway-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An upstream on a free loopback port that answers every request with 200
/// and a JSON body of what it received: method, path, headers, body. A
/// request header `x-delay-ms` holds the answer back.
pub struct Echo {
    pub addr: String,
    pub hits: Arc<AtomicUsize>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                h.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || echo(conn));
            }
        });
        Echo { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn echo(mut conn: TcpStream) {
    let Some((head, body)) = read_message(&mut conn) else {
        return;
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if let Some((_, ms)) = headers.iter().find(|(k, _)| k == "x-delay-ms") {
        thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
    }
    let json = serde_json::json!({
        "method": method,
        "path": path,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })
    .to_string();
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-upstream: echo\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    );
    let _ = conn.write_all(resp.as_bytes());
}

/// Reads one HTTP/1.1 message with a content-length body (or none).
fn read_message(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = content_length(&head).unwrap_or(0);
            while buf.len() < end + 4 + len {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return Some((head, buf[end + 4..end + 4 + len].to_vec()));
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

/// What the client got back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn headers_named(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The echo's JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// What the upstream saw: its path.
    pub fn upstream_path(&self) -> String {
        self.json()["path"].as_str().unwrap_or_default().to_string()
    }

    /// What the upstream saw: a request header.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.json()["headers"]
            .as_array()?
            .iter()
            .find(|h| h[0].as_str() == Some(name))
            .and_then(|h| h[1].as_str().map(str::to_string))
    }
}

/// One request on a new connection. A `host` in `headers` replaces the
/// default `localhost`.
pub fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("host: localhost\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if let Some(len) = content_length(&head) {
        body.truncate(len);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, "GET", path, headers, b"")
}

/// A filters directory: `(name, wasm file)` pairs become `name.wasm`.
fn filters_dir(dir: &Path, filters: &[(&str, &str)]) -> PathBuf {
    let fdir = dir.join("filters");
    std::fs::create_dir_all(&fdir).unwrap();
    for (name, wasm) in filters {
        // A `.meta.json` source is the filter's Kong metadata, copied next to its module.
        let file = if wasm.ends_with(".meta.json") {
            format!("{name}.meta.json")
        } else {
            format!("{name}.wasm")
        };
        std::fs::copy(wasm, fdir.join(file)).unwrap();
    }
    fdir
}

/// A running `wasm-gateway` child process.
pub struct Gateway {
    pub addr: String,
    child: Child,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Gateway {
    /// Starts the gateway on a free port with `yaml` as its `kong.yml` and
    /// `filters` in its filters directory; waits for its start-up line.
    pub fn start(yaml: &str, filters: &[(&str, &str)]) -> Gateway {
        Gateway::start_with(yaml, filters, &[])
    }

    pub fn start_with(yaml: &str, filters: &[(&str, &str)], args: &[&str]) -> Gateway {
        let dir = TempDir::new("run");
        let config = dir.path().join("kong.yml");
        std::fs::write(&config, yaml).unwrap();
        let fdir = filters_dir(dir.path(), filters);
        let mut child = Command::new(GATEWAY)
            .arg("--config")
            .arg(&config)
            .arg("--filters")
            .arg(&fdir)
            .args(["--listen", "127.0.0.1:0", "--workers", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err_pipe = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "the gateway did not start; stderr:\n{}",
                    stderr.lock().unwrap()
                );
            }
        };
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected start-up line: {line}"))
            .to_string();
        Gateway {
            addr,
            child,
            stderr,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to `limit`) for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the gateway did not exit within {limit:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the gateway on a configuration that must be refused: answers its
/// exit status and stderr. `yaml: None` gives it a config file that does
/// not exist.
pub fn refused(yaml: Option<&str>, filters: &[(&str, &str)]) -> (ExitStatus, String) {
    let dir = TempDir::new("bad");
    let config = dir.path().join("kong.yml");
    if let Some(y) = yaml {
        std::fs::write(&config, y).unwrap();
    }
    let fdir = filters_dir(dir.path(), filters);
    let mut child = Command::new(GATEWAY)
        .arg("--config")
        .arg(&config)
        .arg("--filters")
        .arg(&fdir)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway accepted a bad configuration and kept running");
        }
        thread::sleep(Duration::from_millis(20));
    }
}
