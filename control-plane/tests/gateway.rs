//! The gateway over real HTTP with real upstream processes: the built-in demo server,
//! and small shell upstreams that misbehave on purpose (hang, crash).

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const DEMO: &str = env!("GATEHOUSE_BIN");

struct Harness {
    base: String,
    gw: Arc<Gateway>,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

fn servers_toml(extra: &str) -> String {
    format!(
        r#"
[limits]
request_timeout_secs = 1.5
body_bytes = 65536

[[servers]]
name = "customers"
command = "{DEMO}"
args = ["demo-server"]

[[servers]]
name = "customers-current"
command = "{DEMO}"
args = ["demo-server"]
era = "current"

[[servers]]
name = "hangs"
command = "sh"
args = ["-c", "read l; echo '{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"serverInfo\":{{\"name\":\"hangs\",\"version\":\"1\"}}}}}}'; sleep 600"]

[[servers]]
name = "crashes"
command = "sh"
args = ["-c", "read l; echo '{{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"serverInfo\":{{\"name\":\"crashes\",\"version\":\"1\"}}}}}}'; read l; read l; exit 3"]

[dev]
tokens = [{{ token = "t-alice", user = "alice", groups = ["eng"] }}, {{ token = "t-bob", user = "bob" }}]
{extra}
"#
    )
}

impl Harness {
    async fn start(dev_mode: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = common::serve(
            &servers_toml(""),
            &dir.path().join("g.db"),
            dev_mode,
            async move {
                let _ = rx.await;
            },
        )
        .await;
        let handle = served.handle;
        Harness {
            base: served.base,
            gw: served.gw,
            http: reqwest::Client::new(),
            stop: Some(tx),
            served: Some(tokio::spawn(async move {
                handle.await.unwrap().unwrap();
            })),
            _dir: dir,
        }
    }

