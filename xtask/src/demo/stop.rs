//! Ctrl-C and SIGTERM: the demo stops what it started instead of leaving
//! gateways, Redis and Webdis running behind it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set when the user asked the demo to stop. Every wait of the demo polls
/// it, and returns [`Interrupted`]; the processes and files are then
/// removed by their `Drop` on the way out.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

/// The error a wait returns once [`Stop`] is set.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

impl Stop {
    /// A flag set by SIGINT (Ctrl-C) and SIGTERM. A second Ctrl-C ends the
    /// process at once, should a step not poll the flag (a cargo build).
    pub fn on_signals() -> std::io::Result<Stop> {
        let stop = Stop::default();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registered first, so it sees the flag before the second
            // registration sets it: only a repeated signal exits.
            signal_hook::flag::register_conditional_shutdown(signal, 130, stop.0.clone())?;
            signal_hook::flag::register(signal, stop.0.clone())?;
        }
        Ok(stop)
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once a stop was asked for.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.requested() {
            Err(Interrupted)
        } else {
            Ok(())
        }
    }

    /// Sleeps `ms` milliseconds, in short steps so a stop is seen quickly.
    pub fn sleep_ms(&self, ms: u64) -> Result<(), Interrupted> {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        while std::time::Instant::now() < until {
            self.check()?;
            std::thread::sleep(
                std::time::Duration::from_millis(20)
                    .min(until.saturating_duration_since(std::time::Instant::now())),
            );
        }
        self.check()
    }
}
