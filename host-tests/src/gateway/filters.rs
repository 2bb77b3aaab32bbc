//! Kong's `wasm_filters_path`: the filters a configuration may name, and
//! loading each filter instance of each chain into the node.

use super::config::{ChainTarget, ConfigError, Declarative};
use crate::error::HostError;
use crate::node::{Node, PluginId};
use crate::plugin::Plugin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The filters found in a directory: name (file name without `.wasm`) → file.
#[derive(Debug, Clone, Default)]
pub struct FilterDir {
    pub dir: PathBuf,
    pub filters: BTreeMap<String, PathBuf>,
}

impl FilterDir {
    /// Lists `dir`'s `*.wasm` files, as Kong does at start-up.
    pub fn scan(dir: &Path) -> Result<FilterDir, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            format!(
                "--filters {}: cannot read the directory: {e}",
                dir.display()
            )
        })?;
        let mut filters = BTreeMap::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(stem) = name.strip_suffix(".wasm") {
                if !stem.is_empty() && path.is_file() {
                    filters.insert(stem.to_string(), path.clone());
                }
            }
        }
        Ok(FilterDir {
            dir: dir.to_path_buf(),
            filters,
        })
    }
}

/// Kong 3.5+: when `<name>.meta.json` lies next to `<name>.wasm`, a filter's `config` must satisfy
/// its `config_schema` (JSON Schema) before the filter sees it. An absent config is not checked;
/// a config that is not JSON is checked as a JSON string, as Kong sees a string config.
fn check_config_schema(wasm: &Path, config: &[u8]) -> Result<(), String> {
    let meta_path = wasm.with_extension("meta.json");
    let Ok(meta_text) = std::fs::read_to_string(&meta_path) else {
        return Ok(());
    };
    let name = meta_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("the filter's meta.json")
        .to_string();
    let meta: serde_json::Value = serde_json::from_str(&meta_text)
        .map_err(|e| format!("config: {name} is not valid JSON: {e}"))?;
    let Some(schema) = meta.get("config_schema") else {
        return Ok(());
    };
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("config: the config_schema of {name} is not a valid schema: {e}"))?;
    if config.is_empty() {
        return Ok(());
    }
    let instance = serde_json::from_slice(config).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(config).into_owned())
    });
    match validator.validate(&instance) {
        Ok(()) => Ok(()),
        Err(e) => {
            let at = e.instance_path().to_string();
            let field = if at.is_empty() {
                "config".to_string()
            } else {
                format!("config{}", at.replace('/', "."))
            };
            let mut detail = e.to_string();
            if detail.chars().count() > 300 {
                detail = detail.chars().take(297).collect::<String>() + "...";
            }
            Err(format!(
                "{field}: does not match the config_schema of {name}: {detail}"
            ))
        }
    }
}

/// Loads every enabled filter of every enabled chain into `node`, one
/// instance per chain position (each with its own configuration), and
/// answers each route's chain: the service's filters, then the route's —
/// Kong's order (`build_filter_list` in `kong/runloop/wasm.lua`).
pub fn load_chains(
    node: &mut Node,
    config: &Declarative,
    dir: &FilterDir,
) -> Result<(Vec<Vec<PluginId>>, usize), String> {
    let mut service_chain: Vec<Vec<PluginId>> = vec![Vec::new(); config.services.len()];
    let mut route_chain: Vec<Vec<PluginId>> = vec![Vec::new(); config.routes.len()];
    let mut instances = 0;
    for chain in config.chains.iter().filter(|c| c.enabled) {
        let mut ids = Vec::new();
        for f in chain.filters.iter().filter(|f| f.enabled) {
            let err = |message: String| {
                ConfigError {
                    file: config.file.clone(),
                    at: f.at.clone(),
                    message,
                }
                .to_string()
            };
            let Some(path) = dir.filters.get(&f.name) else {
                let available = if dir.filters.is_empty() {
                    "it holds no .wasm file".to_string()
                } else {
                    format!(
                        "it holds {}",
                        dir.filters.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                };
                let what = if chain.from_plugin {
                    "plugin: wasm-gateway runs no Lua plugins, and no Wasm filter named"
                } else {
                    "filter"
                };
                return Err(err(format!(
                    "name: {what} \"{}\" is not in --filters {} ({available})",
                    f.name,
                    dir.dir.display()
                )));
            };
            check_config_schema(path, &f.config).map_err(err)?;
            let plugin = Plugin::new(&f.name, path).config(f.config.clone());
            let id = node.load(plugin).map_err(|e| match e {
                HostError::Config { callback, logs, .. } => {
                    let mut m =
                        format!("config: the filter refused its configuration in {callback}");
                    if logs.is_empty() {
                        m.push_str(" (it logged nothing)");
                    } else {
                        m.push_str("; the filter logged:");
                        for l in logs {
                            m.push_str(&format!("\n  [{:?}] {}", l.level, l.message));
                        }
                    }
                    err(m)
                }
                other => err(format!("name: {other}")),
            })?;
            ids.push(id);
            instances += 1;
        }
        match chain.target {
            ChainTarget::Route(i) => route_chain[i].extend(ids),
            ChainTarget::Service(i) => service_chain[i].extend(ids),
        }
    }
    let chains = config
        .routes
        .iter()
        .zip(route_chain)
        .map(|(r, own)| {
            let mut c = service_chain[r.service].clone();
            c.extend(own);
            c
        })
        .collect();
    Ok((chains, instances))
}