    fn post(
        &self,
        server: &str,
        token: Option<&str>,
        session: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .post(format!("{}/mcp/{server}", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        if let Some(s) = session {
            b = b.header("mcp-session-id", s);
        }
        b
    }

    async fn rpc(&self, server: &str, session: Option<&str>, body: Value) -> (u16, Value) {
        let r = self
            .post(server, Some("t-alice"), session)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn initialize(&self, server: &str) -> String {
        let r = self
            .post(server, Some("t-alice"), None)
            .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"gateway-test","version":"1.0"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        assert!(body["result"]["protocolVersion"].is_string(), "{body}");
        let (s, _) = self
            .rpc(
                server,
                Some(&sid),
                json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            )
            .await;
        assert_eq!(s, 202);
        sid
    }

    async fn call(&self, server: &str, sid: &str, id: u64, tool: &str, args: Value) -> Value {
        let (status, body) = self
            .rpc(server, Some(sid), json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn stop(&mut self) -> Arc<Gateway> {
        let _ = self.stop.take().unwrap().send(());
        self.served.take().unwrap().await.unwrap();
        self.gw.clone()
    }
}

/// The last JSON-RPC message of an SSE body.
fn last_sse_message(body: &str) -> Value {
    let data = body
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no SSE data in {body:?}"));
    serde_json::from_str(data).unwrap()
}

fn error_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

#[tokio::test]
async fn a_session_is_proxied_and_recorded_message_by_message() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("customers").await;
    let (_, list) = h
        .rpc(
            "customers",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":"l","method":"tools/list"}),
        )
        .await;
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["query", "describe_table", "delete_customer"]);
    let r = h
        .call(
            "customers",
            &sid,
            7,
            "query",
            json!({"sql": "select * from customers where id = 1"}),
        )
        .await;
    assert_eq!(r["id"], 7, "the client's id comes back unchanged");
    // The row asked for, its person's name masked.
    assert_eq!(r["result"]["structuredContent"]["rows"][0]["id"], 1);
    assert_eq!(
        r["result"]["structuredContent"]["rows"][0]["name"],
        "[PERSON_NAME]"
    );
    let d = h
        .http
        .delete(format!("{}/mcp/customers", h.base))
        .bearer_auth("t-alice")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), 204);
    let (s, _) = h
        .rpc(
            "customers",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":8,"method":"tools/list"}),
        )
        .await;
    assert_eq!(s, 404, "an ended session is gone");

    let store = &h.gw.store;
    let row = store.find_session(&sid).await.unwrap().unwrap();
    assert_eq!(
        (row.principal.as_str(), row.server.as_str()),
        ("alice", "customers")
    );
    assert_eq!(row.client_name.as_deref(), Some("gateway-test"));
    assert_eq!(row.protocol_version.as_deref(), Some("2025-06-18"));
    assert_eq!(row.end_reason.as_deref(), Some("client_closed"));
    let events = store.session_events(&sid).await.unwrap();
    let trail: Vec<(String, String, Option<String>)> = events
        .iter()
        .map(|e| (e.direction.clone(), e.kind.clone(), e.method.clone()))
        .collect();
    let want = [
        ("client_to_server", "request", Some("initialize")),
        ("server_to_client", "response", None),
        (
            "client_to_server",
            "notification",
            Some("notifications/initialized"),
        ),
        ("client_to_server", "request", Some("tools/list")),
        ("server_to_client", "response", None),
        ("client_to_server", "request", Some("tools/call")),
        ("server_to_client", "response", None),
        ("gateway", "session_end", None),
    ];
    let want: Vec<(String, String, Option<String>)> = want
        .iter()
        .map(|(d, k, m)| (d.to_string(), k.to_string(), m.map(String::from)))
        .collect();
    assert_eq!(trail, want);
    assert_eq!(events[5].tool.as_deref(), Some("query"));
    assert!(
        events[6].payload.contains("[PERSON_NAME]") && events[6].payload.contains("\"id\":1"),
        "the response payload is stored, masked: {}",
        events[6].payload
    );
    h.stop().await;
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_and_are_not_forwarded() {
    let mut h = Harness::start(true).await;
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}});
    let r = h
        .post("customers", None, None)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/customers\"",
            h.base
        )
    );
    let r = h
        .post("customers", Some("stolen"), None)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let meta: Value = h
        .http
        .get(format!(
            "{}/.well-known/oauth-protected-resource/mcp/customers",
            h.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["resource"], format!("{}/mcp/customers", h.base));
    let root: Value = h
        .http
        .get(format!("{}/.well-known/oauth-protected-resource", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        root["resource"],
        format!("{}/mcp", h.base),
        "the root form names the gateway"
    );
    // Bob may not use Alice's session.
    let sid = h.initialize("customers").await;
    let r = h
        .post("customers", Some("t-bob"), Some(&sid))
        .json(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // (Refused tokens are recorded in the control record, server `gatehouse`.)
    assert_eq!(
        h.gw.store
            .list_sessions(10)
            .await
            .unwrap()
            .iter()
            .filter(|s| s.server != "gatehouse")
            .count(),
        1,
        "only Alice's session exists"
    );
    h.stop().await;

    let mut off = Harness::start(false).await;
    let r = off
        .post("customers", Some("t-alice"), None)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "dev tokens count only in dev mode");
    off.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_gateway_stays_up() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("customers").await;
    let send_raw = |body: Vec<u8>, ct: &'static str| {
        h.http
            .post(format!("{}/mcp/customers", h.base))
            .bearer_auth("t-alice")
            .header("mcp-session-id", sid.clone())
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = send_raw(b"{\"jsonrpc\":\"2.0\",".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), -32700);

    let r = send_raw(
        br#"{"jsonrpc":"2.0","id":{},"method":"tools/list"}"#.to_vec(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), -32600);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"id\" must be a string or a number")
    );

    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"query","arguments":{{"sql":"{}"}}}}}}"#,
        "x".repeat(70_000)
    );
    let r = send_raw(big.into_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536 bytes"),
        "{v}"
    );

    let r = send_raw(b"{}".to_vec(), "text/plain").await.unwrap();
    assert_eq!(r.status(), 415);

    let (s, v) = h
        .rpc(
            "customers",
            Some("no-such-session"),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(s, 404);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("initialize")
    );
    let (s, _) = h
        .rpc(
            "customers",
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(s, 400, "no session and no initialize");
    let (s, v) = h
        .rpc(
            "nowhere",
            None,
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        )
        .await;
    assert_eq!(s, 404);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customers"),
        "names the servers that exist: {v}"
    );
    let (s, v) = h
        .rpc("customers", Some(&sid), json!([{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]))
        .await;
    assert_eq!(s, 400, "batches only in 2025-03-26: {v}");

    // Still up, and the session still works.
    let r = h
        .call(
            "customers",
            &sid,
            9,
            "describe_table",
            json!({"table": "customers"}),
        )
        .await;
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("card_number")
    );
    h.stop().await;
}

#[tokio::test]
async fn batches_work_in_2025_03_26() {
    let mut h = Harness::start(true).await;
    let r = h
        .post("customers", Some("t-alice"), None)
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"old","version":"1"}}}))
        .send()
        .await
        .unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let (s, v) = h
        .rpc("customers", Some(&sid), json!([{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"b","method":"ping"}]))
        .await;
    assert_eq!(s, 200);
    let ids: Vec<&Value> = v.as_array().unwrap().iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!("b")]);
    h.stop().await;
}

