//! Log lines a plugin writes, kept per node so tests can assert on them.

use crate::abi::LogLevel;
use std::sync::Mutex;

/// One `proxy_log` call (or a line a plugin wrote to stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub plugin: String,
    pub worker: u32,
    pub level: LogLevel,
    pub message: String,
}

/// The node's log. Lines are also echoed to stderr when `HOST_TESTS_LOG` is
/// set, which is how a developer watches a failing test.
#[derive(Debug, Default)]
pub struct LogStore {
    lines: Mutex<Vec<LogLine>>,
}

impl LogStore {
    pub fn push(&self, line: LogLine) {
        if std::env::var_os("HOST_TESTS_LOG").is_some() {
            eprintln!(
                "[{}#{} {:?}] {}",
                line.plugin, line.worker, line.level, line.message
            );
        }
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    pub fn all(&self) -> Vec<LogLine> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Lines of one plugin at `level` or above.
    pub fn of(&self, plugin: &str, min_level: LogLevel) -> Vec<LogLine> {
        self.all()
            .into_iter()
            .filter(|l| l.plugin == plugin && l.level >= min_level)
            .collect()
    }

    /// Lines of one plugin written since `mark` (a previous `len()`).
    pub fn since(&self, mark: usize) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|l| l.get(mark..).map(|s| s.to_vec()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Takes every line so far, leaving the store empty: a long-running host
    /// (the gateway) prints its lines and must not keep them all.
    pub fn drain(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.lines.lock().map(|l| l.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
