//! Where Envoy and Kong's ngx_wasm_module differ, in one place.
//!
//! Every difference the host models is a method here, so a test can run the
//! same plugin under both profiles and a plugin that relies on one host's
//! quirk fails under the other. The facts come from the hosts' sources
//! (proxy-wasm-cpp-host for Envoy, ngx_wasm_module for Kong) and from
//! `../shared/HOSTS.md`.

/// The real host a test models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostProfile {
    /// Envoy (and Istio, Envoy Gateway): proxy-wasm-cpp-host.
    Envoy,
    /// Kong Gateway 3.4–3.10 and plain nginx with ngx_wasm_module.
    Kong,
}

/// How `proxy_set_shared_data` treats its `cas` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasRule {
    /// proxy-wasm-cpp-host: `cas == 0` writes unconditionally; a non-zero cas
    /// must match an existing key's cas; a missing key is always written.
    ZeroIsUnconditional,
    /// ngx_wasm_module (`ngx_wa_shm_kv_set_locked`): `cas` must equal the
    /// key's current cas, where a missing key's cas is 0. So `cas == 0` on an
    /// existing key is a mismatch, and a non-zero cas never creates a key.
    MustEqualCurrent,
}

impl HostProfile {
    /// Both profiles, for tests that must pass under each.
    pub const ALL: [HostProfile; 2] = [HostProfile::Envoy, HostProfile::Kong];

    pub fn cas_rule(self) -> CasRule {
        match self {
            HostProfile::Envoy => CasRule::ZeroIsUnconditional,
            HostProfile::Kong => CasRule::MustEqualCurrent,
        }
    }

    /// Envoy names callout targets by cluster; ngx_wasm_module takes
    /// `host:port`, `IP:port` or `unix:/path`.
    pub fn callouts_by_cluster_name(self) -> bool {
        self == HostProfile::Envoy
    }

    /// Envoy refuses a callout without `:authority`; nginx fills in the
    /// target as the Host.
    pub fn callout_requires_authority(self) -> bool {
        self == HostProfile::Envoy
    }

    /// ngx_wasm_module answers request-scoped properties outside a request
    /// (`on_vm_start`, `on_configure`, `on_tick`) with an error status.
    pub fn refuses_request_properties_outside_requests(self) -> bool {
        self == HostProfile::Kong
    }

    /// Envoy encodes integers, timestamps and durations as little-endian
    /// 8-byte values; ngx_wasm_module answers every property as text.
    pub fn typed_properties(self) -> bool {
        self == HostProfile::Envoy
    }

    /// ngx_wasm_module declares `proxy_get_log_level` with another
    /// signature: a module importing the ABI's form fails to load there.
    pub fn get_log_level_has_abi_signature(self) -> bool {
        self == HostProfile::Envoy
    }

    /// ngx_wasm_module never calls `on_queue_ready`; Envoy calls it on the
    /// worker that registered the queue last.
    pub fn calls_on_queue_ready(self) -> bool {
        self == HostProfile::Envoy
    }

    /// Calls that trap the instance in ngx_wasm_module where Envoy returns a
    /// status: `resolve_shared_queue`, `done`, `close_stream`,
    /// incrementing a gauge and `get_metric` on a histogram.
    pub fn traps_on_unsupported_calls(self) -> bool {
        self == HostProfile::Kong
    }

    /// Envoy runs response phases through the filter chain in reverse order
    /// (encoder filters); ngx_wasm_module runs a chain in its declared order
    /// in every phase.
    pub fn response_phases_reversed(self) -> bool {
        self == HostProfile::Envoy
    }

    /// A failed callout: Envoy calls `on_http_call_response` with no
    /// headers; ngx_wasm_module with a `:dispatch_status` header.
    pub fn failed_callout_has_dispatch_status(self) -> bool {
        self == HostProfile::Kong
    }

    /// Envoy's `source.address` is `IP:port`; nginx's is the IP alone.
    pub fn source_address_has_port(self) -> bool {
        self == HostProfile::Envoy
    }

    /// `get_current_time` resolution: nginx caches time in milliseconds.
    pub fn time_resolution_nanos(self) -> u64 {
        match self {
            HostProfile::Envoy => 1,
            HostProfile::Kong => 1_000_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HostProfile::Envoy => "envoy",
            HostProfile::Kong => "kong",
        }
    }
}
