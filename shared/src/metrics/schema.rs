//! The latency-metrics configuration described as data: the fields
//! [`MetricsConfig::from_json`] accepts, from which [`json_schema`] (Kong's `config_schema`) and
//! [`reference_markdown`] (`docs/config/latency-metrics.md`) are both rendered.
//!
//! [`MetricsConfig::from_json`]: super::MetricsConfig::from_json

use serde_json::{json, Value};

use super::config::{DEFAULT_MAX_SERIES, MAX_MAX_SERIES};
use super::exposition::BUILTIN_LABELS;
use super::labels::MAX_LABEL_VALUE_BYTES;
use crate::config_schema::{self, Field, Object, Reference, Shape};

const METRIC_NAME: &str = "^[a-zA-Z_:][a-zA-Z0-9_:]*$";
/// A Prometheus label name not starting with `__` (reserved).
const LABEL_NAME: &str = "^([a-zA-Z]|_[a-zA-Z0-9])[a-zA-Z0-9_]*$|^_$";

fn metric_name() -> Value {
    json!({ "type": "string", "pattern": METRIC_NAME })
}

/// An object of label name → `value`; built-in label names are refused.
fn label_map(value: Value) -> Value {
    let builtin: serde_json::Map<String, Value> = BUILTIN_LABELS
        .iter()
        .map(|l| ((*l).to_owned(), json!({ "not": {} })))
        .collect();
    json!({
        "type": "object",
        "properties": builtin,
        "patternProperties": { LABEL_NAME: value },
        "additionalProperties": false
    })
}

const fn name_field(name: &'static str, default: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        shape: Shape::Leaf(metric_name),
        nullable: true,
        required: false,
        type_name: "Prometheus metric name",
        default,
        example: "\"gw_upstream_latency_ms\"",
        kong: "",
        doc,
    }
}

const NAMES: Object = Object {
    fields: &[
        name_field(
            "http_requests_total",
            "<prefix>_http_requests_total",
            "Requests per service, route, code, source, workspace, consumer (counter).",
        ),
        name_field(
            "upstream_latency_ms",
            "<prefix>_upstream_latency_ms",
            "Upstream latency (histogram).",
        ),
        name_field(
            "request_latency_ms",
            "<prefix>_request_latency_ms",
            "Total request latency (histogram).",
        ),
        name_field(
            "kong_latency_ms",
            "<prefix>_kong_latency_ms",
            "The proxy's own latency (histogram).",
        ),
        name_field(
            "series_overflow_total",
            "<prefix>_series_overflow_total",
            "Requests counted under the overflow label set once `max_series` is reached (counter).",
        ),
    ],
    constraints: config_schema::no_constraints,
    constraints_doc: "",
};

