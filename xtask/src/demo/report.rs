//! What the demo measured, as plain values (the test reads them) and as the
//! tables it prints.

use std::fmt;

/// Answers counted by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: u32,
    /// 200 from the upstream.
    pub allowed: u32,
    /// 429 from the rate-limit filter.
    pub rejected: u32,
    /// Anything else (a 500 or 502 means something is wrong).
    pub other: u32,
}

impl Counts {
    pub fn add(&mut self, status: u16) {
        self.sent += 1;
        match status {
            200 => self.allowed += 1,
            429 => self.rejected += 1,
            _ => self.other += 1,
        }
    }
}

/// The rate-limit policy of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Counters in each node's shared data.
    Local,
    /// Counters in Redis, through Webdis, one callout per request.
    Cluster,
}

/// One route's table.
#[derive(Debug, Clone)]
pub struct RouteReport {
    pub route: &'static str,
    pub path: &'static str,
    pub policy: Policy,
    /// The `rate_limit` filter's configuration (JSON).
    pub config: String,
    /// Requests per minute per client.
    pub limit: u32,
    /// `(node name, counts)` in round-robin order.
    pub per_node: Vec<(String, Counts)>,
    pub total: Counts,
    /// Status of the last answer and its rate-limit headers.
    pub last_status: u16,
    pub last_headers: Vec<(String, String)>,
}

impl RouteReport {
    /// How many requests the policy should let through: per node, each node
    /// lets `limit` through; across the cluster, `limit` in all.
    pub fn expected_allowed(&self) -> u32 {
        match self.policy {
            Policy::Local => self
                .per_node
                .iter()
                .map(|(_, c)| c.sent.min(self.limit))
                .sum(),
            Policy::Cluster => self.total.sent.min(self.limit),
        }
    }

    /// Whether the measured counts are what the policy promises.
    pub fn as_expected(&self) -> bool {
        self.total.allowed == self.expected_allowed()
            && self.total.allowed + self.total.rejected == self.total.sent
    }

    fn explanation(&self) -> String {
        let nodes = self.per_node.len();
        match self.policy {
            Policy::Local => format!(
                "local policy: each node counts alone, so {nodes} nodes let up to {} × {nodes} through \
                 (Kong's `local` policy does the same)",
                self.limit
            ),
            Policy::Cluster => format!(
                "cluster policy: every node counts in one Redis counter (strict, one Webdis callout \
                 per request), so {} in all across {nodes} nodes",
                self.limit
            ),
        }
    }
}

/// Everything the demo shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub routes: Vec<RouteReport>,
    /// Why the cluster route did not run, when it did not.
    pub cluster_skipped: Option<String>,
    /// Per node, the request counts and upstream latency lines of its
    /// `/metrics` (the latency-metrics filter).
    pub metrics: Vec<(String, Vec<String>)>,
}

impl Report {
    pub fn route(&self, policy: Policy) -> Option<&RouteReport> {
        self.routes.iter().find(|r| r.policy == policy)
    }
}

impl fmt::Display for RouteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} (GET {}), filter rate_limit {}",
            self.route, self.path, self.config
        )?;
        writeln!(
            f,
            "  {:<8} {:>5} {:>14} {:>15} {:>6}",
            "node", "sent", "allowed (200)", "rejected (429)", "other"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, c: &Counts| {
            writeln!(
                f,
                "  {:<8} {:>5} {:>14} {:>15} {:>6}",
                name, c.sent, c.allowed, c.rejected, c.other
            )
        };
        for (name, counts) in &self.per_node {
            row(f, name, counts)?;
        }
        row(f, "all", &self.total)?;
        writeln!(
            f,
            "  limit {}/minute; expected {} allowed, got {}{}",
            self.limit,
            self.expected_allowed(),
            self.total.allowed,
            if self.as_expected() {
                " ✓"
            } else {
                " ✗ (not what the policy promises)"
            }
        )?;
        writeln!(f, "  {}", self.explanation())?;
        write!(f, "  last answer: {}", self.last_status)?;
        for (k, v) in &self.last_headers {
            write!(f, ", {k}: {v}")?;
        }
        writeln!(f)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, route) in self.routes.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{route}")?;
        }
        if let Some(why) = &self.cluster_skipped {
            writeln!(f, "\ncluster-route: not run: {why}")?;
        }
        writeln!(
            f,
            "\nlatency metrics scraped from each node's /metrics (latency-metrics filter on the service):"
        )?;
        for (node, lines) in &self.metrics {
            writeln!(f, "  {node}:")?;
            for line in lines {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(policy: Policy, allowed: [u32; 3]) -> RouteReport {
        let per_node: Vec<(String, Counts)> = allowed
            .iter()
            .enumerate()
            .map(|(i, &a)| {
                (
                    format!("node-{}", i + 1),
                    Counts {
                        sent: 6,
                        allowed: a,
                        rejected: 6 - a,
                        other: 0,
                    },
                )
            })
            .collect();
        let mut total = Counts::default();
        for (_, c) in &per_node {
            total.sent += c.sent;
            total.allowed += c.allowed;
            total.rejected += c.rejected;
        }
        RouteReport {
            route: "r",
            path: "/r",
            policy,
            config: "{}".into(),
            limit: 5,
            per_node,
            total,
            last_status: 429,
            last_headers: Vec::new(),
        }
    }

    #[test]
    fn the_local_policy_is_expected_to_let_the_limit_through_on_every_node() {
        assert_eq!(route(Policy::Local, [5, 5, 5]).expected_allowed(), 15);
        assert!(route(Policy::Local, [5, 5, 5]).as_expected());
        assert!(!route(Policy::Local, [2, 2, 1]).as_expected());
    }

    #[test]
    fn the_cluster_policy_is_expected_to_let_the_limit_through_in_all() {
        assert_eq!(route(Policy::Cluster, [2, 2, 1]).expected_allowed(), 5);
        assert!(route(Policy::Cluster, [2, 2, 1]).as_expected());
        assert!(!route(Policy::Cluster, [5, 5, 5]).as_expected());
    }
}
