//! A real OCI distribution registry (Debian's `docker-registry`, the CNCF
//! Distribution 2.8 server) on a free loopback port, in plain HTTP, storing
//! in a scratch directory; stopped and removed when dropped. For the tests
//! of `cargo xtask oci --push`.

use crate::services::{free_port, scratch_dir, wait_listening, which, write, ServiceError};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Registry {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Registry {
    pub fn start() -> Result<Registry, ServiceError> {
        let bin = which("docker-registry").ok_or(ServiceError::NotInstalled {
            bin: "docker-registry",
            package: "docker-registry",
        })?;
        let port = free_port()?;
        let dir = scratch_dir("registry")?;
        let config = dir.join("config.yml");
        // No auth, no TLS, loopback only; the package's own config (with its
        // htpasswd file and :5000 on every interface) is not used.
        let text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: host-tests-only\n",
            dir.join("data").display()
        );
        write(&config, text.as_bytes())?;
        let log =
            std::fs::File::create(dir.join("registry.log")).map_err(|e| ServiceError::Failed {
                what: "docker-registry log".into(),
                detail: e.to_string(),
            })?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| ServiceError::Failed {
                what: "docker-registry".into(),
                detail: e.to_string(),
            })?;
        if let Err(e) = wait_listening(port, "docker-registry", &mut child) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(Registry {
            port,
            dir,
            child: Some(child),
        })
    }

    /// `127.0.0.1:<port>`: the registry part of an image reference.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry logged (warnings and errors), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
