//! What can go wrong when the host runs a plugin, named so a test failure
//! says which plugin, which callback and why.

use crate::logs::LogLine;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The module could not be read, compiled or instantiated (a missing
    /// import, an import of the wrong signature, no ABI version export).
    #[error("plugin `{plugin}` could not be loaded: {message}")]
    Load { plugin: String, message: String },

    /// `on_vm_start` or `on_configure` returned false: a configuration
    /// error, reported with the plugin's own log lines.
    #[error("plugin `{plugin}` refused its configuration in {callback}{}", render_logs(.logs))]
    Config {
        plugin: String,
        callback: &'static str,
        logs: Vec<LogLine>,
    },

    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access)
    /// or a host function trapped it, as the real host would.
    #[error("plugin `{plugin}` trapped in {callback}: {detail}")]
    Trap {
        plugin: String,
        callback: String,
        detail: String,
    },

    /// A VM that trapped before is not called again (both hosts take a
    /// failed VM out of service).
    #[error("plugin `{plugin}` is out of service after an earlier trap: {detail}")]
    Broken { plugin: String, detail: String },

    /// A stream stayed paused: the plugin never continued it nor answered.
    #[error(
        "stream paused by plugin `{plugin}` in {phase} was never resumed within {waited_ms} ms"
    )]
    Stalled {
        plugin: String,
        phase: &'static str,
        waited_ms: u64,
    },

    #[error("{0}")]
    Usage(String),
}

fn render_logs(logs: &[LogLine]) -> String {
    if logs.is_empty() {
        return String::new();
    }
    let mut s = String::from("; the plugin logged:");
    for l in logs {
        s.push_str(&format!("\n  [{:?}] {}", l.level, l.message));
    }
    s
}
