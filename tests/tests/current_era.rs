//! A current-era (2026-07-28, stateless) upstream written with the Python SDK, behind
//! the gateway, driven by the Python client in the current era and the Inspector.

use gatehouse_e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_current_era() {
    let upstream = current_server().await;
    let mut g = Gatehouse::start(&url_server("modern", &upstream.url, "current")).await;
    let direct = py_client("2026-07-28", Target::Http(&upstream.url, None)).await;
    let via = py_client("2026-07-28", Target::Http(&g.url("modern"), Some(TOKEN))).await;
    assert_eq!(
        direct, via,
        "the current-era scenario through the gateway differs from the direct one"
    );

    let via_inspector = inspector("modern", &g.url("modern"), Some(TOKEN)).await;
    let direct_inspector = inspector("modern", &upstream.url, None).await;
    assert_eq!(direct_inspector, via_inspector);

    let gw = g.stop().await;
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    assert!(!rows.is_empty());
    let py = rows
        .iter()
        .find(|r| r.client_name.as_deref() == Some("gatehouse-py-test-client"))
        .unwrap_or_else(|| {
            panic!("the Python client's requests were grouped into a session: {rows:?}")
        });
    assert_eq!(py.era, "current");
    assert_eq!(py.protocol_version.as_deref(), Some("2026-07-28"));
    let up = recorded_methods(&gw, &py.id, "client_to_server").await;
    for m in ["server/discover", "tools/list", "tools/call"] {
        assert!(
            up.iter().any(|u| u == m),
            "{m} missing: {up:?} in {py:?} of {rows:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_era_client_is_bridged_to_a_stateless_upstream() {
    let upstream = current_server().await;
    let mut g = Gatehouse::start(&url_server("modern", &upstream.url, "current")).await;
    // The Inspector in the legacy era through the gateway sees what the Inspector in the
    // current era sees directly.
    let direct = inspector("modern", &upstream.url, None).await;
    let bridged = inspector("legacy", &g.url("modern"), Some(TOKEN)).await;
    assert_eq!(direct, bridged);

    // What cannot be carried faithfully is refused clearly, not mangled.
    let http = reqwest::Client::new();
    let post = |sid: Option<String>, body: serde_json::Value| {
        let mut b = http
            .post(g.url("modern"))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            b = b.header("mcp-session-id", s);
        }
        b.send()
    };
    let r = post(None, serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"old-client","version":"1"}}}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sid = r.headers()["mcp-session-id"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    let init: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "gatehouse-current-server"
    );
    let r = post(Some(sid.clone()), serde_json::json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask_llm","arguments":{"prompt":"hi"}}}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(v["error"]["code"], -32021, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("input_required"),
        "{v}"
    );
    let gw = g.stop().await;
    let events = gw.store.session_events(&sid).await.unwrap_or_default();
    assert!(
        events.iter().any(|e| e.kind == "bridged"),
        "the record says the session was bridged"
    );
}
