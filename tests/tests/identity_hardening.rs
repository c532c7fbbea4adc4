//! Each sign-in surface accepts only its own tokens, with a real OpenID provider (npm
//! `oidc-provider`): MCP clients' tokens do not reach the management API, CI token
//! exchange fails closed, sign-ins end, app-only provider tokens are not people, and
//! metadata documents are never fetched from special-purpose addresses.

use gatehouse_e2e::*;
use serde_json::{Value, json};

async fn get_with(token: &str, url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn initialize(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
        .as_u16()
}

/// `who` signs `client` in for `resource`; the token answer.
async fn signed_in(client: &McpSignIn, resource: &str, who: &str) -> Value {
    let (verifier, challenge) = pkce();
    let code = client.code(resource, &challenge, who).await;
    let (status, tokens) = client.redeem(&code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn access(tokens: &Value) -> String {
    tokens["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_client_tokens_do_not_reach_the_management_api() {
    let (g, _op) = everything_with_authz("").await;
    let base = g.base.clone();
    let mcp = format!("{base}/mcp");

    // An admin consents to a dynamically registered MCP client: its token works on the
    // MCP endpoints and nowhere on /api/v1.
    let stranger = McpSignIn::register(&base).await;
    let token = access(&signed_in(&stranger, &mcp, "root").await);
    assert_eq!(initialize(&g.url("everything"), &token).await, 200);
    let (status, body) = get_with(&token, &format!("{base}/api/v1/approvals")).await;
    assert_eq!(status, 401, "{body}");
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(&token)
        .json(&json!({ "name": "evil" }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status().as_u16(), 401, "no agent token for an MCP client");

    // The command line is Gatehouse's own client: its consent page says it may manage
    // Gatehouse, and its token works on both.
    let cli = McpSignIn {
        base: base.clone(),
        client_id: "gatehouse-cli".into(),
        redirect_uri: format!("http://127.0.0.1:{}/callback", free_port()),
        browser: browser(),
    };
    let (_, challenge) = pkce();
    let page = cli.consent_page(&mcp, &challenge).await;
    assert!(page.contains("manage Gatehouse as you"), "{page}");
    let page = stranger.consent_page(&mcp, &challenge).await;
    assert!(!page.contains("manage Gatehouse"), "{page}");
    let token = access(&signed_in(&cli, &mcp, "root").await);
    assert_eq!(
        payload_of(&token)["aud"],
        json!([mcp, format!("{base}/api")])
    );
    assert_eq!(
        get_with(&token, &format!("{base}/api/v1/approvals"))
            .await
            .0,
        200
    );
    assert_eq!(initialize(&g.url("everything"), &token).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_end_after_their_lifetime() {
    let (g, _op) = everything_with_authz(
        "[authz]\nmax_grant_hours = 0.0006\nunverified_grant_hours = 0.0005\n",
    )
    .await;
    let client = McpSignIn::register(&g.base).await;
    let tokens = signed_in(&client, &format!("{}/mcp", g.base), "eve").await;
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, fresh) = client
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await;
    assert_eq!(status, 200, "{fresh}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let refresh = fresh["refresh_token"].as_str().unwrap_or_default();
    let (status, body) = client
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("sign in again"),
        "{body}"
    );
}

/// Runs `gatehouse serve` on `toml`; (exit code, stderr) once it stops.
async fn serve_refused(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, toml).unwrap_or_else(|e| panic!("{e}"));
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::process::Command::new(gatehouse_bin())
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{}", free_port()))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("`gatehouse serve` started with {toml}"))
    .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_trust_rules_and_plain_http_metadata_are_refused_at_start() {
    let rule = |require: &str, prefix: &str| {
        format!(
            "[[authz.trusted_issuers]]\nissuer = \"https://token.actions.githubusercontent.com\"\n\
             audience = \"https://gatehouse.example/mcp\"\n{require}user_claim = \"actor\"\n{prefix}"
        )
    };
    let (code, err) = serve_refused(&rule("", "user_prefix = \"ci:\"\n")).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`require` is empty") && err.contains("repository_id"),
        "{err}"
    );
    let (code, err) = serve_refused(&rule("require = { repository_id = \"42\" }\n", "")).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`user_prefix` is empty"), "{err}");
    let (code, err) =
        serve_refused("[saml]\nidp_metadata = \"http://idp.example/metadata\"\n").await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be an https:// URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_trust_rule_is_tried_and_a_ci_token_is_exchanged_once() {
    let op_port = free_port();
    let (g, _op) = gateway_with_authz(
        op_port,
        &stdio_server("everything", &everything_stdio()),
        "[[authz.trusted_issuers]]\nissuer = \"{ISSUER}\"\naudience = \"{BASE}/mcp\"\n\
         require = { client_id = \"ci-sales\" }\nuser_claim = \"client_id\"\nuser_prefix = \"ci-sales:\"\n\
         [[authz.trusted_issuers]]\nissuer = \"{ISSUER}\"\naudience = \"{BASE}/mcp\"\n\
         require = { client_id = \"ci-engineer\" }\nuser_claim = \"client_id\"\nuser_prefix = \"ci:\"\ngroups = [\"pipelines\"]\n",
    )
    .await;
    let base = g.base.clone();
    let ci = client_credentials(
        &format!("http://127.0.0.1:{op_port}"),
        "ci-engineer",
        "secret-engineer",
        &format!("{base}/mcp"),
        "mcp",
    )
    .await;
    let token_url = format!("{base}/oauth/token");
    let resource = format!("{base}/mcp");
    let form = [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", ci.as_str()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("resource", resource.as_str()),
    ];
    let exchange = || post_form(&token_url, &form);
    let (status, t) = exchange().await;
    assert_eq!(status, 200, "the second rule matches: {t}");
    assert_eq!(
        payload_of(t["access_token"].as_str().unwrap_or_default())["sub"],
        "ci:ci-engineer"
    );
    let (status, body) = exchange().await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("already exchanged"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_only_provider_tokens_are_not_people() {
    let op_port = free_port();
    let (g, _op) = gateway_with_authz(
        op_port,
        &stdio_server("everything", &everything_stdio()),
        "user_claim = \"email\"\n",
    )
    .await;
    // A client-credentials token names no person (no `email`): refused, not "signed in"
    // as its `sub`.
    let app = client_credentials(
        &format!("http://127.0.0.1:{op_port}"),
        "ci-engineer",
        "secret-engineer",
        &format!("{}/mcp", g.base),
        "mcp",
    )
    .await;
    assert_eq!(initialize(&g.url("everything"), &app).await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_documents_on_embedded_private_addresses_are_not_fetched() {
    let (g, _op) = everything_with_authz("").await;
    let (_, challenge) = pkce();
    for host in [
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "198.18.0.1",
        "[::127.0.0.1]",
    ] {
        let client = McpSignIn {
            base: g.base.clone(),
            client_id: format!("https://{host}:9/client.json"),
            redirect_uri: format!("http://127.0.0.1:{}/callback", free_port()),
            browser: browser(),
        };
        let r = client
            .browser
            .get(client.authorize_url(&format!("{}/mcp", g.base), &challenge, &client.redirect_uri))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.status().as_u16(), 400);
        let page = r.text().await.unwrap_or_default();
        assert!(page.contains("SSRF"), "{host}: {page}");
    }
}

/// `gatehouse connect` run with `GATEHOUSE_URL` naming another host than the one the tray
/// app signed in to never sends that host the tray's token: it says why and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_token_goes_only_to_the_tray_gateway() {
    use gatehouse_client::account::Profile;
    use gatehouse_client::secrets::{KeyringMode, StoredTokens, TokenStore};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SECRET: &str = "tray-access-token-for-the-tray-gateway-only";
    let home = tempfile::tempdir().unwrap();
    let issuer = "http://127.0.0.1:9";
    Profile::new("http://127.0.0.1:7", issuer, "gatehouse-tray")
        .save(home.path())
        .unwrap();
    TokenStore::new(
        home.path(),
        &format!("{issuer}|gatehouse-tray"),
        KeyringMode::Off,
    )
    .save(&StoredTokens {
        refresh_token: None,
        access_token: Some(SECRET.into()),
        expires_at: i64::MAX / 2,
    })
    .await
    .unwrap();

    // Another host: it keeps every byte it is sent and answers 404.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    kept.lock().unwrap().extend_from_slice(&buf[..n]);
                    let _ = conn
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                        .await;
                }
            });
        }
    });

    let config = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(gatehouse_bin())
        .args(["connect", "db"])
        .env("GATEHOUSE_DESKTOP_HOME", home.path())
        .env("GATEHOUSE_URL", &other)
        .env("HOME", config.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GATEHOUSE_CREDENTIALS")
        .env_remove("GATEHOUSE_TOKEN")
        .env("GATEHOUSE_KEYRING", "off")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin
        .write_all(
            b"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n",
        )
        .await;
    let _ = stdin.flush().await;
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut err = String::new();
        let mut stderr = child.stderr.take().unwrap();
        let _ = stderr.read_to_string(&mut err).await;
        err
    })
    .await
    .unwrap_or_default();
    drop(stdin);
    let _ = child.kill().await;
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(
        !sent.contains(SECRET),
        "the tray's token reached {other}:\n{sent}"
    );
    assert!(
        out.contains("signed in to http://127.0.0.1:7, not"),
        "the engineer is told why: {out}"
    );
}

