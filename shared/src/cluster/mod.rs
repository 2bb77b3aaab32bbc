//! The host-independent core of the cluster policy (`policy` `cluster` / `redis`): one limit
//! across all nodes, kept in Redis and reached through Webdis with HTTP callouts.
//!
//! The pieces, in the order the plugin uses them:
//! 1. [`counter_key`] / [`counter_ttl_ms`] — which Redis counter a limit, client key and window
//!    count in, and how long it lives (the key scheme is documented in [`keys`]);
//! 2. [`PendingEntry`] — batched mode's per-counter bookkeeping in shared data: the node's view
//!    is the cluster total at the last sync plus its own increments since; [`Lease`] picks the
//!    one worker of the node that syncs;
//! 3. [`script_load`], [`evalsha`], [`eval`] — the Webdis callouts running [`SCRIPT`] (one Lua
//!    script for both modes: INCRBY each key, PEXPIRE new keys, return the totals, apply each
//!    batch at most once);
//! 4. [`decode_sync_reply`] / [`decode_load_reply`] — the answer, from RESP2 via
//!    `redis-protocol`, as a [`SyncReply`];
//! 5. [`overshoot_bound`] — what batched mode can let through beyond a limit (see [`bound`]).
//!
//! Strict mode (`sync_rate` = -1) sends one [`SyncCall`] with batch id 0 per request and
//! decides on the returned totals; batched mode sends every entry's [`PendingEntry::begin_sync`]
//! on a timer, at most [`MAX_KEYS_PER_CALL`] counters and one batch id per call.
//!
//! Nothing here reads a clock or calls the host; no input, including replies from the
//! network, can make it panic.

pub mod bound;
pub mod keys;
pub mod lease;
pub mod pending;
pub mod reply;
pub mod script;
pub mod sha1;
pub mod webdis;

pub use bound::{overshoot_bound, overshoot_bound_with_latency};
pub use keys::{batch_marker_key, counter_key, counter_ttl_ms, push_base64url, push_path_segment};
pub use lease::Lease;
pub use pending::{PendingEntry, SyncSend};
pub use reply::{decode_load_reply, decode_sync_reply, SyncReply, MAX_REPLY_BYTES};
pub use script::{MAX_SCRIPT_NUMBER, SCRIPT, SCRIPT_SHA1};
pub use sha1::{sha1, sha1_hex};
pub use webdis::{
    calls, eval, evalsha, script_load, Callout, CalloutError, Endpoint, SyncCall, SyncItem,
    CONTENT_TYPE, MAX_KEYS_PER_CALL,
};
