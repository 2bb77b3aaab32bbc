//! Host calls: the shared adapter (`host-calls`).

pub use host_calls::{header, now_ms, property, shared_get, shared_set, CreateCas, FirstOf};
