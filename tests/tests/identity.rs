//! Access tokens from a real OpenID provider (npm `oidc-provider`): the gateway accepts
//! tokens signed by the provider, for this gateway's audience, and takes the person and
//! their groups from them; anything else gets 401 and nothing is forwarded.

use gatehouse_e2e::*;
use serde_json::{Value, json};

async fn initialize(url: &str, token: &str) -> (u16, Option<String>, String) {
    let r = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ci","version":"1"}}}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let _ = r.text().await;
    (status, www, String::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_the_identity_provider_sign_people_in() {
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let stdio = everything_stdio();
    let mut g = Gatehouse::start_with(
        &format!(
            "{}{}",
            stdio_server("everything", &stdio),
            stdio_server("other", &stdio)
        ),
        &format!("[oidc]\nissuer = \"{issuer}\"\nrequired_scopes = [\"mcp\"]\n"),
        Some(listener),
    )
    .await;
    assert_eq!(g.base, base);
    let resource = g.url("everything");
    let _op = openid_provider(op_port, &resource).await;

    let engineer =
        client_credentials(&issuer, "ci-engineer", "secret-engineer", &resource, "mcp").await;
    let sales = client_credentials(&issuer, "ci-sales", "secret-sales", &resource, "mcp").await;

    // A real client with the provider's token gets what it gets directly.
    let direct = ts_client(Target::Stdio(&stdio)).await;
    let via = ts_client(Target::Http(&resource, Some(&engineer))).await;
    assert_eq!(direct, via);
    let (status, _, _) = initialize(&resource, &sales).await;
    assert_eq!(status, 200);

    // The audience binds the token to one server (RFC 8707): not valid for another.
    let (status, www, _) = initialize(&g.url("other"), &engineer).await;
    assert_eq!(status, 401);
    assert!(www.unwrap_or_default().contains("error=\"invalid_token\""));
    // A valid token without the required scope: 403 naming the scope to ask for.
    let scopeless =
        client_credentials(&issuer, "ci-engineer", "secret-engineer", &resource, "").await;
    let (status, www, _) = initialize(&resource, &scopeless).await;
    assert_eq!(status, 403);
    let www = www.unwrap_or_default();
    assert!(
        www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"mcp\""),
        "{www}"
    );
    // A token whose signature does not verify is refused.
    let mut forged = engineer.clone();
    let last = forged.pop().unwrap_or('A');
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(initialize(&resource, &forged).await.0, 401);
    assert_eq!(initialize(&resource, "not-a-token").await.0, 401);

    let meta: Value = reqwest::Client::new()
        .get(format!(
            "{base}/.well-known/oauth-protected-resource/mcp/everything"
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta["authorization_servers"], json!([issuer]));

    let gw = g.stop().await;
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    let people: Vec<&str> = rows.iter().map(|r| r.principal.as_str()).collect();
    assert!(
        people.contains(&"ci-engineer") && people.contains(&"ci-sales"),
        "{people:?}"
    );
    assert_eq!(
        rows.len(),
        2,
        "refused requests opened no session: {people:?}"
    );
}