const TOP: Object = Object {
    fields: &[
        Field {
            name: "prefix",
            shape: Shape::Leaf(metric_name),
            nullable: true,
            required: false,
            type_name: "Prometheus metric name",
            default: "\"kong\"",
            example: "\"gateway\"",
            kong: "",
            doc: "The prefix of every metric name (Kong's names with `kong`).",
        },
        Field {
            name: "names",
            shape: Shape::Object(&NAMES),
            nullable: true,
            required: false,
            type_name: "object",
            default: "",
            example: "{\"upstream_latency_ms\": \"kong_upstream_latency_ms\"}",
            kong: "",
            doc: "Full names of single metrics, overriding `prefix`.",
        },
        Field {
            name: "labels",
            shape: Shape::Leaf(|| {
                label_map(json!({ "type": "string", "maxLength": MAX_LABEL_VALUE_BYTES }))
            }),
            nullable: true,
            required: false,
            type_name: "object: label name → string (≤ 128 bytes)",
            default: "{}",
            example: "{\"kubernetes_kind\": \"service\"}",
            kong: "",
            doc: "Constant labels on every series. Not a built-in label (service, route, code, \
                  source, workspace, consumer, le).",
        },
        Field {
            name: "env_labels",
            shape: Shape::Leaf(|| {
                label_map(json!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }))
            }),
            nullable: true,
            required: false,
            type_name: "object: label name → environment variable name",
            default: "{}",
            example: "{\"kubernetes_namespace\": \"POD_NAMESPACE\"}",
            kong: "",
            doc: "Labels valued from the WASI environment (Envoy's \
                  `vm_config.environment_variables`); empty when unset.",
        },
        Field {
            name: "node_metadata_labels",
            shape: Shape::Leaf(|| {
                label_map(json!({
                    "type": "string", "minLength": 1, "maxLength": MAX_LABEL_VALUE_BYTES
                }))
            }),
            nullable: true,
            required: false,
            type_name: "object: label name → node.metadata key",
            default: "{}",
            example: "{\"kubernetes_namespace\": \"NAMESPACE\"}",
            kong: "",
            doc: "Labels valued from Envoy's `node.metadata` (Istio's pod labels); empty in Kong.",
        },
        Field {
            name: "consumer",
            shape: Shape::Leaf(|| json!({ "type": "boolean" })),
            nullable: true,
            required: false,
            type_name: "boolean",
            default: "false",
            example: "true",
            kong: "per_consumer (prometheus)",
            doc: "Whether `http_requests_total` carries the consumer.",
        },
        Field {
            name: "max_series",
            shape: Shape::Leaf(
                || json!({ "type": "integer", "minimum": 1, "maximum": MAX_MAX_SERIES }),
            ),
            nullable: true,
            required: false,
            type_name: "integer 1-100000",
            default: "1000",
            example: "5000",
            kong: "",
            doc: "The cap on label sets; past it requests count under the overflow labels.",
        },
        Field {
            name: "metrics_path",
            shape: Shape::Leaf(
                || json!({ "type": "string", "pattern": "^/[^?#\\s\\u0000-\\u001f\\u007f-\\u009f]*$" }),
            ),
            nullable: true,
            required: false,
            type_name: "path starting with /",
            default: "\"/metrics\"",
            example: "\"/internal/metrics\"",
            kong: "",
            doc: "The path the filter answers with the Prometheus text; no query, fragment or \
                  spaces.",
        },
        Field {
            name: "upstream_timing",
            shape: Shape::Leaf(|| json!({ "type": "string", "enum": ["auto", "host", "filter"] })),
            nullable: true,
            required: false,
            type_name: "string: auto, host, filter",
            default: "\"auto\"",
            example: "\"host\"",
            kong: "",
            doc: "Where upstream latency comes from: the host's timing, the filter's own clock, \
                  or the host's when it has one.",
        },
    ],
    constraints: config_schema::no_constraints,
    constraints_doc: "",
};

/// Rules of the plugin that JSON Schema cannot state.
const PLUGIN_ONLY: &[&str] = &[
    "A label is set once across `labels`, `env_labels` and `node_metadata_labels`.",
    "No two metrics share a sample name (a histogram also owns `<name>_bucket`, `_sum` and \
     `_count`).",
    "`labels` values are at most 128 bytes (the schema counts characters: the same for ASCII).",
];

const INTRO: &str = "The configuration of the `latency_metrics` filter: Kong's latency histograms and request \
counter per service and route, exposed as Prometheus text. Every field is optional (`{}` gives \
Kong's metric names); `null` reads as absent; unknown fields are refused.

`cargo xtask build` writes the same description as JSON Schema (draft-04) into \
`target/plugins/latency_metrics.meta.json`, where Kong 3.5+ reads it to validate a filter's \
`config` and to accept it as a JSON object. Example:

```json
{\"labels\": {\"kubernetes_kind\": \"service\"}, \"max_series\": 1000, \"metrics_path\": \"/metrics\"}
```";

/// The JSON Schema (draft-04) of the latency-metrics configuration: Kong's `config_schema`.
pub fn json_schema() -> Value {
    config_schema::root_schema(
        "latency_metrics filter configuration",
        "Latency metrics for the latency_metrics proxy-wasm filter; see docs/config/latency-metrics.md.",
        &TOP,
    )
}

/// The Markdown configuration reference, `docs/config/latency-metrics.md`.
pub fn reference_markdown() -> String {
    config_schema::reference_markdown(
        &Reference {
            title: "latency_metrics configuration reference",
            intro: INTRO,
            kong_column: true,
            plugin_only: PLUGIN_ONLY,
        },
        &TOP,
    )
}

// Keep the documented bounds tied to the parser's constants.
const _: () = assert!(DEFAULT_MAX_SERIES == 1000);
const _: () = assert!(MAX_MAX_SERIES == 100_000);
const _: () = assert!(MAX_LABEL_VALUE_BYTES == 128);

#[cfg(test)]
mod tests {
    use super::*;

    crate::both_targets_test! {
        fn the_committed_reference_is_the_generated_one() {
            assert!(
                reference_markdown() == include_str!("../../../docs/config/latency-metrics.md"),
                "docs/config/latency-metrics.md is out of date: run `cargo xtask build` to regenerate it"
            );
        }
    }
}
