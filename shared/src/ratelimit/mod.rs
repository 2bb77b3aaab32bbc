//! The host-independent core of the rate-limit plugin.
//!
//! The plugin glue does, per request:
//! 1. [`RateLimitConfig::select_rule`] — which limits apply (first matching rule, else the default);
//! 2. [`build_key`] — the client key from [`RequestFacts`] (Kong's `get_identifier`);
//! 3. [`key_hash`] + [`probe_slots`] + [`choose_slot`] — which shared-data slot holds the counters;
//! 4. [`apply`] — the decision and the new slot record to CAS-write;
//! 5. [`write_headers`] — the response headers, and on rejection the configured status and
//!    [`RateLimitConfig::error_body`].
//!
//! Nothing here reads a clock or calls the host: time comes in as Unix milliseconds, so tests move
//! a clock instead of sleeping.

mod calendar;
mod config;
mod decimal;
mod decision;
mod hash;
mod headers;
mod identity;
mod key;
mod kong_redis;
mod limit_by;
mod limits;
mod policy;
mod record;
mod rules;
mod schema;
mod slots;
mod window;

pub use config::{ConfigError, HeaderMode, RateLimitConfig, DEFAULT_LOCAL_SLOTS, MAX_LOCAL_SLOTS};
pub use decision::{apply, Decision};
pub use hash::{key_hash, siphash13};
pub use headers::{write_headers, HeaderBuf, REJECTION_CONTENT_TYPE};
pub use identity::{client_ip, Cidr, TrustedProxies};
pub use key::{build_key, CollectedFacts, KeyPart, KeySpec, RequestFacts, MAX_KEY_PART_BYTES};
pub use limits::{Limit, LimitNames, MAX_LIMITS_PER_RULE};
pub use policy::{Policy, RedisProxy, SyncRate};
pub use record::{Counter, Record};
pub use rules::{Rule, RuleMatch};
pub use schema::{json_schema, reference_markdown};
pub use slots::{choose_slot, is_dead, probe_slots, slot_key, Probes, SlotChoice, PROBES};
pub use window::{sliding_usage, Window, WindowType};

#[cfg(test)]
mod config_tests;
