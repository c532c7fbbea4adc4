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
    let rows: Vec<_> = gw
        .store
        .list_sessions(10)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.server != "gatehouse")
        .collect();
    // Each refusal is on the control record, with its reason and source address.
    let failures: Vec<Value> = control_events(&gw)
        .await
        .into_iter()
        .filter(|(k, _)| k == "auth_failed")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(failures.iter().all(|f| f["source"] == "127.0.0.1"));
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

/// A client that behaves like a browser: keeps cookies, does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Signs `who` in to the dashboard at `base` through the provider; returns the browser.
async fn dashboard_sign_in(base: &str, who: &str) -> (reqwest::Client, String) {
    let http = browser();
    let r = http
        .get(format!("{base}/auth/login?return_to=/sessions"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 303, "login starts with a redirect");
    let to_provider = r.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        to_provider.contains("code_challenge_method=S256") && to_provider.contains("nonce="),
        "PKCE and nonce: {to_provider}"
    );
    let callback = browser_login(&http, &to_provider, who, &format!("{base}/auth/callback")).await;
    let r = http
        .get(&callback)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    assert_eq!(
        r.headers()["location"],
        "/sessions",
        "back where they started"
    );
    (http, callback)
}

async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap_or_else(|e| panic!("{e}"));
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_to_the_dashboard_through_the_provider_and_roles_decide() {
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stdio = everything_stdio();
    let mut g = Gatehouse::start_with(
        &stdio_server("everything", &stdio),
        &format!(
            "admin_groups = [\"gatehouse-admins\"]\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"gatehouse-web\"\n\
             client_secret = \"secret-web\"\n[roles]\nauditor_groups = [\"auditors\"]\napprover_groups = [\"approvers\"]\n"
        ),
        Some(listener),
    )
    .await;
    let base = g.base.clone();
    let _op = openid_provider_for_people(op_port, &g.url("everything"), &base).await;

    // Someone works through the gateway with a provider token.
    let engineer = client_credentials(
        &issuer,
        "ci-engineer",
        "secret-engineer",
        &g.url("everything"),
        "mcp",
    )
    .await;
    ts_client(Target::Http(&g.url("everything"), Some(&engineer))).await;

    // Not signed in: the API says so, and sign-in is offered.
    assert_eq!(
        get_json(&browser(), &format!("{base}/api/v1/me")).await.0,
        401
    );

    // An auditor signs in at the provider and reads everyone's sessions.
    let (ann, callback) = dashboard_sign_in(&base, "ann").await;
    let (status, me) = get_json(&ann, &format!("{base}/api/v1/me")).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"], "ann");
    assert_eq!(me["groups"], json!(["auditors"]));
    assert_eq!(me["roles"], json!(["engineer", "auditor"]));
    let (_, sessions) = get_json(&ann, &format!("{base}/api/v1/sessions")).await;
    let users: Vec<&str> = sessions["sessions"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["user"].as_str()).collect())
        .unwrap_or_default();
    assert!(users.contains(&"ci-engineer"), "{sessions}");
    // ...but may not publish a policy, with or without the CSRF header.
    let publish = |http: &reqwest::Client, csrf: bool| {
        let mut b = http
            .post(format!("{base}/api/v1/policies"))
            .header("content-type", "text/plain")
            .body("version: 1\ndefault: allow\n");
        if csrf {
            b = b.header("x-gatehouse-request", "1");
        }
        b.send()
    };
    let r = publish(&ann, true).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("gatehouse-admins")
    );

    // The provider's answer cannot be used twice (state and code are spent).
    let r = ann
        .get(&callback)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 401);

    // An engineer sees only their own sessions (none).
    let (eve, _) = dashboard_sign_in(&base, "eve").await;
    let (_, own) = get_json(&eve, &format!("{base}/api/v1/sessions")).await;
    assert_eq!(own["sessions"], json!([]), "{own}");
    assert_eq!(
        get_json(&eve, &format!("{base}/api/v1/overview")).await.0,
        403
    );

    // An admin publishes, but only with the CSRF header.
    let (root, _) = dashboard_sign_in(&base, "root").await;
    let r = publish(&root, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.status().as_u16(),
        403,
        "a cookie alone cannot change anything"
    );
    let r = publish(&root, true).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 201);

    // Signing out ends the sign-in for good.
    let r = ann
        .post(format!("{base}/auth/logout"))
        .header("x-gatehouse-request", "1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(get_json(&ann, &format!("{base}/api/v1/me")).await.0, 401);

    // Every sign-in, the failed replay and the sign-out are on the record.
    let gw = g.stop().await;
    let filter = gatehouse_control_plane::store::SessionFilter {
        server: Some("gatehouse".into()),
        limit: 10,
        ..Default::default()
    };
    let (control, _) = gw
        .store
        .session_page(&filter)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(control.len(), 1, "one control record per day");
    let kinds: Vec<(String, String)> = gw
        .store
        .session_events(&control[0].id)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| (e.kind, e.payload))
        .collect();
    let signed_in: Vec<&str> = kinds
        .iter()
        .filter(|(k, _)| k == "signin")
        .filter_map(|(_, p)| p.split("\"user\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(signed_in, ["ann", "eve", "root"]);
    assert!(kinds.iter().any(|(k, _)| k == "signin_failed"), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, p)| k == "signout" && p.contains("\"ann\"")),
        "{kinds:?}"
    );
}