#[tokio::test]
async fn browsers_from_other_origins_are_refused() {
    let mut h = Harness::start(true).await;
    let r = h
        .post("customers", Some("t-alice"), None)
        .header("origin", "http://evil.example")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = h
        .post("customers", Some("t-alice"), None)
        .header("host", "evil.example")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(h.gw.store.list_sessions(10).await.unwrap().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn nothing_is_forwarded_when_it_cannot_be_recorded() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("customers").await;
    // A trigger that refuses every append stands for a full disk.
    let refuse = h.gw.store.backend().pick(
        "CREATE TRIGGER simulate_full_disk BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
        "CREATE FUNCTION simulate_full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'database or disk is full'; END $$; \
         CREATE TRIGGER simulate_full_disk BEFORE INSERT ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION simulate_full_disk()",
    );
    sqlx::raw_sql(refuse)
        .execute(h.gw.store.pool())
        .await
        .unwrap();
    let (status, v) = h
        .rpc("customers", Some(&sid), json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"delete_customer","arguments":{"id":1}}}))
        .await;
    assert_eq!(status, 500);
    assert_eq!(error_code(&v), -32603);
    assert_eq!(v["id"], 5);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not forwarded"),
        "{v}"
    );
    sqlx::query(h.gw.store.backend().pick(
        "DROP TRIGGER simulate_full_disk",
        "DROP TRIGGER simulate_full_disk ON audit_events",
    ))
    .execute(h.gw.store.pool())
    .await
    .unwrap();
    let r = h
        .call(
            "customers",
            &sid,
            6,
            "query",
            json!({"sql": "select * from customers where id = 1"}),
        )
        .await;
    assert_eq!(
        r["result"]["structuredContent"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "customer 1 was not deleted"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out_and_the_record_says_so() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("hangs").await;
    let (status, v) = h
        .rpc(
            "hangs",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&v), -32001);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer `tools/list` within 1.5 s"),
        "{v}"
    );
    let events = h.gw.store.session_events(&sid).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.direction.as_str(), last.kind.as_str()),
        ("gateway", "error")
    );
    // The gateway is still serving others.
    let other = h.initialize("customers").await;
    h.call(
        "customers",
        &other,
        1,
        "describe_table",
        json!({"table": "api_keys"}),
    )
    .await;
    let metrics = h
        .http
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"gatehouse_requests_total{server="hangs",method="tools/list",outcome="timeout"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"gatehouse_upstream_errors_total{server="hangs"} 1"#));
    h.stop().await;
}

#[tokio::test]
async fn an_upstream_that_crashes_mid_call_ends_the_session_with_the_reason() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("crashes").await;
    let (status, v) = h
        .rpc(
            "crashes",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&v), -32001);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("exited"),
        "{v}"
    );
    let mut ended = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ended =
            h.gw.store
                .find_session(&sid)
                .await
                .unwrap()
                .unwrap()
                .end_reason;
        if ended.is_some() {
            break;
        }
    }
    let reason = ended.expect("the session was ended");
    assert!(
        reason.starts_with("upstream_closed: the upstream process exited"),
        "{reason}"
    );
    let (s, _) = h
        .rpc(
            "crashes",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":5,"method":"ping"}),
        )
        .await;
    assert_eq!(s, 404);
    h.stop().await;
}

