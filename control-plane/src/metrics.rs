//! Prometheus metrics: sessions, requests by server/method/outcome, latency, upstream errors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Server name.
    pub server: String,
    /// JSON-RPC method.
    pub method: String,
    /// `ok`, `error` (upstream answered an error), `upstream_failure`, `timeout`, `rejected`.
    pub outcome: &'static str,
}

/// Labels naming a server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerLabels {
    /// Server name.
    pub server: String,
}

/// Labels naming an audit witness.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WitnessLabels {
    /// Witness name (`[[audit.witnesses]] name`).
    pub witness: String,
}

/// Every metric the gateway keeps.
pub struct Metrics {
    registry: Registry,
    /// Sessions open now.
    pub sessions_open: Gauge,
    /// Sessions started, by server.
    pub sessions_started: Family<ServerLabels, Counter>,
    /// Requests by server, method and outcome.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency through the gateway, by server.
    pub latency: Family<ServerLabels, Histogram>,
    /// Upstream failures (crash, refused, timeout), by server.
    pub upstream_errors: Family<ServerLabels, Counter>,
    /// Events in the newest checkpoint a witness has not acknowledged (0: caught up).
    pub witness_behind: Family<WitnessLabels, Gauge>,
    /// Failed deliveries to a witness.
    pub witness_failures: Family<WitnessLabels, Counter>,
    /// Sessions that could not open (agent down, command missing, unreachable), by server.
    pub sessions_failed: Family<ServerLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let sessions_open = Gauge::default();
        let sessions_started = Family::<ServerLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<ServerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ])
        });
        let upstream_errors = Family::<ServerLabels, Counter>::default();
        let sessions_failed = Family::<ServerLabels, Counter>::default();
        registry.register(
            "sessions_failed",
            "MCP sessions that could not open (agent down, command missing, unreachable)",
            sessions_failed.clone(),
        );
        registry.register(
            "sessions_open",
            "MCP sessions open now",
            sessions_open.clone(),
        );
        registry.register(
            "sessions_started",
            "MCP sessions started",
            sessions_started.clone(),
        );
        registry.register(
            "requests",
            "MCP requests by server, method and outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from receiving a request to releasing its response",
            latency.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures (crash, unreachable, timeout)",
            upstream_errors.clone(),
        );
        let witness_behind = Family::<WitnessLabels, Gauge>::default();
        let witness_failures = Family::<WitnessLabels, Counter>::default();
        registry.register(
            "audit_witness_behind_events",
            "Events in the newest audit checkpoint a witness has not acknowledged yet",
            witness_behind.clone(),
        );
        registry.register(
            "audit_witness_failures",
            "Audit checkpoint deliveries a witness did not take",
            witness_failures.clone(),
        );
        Metrics {
            registry,
            witness_behind,
            witness_failures,
            sessions_open,
            sessions_started,
            requests,
            latency,
            upstream_errors,
            sessions_failed,
        }
    }
}

impl Metrics {
    /// Metrics with every configured server's series present from the start, at zero:
    /// dashboards and alerts (`rate(...)`, absent-series rules) see a server before its
    /// first session or failure.
    pub fn for_servers<'a>(servers: impl IntoIterator<Item = &'a str>) -> Metrics {
        let metrics = Metrics::default();
        for server in servers {
            let labels = ServerLabels {
                server: server.to_string(),
            };
            let _ = metrics.sessions_started.get_or_create(&labels);
            let _ = metrics.sessions_failed.get_or_create(&labels);
            let _ = metrics.upstream_errors.get_or_create(&labels);
            let _ = metrics.latency.get_or_create(&labels);
        }
        metrics
    }

    /// Counts one finished request.
    pub fn request_done(&self, server: &str, method: &str, outcome: &'static str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                server: server.to_string(),
                method: crate::metric_labels::method(method).to_string(),
                outcome,
            })
            .inc();
        let labels = ServerLabels {
            server: server.to_string(),
        };
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if matches!(outcome, "upstream_failure" | "timeout") {
            self.upstream_errors.get_or_create(&labels).inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
