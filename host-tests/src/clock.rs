//! Wall-clock time for the host: real, or virtual and moved by the test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The node's clock. Virtual clocks let tests cross window boundaries and
/// fire ticks without sleeping.
#[derive(Debug, Clone)]
pub enum Clock {
    Real,
    Virtual(Arc<AtomicU64>),
}

impl Clock {
    /// A virtual clock starting at `unix_ms`.
    pub fn virtual_at_ms(unix_ms: u64) -> Clock {
        Clock::Virtual(Arc::new(AtomicU64::new(unix_ms.saturating_mul(1_000_000))))
    }

    /// Nanoseconds since the Unix epoch.
    pub fn now_nanos(&self) -> u64 {
        match self {
            Clock::Real => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
            Clock::Virtual(ns) => ns.load(Ordering::SeqCst),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.now_nanos() / 1_000_000
    }

    /// Moves a virtual clock forward; a real clock cannot be moved.
    pub fn advance_ms(&self, ms: u64) -> bool {
        match self {
            Clock::Real => false,
            Clock::Virtual(ns) => {
                ns.fetch_add(ms.saturating_mul(1_000_000), Ordering::SeqCst);
                true
            }
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }
}