/// A gateway whose control plane is the MCP clients' authorization server, people
/// signing in at the real provider; `extra` is more top-level TOML.
async fn gateway_with_authz(op_port: u16, servers: &str, extra: &str) -> (Gatehouse, Peer) {
    let issuer = format!("http://127.0.0.1:{op_port}");
    let g = Gatehouse::start_with(
        servers,
        &format!(
            "{extra}\n[oidc]\nissuer = \"{issuer}\"\nclient_id = \"gatehouse-web\"\nclient_secret = \"secret-web\"\n"
        ),
        None,
    )
    .await;
    let op = openid_provider_for_people(op_port, &format!("{}/mcp", g.base), &g.base).await;
    (g, op)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_mcp_client_signs_in_unaided_through_the_control_plane() {
    let stdio = everything_stdio();
    let (mut g, _op) =
        gateway_with_authz(free_port(), &stdio_server("everything", &stdio), "").await;
    let base = g.base.clone();
    let resource = g.url("everything");

    // Discovery the SDK relies on, unauthenticated.
    let http = reqwest::Client::new();
    let prm: Value = http
        .get(format!(
            "{base}/.well-known/oauth-protected-resource/mcp/everything"
        ))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(prm["resource"], resource);
    assert_eq!(prm["authorization_servers"][0], base, "{prm}");
    for path in ["oauth-authorization-server", "openid-configuration"] {
        let meta: Value = http
            .get(format!("{base}/.well-known/{path}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(meta["issuer"], base);
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
        assert_eq!(meta["client_id_metadata_document_supported"], true);
    }

    // The TypeScript SDK's own OAuth flow, the person (eve) at the provider's login.
    let seen = sdk_oauth_client(&resource, "eve").await;
    assert_eq!(seen["authorizationRequest"]["codeChallengeMethod"], "S256");
    assert_eq!(seen["authorizationRequest"]["resource"], resource);
    assert_eq!(
        seen["authorizationRequest"]["endpoint"],
        format!("{base}/oauth/authorize")
    );
    assert_eq!(seen["authorizationResponseIss"], base, "RFC 9207");
    assert_eq!(seen["consentPage"]["client"], "Gatehouse e2e SDK client");
    assert!(
        seen["consentPage"]["redirectHost"]
            .as_str()
            .is_some_and(|h| h.starts_with("127.0.0.1:")),
        "{seen}"
    );
    assert_eq!(seen["consentPage"]["frameOptions"], "DENY");
    assert!(
        seen["consentPage"]["csp"]
            .as_str()
            .is_some_and(|c| c.contains("frame-ancestors 'none'")),
        "{seen}"
    );
    assert_eq!(seen["token"]["aud"], resource, "audience-bound");
    assert_eq!(seen["token"]["sub"], "eve");
    assert_eq!(seen["token"]["groups"], json!(["engineers"]));
    assert_eq!(seen["token"]["lifetime"], 600);
    assert_eq!(seen["token"]["hasRefresh"], true);
    assert_eq!(seen["echo"], json!(["Echo: signed in unaided"]), "{seen}");

    // The call is on the record under eve and her groups.
    let gw = g.stop().await;
    let filter = gatehouse_control_plane::store::SessionFilter {
        server: Some("everything".into()),
        limit: 10,
        ..Default::default()
    };
    let (sessions, _) = gw
        .store
        .session_page(&filter)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sessions.len(), 1, "one session: the signed-in one");
    assert_eq!(sessions[0].user, "eve");
    assert_eq!(sessions[0].groups, ["engineers"]);
    let calls = recorded_methods(&gw, &sessions[0].id, "client_to_server").await;
    assert!(calls.contains(&"tools/call".to_string()), "{calls:?}");
    let events = control_events(&gw).await;
    let signin = events
        .iter()
        .find(|(k, _)| k == "signin")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(signin.1["user"], "eve");
    assert_eq!(signin.1["client"], "Gatehouse e2e SDK client");
    assert_eq!(signin.1["source"], "127.0.0.1");
    assert!(events.iter().any(|(k, _)| k == "client_registered"));
    assert!(events.iter().any(|(k, _)| k == "token_issued"));
}
