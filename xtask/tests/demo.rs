//! `cargo xtask demo`, run for real: built plugins, the gateway binary,
//! three nodes, Redis and Webdis; its tables checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use xtask::demo::{self, Policy, Stop};

#[test]
fn three_nodes_let_five_through_each_locally_and_five_in_all_with_the_cluster_policy() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    // Installs redis-server and webdis as root with apt-get, as the demo
    // does; never skips the cluster route silently.
    let prepared = demo::prepare(&root, false).unwrap();
    if let Err(why) = &prepared.cluster {
        panic!("the demo's cluster route needs Redis and Webdis: {why}");
    }
    let report = demo::run(&prepared, 18, &Stop::default()).unwrap();
    println!("{report}");

    let local = report.route(Policy::Local).unwrap();
    assert_eq!(local.per_node.len(), 3);
    for (node, counts) in &local.per_node {
        assert_eq!(
            (counts.sent, counts.allowed, counts.rejected, counts.other),
            (6, 5, 1, 0),
            "{node} on the local route:\n{report}"
        );
    }
    assert_eq!(
        (local.total.allowed, local.total.rejected),
        (15, 3),
        "{report}"
    );
    assert!(local.as_expected(), "{report}");

    let cluster = report.route(Policy::Cluster).unwrap();
    assert_eq!(
        (
            cluster.total.sent,
            cluster.total.allowed,
            cluster.total.rejected,
            cluster.total.other
        ),
        (18, 5, 13, 0),
        "{report}"
    );
    assert!(cluster.as_expected(), "{report}");

    // The last answer of each route is a rejection with Kong's headers.
    for route in [local, cluster] {
        assert_eq!(route.last_status, 429, "{report}");
        let header = |name: &str| {
            route
                .last_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("X-RateLimit-Limit-Minute"), Some("5"), "{report}");
        assert_eq!(
            header("X-RateLimit-Remaining-Minute"),
            Some("0"),
            "{report}"
        );
        assert!(header("Retry-After").is_some(), "{report}");
    }
    assert!(
        report
            .to_string()
            .contains("all         18             15               3"),
        "{report}"
    );

    // Each node's latency metrics count the requests it served: all 36.
    let counted: u64 = report
        .metrics
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .filter(|l| l.starts_with("kong_http_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(counted, 36, "{report}");
    let rejected_at_the_proxy = report
        .metrics
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .any(|l| l.contains(r#"code="429""#) && l.contains(r#"source="kong""#));
    assert!(
        rejected_at_the_proxy,
        "429s count as answered by the gateway:\n{report}"
    );
}
