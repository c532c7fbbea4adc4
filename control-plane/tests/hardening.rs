//! What each surface of a running control plane refuses or hides, over real HTTP with
//! real upstream processes: spawned servers see only their own environment, failed
//! session opens name no address and leave a record, a session is never reused across
//! group sets, the dashboard's cookie needs the CSRF header on the agents API, sign-in
//! redirects stay on the dashboard, client text is masked in the record, and `/metrics`
//! keeps a bounded label set.

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;

const DEMO: &str = env!("GATEHOUSE_BIN");

struct Served {
    base: String,
    gw: Arc<Gateway>,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// A dev-mode control plane with `servers` (TOML) and three dev users: alice (eng),
/// alice again with another group set, and root (gatehouse-admins).
async fn serve(servers: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{servers}\n[dev]\ntokens = [\
         {{ token = \"t-alice\", user = \"alice\", groups = [\"eng\"] }}, \
         {{ token = \"t-alice-admin\", user = \"alice\", groups = [\"eng\", \"gatehouse-admins\"] }}, \
         {{ token = \"t-root\", user = \"root\", groups = [\"gatehouse-admins\"] }}]\n"
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = common::serve(&toml, &dir.path().join("g.db"), true, async move {
        let _ = rx.await;
    })
    .await;
    Served {
        base: served.base,
        gw: served.gw,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _stop: tx,
        _dir: dir,
    }
}

fn initialize(client: &str) -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":client,"version":"1"}}})
}

impl Served {
    async fn mcp(
        &self,
        server: &str,
        token: &str,
        sid: Option<&str>,
        body: Value,
    ) -> (u16, Option<String>, Value) {
        common::mcp_post(
            &self.http,
            &format!("{}/mcp/{server}", self.base),
            token,
            sid,
            body,
        )
        .await
    }

    /// Every recorded payload of `server`'s sessions, one string.
    async fn record_of(&self, server: &str) -> String {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT e.kind, e.payload FROM audit_events e JOIN sessions s ON s.id = e.session_id WHERE s.server = $1 ORDER BY e.seq",
        )
        .bind(server)
        .fetch_all(self.gw.store.pool())
        .await
        .unwrap();
        rows.iter().map(|(k, p)| format!("{k} {p}\n")).collect()
    }

    async fn end_reasons(&self, server: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT end_reason FROM sessions WHERE server = $1")
            .bind(server)
            .fetch_all(self.gw.store.pool())
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn stdio_servers_see_only_their_own_environment() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("env.txt");
    // The test process has cargo's variables; a spawned server must not.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let g = serve(&format!(
        "[[servers]]\nname = \"nosy\"\ncommand = \"sh\"\nargs = [\"-c\", \"env > {}; exec {DEMO} demo-server\"]\nenv = {{ OWN_SETTING = \"mine\" }}\n",
        seen.display()
    ))
    .await;
    let (status, _, body) = g.mcp("nosy", "t-alice", None, initialize("t")).await;
    assert_eq!(status, 200, "{body}");
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("OWN_SETTING=mine"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(
        !env.contains("CARGO_MANIFEST_DIR"),
        "the control plane's environment leaked:\n{env}"
    );
}

#[tokio::test]
async fn failed_opens_name_no_address_are_recorded_and_counted() {
    let g = serve(
        "[[servers]]\nname = \"missing\"\ncommand = \"/opt/secret-tools/bin/mcp-missing\"\n\
         [[servers]]\nname = \"down\"\nurl = \"http://svc:hunter2@127.0.0.1:9/mcp?api_key=topsecret\"\n",
    )
    .await;

    let (status, _, body) = g.mcp("missing", "t-alice", None, initialize("t")).await;
    let text = body.to_string();
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains("`missing`") && text.contains("did not start"),
        "{text}"
    );
    assert!(!text.contains("secret-tools"), "the command leaked: {text}");

    let (status, _, body) = g.mcp("down", "t-alice", None, initialize("t")).await;
    let text = body.to_string();
    // One status for "Gatehouse could not reach the server", whatever the transport.
    assert_eq!(status, 502, "{text}");
    assert!(text.contains("not reachable"), "{text}");
    for secret in ["hunter2", "topsecret", "127.0.0.1:9"] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked to the client: {text}"
        );
    }

    // Both attempts are on the record, ended at once, with the cause and no secret.
    assert_eq!(g.end_reasons("missing").await, ["open_failed"]);
    assert_eq!(g.end_reasons("down").await, ["initialize_failed"]);
    let record = format!(
        "{}{}",
        g.record_of("missing").await,
        g.record_of("down").await
    );
    assert!(record.contains("did not start"), "{record}");
    for secret in ["secret-tools", "hunter2", "topsecret"] {
        assert!(
            !record.contains(secret),
            "`{secret}` reached the record: {record}"
        );
    }
    let metrics = g.metrics().await;
    assert!(
        metrics.contains("gatehouse_sessions_failed_total{server=\"missing\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gatehouse_sessions_failed_total{server=\"down\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_call_on_a_session_whose_server_died_says_why() {
    let g = serve(
        "[[servers]]\nname = \"dies\"\ncommand = \"sh\"\nargs = [\"-c\", \"read l; echo '{\\\"jsonrpc\\\":\\\"2.0\\\",\\\"id\\\":1,\\\"result\\\":{\\\"protocolVersion\\\":\\\"2025-06-18\\\",\\\"capabilities\\\":{},\\\"serverInfo\\\":{\\\"name\\\":\\\"dies\\\",\\\"version\\\":\\\"1\\\"}}}'; read l; exit 3\"]\n",
    )
    .await;
    let (status, sid, body) = g.mcp("dies", "t-alice", None, initialize("t")).await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.unwrap();
    let _ = g
        .mcp(
            "dies",
            "t-alice",
            Some(&sid),
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        )
        .await;
    // The process exits; the gateway ends the session.
    for _ in 0..100 {
        if g.gw.sessions.get(&sid).is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _, body) = g
        .mcp(
            "dies",
            "t-alice",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    let text = body.to_string();
    assert_eq!(status, 404, "{text}");
    assert!(
        text.contains("has ended") && text.contains("exited"),
        "{text}"
    );
    // Someone else naming the session learns nothing about it.
    let (_, _, body) = g
        .mcp(
            "dies",
            "t-root",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert!(
        body.to_string().contains("is unknown or has ended"),
        "{body}"
    );
}

#[tokio::test]
async fn a_session_is_not_reused_across_group_sets() {
    let g = serve(&format!(
        "[[servers]]\nname = \"customers\"\ncommand = \"{DEMO}\"\nargs = [\"demo-server\"]\n"
    ))
    .await;
    let (status, sid, _) = g.mcp("customers", "t-alice", None, initialize("t")).await;
    assert_eq!(status, 200);
    let sid = sid.unwrap();
    // The same person with more groups (a refreshed token) does not inherit the session.
    let (status, _, body) = g
        .mcp(
            "customers",
            "t-alice-admin",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("other groups"), "{body}");
    let (status, _, _) = g
        .mcp(
            "customers",
            "t-alice",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        )
        .await;
    assert_eq!(status, 200);
}

/// Signs in to the dashboard as a `[dev]` user; returns the session cookie.
async fn dashboard_cookie(g: &Served, user: &str) -> String {
    let r = g
        .http
        .post(format!("{}/auth/dev-login", g.base))
        .form(&[("user", user)])
        .send()
        .await
        .unwrap();
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gatehouse="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie ({})", r.status()))
        .to_string()
}

#[tokio::test]
async fn the_agents_api_wants_the_csrf_header_with_the_cookie() {
    let g = serve("").await;
    let cookie = dashboard_cookie(&g, "root").await;
    let create = |csrf: bool| {
        let mut b = g
            .http
            .post(format!("{}/api/v1/agents", g.base))
            .header("cookie", &cookie)
            .json(&json!({ "name": "vnet-1" }));
        if csrf {
            b = b.header("x-gatehouse-request", "1");
        }
        b.send()
    };
    let r = create(false).await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "{}", r.text().await.unwrap());
    let r = create(true).await.unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn after_sign_in_the_browser_stays_on_the_dashboard() {
    let g = serve("").await;
    for (return_to, expected) in [
        ("/\t/evil.example", "/"),
        ("/%09/evil.example", "/%09/evil.example"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/api/v1/agents", "/"),
        ("/sessions?server=db", "/sessions?server=db"),
    ] {
        let r = g
            .http
            .post(format!("{}/auth/dev-login", g.base))
            .form(&[("user", "alice"), ("return_to", return_to)])
            .send()
            .await
            .unwrap();
        let location = r.headers().get("location").unwrap().to_str().unwrap();
        assert_eq!(location, expected, "return_to {return_to:?}");
    }
}

#[tokio::test]
async fn client_text_is_masked_in_the_record() {
    let g = serve(&format!(
        "[[servers]]\nname = \"customers\"\ncommand = \"{DEMO}\"\nargs = [\"demo-server\"]\n"
    ))
    .await;
    let (status, sid, _) = g
        .mcp(
            "customers",
            "t-alice",
            None,
            initialize("laptop of jane.doe@example.com"),
        )
        .await;
    assert_eq!(status, 200);
    let sid = sid.unwrap();
    let _ = g
        .mcp(
            "customers",
            "t-alice",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"mailto:john.roe@example.com"}}),
        )
        .await;
    let record = g.record_of("customers").await;
    assert!(record.contains("resources/read"), "{record}");
    for email in ["jane.doe@example.com", "john.roe@example.com"] {
        assert!(
            !record.contains(email),
            "`{email}` is stored unmasked:\n{record}"
        );
    }
}

#[tokio::test]
async fn metrics_labels_are_bounded() {
    let g = serve(&format!(
        "[[servers]]\nname = \"customers\"\ncommand = \"{DEMO}\"\nargs = [\"demo-server\"]\n"
    ))
    .await;
    let (_, sid, _) = g.mcp("customers", "t-alice", None, initialize("t")).await;
    let sid = sid.unwrap();
    for n in 0..3 {
        let _ = g
            .mcp(
                "customers",
                "t-alice",
                Some(&sid),
                json!({"jsonrpc":"2.0","id":n + 1,"method":format!("x-invented-{n}")}),
            )
            .await;
    }
    let metrics = g.metrics().await;
    assert!(!metrics.contains("x-invented"), "{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}
