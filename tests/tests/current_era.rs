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
async fn legacy_client_to_current_upstream_is_refused_clearly() {
    let upstream = current_server().await;
    let mut g = Gatehouse::start(&url_server("modern", &upstream.url, "current")).await;
    let mut args = vec![peers().join("py_client.py").display().to_string()];
    args.extend(
        [
            "--mode",
            "legacy",
            "--url",
            &g.url("modern"),
            "--token",
            TOKEN,
        ]
        .map(String::from),
    );
    let out = tokio::process::Command::new(python())
        .args(&args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot bridge") || stderr.contains("2026-07-28"),
        "the error names the mismatch: {stderr}"
    );
    g.stop().await;
}
