//! The gauges the alert rules (deploy/monitoring/gatehouse-alerts.yml) watch, as an
//! operator's Prometheus sees them on `/metrics` of a real control plane with the real
//! agent binary: an agent shows 1 while connected and 0 once killed; a sink that cannot
//! deliver falls further behind as calls are recorded; the newest checkpoint's covered
//! time catches up with the newest event after a signing.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

/// The value of one series on `/metrics` (`name{labels}` as printed), if present.
async fn sample(cp: &ControlPlane, series: &str) -> Option<f64> {
    let text = http()
        .get(format!("{}/metrics", cp.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Waits until `series` satisfies `ok`, returning its value.
async fn until(cp: &ControlPlane, series: &str, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let mut last = None;
    for _ in 0..300 {
        last = sample(cp, series).await;
        if let Some(v) = last
            && ok(v)
        {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never became {what} within 30 s (last: {last:?})");
}

const AGENT: &str = "gatehouse_agents_connected{agent=\"edge\"}";
const BEHIND: &str = "gatehouse_audit_sink_behind_events{sink=\"siem\"}";
const NEWEST: &str = "gatehouse_audit_newest_event_timestamp_seconds";
const COVERED: &str = "gatehouse_audit_checkpoint_covered_timestamp_seconds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_gauges_follow_agents_sinks_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    // A SIEM that is not there: nothing listens on its port.
    let siem = format!("http://127.0.0.1:{}/events", gatehouse_e2e::free_port());
    let config = format!(
        "[audit]\ncheckpoint_secs = 1\n[[audit.sinks]]\ntype = \"webhook\"\nname = \"siem\"\nurl = \"{siem}\"\n\
         [[servers]]\nname = \"tickets\"\nagent = \"edge\"\n"
    );
    let mut cp = ControlPlane::start(&config, "127.0.0.1:0", &dir.path().join("cp.db")).await;

    // Configured but never connected: the series is there, at 0.
    assert_eq!(sample(&cp, AGENT).await, Some(0.0));
    assert!(
        sample(&cp, BEHIND).await.is_some(),
        "no series for the sink"
    );

    let (_, token) = cp.create_token("edge").await;
    let config = agent_config(
        dir.path(),
        "edge.toml",
        &cp.ws(),
        &everything_server("tickets"),
    );
    let mut agent = AgentProc::spawn(&[], &config, &token, &[]);
    cp.wait_connected("edge", 1).await;
    until(&cp, AGENT, "1", |v| v == 1.0).await;

    // Calls are recorded; the sink delivers none of them, so it falls behind.
    let session = McpSession::open(&format!("{}/mcp/tickets", cp.base)).await;
    let answer = session.call("echo", json!({"message": "one"})).await;
    assert!(answer["result"].is_object(), "{answer}");
    let before = until(&cp, BEHIND, "above 0", |v| v > 0.0).await;
    session.call("echo", json!({"message": "two"})).await;
    until(&cp, BEHIND, "higher", |v| v > before).await;

    // The signer runs every second: the covered time catches up with the newest event.
    let newest = sample(&cp, NEWEST).await.unwrap();
    assert!(newest > 0.0);
    until(&cp, COVERED, "the newest event's time", |v| v >= newest).await;
    session.call("echo", json!({"message": "three"})).await;
    let newer = until(&cp, NEWEST, "newer", |v| v > newest).await;
    until(&cp, COVERED, "the newer event's time", |v| v >= newer).await;

    // The agent dies: its gauge drops to 0.
    agent.kill().await;
    until(&cp, AGENT, "0", |v| v == 0.0).await;
    cp.stop().await;
}
