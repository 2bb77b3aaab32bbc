//! A plugin to load: its module, configuration and identity.

use crate::error::HostError;
use crate::properties::{Properties, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::{Config, Engine, Module};

/// What a test asks the node to load.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub name: String,
    pub wasm: PathBuf,
    pub root_id: String,
    pub vm_id: String,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub env: Vec<(String, String)>,
    pub properties: Vec<(String, Value)>,
}

impl Plugin {
    /// A plugin named `name` from the module at `wasm`, with an empty
    /// configuration.
    pub fn new(name: &str, wasm: impl AsRef<Path>) -> Plugin {
        Plugin {
            name: name.to_string(),
            wasm: wasm.as_ref().to_path_buf(),
            root_id: name.to_string(),
            vm_id: name.to_string(),
            plugin_config: Vec::new(),
            vm_config: Vec::new(),
            env: Vec::new(),
            properties: Vec::new(),
        }
    }

    pub fn config(mut self, config: impl Into<Vec<u8>>) -> Plugin {
        self.plugin_config = config.into();
        self
    }

    pub fn vm_config(mut self, config: impl Into<Vec<u8>>) -> Plugin {
        self.vm_config = config.into();
        self
    }

    pub fn root_id(mut self, id: &str) -> Plugin {
        self.root_id = id.to_string();
        self
    }

    pub fn vm_id(mut self, id: &str) -> Plugin {
        self.vm_id = id.to_string();
        self
    }

    /// A WASI environment variable (Envoy's
    /// `vm_config.environment_variables`).
    pub fn env(mut self, key: &str, value: &str) -> Plugin {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A property every context of this plugin sees (e.g. `node.metadata.*`).
    pub fn property(mut self, path: &str, value: Value) -> Plugin {
        self.properties.push((path.to_string(), value));
        self
    }
}

/// A plugin as loaded: compiled module and resolved properties, shared by
/// the VMs of every worker.
#[derive(Debug)]
pub struct PluginSpec {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    pub plugin_config: Vec<u8>,
    pub vm_config: Vec<u8>,
    pub env: Vec<(String, String)>,
    pub properties: Properties,
    pub module: Module,
}

/// The process-wide engine: one compiler, modules shared across nodes.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // Backtraces are on by default: a trap names the plugin's frames.
        Engine::new(&Config::new()).unwrap_or_default()
    })
}

/// A module file's version: its path, modification time and length.
type FileVersion = (PathBuf, SystemTime, u64);

/// Compiles a module once per file version: tests load the same plugin
/// into many nodes and workers.
pub fn compile(name: &str, path: &Path) -> Result<Module, HostError> {
    static CACHE: OnceLock<Mutex<HashMap<FileVersion, Module>>> = OnceLock::new();
    let load_err = |message: String| HostError::Load {
        plugin: name.to_string(),
        message,
    };
    let meta = std::fs::metadata(path)
        .map_err(|e| load_err(format!("cannot read {}: {e}", path.display())))?;
    let key = (
        path.to_path_buf(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        meta.len(),
    );
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(m) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(m);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| load_err(format!("cannot read {}: {e}", path.display())))?;
    let module = Module::new(engine(), &bytes).map_err(|e| {
        load_err(format!(
            "{} is not a valid wasm module: {e:#}",
            path.display()
        ))
    })?;
    if let Ok(mut c) = cache.lock() {
        c.insert(key, module.clone());
    }
    Ok(module)
}
