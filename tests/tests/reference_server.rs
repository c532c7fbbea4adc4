//! The MCP reference server (`@modelcontextprotocol/server-everything`, legacy era)
//! behind the gateway over Streamable HTTP and over stdio, driven by the TypeScript SDK
//! client, the Python SDK client and the Inspector CLI. Each must get exactly what it
//! gets from the server directly, and the record must hold every message.

use gatehouse_e2e::*;
use serde_json::Value;

fn assert_same(direct: &Value, via: &Value, who: &str) {
    assert_eq!(
        serde_json::to_string_pretty(direct).unwrap_or_default(),
        serde_json::to_string_pretty(via).unwrap_or_default(),
        "{who}: the result through the gateway differs from the direct one"
    );
}

async fn only_session(
    gw: &gatehouse_control_plane::gateway::Gateway,
    client: &str,
) -> gatehouse_control_plane::store::SessionRow {
    let rows = gw.store.list_sessions(100).await.unwrap_or_default();
    let mine: Vec<_> = rows
        .into_iter()
        .filter(|r| r.client_name.as_deref() == Some(client))
        .collect();
    assert_eq!(mine.len(), 1, "one session for {client}: {mine:?}");
    mine.into_iter().next().unwrap_or_else(|| unreachable!())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_over_http_and_stdio() {
    let upstream = everything_http().await;
    let stdio = everything_stdio();
    let mut g = Gatehouse::start(&format!(
        "{}{}",
        url_server("everything", &upstream.url, "legacy"),
        stdio_server("everything-stdio", &stdio)
    ))
    .await;

    let direct = ts_client(Target::Http(&upstream.url, None)).await;
    let via = ts_client(Target::Http(&g.url("everything"), Some(TOKEN))).await;
    assert_same(&direct, &via, "TypeScript client, HTTP upstream");
    assert!(
        via["progress"].to_string().contains('4'),
        "progress notifications came through: {via}"
    );

    let direct_stdio = ts_client(Target::Stdio(&stdio)).await;
    let via_stdio = ts_client(Target::Http(&g.url("everything-stdio"), Some(TOKEN))).await;
    assert_same(
        &direct_stdio,
        &via_stdio,
        "TypeScript client, stdio upstream",
    );

    let gw = g.stop().await;
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        assert_eq!(row.end_reason.as_deref(), Some("client_closed"), "{row:?}");
        let up = recorded_methods(&gw, &row.id, "client_to_server").await;
        for m in [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call",
            "resources/list",
            "resources/read",
            "prompts/list",
            "prompts/get",
            "notifications/cancelled",
            "ping",
        ] {
            assert!(
                up.iter().any(|u| u == m),
                "{m} missing from the record of {}: {up:?}",
                row.server
            );
        }
        let down = recorded_methods(&gw, &row.id, "server_to_client").await;
        for m in ["notifications/progress", "sampling/createMessage"] {
            assert!(
                down.iter().any(|d| d == m),
                "{m} missing from the record of {}: {down:?}",
                row.server
            );
        }
        let events = gw.store.session_events(&row.id).await.unwrap_or_default();
        let sampling_answer = events.iter().any(|e| {
            e.direction == "client_to_server" && e.kind == "response" && e.payload.contains("model")
        });
        assert!(
            sampling_answer,
            "the client's answer to sampling is recorded"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_legacy_era() {
    let upstream = everything_http().await;
    let mut g = Gatehouse::start(&url_server("everything", &upstream.url, "legacy")).await;
    let direct = py_client("legacy", Target::Http(&upstream.url, None)).await;
    let via = py_client("legacy", Target::Http(&g.url("everything"), Some(TOKEN))).await;
    assert_same(&direct, &via, "Python client");
    let gw = g.stop().await;
    let row = only_session(&gw, "gatehouse-py-test-client").await;
    assert!(
        row.message_count >= 20,
        "every message is recorded: {row:?}"
    );
    assert_eq!(row.end_reason.as_deref(), Some("client_closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_cli() {
    let upstream = everything_http().await;
    let mut g = Gatehouse::start(&url_server("everything", &upstream.url, "legacy")).await;
    let direct = inspector("legacy", &upstream.url, None).await;
    let via = inspector("legacy", &g.url("everything"), Some(TOKEN)).await;
    assert_same(&direct, &via, "Inspector CLI");
    assert!(via["call"].to_string().contains("hello from inspector"));
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_bridge_for_desktop_clients() {
    let upstream = everything_http().await;
    let mut g = Gatehouse::start(&url_server("everything", &upstream.url, "legacy")).await;
    let direct = ts_client(Target::Http(&upstream.url, None)).await;
    let bridge = vec![
        "env".to_string(),
        format!("GATEHOUSE_TOKEN={TOKEN}"),
        format!("GATEHOUSE_URL={}", g.base),
        gatehouse_bin().display().to_string(),
        "connect".into(),
        "everything".into(),
    ];
    let via = ts_client(Target::Stdio(&bridge)).await;
    assert_same(
        &direct,
        &via,
        "TypeScript client through `gatehouse connect`",
    );
    let gw = g.stop().await;
    let row = only_session(&gw, "gatehouse-ts-test-client").await;
    assert_eq!(row.principal, "e2e");
    assert_eq!(
        row.end_reason.as_deref(),
        Some("client_closed"),
        "closing stdin ends the session"
    );
}
