//! Human approval of risky calls, end to end over HTTP with the demo server: a held call
//! waits for a quorum of approvers, the requester can never approve their own call, a
//! denial reaches the client with its reason, and in retry mode an approval binds to the
//! exact request and is used once.

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("GATEHOUSE_BIN");

const POLICY: &str = r#"version: 1
default: deny
rules:
  - name: engineers-use-customers
    principals: {groups: [engineers]}
    tools: [query, describe_table]
    effect: allow
  - name: delete-needs-two-dbas
    principals: {groups: [engineers]}
    tools: [delete_customer]
    effect: require_approval
    approval: {approvers: [dba], quorum: 2, ttl: 10m, mode: hold}
  - name: schema-needs-a-dba-soon
    principals: {groups: [engineers]}
    tools: [describe_table]
    arguments: [{pointer: /table, matches: '^schema_history$'}]
    effect: require_approval
    approval: {approvers: [dba], quorum: 1, ttl: 10s, mode: hold}
  - name: race-tables-need-a-dba-at-once
    principals: {groups: [engineers]}
    tools: [describe_table]
    arguments: [{pointer: /table, matches: '^race_'}]
    effect: require_approval
    approval: {approvers: [dba], quorum: 1, ttl: 10s, mode: hold}
  - name: sensitive-tables-need-a-dba
    principals: {groups: [engineers]}
    tools: [describe_table]
    arguments: [{pointer: /table, matches: '^(api_keys|customers)$'}]
    effect: require_approval
    approval: {approvers: [dba], quorum: 1, ttl: 10m, mode: retry}
"#;

/// The JSON body, or the last message of an SSE body.
fn last_message(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix("data: "))
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null)
    })
}

struct Gate {
    base: String,
    gw: Arc<Gateway>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Gate {
    start_with("").await
}

async fn start_with(extra: &str) -> Gate {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let text = format!(
        "policy_file = \"{}\"\n[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n[dev]\ntokens = [\
         {{ token = \"erin\", user = \"erin\", groups = [\"engineers\", \"dba\"] }}, {{ token = \"dave\", user = \"dave\", groups = [\"dba\"] }}, \
         {{ token = \"dana\", user = \"dana\", groups = [\"dba\"] }}, {{ token = \"sam\", user = \"sam\", groups = [\"sales\"] }}]\n",
        policy.display()
    ) + extra;
    let served = common::serve(
        &text,
        &dir.path().join("a.db"),
        true,
        std::future::pending(),
    )
    .await;
    let (base, gw) = (served.base, served.gw);
    Gate {
        base,
        gw,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Gate {
    async fn mcp(&self, sid: Option<&str>, body: Value) -> (Option<String>, Value) {
        let mut b = self
            .http
            .post(format!("{}/mcp/customers", self.base))
            .bearer_auth("erin")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            b = b.header("mcp-session-id", s);
        }
        let r = b.send().await.unwrap();
        let sid = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap_or_default();
        (sid, last_message(&text))
    }

    async fn session(&self) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        self.mcp(None, init).await.0.unwrap()
    }

    fn call_body(id: u64, tool: &str, args: Value) -> Value {
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}})
    }

    async fn vote(&self, who: &str, id: &str, verb: &str, reason: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/approvals/{id}/{verb}", self.base))
            .bearer_auth(who)
            .json(&json!({ "reason": reason }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn pending(&self) -> Vec<Value> {
        let r: Value = self
            .http
            .get(format!("{}/api/v1/approvals", self.base))
            .bearer_auth("dave")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["approvals"].as_array().cloned().unwrap_or_default()
    }

    async fn wait_for_pending(&self) -> String {
        for _ in 0..100 {
            if let Some(a) = self.pending().await.first() {
                return a["id"].as_str().unwrap().to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no approval was requested");
    }
}

#[tokio::test]
async fn a_held_call_waits_for_a_quorum_of_other_people() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let held = {
        let (g, sid) = (g.clone(), sid.clone());
        tokio::spawn(async move {
            g.mcp(
                Some(&sid),
                Gate::call_body(1, "delete_customer", json!({"id": 2})),
            )
            .await
            .1
        })
    };
    let id = g.wait_for_pending().await;
    let listed = g.pending().await;
    assert_eq!(listed[0]["requester"], "erin");
    assert_eq!(listed[0]["tool"], "delete_customer");
    assert_eq!(listed[0]["arguments"], json!({"id": 2}));

    let (s, v) = g.vote("erin", &id, "approve", "looks fine to me").await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("you asked for this call yourself")
    );
    let (s, _) = g.vote("sam", &id, "approve", "sure").await;
    assert_eq!(s, 403, "not an approver");
    let (s, _) = g.vote("dave", &id, "approve", "").await;
    assert_eq!(s, 400, "a reason is required");
    let (s, v) = g.vote("dave", &id, "approve", "ticket CS-1042").await;
    assert_eq!((s, v["state"].as_str()), (200, Some("pending")), "1 of 2");
    let (s, _) = g.vote("dave", &id, "approve", "again").await;
    assert_eq!(s, 409, "one vote per person");
    assert!(!held.is_finished(), "still held after one approval");
    let (s, v) = g
        .vote("dana", &id, "approve", "confirmed with the customer")
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("approved")));

    let answer = held.await.unwrap();
    assert_eq!(
        answer["result"]["content"][0]["text"], "Deleted customer 2.",
        "{answer}"
    );
    let (_, gone) = g
        .mcp(
            Some(&sid),
            Gate::call_body(
                2,
                "query",
                json!({"sql": "select * from customers where id = 2"}),
            ),
        )
        .await;
    assert_eq!(gone["result"]["structuredContent"]["rows"], json!([]));
    let (s, _) = g.vote("dana", &id, "deny", "too late").await;
    assert_eq!(s, 409, "decided approvals are closed");

    let events = g.gw.store.session_events(&sid).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"approval_requested"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| **k == "approval_vote").count(),
        2,
        "{kinds:?}"
    );
}