#[tokio::test]
async fn stateless_requests_are_checked_grouped_and_refused_across_eras() {
    let mut h = Harness::start(true).await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"py","version":"2"}});
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"describe_table","arguments":{"table":"customers"},"_meta":meta}});
    let send = |headers: Vec<(&'static str, &'static str)>, body: Value, server: &'static str| {
        let mut b = h.post(server, Some("t-alice"), None);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.json(&body).send()
    };
    let r = send(
        vec![
            ("mcp-method", "tools/call"),
            ("mcp-name", "delete_customer"),
        ],
        call.clone(),
        "customers-current",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), -32020);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delete_customer")
    );

    for _ in 0..2 {
        let r = send(
            vec![("mcp-method", "tools/call"), ("mcp-name", "describe_table")],
            call.clone(),
            "customers-current",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers().get("mcp-session-id").is_none(),
            "no session header in the stateless era"
        );
        assert_eq!(
            r.headers()["content-type"],
            "text/event-stream",
            "streamed, so closing it can cancel"
        );
        let v = last_sse_message(&r.text().await.unwrap());
        assert!(
            v["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("card_number")
        );
    }
    let sessions = h.gw.store.list_sessions(10).await.unwrap();
    assert_eq!(
        sessions.len(),
        1,
        "both requests grouped into one recorded session"
    );
    assert_eq!(
        (sessions[0].era.as_str(), sessions[0].client_name.as_deref()),
        ("current", Some("py"))
    );

    // Streamed (SSE) answers are masked message by message, framing intact.
    let query = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"query","arguments":{"sql":"select * from customers"},"_meta":meta}});
    let r = send(
        vec![("mcp-method", "tools/call"), ("mcp-name", "query")],
        query,
        "customers-current",
    )
    .await
    .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("event: message\ndata: ") && body.ends_with("\n\n"),
        "{body:?}"
    );
    for raw in [
        "4111 1111 1111 1111",
        "ada.lovelace@example.com",
        "536-22-1234",
    ] {
        assert!(!body.contains(raw), "{raw} streamed unmasked");
    }
    assert_eq!(
        last_sse_message(&body)["result"]["structuredContent"]["rows"][0]["name"],
        "[PERSON_NAME]"
    );

    let r = send(vec![], call.clone(), "customers").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_code(&v), -32021);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot bridge"),
        "{v}"
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_sessions_on_the_record() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("customers").await;
    let published: Value = h
        .http
        .get(format!("{}/.well-known/gatehouse-audit-key", h.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = published["public_key"].as_str().unwrap().to_string();
    let gw = h.stop().await;
    let row = gw.store.find_session(&sid).await.unwrap().unwrap();
    assert_eq!(row.end_reason.as_deref(), Some("gateway_shutdown"));
    assert!(gw.sessions.is_empty());
    // A checkpoint is signed at shutdown, by the published key, covering the session's end.
    match gw.store.verify_log(Some(&key)).await.unwrap() {
        gatehouse_control_plane::store::ChainReport::Intact {
            events,
            checkpoints,
            ..
        } => {
            assert_eq!(checkpoints, 1);
            assert!(events >= 4, "{events}");
        }
        broken => panic!("{broken:?}"),
    }
}

#[tokio::test]
async fn sensitive_results_are_masked_before_the_client_and_the_record_see_them() {
    let mut h = Harness::start(true).await;
    let sid = h.initialize("customers").await;
    let r = h
        .call(
            "customers",
            &sid,
            1,
            "query",
            json!({"sql": "select * from customers"}),
        )
        .await;
    let text = r.to_string();
    for raw in [
        "4111 1111 1111 1111",
        "ada.lovelace@example.com",
        "536-22-1234",
        "DE89 3704 0044 0532 0130 00",
    ] {
        assert!(!text.contains(raw), "{raw} reached the client: {text}");
    }
    assert!(
        text.contains("[CREDIT_CARD]") || text.contains("[SENSITIVE_FIELD]"),
        "{text}"
    );
    assert_eq!(
        r["result"]["structuredContent"]["rows"][0]["name"], "[PERSON_NAME]",
        "a person's name is masked too"
    );
    let keys = h
        .call(
            "customers",
            &sid,
            2,
            "query",
            json!({"sql": "select * from api_keys"}),
        )
        .await
        .to_string();
    assert!(
        !keys.contains("AKIAIOSFODNN7EXAMPLE") && !keys.contains("wJalrXUtnFEMI"),
        "{keys}"
    );
    // Arguments are masked in the record; the upstream still got them as sent.
    let r = h
        .call(
            "customers",
            &sid,
            3,
            "query",
            json!({"sql": "select * from customers where id = 1 -- for ada.lovelace@example.com"}),
        )
        .await;
    assert_eq!(
        r["result"]["structuredContent"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let events = h.gw.store.session_events(&sid).await.unwrap();
    let all = events
        .iter()
        .map(|e| e.payload.as_str())
        .collect::<String>();
    for raw in [
        "4111 1111 1111 1111",
        "ada.lovelace@example.com",
        "536-22-1234",
        "AKIAIOSFODNN7EXAMPLE",
    ] {
        assert!(!all.contains(raw), "{raw} was stored");
    }
    let row = h.gw.store.find_session(&sid).await.unwrap().unwrap();
    assert!(
        row.masked.get("credit_card") + row.masked.get("sensitive_field") >= 5,
        "{:?}",
        row.masked
    );
    assert!(row.masked.get("email") >= 5, "{:?}", row.masked);
    assert!(
        row.masked.summary().contains("e-mail address"),
        "{}",
        row.masked.summary()
    );
    // Schemas are not data: tools/list comes through unchanged.
    let (_, list) = h
        .rpc(
            "customers",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":4,"method":"tools/list"}),
        )
        .await;
    assert_eq!(
        list["result"]["tools"][0]["inputSchema"]["properties"]["sql"]["type"],
        "string"
    );
    h.stop().await;
}