/// Registrations per client address and minute: behind a trusted reverse proxy the
/// client's address comes from the proxy's header, so one client using up its budget
/// does not lock out the next; from a peer that is not a trusted proxy, the header is
/// the client's own text and is ignored (everyone there shares the peer's budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_key_on_the_client_behind_a_trusted_proxy() {
    let register = |base: String, client: &'static str| async move {
        reqwest::Client::new()
            .post(format!("{base}/oauth/register"))
            .header("x-forwarded-for", client)
            .json(&json!({"client_name": "burst", "redirect_uris": ["http://127.0.0.1:9/cb"]}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    for trusted in [true, false] {
        let top = if trusted {
            "trusted_proxies = [\"127.0.0.1\"]\n"
        } else {
            ""
        };
        let g = Gatehouse::start_with(
            &stdio_server("everything", &everything_stdio()),
            &format!(
                "{top}[oidc]\nissuer = \"http://127.0.0.1:{}\"\nclient_id = \"gatehouse-web\"\nclient_secret = \"secret-web\"\n",
                free_port()
            ),
            None,
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..31 {
            statuses.push(register(g.base.clone(), "198.51.100.7").await);
        }
        assert!(
            statuses[..30].iter().all(|s| *s == 201),
            "a client's first 30 registrations pass: {statuses:?}"
        );
        assert_eq!(statuses[30], 429, "the 31st in a minute is refused");
        let next = register(g.base.clone(), "198.51.100.8").await;
        if trusted {
            assert_eq!(
                next, 201,
                "another client behind the proxy has its own budget"
            );
        } else {
            assert_eq!(
                next, 429,
                "an untrusted peer cannot pick its bucket by header"
            );
        }
    }
}

/// An identity provider that fails is asked once per short while, not once per request:
/// concurrent requests with provider tokens share one key fetch, and the failure is
/// remembered, so a burst of requests (or of forged tokens) is not a burst at the
/// provider. Every request is still refused (fail closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_provider_tokens_is_one_request_to_a_failing_provider() {
    use base64::Engine;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // The provider's address answers every request with 503.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    let g = Gatehouse::start_with(
        &stdio_server("everything", &everything_stdio()),
        &format!("[oidc]\nissuer = \"{issuer}\"\n"),
        None,
    )
    .await;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})),
        b64(
            json!({"iss": issuer, "sub": "mallory", "aud": format!("{}/mcp", g.base), "exp": 4_000_000_000u64})
        ),
    );
    let url = g.url("everything");
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let (url, token) = (url.clone(), token.clone());
            tokio::spawn(async move { initialize(&url, &token).await })
        })
        .collect();
    for r in burst {
        assert_eq!(r.await.unwrap(), 401, "refused while the provider fails");
    }
    let n = asked.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&n),
        "20 requests asked the provider {n} times"
    );
}
