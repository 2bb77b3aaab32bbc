//! Metrics defined by plugins through the ABI, summed across a node's
//! workers as both hosts do (Envoy's stats store, ngx_wasm_module's shm).

use crate::abi::{MetricType, Status};
use std::sync::Mutex;

/// A histogram's recorded values, kept as the hosts expose them: count and
/// sum (Envoy's `_count`/`_sum`) and power-of-two bins (ngx_wasm_module).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    pub count: u64,
    pub sum: u64,
    /// `bins[i]` counts values `v` with `v <= 2^i` (and above the previous
    /// bin); `bins[0]` holds 0 and 1.
    pub bins: Vec<u64>,
}

impl Histogram {
    fn record(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.saturating_add(v);
        let bin = if v <= 1 {
            0
        } else {
            64 - (v - 1).leading_zeros() as usize
        };
        if self.bins.len() <= bin {
            self.bins.resize(bin + 1, 0);
        }
        self.bins[bin] += 1;
    }
}

/// One metric's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricValue {
    Counter(u64),
    Gauge(i64),
    Histogram(Histogram),
}

#[derive(Debug, Clone)]
struct Metric {
    name: String,
    kind: MetricType,
    value: MetricValue,
}

/// What an ABI metric call did wrong; the caller maps it to a status or a
/// trap according to the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricMisuse {
    UnknownId,
    WrongKind,
}

/// The node's metrics.
#[derive(Debug, Default)]
pub struct MetricStore {
    inner: Mutex<Vec<Metric>>,
}

/// Ids start here so an uninitialised id (0) is never valid.
const METRIC_ID_BASE: u32 = 1;

impl MetricStore {
    /// Defines a metric, or returns the id of the one already defined under
    /// that name and type (each worker defines the same metrics).
    pub fn define(&self, kind: MetricType, name: &str) -> Result<u32, Status> {
        let mut ms = self.inner.lock().map_err(|_| Status::InternalFailure)?;
        if let Some(i) = ms.iter().position(|m| m.name == name && m.kind == kind) {
            return Ok(METRIC_ID_BASE + i as u32);
        }
        let value = match kind {
            MetricType::Counter => MetricValue::Counter(0),
            MetricType::Gauge => MetricValue::Gauge(0),
            MetricType::Histogram => MetricValue::Histogram(Histogram::default()),
        };
        ms.push(Metric {
            name: name.to_string(),
            kind,
            value,
        });
        Ok(METRIC_ID_BASE + (ms.len() as u32 - 1))
    }

    fn with<T>(
        &self,
        id: u32,
        f: impl FnOnce(&mut Metric) -> Result<T, MetricMisuse>,
    ) -> Result<T, MetricMisuse> {
        let mut ms = self.inner.lock().map_err(|_| MetricMisuse::UnknownId)?;
        let m = id
            .checked_sub(METRIC_ID_BASE)
            .and_then(|i| ms.get_mut(i as usize))
            .ok_or(MetricMisuse::UnknownId)?;
        f(m)
    }

    pub fn kind(&self, id: u32) -> Option<MetricType> {
        self.with(id, |m| Ok(m.kind)).ok()
    }

    pub fn increment(&self, id: u32, offset: i64) -> Result<(), MetricMisuse> {
        self.with(id, |m| match &mut m.value {
            MetricValue::Counter(c) => {
                *c = c.saturating_add_signed(offset);
                Ok(())
            }
            MetricValue::Gauge(g) => {
                *g = g.saturating_add(offset);
                Ok(())
            }
            MetricValue::Histogram(_) => Err(MetricMisuse::WrongKind),
        })
    }

    pub fn record(&self, id: u32, value: u64) -> Result<(), MetricMisuse> {
        self.with(id, |m| {
            match &mut m.value {
                MetricValue::Counter(c) => *c = value,
                MetricValue::Gauge(g) => *g = value as i64,
                MetricValue::Histogram(h) => h.record(value),
            }
            Ok(())
        })
    }

    pub fn get(&self, id: u32) -> Result<u64, MetricMisuse> {
        self.with(id, |m| match &m.value {
            MetricValue::Counter(c) => Ok(*c),
            MetricValue::Gauge(g) => Ok(*g as u64),
            MetricValue::Histogram(_) => Err(MetricMisuse::WrongKind),
        })
    }

    /// A metric's value by name, for assertions.
    pub fn value(&self, name: &str) -> Option<MetricValue> {
        let ms = self.inner.lock().ok()?;
        ms.iter().find(|m| m.name == name).map(|m| m.value.clone())
    }

    /// Every metric, by name.
    pub fn all(&self) -> Vec<(String, MetricValue)> {
        self.inner
            .lock()
            .map(|ms| {
                ms.iter()
                    .map(|m| (m.name.clone(), m.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
