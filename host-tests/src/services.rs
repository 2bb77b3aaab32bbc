//! Real `redis-server` and `webdis` processes on free loopback ports, for
//! the cluster policy's tests and the demo. Each is stopped when dropped.
//!
//! `cargo xtask demo` compiles this file into xtask too (`#[path]` in
//! xtask/src/demo/mod.rs, so xtask does not build wasmtime): keep it to std,
//! `serde_json` and `thiserror`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a service could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("`{0}` is not installed (Debian: apt-get install -y redis-server webdis)")]
    Missing(&'static str),
    #[error("`{bin}` is not installed (Debian: apt-get install -y {package})")]
    NotInstalled {
        bin: &'static str,
        package: &'static str,
    },
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
}

/// Whether `redis-server` and `webdis` are on the PATH.
pub fn installed() -> bool {
    which("redis-server").is_some() && which("webdis").is_some()
}

pub(crate) fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
    })
}

/// A port nobody listens on now (the OS picks it).
pub fn free_port() -> Result<u16, ServiceError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ServiceError::Failed {
            what: "free port".into(),
            detail: e.to_string(),
        })
}

pub(crate) fn wait_listening(port: u16, what: &str, child: &mut Child) -> Result<(), ServiceError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(ServiceError::Failed {
                what: what.into(),
                detail: format!("exited with {status} before listening on {port}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(ServiceError::Failed {
        what: what.into(),
        detail: format!("not listening on 127.0.0.1:{port} after 10 s"),
    })
}

pub(crate) fn scratch_dir(name: &str) -> Result<PathBuf, ServiceError> {
    let dir = std::env::temp_dir().join(format!(
        "gateway-wasm-{name}-{}-{}",
        std::process::id(),
        free_port()?
    ));
    std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Failed {
        what: format!("create {}", dir.display()),
        detail: e.to_string(),
    })?;
    Ok(dir)
}

/// A `redis-server` with no persistence, on 127.0.0.1.
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    pub fn start() -> Result<Redis, ServiceError> {
        let port = free_port()?;
        let mut r = Redis {
            port,
            dir: scratch_dir("redis")?,
            child: None,
        };
        r.spawn()?;
        Ok(r)
    }

    fn spawn(&mut self) -> Result<(), ServiceError> {
        which("redis-server").ok_or(ServiceError::Missing("redis-server"))?;
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ServiceError::Failed {
                what: "redis-server".into(),
                detail: e.to_string(),
            })?;
        wait_listening(self.port, "redis-server", &mut child)?;
        self.child = Some(child);
        Ok(())
    }

    /// Kills the server (as a crash would: its data, and its script cache,
    /// are gone).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill();
        self.spawn()
    }

    /// Runs one command over RESP and returns the raw reply (for tests
    /// that read what the plugins wrote).
    pub fn command(&self, args: &[&str]) -> Result<String, ServiceError> {
        let fail = |e: std::io::Error| ServiceError::Failed {
            what: "redis command".into(),
            detail: e.to_string(),
        };
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(fail)?;
        s.set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(fail)?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).map_err(fail)?;
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).map_err(fail)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `webdis` in front of a [`Redis`], on 127.0.0.1.
pub struct Webdis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Webdis {
    pub fn start(redis_port: u16) -> Result<Webdis, ServiceError> {
        which("webdis").ok_or(ServiceError::Missing("webdis"))?;
        let port = free_port()?;
        let dir = scratch_dir("webdis")?;
        let config = serde_json::json!({
            "redis_host": "127.0.0.1",
            "redis_port": redis_port,
            "redis_auth": null,
            "http_host": "127.0.0.1",
            "http_port": port,
            "threads": 2,
            "pool_size": 4,
            "daemonize": false,
            "database": 0,
            "acl": [{"disabled": ["DEBUG"]}],
            "verbosity": 1,
            "logfile": dir.join("webdis.log"),
        });
        let path = dir.join("webdis.json");
        write(&path, config.to_string().as_bytes())?;
        let mut w = Webdis {
            port,
            dir,
            child: None,
        };
        w.spawn()?;
        Ok(w)
    }

    fn spawn(&mut self) -> Result<(), ServiceError> {
        let mut child = Command::new("webdis")
            .arg(self.dir.join("webdis.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ServiceError::Failed {
                what: "webdis".into(),
                detail: e.to_string(),
            })?;
        wait_listening(self.port, "webdis", &mut child)?;
        self.child = Some(child);
        Ok(())
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<(), ServiceError> {
        self.kill();
        self.spawn()
    }

    /// `127.0.0.1:<port>`: what a Kong-style callout names.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Webdis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<(), ServiceError> {
    std::fs::write(path, bytes).map_err(|e| ServiceError::Failed {
        what: format!("write {}", path.display()),
        detail: e.to_string(),
    })
}
