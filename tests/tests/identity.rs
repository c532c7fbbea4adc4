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
    // The control plane's own authorization server first (dev mode: [dev] users), then
    // the provider, whose tokens are accepted as well.
    assert_eq!(meta["authorization_servers"], json!([base, issuer]));

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
    let kinds = control_events(&gw).await;
    let signed_in: Vec<&str> = kinds
        .iter()
        .filter(|(k, _)| k == "signin")
        .filter_map(|(_, p)| p["user"].as_str())
        .collect();
    assert_eq!(signed_in, ["ann", "eve", "root"]);
    assert!(kinds.iter().any(|(k, _)| k == "signin_failed"), "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, p)| k == "signout" && p["user"] == "ann"),
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_mcp_client_signs_in_unaided_through_the_control_plane() {
    let (mut g, _op) = everything_with_authz("").await;
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

/// base64url without padding.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The Ed25519 seed as the PKCS#8 DER jsonwebtoken signs with.
fn ed_der(seed_hex: &str) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0..32).map(|i| u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).unwrap_or(0)));
    der
}

fn sign_ed(seed_hex: &str, kid: &str, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &h,
        claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&ed_der(seed_hex)),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn sign_hs(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(&h, claims, &jsonwebtoken::EncodingKey::from_secret(secret))
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn get_value(url: &str) -> Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The provider's RSA signing key as PEM (what an attacker downloads and then uses as
/// an HMAC secret, hoping the verifier trusts the token's `alg`).
async fn provider_rsa_pem(issuer: &str) -> (String, Vec<u8>) {
    let jwks = get_value(&format!("{issuer}/jwks")).await;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["kty"] == "RSA"))
        .cloned()
        .unwrap_or_else(|| panic!("no RSA key: {jwks}"));
    let out = tokio::process::Command::new(node22())
        .args([
            "-e",
            "const c=require('crypto');process.stdout.write(c.createPublicKey({key:JSON.parse(process.argv[1]),format:'jwk'}).export({type:'spki',format:'pem'}))",
            &jwk.to_string(),
        ])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    (
        jwk["kid"].as_str().unwrap_or_default().to_string(),
        out.stdout,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attack_matrix_is_refused_recorded_and_nothing_is_forwarded() {
    let seed = "4f".repeat(32);
    let keydir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let keyfile = keydir.path().join("token.key");
    std::fs::write(&keyfile, &seed).unwrap_or_else(|e| panic!("{e}"));
    let stdio = everything_stdio();
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let (mut g, _op) = gateway_with_authz(
        op_port,
        &format!(
            "{}{}",
            stdio_server("everything", &stdio),
            stdio_server("other", &stdio)
        ),
        &format!(
            "[authz]\nsigning_key = \"file:{}\"\nfailure_events_per_minute = 40\n",
            keyfile.display()
        ),
    )
    .await;
    let base = g.base.clone();
    let resource = g.url("everything");
    let kid = get_value(&format!("{base}/oauth/jwks")).await["keys"][0]["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut opened = 0;

    // A real sign-in: its token works.
    let eve = McpSignIn::register(&base).await;
    let (verifier, challenge) = pkce();
    let code = eve.code(&resource, &challenge, "eve").await;
    let (status, tokens) = eve.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(initialize(&resource, &access).await.0, 200);
    opened += 1;

    // Forged and misused tokens, each refused with 401 at the gateway.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let real = payload_of(&access);
    let with = |changes: Value| {
        let mut c = real.clone();
        for (k, v) in changes.as_object().cloned().unwrap_or_default() {
            c[k] = v;
        }
        c
    };
    let mut admin = real.clone();
    admin["groups"] = json!(["gatehouse-admins"]);
    let parts: Vec<&str> = access.split('.').collect();
    let (idp_kid, idp_pem) = provider_rsa_pem(&issuer).await;
    let idp_claims = json!({"iss": issuer, "sub": "root", "aud": resource, "exp": now + 300,
        "iat": now, "scope": "mcp", "groups": ["gatehouse-admins"]});
    let other_seed = "5a".repeat(32);
    let ed_public: Vec<u8> = get_value(&format!("{base}/oauth/jwks")).await["keys"][0]["x"]
        .as_str()
        .map(|x| x.as_bytes().to_vec())
        .unwrap_or_default();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "expired",
            sign_ed(
                &seed,
                &kid,
                &with(json!({"exp": now - 120, "nbf": now - 720, "iat": now - 720})),
            ),
            &resource,
            "expired",
        ),
        (
            "not yet valid",
            sign_ed(
                &seed,
                &kid,
                &with(json!({"nbf": now + 300, "iat": now + 300, "exp": now + 900})),
            ),
            &resource,
            "not valid yet",
        ),
        (
            "wrong issuer",
            sign_ed(&seed, &kid, &with(json!({"iss": "https://evil.example"}))),
            &resource,
            "issuer",
        ),
        ("wrong audience", access.clone(), "other", "not this server"),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "kid": kid, "typ": "at+jwt"})
                    .to_string()
                    .as_bytes()),
                parts[1]
            ),
            &resource,
            "algorithm",
        ),
        (
            "HS256 with the provider's RSA public key",
            sign_hs(&idp_pem, &idp_kid, &idp_claims),
            &resource,
            "algorithm",
        ),
        (
            "HS256 with our Ed25519 public key",
            sign_hs(&ed_public, &kid, &admin),
            &resource,
            "algorithm",
        ),
        (
            "unknown kid",
            sign_ed(&other_seed, "unknown-kid", &admin),
            &resource,
            "unknown key id",
        ),
        (
            "our kid, another key",
            sign_ed(&other_seed, &kid, &admin),
            &resource,
            "signature",
        ),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(admin.to_string().as_bytes()),
                parts[2]
            ),
            &resource,
            "signature",
        ),
    ];
    let mut expected_reasons = Vec::new();
    for (name, token, target, reason) in &cases {
        let url = if *target == "other" {
            g.url("other")
        } else {
            target.to_string()
        };
        let (status, www, _) = initialize(&url, token).await;
        assert_eq!(status, 401, "{name} was not refused");
        assert!(
            www.unwrap_or_default().contains("error=\"invalid_token\""),
            "{name}"
        );
        expected_reasons.push(*reason);
    }

    // The consent is bound to the browser that saw the page: the same form posted by
    // another browser (no consent cookie, as from another site) goes nowhere.
    let (_, c0) = pkce();
    let page = eve.consent_page(&resource, &c0).await;
    let request = page
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .post(format!("{base}/oauth/authorize/consent"))
        .form(&[("request", request.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.headers().get("location").is_none());
    expected_reasons.push("consent was not given on this browser");

    // A replayed code is refused, and the sign-in it made is revoked with it.
    let (status, body) = eve.redeem(&code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        initialize(&resource, &access).await.0,
        401,
        "revoked by the replay"
    );
    expected_reasons.push("already used");
    expected_reasons.push("revoked");

    // A PKCE verifier that does not match its challenge.
    let (_, challenge2) = pkce();
    let (other_verifier, _) = pkce();
    let code2 = eve.code(&resource, &challenge2, "eve").await;
    let (status, body) = eve.redeem(&code2, &other_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    expected_reasons.push("PKCE");

    // Sign-out: revoking the refresh token ends the access token at once, and refresh.
    let (v3, c3) = pkce();
    let code3 = eve.code(&resource, &c3, "eve").await;
    let (_, t3) = eve.redeem(&code3, &v3).await;
    let access3 = t3["access_token"].as_str().unwrap_or_default().to_string();
    let refresh3 = t3["refresh_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(initialize(&resource, &access3).await.0, 200);
    opened += 1;
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/revoke"))
        .form(&[("token", refresh3.as_str())])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        initialize(&resource, &access3).await.0,
        401,
        "a revoked session's token"
    );
    let (status, _) = eve
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh3),
        ])
        .await;
    assert_eq!(status, 400, "a revoked session cannot refresh");

    // Refresh rotates; presenting a rotated refresh token revokes the whole sign-in.
    let (v4, c4) = pkce();
    let code4 = eve.code(&resource, &c4, "eve").await;
    let (_, t4) = eve.redeem(&code4, &v4).await;
    let old = t4["refresh_token"].as_str().unwrap_or_default().to_string();
    let (status, t5) = eve
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &old)])
        .await;
    assert_eq!(status, 200, "{t5}");
    let newer = t5["refresh_token"].as_str().unwrap_or_default().to_string();
    assert_ne!(newer, old);
    let (status, _) = eve
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &old)])
        .await;
    assert_eq!(status, 400, "reuse");
    let (status, _) = eve
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &newer)])
        .await;
    assert_eq!(status, 400, "the family is revoked after reuse");
    assert_eq!(
        initialize(&resource, t5["access_token"].as_str().unwrap_or_default())
            .await
            .0,
        401
    );
    expected_reasons.push("refresh token was already used");

    // Redirect URIs: a registered loopback one on another port is fine; anything else
    // stays on Gatehouse's page (no redirect to the attacker).
    let (_, c6) = pkce();
    let other_port = eve.redirect_uri.replace(
        &format!(
            ":{}/",
            eve.redirect_uri
                .split(':')
                .nth(2)
                .and_then(|p| p.split('/').next())
                .unwrap_or("")
        ),
        ":1/",
    );
    let r = eve
        .browser
        .get(eve.authorize_url(&resource, &c6, &other_port))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 200, "loopback, any port");
    for bad in [
        "https://evil.example/callback",
        "http://127.0.0.1:1/elsewhere",
    ] {
        let r = eve
            .browser
            .get(eve.authorize_url(&resource, &c6, bad))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status().as_u16(), 400, "{bad}");
        assert!(
            r.headers().get("location").is_none(),
            "never redirected to {bad}"
        );
        expected_reasons.push("not registered");
    }
    // Without PKCE, or without a resource naming this gateway: refused back to the client.
    for (drop, error) in [
        ("code_challenge_method", "invalid_request"),
        ("resource", "invalid_target"),
    ] {
        let url = eve.authorize_url(&resource, &c6, &eve.redirect_uri);
        let mut u = reqwest::Url::parse(&url).unwrap_or_else(|e| panic!("{e}"));
        let kept: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(k, _)| k != drop)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        u.query_pairs_mut().clear().extend_pairs(kept);
        let r = eve
            .browser
            .get(u.as_str())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let loc = r.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            loc.starts_with(&eve.redirect_uri) && loc.contains(&format!("error={error}")),
            "{loc}"
        );
    }

    // A flood of bad tokens: refused, but the record keeps at most 40 a minute per
    // address and counts the rest.
    for _ in 0..60 {
        assert_eq!(initialize(&resource, "flood.flood.flood").await.0, 401);
    }

    let gw = g.stop().await;
    // Nothing was forwarded: the only MCP sessions are the two that were allowed.
    let rows: Vec<_> = gw
        .store
        .list_sessions(50)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.server != "gatehouse")
        .collect();
    assert_eq!(
        rows.len(),
        opened,
        "refused requests opened no session upstream"
    );
    assert!(rows.iter().all(|r| r.principal == "eve"));
    let events = control_events(&gw).await;
    let failures: Vec<String> = events
        .iter()
        .filter(|(k, _)| k == "auth_failed")
        .map(|(_, p)| p["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for reason in &expected_reasons {
        assert!(
            failures.iter().any(|f| f.contains(reason)),
            "no failure event saying `{reason}`: {failures:#?}"
        );
    }
    assert_eq!(failures.len(), 40, "capped per source and minute");
    let suppressed: u64 = events
        .iter()
        .filter(|(k, _)| k == "auth_failures_suppressed")
        .filter_map(|(_, p)| p["count"].as_u64())
        .sum();
    assert!(suppressed >= 1, "the rest were counted: {events:?}");
    assert!(events.iter().any(|(k, p)| k == "token_revoked"
        && p["reason"].as_str().is_some_and(|r| r.contains("replayed"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_login_then_connect_without_a_static_token() {
    let (mut g, _op) = everything_with_authz("").await;
    let base = g.base.clone();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let off = [("GATEHOUSE_KEYRING", "off")];

    // `gatehouse login` prints the address; the person's browser does the rest.
    let login = start_login(
        cli(
            home.path(),
            &off,
            &["login", "--url", &base, "--no-browser"],
        ),
        &format!("{base}/oauth/authorize?"),
        "Open this address in your browser to sign in",
    )
    .await;
    let url = login.url.clone();
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A")
    );
    let back = consent_and_login(&browser(), &url, &base, "eve").await;
    assert!(back.starts_with("http://127.0.0.1:"), "{back}");
    let page = reqwest::get(&back)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(page.contains("Signed in"), "{page}");
    login.signed_in().await;

    let path = home.path().join(".config/gatehouse/credentials.json");
    assert_private(&[&path]);
    let first = json_file(&path);
    assert_eq!(first["url"], base);
    assert!(
        first.get("access_token").is_none() && first.get("refresh_token").is_none(),
        "no secret in credentials.json"
    );
    // No keyring (GATEHOUSE_KEYRING=off): the refresh token is in a 0600 file beside it.
    let tokens_path = home.path().join(".config/gatehouse/tokens.json");
    let first_rt = json_file(&tokens_path)["refresh_token"].clone();
    assert!(first_rt.is_string(), "{first_rt}");

    // `gatehouse connect` with no GATEHOUSE_TOKEN uses the sign-in.
    let answer = echo_through_connect(home.path(), &off, &base, "via gatehouse login").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: via gatehouse login",
        "{answer}"
    );
    assert_ne!(
        json_file(&tokens_path)["refresh_token"],
        first_rt,
        "the refresh token rotated"
    );

    // Sign out: revoked at the control plane, forgotten here; connect then says what to do.
    logout(home.path(), &off).await;
    assert!(!path.exists() && !tokens_path.exists());
    let out = cli(
        home.path(),
        &off,
        &["connect", "everything", "--url", &base],
    )
    .output()
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gatehouse login"));

    let gw = g.stop().await;
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r.server == "everything" && r.principal == "eve"),
        "the call is recorded under eve"
    );
    assert!(
        control_events(&gw)
            .await
            .iter()
            .any(|(k, p)| k == "token_revoked" && p["user"] == "eve")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_exchange_their_ci_token_and_clients_can_be_metadata_documents() {
    let stdio = everything_stdio();
    let op_port = free_port();
    let doc_port = free_port();
    let (mut g, _op) = gateway_with_authz(
        op_port,
        &stdio_server("everything", &stdio),
        "[authz]\nmetadata_document_allowed_hosts = [\"127.0.0.1\"]\n\
         [[authz.trusted_issuers]]\nissuer = \"{ISSUER}\"\naudience = \"{BASE}/mcp\"\n\
         require = { client_id = \"ci-engineer\" }\nuser_claim = \"client_id\"\nuser_prefix = \"ci:\"\ngroups = [\"pipelines\"]\n",
    )
    .await;
    let base = g.base.clone();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let resource = g.url("everything");

    // A pipeline's own OIDC token (here: the provider's JWT for a CI client) becomes a
    // short-lived Gatehouse token, with no static secret in the pipeline.
    let exchange = |subject: String| {
        let url = format!("{base}/oauth/token");
        let resource = resource.clone();
        async move {
            post_form(
                &url,
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", subject.as_str()),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                    ("resource", resource.as_str()),
                ],
            )
            .await
        }
    };
    let ci = client_credentials(
        &issuer,
        "ci-engineer",
        "secret-engineer",
        &format!("{base}/mcp"),
        "mcp",
    )
    .await;
    let (status, t) = exchange(ci).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        t["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(
        t.get("refresh_token").is_none(),
        "pipelines exchange again instead"
    );
    let access = t["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(payload_of(&access)["aud"], resource);
    assert_eq!(initialize(&resource, &access).await.0, 200);
    // A token from the same issuer that does not meet the trust rule is refused.
    let sales = client_credentials(
        &issuer,
        "ci-sales",
        "secret-sales",
        &format!("{base}/mcp"),
        "mcp",
    )
    .await;
    let (status, body) = exchange(sales).await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("client_id"),
        "{body}"
    );
    // ...and so is a token from an issuer nobody trusted (our own access token).
    let (status, _) = exchange(access.clone()).await;
    assert_eq!(status, 400);

    // A client known by its metadata document (client_id is the document's URL).
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let doc_url = format!("http://127.0.0.1:{doc_port}/client.json");
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    std::fs::write(
        dir.path().join("client.json"),
        json!({"client_id": doc_url, "client_name": "Documented Client", "redirect_uris": [redirect]}).to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let _docs = tokio::process::Command::new(python())
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &doc_port.to_string(),
            "--directory",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", doc_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let documented = McpSignIn {
        base: base.clone(),
        client_id: doc_url.clone(),
        redirect_uri: redirect,
        browser: browser(),
    };
    let (_, c) = pkce();
    let page = documented.consent_page(&resource, &c).await;
    assert!(
        page.contains("Documented Client") && page.contains(&doc_url),
        "{page}"
    );
    let (verifier, challenge) = pkce();
    let code = documented.code(&resource, &challenge, "bob").await;
    let (status, tokens) = documented.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        payload_of(tokens["access_token"].as_str().unwrap_or_default())["client_id"],
        doc_url
    );
    // A document on a private address that nobody allowed is not fetched (SSRF).
    let stranger = McpSignIn {
        client_id: "https://localhost:9/client.json".into(),
        ..documented
    };
    let r = stranger
        .browser
        .get(stranger.authorize_url(&resource, &c, &stranger.redirect_uri))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap_or_default().contains("SSRF"));

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
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user, "ci:ci-engineer");
    assert_eq!(sessions[0].groups, ["pipelines"]);
    let events = control_events(&gw).await;
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "token_exchanged" && p["user"] == "ci:ci-engineer")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_asks_the_provider_again_so_group_changes_and_disabled_people_count() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let people = dir.path().join("people.json");
    let set = |v: Value| std::fs::write(&people, v.to_string()).unwrap_or_else(|e| panic!("{e}"));
    set(json!({"eve": ["engineers"]}));
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let stdio = everything_stdio();
    let mut g = Gatehouse::start_with(
        &stdio_server("everything", &stdio),
        &format!(
            "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"gatehouse-web\"\nclient_secret = \"secret-web\"\n\
             signin_scopes = [\"openid\", \"profile\", \"offline_access\"]\n\
             [authz_store]\nencryption_key = \"{AT_REST_KEY}\"\n"
        ),
        None,
    )
    .await;
    let op = openid_provider_for_people_from(op_port, &format!("{}/mcp", g.base), &g.base, &people)
        .await;
    let resource = g.url("everything");
    let eve = McpSignIn::register(&g.base).await;
    let (verifier, challenge) = pkce();
    let code = eve.code(&resource, &challenge, "eve").await;
    let (status, t) = eve.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        payload_of(t["access_token"].as_str().unwrap_or_default())["groups"],
        json!(["engineers"])
    );
    // The provider's refresh token is kept encrypted: the raw column is not the token.
    let grant = payload_of(t["access_token"].as_str().unwrap_or_default())["sid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let raw = idp_refresh_column(&g, &grant).await;
    let cipher = gatehouse_control_plane::identity::authz::at_rest::TokenCipher::from_secret(
        AT_REST_KEY.as_bytes(),
    );
    let plain = cipher.open(&grant, &raw).unwrap_or_else(|e| panic!("{e}"));
    assert!(plain.len() > 20 && !raw.contains(&plain), "{raw}");

    // The provider moves eve to another group: the next refresh says so.
    set(json!({"eve": ["sales"]}));
    let refresh = |rt: String| {
        let eve = &eve;
        async move {
            eve.token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
            ])
            .await
        }
    };
    let (status, t2) = refresh(t["refresh_token"].as_str().unwrap_or_default().to_string()).await;
    assert_eq!(status, 200, "{t2}");
    let access = t2["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(payload_of(&access)["groups"], json!(["sales"]));
    assert_eq!(initialize(&resource, &access).await.0, 200);

    // The provider disables eve: the refresh is refused and her sign-in revoked, so the
    // access token in hand stops working too.
    set(json!({"eve": null}));
    let (status, body) =
        refresh(t2["refresh_token"].as_str().unwrap_or_default().to_string()).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(initialize(&resource, &access).await.0, 401);

    // An outage of the provider is not a sign-out: no token meanwhile, but the sign-in
    // and its refresh token survive for a retry.
    set(json!({"eve": ["engineers"]}));
    let (v2, c2) = pkce();
    let code2 = eve.code(&resource, &c2, "eve").await;
    let (_, t3) = eve.redeem(&code2, &v2).await;
    let rt3 = t3["refresh_token"].as_str().unwrap_or_default().to_string();
    drop(op);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..2 {
        let (status, body) = refresh(rt3.clone()).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    assert_eq!(
        initialize(&resource, t3["access_token"].as_str().unwrap_or_default())
            .await
            .0,
        200
    );

    // A tampered ciphertext in the database is refused clearly (and that sign-in ends),
    // even before the provider is asked.
    let grant3 = payload_of(t3["access_token"].as_str().unwrap_or_default())["sid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let raw = idp_refresh_column(&g, &grant3).await;
    let mut bytes = raw.into_bytes();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    sqlx::query("UPDATE authz_grants SET idp_refresh_token = $1 WHERE id = $2")
        .bind(String::from_utf8(bytes).unwrap_or_default())
        .bind(&grant3)
        .execute(g.gw.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = refresh(rt3.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("does not decrypt")),
        "{body}"
    );

    let gw = g.stop().await;
    let events = control_events(&gw).await;
    assert!(
        events.iter().any(|(k, p)| k == "token_revoked"
            && p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("no longer signs eve in"))),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dev_mode_mcp_clients_sign_in_as_a_dev_user() {
    // `gatehouse demo` / `serve --dev` with no identity provider: the same flow, the
    // person picks a [dev] user after the consent page.
    let stdio = everything_stdio();
    let mut g = Gatehouse::start(&stdio_server("everything", &stdio)).await;
    let seen = sdk_oauth_client(&g.url("everything"), "e2e").await;
    assert_eq!(seen["token"]["sub"], "e2e");
    assert_eq!(seen["token"]["groups"], json!(["engineers"]));
    assert_eq!(seen["echo"], json!(["Echo: signed in unaided"]));
    assert_eq!(seen["consentPage"]["frameOptions"], "DENY");
    let gw = g.stop().await;
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r.server == "everything" && r.principal == "e2e")
    );
}

/// The value of a hidden form field in the IdP's auto-submitting page.
fn form_field(html: &str, name: &str) -> String {
    form_value(html, name)
        .replace("&#43;", "+")
        .replace("&#61;", "=")
}

/// Starts a SAML sign-in at `base` and fetches the IdP's answer for `user` (`mode`:
/// the IdP's misbehaviour, if any): (browser, SAMLResponse, RelayState).
async fn saml_answer(base: &str, user: &str, mode: &str) -> (reqwest::Client, String, String) {
    let http = browser();
    let r = http
        .get(format!("{base}/auth/login?return_to=/approvals"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 303);
    let to_idp = r.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        to_idp.contains("SAMLRequest=") && to_idp.contains("RelayState="),
        "{to_idp}"
    );
    let page = http
        .get(format!("{to_idp}&user={user}&mode={mode}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    (
        http,
        form_field(&page, "SAMLResponse"),
        form_field(&page, "RelayState"),
    )
}

async fn post_acs(
    http: &reqwest::Client,
    base: &str,
    response: &str,
    relay: &str,
) -> (u16, String) {
    let r = http
        .post(format!("{base}/saml/acs"))
        .form(&[("SAMLResponse", response), ("RelayState", relay)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_string());
    (
        status,
        location.unwrap_or(r.text().await.unwrap_or_default()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_with_saml_and_forged_or_stale_answers_are_refused() {
    let idp_port = free_port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let _idp = saml_idp(idp_port, &base).await;
    let mut g = Gatehouse::start_with(
        &stdio_server("everything", &everything_stdio()),
        &format!(
            "[saml]\nidp_metadata = \"http://127.0.0.1:{idp_port}/metadata\"\n\
             [roles]\nauditor_groups = [\"auditors\"]\n"
        ),
        Some(listener),
    )
    .await;

    // The SP's metadata names its entity and where assertions go.
    let md = reqwest::get(format!("{base}/saml/metadata"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    assert!(md.contains(&format!("{base}/saml/metadata")), "{md}");
    assert!(md.contains(&format!("{base}/saml/acs")), "{md}");

    // A signed, fresh answer for our request signs ann in, with her groups.
    let (ann, response, relay) = saml_answer(&base, "ann", "").await;
    assert_eq!(
        post_acs(&ann, &base, &response, &relay).await,
        (303, "/approvals".to_string())
    );
    let (status, me) = get_json(&ann, &format!("{base}/api/v1/me")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (me["user"].as_str(), &me["groups"]),
        (Some("ann"), &json!(["auditors"]))
    );
    assert_eq!(me["roles"], json!(["engineer", "auditor"]));

    // The same answer again is refused, even with a fresh login in the same browser.
    assert_eq!(post_acs(&ann, &base, &response, &relay).await.0, 401);

    // Forged or stale answers never sign anyone in.
    for (mode, why) in [
        ("tamper", "NameID changed after signing"),
        ("audience", "issued for another service provider"),
        ("expired", "validity ended an hour ago"),
    ] {
        let (http, response, relay) = saml_answer(&base, "eve", mode).await;
        let (status, body) = post_acs(&http, &base, &response, &relay).await;
        assert_eq!(status, 401, "{why}: {body}");
        assert!(body.contains("refused"), "{why}: {body}");
        assert_eq!(
            get_json(&http, &format!("{base}/api/v1/me")).await.0,
            401,
            "{why}"
        );
    }
    // An answer posted without the browser's login cookie (another browser) is refused.
    let (_, response, relay) = saml_answer(&base, "eve", "").await;
    assert_eq!(post_acs(&browser(), &base, &response, &relay).await.0, 401);

    let gw = g.stop().await;
    let events = control_events(&gw).await;
    let count = |kind: &str| events.iter().filter(|(k, _)| k == kind).count();
    assert_eq!(count("signin"), 1);
    assert_eq!(
        count("signin_failed"),
        5,
        "replay, 3 forgeries, other browser"
    );
}

/// The `gatehouse` CLI with its own HOME (credentials there), no token in the
/// environment, and `envs` added (GATEHOUSE_KEYRING, DBUS_SESSION_BUS_ADDRESS...).
fn cli(home: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> tokio::process::Command {
    use std::process::Stdio;
    let mut c = tokio::process::Command::new(gatehouse_bin());
    c.args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GATEHOUSE_CREDENTIALS")
        .env_remove("GATEHOUSE_TOKEN")
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// A `gatehouse` sign-in in progress: the running CLI, the address it printed, and a
/// task collecting the rest of its stderr.
struct Started {
    child: tokio::process::Child,
    url: String,
    stderr: tokio::task::JoinHandle<String>,
}

/// Starts `cmd` (a `gatehouse login`) and reads its stderr up to the first line that
/// starts with `prefix` (the address it prints); checks that `also` was printed before.
async fn start_login(mut cmd: tokio::process::Command, prefix: &str, also: &str) -> Started {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
    let mut err = BufReader::new(child.stderr.take().unwrap_or_else(|| panic!("stderr"))).lines();
    let mut seen = String::new();
    let url = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), err.next_line())
            .await
            .unwrap_or_else(|_| panic!("login printed no address: {seen}"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("login exited before printing an address: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with(prefix) {
            break line;
        }
    };
    assert!(seen.contains(also), "{also:?} is printed too: {seen}");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(line)) = err.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    Started { child, url, stderr }
}

/// Starts `gatehouse login --device` (with `envs`) and reads, from its stderr, the
/// address that carries the code (`verification_uri_complete`).
async fn start_device_login(home: &std::path::Path, envs: &[(&str, &str)], base: &str) -> Started {
    start_login(
        cli(home, envs, &["login", "--device", "--url", base]),
        &format!("{base}/oauth/device?user_code="),
        &format!("open {base}/oauth/device on any device"),
    )
    .await
}

impl Started {
    /// Waits (30 s at most) for the CLI to finish: its output, and the rest of stderr.
    async fn finish(self) -> (std::process::Output, String) {
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.child.wait_with_output(),
        )
        .await
        .unwrap_or_else(|_| panic!("login did not finish"))
        .unwrap_or_else(|e| panic!("{e}"));
        (out, self.stderr.await.unwrap_or_default())
    }

    /// Waits for a successful sign-in; what it printed on stdout.
    async fn signed_in(self) -> String {
        let (out, stderr) = self.finish().await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains("as eve (groups: engineers)"), "{stdout}");
        stdout
    }
}

/// A JSON file's content (`null` when it is missing or not JSON).
fn json_file(p: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_default()).unwrap_or(Value::Null)
}

/// Only their owner may read `files` (mode 0600).
fn assert_private(files: &[&std::path::Path]) {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let mode = std::fs::metadata(f)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "only its owner may read {}",
            f.display()
        );
    }
}

/// `gatehouse logout` (with `envs`) succeeds.
async fn logout(home: &std::path::Path, envs: &[(&str, &str)]) {
    let out = cli(home, envs, &["logout"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a person does on another machine for a device sign-in: opens `start` (the
/// verification page, the code prefilled or `code` typed), continues to the consent page,
/// answers `decision`, and for `allow` signs in at the provider as `who`. Returns the
/// last page's (status, HTML).
async fn approve_device(
    browser: &reqwest::Client,
    start: &str,
    code: Option<&str>,
    base: &str,
    who: &str,
    decision: &str,
) -> (u16, String) {
    let page = browser
        .get(start)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(
        page.headers()
            .get("x-frame-options")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("DENY"),
        "the verification page cannot be framed"
    );
    let html = page.text().await.unwrap_or_default();
    let csrf = form_value(&html, "csrf");
    let typed = code
        .map(String::from)
        .unwrap_or_else(|| form_value(&html, "user_code"));
    let r = browser
        .post(format!("{base}/oauth/device"))
        .form(&[("user_code", typed.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    let html = r.text().await.unwrap_or_default();
    if status != 200 {
        return (status, html);
    }
    assert!(
        html.contains("gatehouse CLI") || html.contains("device client"),
        "{html}"
    );
    let r = answer_consent(browser, base, &html, decision, who).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// One `tools/call echo` of `message` through `gatehouse connect` with the saved
/// sign-in: the answer.
async fn echo_through_connect(
    home: &std::path::Path,
    envs: &[(&str, &str)],
    base: &str,
    message: &str,
) -> Value {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut connect = cli(home, envs, &["connect", "everything", "--url", base])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = connect.stdin.take().unwrap_or_else(|| panic!("stdin"));
    let mut lines =
        BufReader::new(connect.stdout.take().unwrap_or_else(|| panic!("stdout"))).lines();
    for msg in [
        json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"desktop","version":"1"}}}),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":message}}}),
    ] {
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let answer = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("connect did not answer"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("connect exited"));
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["id"] == 2 {
            break v;
        }
    };
    drop(stdin);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), connect.wait()).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatehouse_login_device_signs_in_without_a_browser_on_that_machine() {
    let (mut g, _op) = everything_with_authz("[device_flow]\ninterval_secs = 1\n").await;
    let base = g.base.clone();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let off = [("GATEHOUSE_KEYRING", "off")];

    // Approved on "another machine" (a scripted browser) after the provider's login.
    let login = start_device_login(home.path(), &off, &base).await;
    let (status, page) = approve_device(&browser(), &login.url, None, &base, "eve", "allow").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your device is signed in"), "{page}");
    let stdout = login.signed_in().await;

    // Without a keyring (GATEHOUSE_KEYRING=off) the refresh token sits in a 0600 file,
    // and credentials.json holds no secret.
    let dir = home.path().join(".config/gatehouse");
    let tokens = dir.join("tokens.json");
    assert!(stdout.contains(&tokens.display().to_string()), "{stdout}");
    assert_private(&[&tokens, &dir.join("credentials.json")]);
    let first = json_file(&tokens)["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!first.is_empty());
    let creds = std::fs::read_to_string(dir.join("credentials.json")).unwrap_or_default();
    assert!(
        !creds.contains(&first) && !creds.contains("refresh_token"),
        "{creds}"
    );

    let answer = echo_through_connect(home.path(), &off, &base, "via device login").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: via device login",
        "{answer}"
    );
    assert_ne!(
        json_file(&tokens)["refresh_token"],
        first,
        "connect rotated the refresh token"
    );

    // Denied in the browser: the CLI says so and saves nothing new.
    let home2 = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let login = start_device_login(home2.path(), &off, &base).await;
    let (status, page) = approve_device(&browser(), &login.url, None, &base, "eve", "deny").await;
    assert_eq!(status, 200);
    assert!(page.contains("Denied"), "{page}");
    let (out, said) = login.finish().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(said.contains("denied"), "{said}");
    assert!(!home2.path().join(".config/gatehouse/tokens.json").exists());

    // Nobody approves before the code expires (its expiry set in the past here).
    let login = start_device_login(home2.path(), &off, &base).await;
    let url = login.url.clone();
    sqlx::query("UPDATE authz_device_codes SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE status = 'pending'")
        .execute(g.gw.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (out, said) = login.finish().await;
    assert_eq!(out.status.code(), Some(1));
    assert!(said.contains("expired"), "{said}");
    // The expired code no longer opens the consent page.
    let (status, page) = approve_device(&browser(), &url, None, &base, "eve", "allow").await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"));

    // Sign out: revoked and forgotten.
    logout(home.path(), &off).await;
    assert!(!tokens.exists() && !dir.join("credentials.json").exists());

    let gw = g.stop().await;
    let events = control_events(&gw).await;
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "device_authorization" && p["client"] == "gatehouse CLI")
    );
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "signin" && p["flow"] == "device" && p["user"] == "eve"),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "consent_denied" && p["flow"] == "device")
    );
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "auth_failed" && p["error"] == "access_denied")
    );
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "auth_failed" && p["error"] == "expired_token")
    );
    let rows = gw.store.list_sessions(10).await.unwrap_or_default();
    assert!(
        rows.iter()
            .any(|r| r.server == "everything" && r.principal == "eve")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_grant_polls_slows_down_redeems_once_and_guards_user_codes() {
    let (mut g, _op) =
        everything_with_authz("[device_flow]\ninterval_secs = 1\nmax_wrong_codes = 3\n").await;
    let base = g.base.clone();
    let meta = get_value(&format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(
        meta["device_authorization_endpoint"],
        format!("{base}/oauth/device_authorization")
    );
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("urn:ietf:params:oauth:grant-type:device_code")))
    );

    let register = |body: Value| register_client(&base, body);
    // A device-only client needs no redirect URI.
    let device_client = register(json!({"client_name": "device client",
        "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]}))
    .await;
    let code_client =
        register(json!({"client_name": "code client", "redirect_uris": ["http://127.0.0.1/cb"]}))
            .await;
    let resource = format!("{base}/mcp/everything");
    let ask = |client: String, resource: String| {
        let url = format!("{base}/oauth/device_authorization");
        async move {
            let form = [
                ("client_id", client.as_str()),
                ("scope", "mcp"),
                ("resource", resource.as_str()),
            ];
            post_form(&url, &form).await
        }
    };
    let (s, b) = ask(code_client.clone(), resource.clone()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{b}"
    );
    let (s, b) = ask(device_client.clone(), format!("{base}/mcp/nope")).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_target")),
        "{b}"
    );
    let (s, d) = ask(device_client.clone(), resource.clone()).await;
    assert_eq!(s, 200, "{d}");
    let user_code = d["user_code"].as_str().unwrap_or_default().to_string();
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    assert_eq!(d["verification_uri"], format!("{base}/oauth/device"));
    assert_eq!(d["interval"], 1);
    let device_code = d["device_code"].as_str().unwrap_or_default().to_string();
    let poll = |code: String, client: String| {
        let url = format!("{base}/oauth/token");
        async move {
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code.as_str()),
                ("client_id", client.as_str()),
            ];
            post_form(&url, &form).await
        }
    };
    let (s, b) = poll(device_code.clone(), device_client.clone()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("authorization_pending")),
        "{b}"
    );
    // Polling again at once is faster than the interval.
    let (_, b) = poll(device_code.clone(), device_client.clone()).await;
    assert_eq!(b["error"], "slow_down", "{b}");
    let (_, b) = poll(device_code.clone(), code_client.clone()).await;
    assert_eq!(b["error"], "invalid_grant", "another client's poll: {b}");

    // The person types the code (lower case, no hyphen: the same code) and approves.
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, page) = approve_device(
        &browser(),
        &format!("{base}/oauth/device"),
        Some(&typed),
        &base,
        "eve",
        "allow",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in as <strong>eve</strong>"), "{page}");
    // The slowed-down interval (1 + 5 s) must pass before the next poll.
    tokio::time::sleep(std::time::Duration::from_millis(6200)).await;
    let (s, t) = poll(device_code.clone(), device_client.clone()).await;
    assert_eq!(s, 200, "{t}");
    let access = t["access_token"].as_str().unwrap_or_default().to_string();
    assert_eq!(payload_of(&access)["aud"], resource.as_str());
    assert_eq!(payload_of(&access)["sub"], "eve");
    assert!(t["refresh_token"].as_str().is_some());
    assert_eq!(initialize(&resource, &access).await.0, 200);
    // A device code is redeemed once: again, and the sign-in it made is revoked.
    tokio::time::sleep(std::time::Duration::from_millis(6200)).await;
    let (s, b) = poll(device_code.clone(), device_client.clone()).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_grant")),
        "{b}"
    );
    assert_eq!(
        initialize(&resource, &access).await.0,
        401,
        "the replayed code's sign-in is revoked"
    );

    // A forged form (no CSRF cookie from the page) is refused.
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/device"))
        .form(&[("user_code", user_code.as_str()), ("csrf", "guess")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 400);

    // Wrong codes: three tries per address, then even a right code is refused.
    let (_, d2) = ask(device_client.clone(), resource.clone()).await;
    let right = d2["user_code"].as_str().unwrap_or_default().to_string();
    let browser = browser();
    for (i, wrong) in ["BBBB-BBBB", "not a code", "CCCC-CCCC"].iter().enumerate() {
        let (status, page) = approve_device(
            &browser,
            &format!("{base}/oauth/device"),
            Some(wrong),
            &base,
            "eve",
            "allow",
        )
        .await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains(&format!("{} tries left", 2 - i)), "{page}");
    }
    let (status, page) = approve_device(
        &browser,
        &format!("{base}/oauth/device"),
        Some(&right),
        &base,
        "eve",
        "allow",
    )
    .await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many wrong codes"));

    let gw = g.stop().await;
    let events = control_events(&gw).await;
    assert!(events.iter().any(|(k, p)| k == "auth_failed"
        && p["stage"] == "device_verify"
        && p["reason"].as_str().is_some_and(|r| r.contains("unknown"))));
    assert!(events.iter().any(|(k, p)| {
        k == "token_revoked"
            && p["reason"]
                .as_str()
                .is_some_and(|r| r.contains("redeemed twice"))
    }));
}

