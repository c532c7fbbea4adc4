//! Prometheus metrics: sessions, requests by server/method/outcome, latency, upstream
//! errors, and what the alert rules watch: store write failures, agents connected, the
//! audit log's newest event against the newest checkpoint, each sink's backlog.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// A gauge of seconds since the Unix epoch.
pub type TimeGauge = Gauge<f64, AtomicU64>;

/// Labels naming an agent.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgentLabels {
    /// Agent name (a server's `agent = ...`).
    pub agent: String,
}

/// Labels naming an audit sink.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// Sink name (`[[audit.sinks]] name`).
    pub sink: String,
}

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
    /// Audit record writes the store refused (each withholds or refuses a message).
    pub store_write_failures: Counter,
    /// 1 while at least one connection of the agent is registered here, else 0.
    pub agents_connected: Family<AgentLabels, Gauge>,
    /// Time of the newest audit event (read from the store at each scrape).
    pub newest_event: TimeGauge,
    /// Time of the newest event the newest signed checkpoint covers.
    pub checkpoint_covered: TimeGauge,
    /// Checkpoint signings that failed.
    pub checkpoint_failures: Counter,
    /// Events a sink has not delivered yet (read from the store at each scrape).
    pub sink_behind: Family<SinkLabels, Gauge>,
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
        let store_write_failures = Counter::default();
        registry.register(
            "store_write_failures",
            "Audit record writes the store refused (the message was withheld or refused: fail closed)",
            store_write_failures.clone(),
        );
        let agents_connected = Family::<AgentLabels, Gauge>::default();
        registry.register(
            "agents_connected",
            "1 while the agent has a live connection to this control plane, else 0",
            agents_connected.clone(),
        );
        let newest_event = TimeGauge::default();
        registry.register(
            "audit_newest_event_timestamp_seconds",
            "Time of the newest event in the audit log (0: none yet)",
            newest_event.clone(),
        );
        let checkpoint_covered = TimeGauge::default();
        registry.register(
            "audit_checkpoint_covered_timestamp_seconds",
            "Time of the newest audit event the newest signed checkpoint covers (0: no checkpoint yet)",
            checkpoint_covered.clone(),
        );
        let checkpoint_failures = Counter::default();
        registry.register(
            "audit_checkpoint_failures",
            "Audit checkpoint signings that failed",
            checkpoint_failures.clone(),
        );
        let sink_behind = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "audit_sink_behind_events",
            "Audit events a sink has not delivered yet",
            sink_behind.clone(),
        );
        Metrics {
            registry,
            store_write_failures,
            agents_connected,
            newest_event,
            checkpoint_covered,
            checkpoint_failures,
            sink_behind,
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

    /// Every configured agent's and sink's series present from the start: an agent that
    /// never connected shows 0, which is what the "agent disconnected" alert watches.
    pub fn with_agents_and_sinks(self, agents: &[String], sinks: &[String]) -> Metrics {
        for agent in agents {
            let _ = self.agents_connected.get_or_create(&AgentLabels {
                agent: agent.clone(),
            });
        }
        for sink in sinks {
            let _ = self
                .sink_behind
                .get_or_create(&SinkLabels { sink: sink.clone() });
        }
        self
    }

    /// Whether agent `agent` has a live connection here now.
    pub fn agent_connected(&self, agent: &str, connected: bool) {
        self.agents_connected
            .get_or_create(&AgentLabels {
                agent: agent.to_string(),
            })
            .set(i64::from(connected));
    }

    /// The audit log's progress as the store has it now.
    pub fn audit_progress(&self, progress: &AuditProgress) {
        self.newest_event.set(progress.newest_at.unwrap_or(0.0));
        self.checkpoint_covered
            .set(progress.covered_at.unwrap_or(0.0));
        for (sink, cursor) in &progress.sink_cursors {
            let behind = (progress.newest_seq - cursor).max(0);
            self.sink_behind
                .get_or_create(&SinkLabels { sink: sink.clone() })
                .set(behind);
        }
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

/// What the audit gauges show, read from the store when `/metrics` is scraped (so they
/// are true whichever replica wrote, signed or delivered).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditProgress {
    /// `seq` of the newest event (0: none).
    pub newest_seq: i64,
    /// Its time, seconds since the epoch.
    pub newest_at: Option<f64>,
    /// Time of the newest event the newest checkpoint covers.
    pub covered_at: Option<f64>,
    /// Each configured sink's cursor (the last `seq` it delivered; 0 before any).
    pub sink_cursors: Vec<(String, i64)>,
}