#[tokio::test]
async fn a_denial_reaches_the_client_with_its_reason() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let held = {
        let (g, sid) = (g.clone(), sid.clone());
        tokio::spawn(async move {
            g.mcp(
                Some(&sid),
                Gate::call_body(1, "delete_customer", json!({"id": 3})),
            )
            .await
            .1
        })
    };
    let id = g.wait_for_pending().await;
    let (s, _) = g
        .vote("dave", &id, "deny", "customer 3 has an open invoice")
        .await;
    assert_eq!(s, 200);
    let answer = held.await.unwrap();
    assert_eq!(answer["error"]["code"], -32003, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customer 3 has an open invoice")
    );
    let (_, still) = g
        .mcp(
            Some(&sid),
            Gate::call_body(
                2,
                "query",
                json!({"sql": "select * from customers where id = 3"}),
            ),
        )
        .await;
    assert_eq!(
        still["result"]["structuredContent"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn in_retry_mode_an_approval_binds_to_the_exact_call_and_is_used_once() {
    let g = start().await;
    let sid = g.session().await;
    let ask = |id: u64, table: &str| Gate::call_body(id, "describe_table", json!({"table": table}));
    let (_, first) = g.mcp(Some(&sid), ask(1, "api_keys")).await;
    assert_eq!(first["error"]["code"], -32003, "{first}");
    let id = first["error"]["data"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = g.mcp(Some(&sid), ask(2, "api_keys")).await;
    assert_eq!(
        again["error"]["data"]["approvalId"],
        id.as_str(),
        "a retry before the decision reuses the request"
    );
    let (s, _) = g
        .vote("dave", &id, "approve", "audit of key rotation")
        .await;
    assert_eq!(s, 200);
    // A different call (other arguments) is not covered by that approval.
    let (_, other) = g.mcp(Some(&sid), ask(3, "customers")).await;
    assert_eq!(other["error"]["code"], -32003, "{other}");
    assert_ne!(other["error"]["data"]["approvalId"], id.as_str());
    // The exact call passes once...
    let (_, ok) = g.mcp(Some(&sid), ask(4, "api_keys")).await;
    assert!(
        ok["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("aws_access_key_id"),
        "{ok}"
    );
    // ...and only once.
    let (_, replay) = g.mcp(Some(&sid), ask(5, "api_keys")).await;
    assert_eq!(replay["error"]["code"], -32003, "no replay: {replay}");
    assert_ne!(replay["error"]["data"]["approvalId"], id.as_str());
}

/// A real HTTP receiver for the approvals webhook: its URL and what it receives.
async fn webhook_receiver() -> (String, tokio::sync::mpsc::Receiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(4);
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await });
    (url, rx)
}

#[tokio::test]
async fn approvers_are_notified_with_a_slack_compatible_webhook() {
    let (url, mut rx) = webhook_receiver().await;
    let g = start_with(&format!("[approvals]\nwebhook_url = \"{url}\"\n")).await;
    let sid = g.session().await;
    let (_, first) = g
        .mcp(
            Some(&sid),
            Gate::call_body(1, "describe_table", json!({"table": "api_keys"})),
        )
        .await;
    let id = first["error"]["data"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    let note = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let text = note["text"].as_str().unwrap();
    assert!(
        text.contains(&id)
            && text.contains("erin")
            && text.contains("describe_table")
            && text.contains("dba"),
        "{text}"
    );
    assert_eq!(note["approval_id"], id.as_str());
}

#[tokio::test]
async fn a_local_call_held_on_a_laptop_notifies_approvers_like_a_gateway_call() {
    let (url, mut rx) = webhook_receiver().await;
    let g = start_with(&format!(
        "[approvals]\nwebhook_url = \"{url}\"\n[[local_servers]]\nname = \"files\"\ncommand = \"files-server\"\ngroups = [\"engineers\"]\n"
    ))
    .await;
    // What the tray app (or `gatehouse connect files`) sends for a call the policy holds.
    let r = g
        .http
        .post(format!("{}/api/v1/local-servers/files/approvals", g.base))
        .bearer_auth("erin")
        .json(&json!({
            "session_id": "local-notify-1",
            "request": Gate::call_body(7, "delete_customer", json!({"id": 42, "contact": "ada@example.com"})),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["approval"]["id"].as_str().unwrap().to_string();
    let note = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the webhook is called for a local approval")
        .unwrap();
    assert_eq!(note["approval_id"], id.as_str());
    assert_eq!(note["server"], "local:files");
    assert_eq!(note["requester"], "erin");
    assert_eq!(note["tool"], "delete_customer");
    let text = note["text"].as_str().unwrap();
    assert!(
        text.contains(&id) && text.contains("2 approval(s) from dba"),
        "{text}"
    );
    assert!(
        !text.contains("ada@example.com"),
        "approvers read the arguments masked: {text}"
    );
}

#[tokio::test]
async fn a_streaming_client_hears_progress_while_it_waits_then_gets_the_result() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let held = {
        let (g, sid) = (g.clone(), sid.clone());
        tokio::spawn(async move {
            let mut body = Gate::call_body(1, "delete_customer", json!({"id": 5}));
            body["params"]["_meta"] = json!({"progressToken": "wait-1"});
            let r = g
                .http
                .post(format!("{}/mcp/customers", g.base))
                .bearer_auth("erin")
                .header("mcp-session-id", sid)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["content-type"], "text/event-stream");
            r.text().await.unwrap()
        })
    };
    let id = g.wait_for_pending().await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    g.vote("dave", &id, "approve", "ok").await;
    g.vote("dana", &id, "approve", "ok").await;
    let stream = held.await.unwrap();
    let messages: Vec<Value> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let progress = messages
        .iter()
        .find(|m| m["method"] == "notifications/progress")
        .expect("progress while waiting");
    assert_eq!(progress["params"]["progressToken"], "wait-1");
    assert!(
        progress["params"]["message"]
            .as_str()
            .unwrap()
            .contains(&id)
    );
    assert_eq!(
        messages.last().unwrap()["result"]["content"][0]["text"],
        "Deleted customer 5."
    );
}

#[tokio::test]
async fn an_unanswered_approval_expires_and_cannot_be_approved_late() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let held = {
        let (g, sid) = (g.clone(), sid.clone());
        tokio::spawn(async move {
            g.mcp(
                Some(&sid),
                Gate::call_body(1, "describe_table", json!({"table": "schema_history"})),
            )
            .await
            .1
        })
    };
    let id = g.wait_for_pending().await;
    let answer = held.await.unwrap();
    assert_eq!(answer["error"]["code"], -32003, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{answer}"
    );
    let (s, v) = g.vote("dave", &id, "approve", "too late").await;
    assert_eq!(s, 409, "{v}");
}

#[tokio::test]
async fn many_held_calls_are_decided_independently() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let calls: Vec<_> = (1..=4u64)
        .map(|customer| {
            let (g, sid) = (g.clone(), sid.clone());
            tokio::spawn(async move {
                g.mcp(
                    Some(&sid),
                    Gate::call_body(customer, "delete_customer", json!({"id": customer})),
                )
                .await
                .1
            })
        })
        .collect();
    let mut pending = Vec::new();
    for _ in 0..100 {
        pending = g.pending().await;
        if pending.len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending.len(), 4, "{pending:?}");
    for a in &pending {
        let id = a["id"].as_str().unwrap();
        let customer = a["arguments"]["id"].as_u64().unwrap();
        if customer.is_multiple_of(2) {
            g.vote("dave", id, "approve", "even").await;
            g.vote("dana", id, "approve", "even").await;
        } else {
            g.vote("dave", id, "deny", "odd").await;
        }
    }
    for (i, call) in calls.into_iter().enumerate() {
        let customer = i as u64 + 1;
        let answer = call.await.unwrap();
        if customer.is_multiple_of(2) {
            assert_eq!(
                answer["result"]["content"][0]["text"],
                format!("Deleted customer {customer}."),
                "{answer}"
            );
        } else {
            assert_eq!(answer["error"]["code"], -32003, "{answer}");
        }
    }
}

#[tokio::test]
async fn the_evidence_bundle_verifies_offline_and_any_edit_is_named() {
    let g = start().await;
    let sid = g.session().await;
    let (_, first) = g
        .mcp(
            Some(&sid),
            Gate::call_body(1, "describe_table", json!({"table": "api_keys"})),
        )
        .await;
    let id = first["error"]["data"]["approvalId"]
        .as_str()
        .unwrap()
        .to_string();
    g.vote("dave", &id, "approve", "quarterly key audit").await;
    g.mcp(
        Some(&sid),
        Gate::call_body(2, "describe_table", json!({"table": "api_keys"})),
    )
    .await;
    g.gw.checkpoint().await;
    let key: Value = g
        .http
        .get(format!("{}/.well-known/gatehouse-audit-key", g.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["public_key"].as_str().unwrap().to_string();

    let bundle = g._dir.path().join("bundle");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let db = common::pg::database_url(&g._dir.path().join("a.db")).await;
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_DATABASE", &db)
            .output()
            .unwrap()
    };
    let out = cli(&[
        "evidence",
        "export",
        "--from",
        &today,
        "--to",
        &today,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    for needle in [
        "CC6.1",
        "CC6.2",
        "CC7.2",
        "CC8.1",
        id.as_str(),
        "dave approve (quarterly key audit)",
    ] {
        assert!(report.contains(needle), "report lacks {needle}");
    }
    let verify = |k: &str| {
        cli(&[
            "audit",
            "verify",
            "--bundle",
            bundle.to_str().unwrap(),
            "--public-key",
            k,
        ])
    };
    let ok = verify(&key);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact"));

    // An edited file is named by the manifest...
    let events_path = bundle.join("audit_events.jsonl");
    let original = std::fs::read_to_string(&events_path).unwrap();
    let edited = original.replacen("describe_table", "describe_tablX", 1);
    std::fs::write(&events_path, &edited).unwrap();
    let bad = verify(&key);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("audit_events.jsonl was changed after export")
    );
    // ...and one with a forged manifest by the chain itself.
    let manifest_path = bundle.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    use sha2::Digest;
    manifest["files"]["audit_events.jsonl"] =
        json!(hex::encode(sha2::Sha256::digest(edited.as_bytes())));
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let bad = verify(&key);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("was changed after it was recorded"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// An approval that arrives as the approval times out: whichever wins, the approver and
/// the client are told the same story — an accepted vote means the call runs, a refused
/// (expired) vote means the client gets the timeout error. Never one without the other.
/// Six held calls race at once, each voted on at its own offset from its deadline.
#[tokio::test]
async fn an_approval_racing_the_timeout_is_all_or_nothing() {
    let g = Arc::new(start().await);
    let sid = g.session().await;
    let races: Vec<_> = [-400i64, -150, -40, 0, 40, 150]
        .into_iter()
        .enumerate()
        .map(|(i, offset_ms)| {
            let (g, sid) = (g.clone(), sid.clone());
            tokio::spawn(async move { race(&g, &sid, i, offset_ms).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in races {
        outcomes.push(r.await.unwrap());
    }
    // The offsets straddle the deadline: both sides of the race were exercised.
    assert!(outcomes.contains(&200), "{outcomes:?}");
    assert!(outcomes.contains(&409), "{outcomes:?}");
}

/// One held call voted on `offset_ms` from its deadline; returns the vote's status after
/// checking the client got the matching answer.
async fn race(g: &Arc<Gate>, sid: &str, i: usize, offset_ms: i64) -> u16 {
    let table = format!("race_{i}");
    let held = {
        let (g, sid, table) = (g.clone(), sid.to_string(), table.clone());
        tokio::spawn(async move {
            g.mcp(
                Some(&sid),
                Gate::call_body(10 + i as u64, "describe_table", json!({"table": table})),
            )
            .await
            .1
        })
    };
    let approval = loop {
        let found = g
            .pending()
            .await
            .into_iter()
            .find(|a| a["arguments"]["table"] == table.as_str());
        if let Some(a) = found {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wait = chrono_millis(approval["expires_at"].as_str().unwrap()) + offset_ms - now_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let (status, v) = g
        .vote(
            "dave",
            approval["id"].as_str().unwrap(),
            "approve",
            "racing the clock",
        )
        .await;
    let answer = held.await.unwrap();
    match status {
        200 => {
            assert_eq!(v["state"], "approved", "{v}");
            assert!(
                answer.get("result").is_some(),
                "an accepted approval must run the call (offset {offset_ms} ms): {answer}"
            );
        }
        409 => {
            assert!(v["error"].as_str().unwrap().contains("expired"), "{v}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("not approved within"),
                "a refused approval must not run the call (offset {offset_ms} ms): {answer}"
            );
        }
        other => panic!("unexpected vote answer {other}: {v}"),
    }
    status
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch of an RFC 3339 UTC time like `2026-11-29T18:00:00.123456Z`.
fn chrono_millis(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .unwrap_or_else(|e| panic!("{t}: {e}"))
}