/// A real Secret Service for one test: a private D-Bus session (`dbus-run-session`) with
/// `gnome-keyring-daemon` unlocked in it, its keyrings under `home`. The bus address, or
/// `None` (said loudly) when the daemon cannot start here.
async fn secret_service(home: &std::path::Path) -> Option<(tokio::process::Child, String)> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let script = "echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 3; \
                  echo \"BUS=$DBUS_SESSION_BUS_ADDRESS\"; exec sleep 600";
    let child = tokio::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "\n*** SKIPPED: no Secret Service: dbus-run-session cannot start ({e}); run scripts/install-test-deps.sh ***\n"
            );
            return None;
        }
    };
    let mut out = BufReader::new(child.stdout.take()?).lines();
    match tokio::time::timeout(std::time::Duration::from_secs(20), out.next_line()).await {
        Ok(Ok(Some(line))) if line.starts_with("BUS=unix:") => {
            Some((child, line.trim_start_matches("BUS=").to_string()))
        }
        other => {
            eprintln!(
                "\n*** SKIPPED: no Secret Service: gnome-keyring-daemon did not start ({other:?}); run scripts/install-test-deps.sh ***\n"
            );
            None
        }
    }
}

/// The secrets Gatehouse keeps in the Secret Service, as `secret-tool` lists them.
async fn keyring_listing(bus: &str, home: &std::path::Path) -> String {
    let out = tokio::process::Command::new("secret-tool")
        .args(["search", "--all", "service", "dev.gatehouse.desktop"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env("HOME", home)
        .output()
        .await
        .unwrap_or_else(|e| panic!("secret-tool: {e} (apt-get install libsecret-tools)"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_secret_service_the_refresh_token_lives_in_the_keyring_not_a_file() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let Some((_bus_owner, bus)) = secret_service(home.path()).await else {
        return;
    };
    let (mut g, _op) = everything_with_authz("[device_flow]\ninterval_secs = 1\n").await;
    let base = g.base.clone();
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.as_str())];
    let login = start_device_login(home.path(), &env, &base).await;
    let (status, page) = approve_device(&browser(), &login.url, None, &base, "eve", "allow").await;
    assert_eq!(status, 200, "{page}");
    let stdout = login.signed_in().await;
    assert!(
        stdout.contains("the refresh token in the OS keyring"),
        "{stdout}"
    );

    let dir = home.path().join(".config/gatehouse");
    assert!(
        !dir.join("tokens.json").exists(),
        "no file copy beside the keyring"
    );
    let creds = std::fs::read_to_string(dir.join("credentials.json")).unwrap_or_default();
    assert!(!creds.contains("refresh_token"), "{creds}");
    let listing = keyring_listing(&bus, home.path()).await;
    let secret: Value = listing
        .lines()
        .find_map(|l| l.strip_prefix("secret = "))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_else(|| panic!("no Gatehouse secret in the keyring: {listing}"));
    let refresh = secret["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(refresh.len() > 20, "{listing}");
    assert!(!creds.contains(&refresh));

    // `gatehouse connect` reads it from the keyring (and rotates it there).
    let answer = echo_through_connect(home.path(), &env, &base, "via device login").await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: via device login",
        "{answer}"
    );
    let rotated = keyring_listing(&bus, home.path()).await;
    assert!(
        !rotated.contains(&refresh),
        "the keyring holds the rotated token: {rotated}"
    );

    // `gatehouse logout` revokes and removes it from the keyring.
    logout(home.path(), &env).await;
    assert!(
        !keyring_listing(&bus, home.path())
            .await
            .contains("refresh_token")
    );
    assert!(!dir.join("credentials.json").exists());
    let gw = g.stop().await;
    assert!(
        control_events(&gw)
            .await
            .iter()
            .any(|(k, p)| k == "token_revoked" && p["user"] == "eve")
    );
}

/// The `[authz_store] encryption_key` of the refresh test (at least 32 bytes).
const AT_REST_KEY: &str = "e2e-at-rest-key-0123456789abcdef0123456789";

/// The raw `idp_refresh_token` column of a grant, as the database holds it.
async fn idp_refresh_column(g: &Gatehouse, grant: &str) -> String {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT idp_refresh_token FROM authz_grants WHERE id = $1",
    )
    .bind(grant)
    .fetch_one(g.gw.store.pool())
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|| panic!("grant {grant} keeps no provider refresh token"))
}
