//! Central policy on the gateway path, with the demo server and the demo policy:
//! refused calls never reach the server, lists show only what a person may use, and
//! every decision is recorded with its rule and the policy version.

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;

const BIN: &str = env!("GATEHOUSE_BIN");
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../proxy-core/policy/examples/demo-policy.yaml"
);

struct Gate {
    base: String,
    gw: Arc<Gateway>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Gate {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "policy_file = \"{POLICY}\"\n[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n\
         [dev]\ntokens = [{{ token = \"eng\", user = \"erin\", groups = [\"engineers\"] }}, {{ token = \"sales\", user = \"sam\", groups = [\"sales\"] }}, {{ token = \"adm\", user = \"ann\", groups = [\"gatehouse-admins\"] }}, {{ token = \"erin-left\", user = \"erin\", groups = [] }}]\n"
    );
    let served = common::serve(
        &text,
        &dir.path().join("p.db"),
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
    async fn post(
        &self,
        token: &str,
        sid: Option<&str>,
        body: Value,
    ) -> (u16, Option<String>, Value) {
        let mut b = self
            .http
            .post(format!("{}/mcp/customers", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            b = b.header("mcp-session-id", s);
        }
        let r = b.send().await.unwrap();
        let status = r.status().as_u16();
        let sid = r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_string());
        (status, sid, r.json().await.unwrap_or(Value::Null))
    }

    async fn session(&self, token: &str) -> (u16, Option<String>, Value) {
        self.post(
            token,
            None,
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
        )
        .await
    }

    async fn call(&self, sid: &str, id: u64, tool: &str, args: Value) -> Value {
        self.post(
            "eng",
            Some(sid),
            json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}),
        )
        .await
        .2
    }
}

#[tokio::test]
async fn the_policy_decides_every_call_and_the_record_says_why() {
    let g = start().await;
    let (status, sid, _) = g.session("eng").await;
    assert_eq!(status, 200);
    let sid = sid.unwrap();

    let ok = g
        .call(
            &sid,
            1,
            "query",
            json!({"sql": "SELECT * FROM customers WHERE id = 3"}),
        )
        .await;
    assert_eq!(ok["result"]["structuredContent"]["rows"][0]["id"], 3);
    assert_eq!(
        ok["result"]["structuredContent"]["rows"][0]["name"],
        "[PERSON_NAME]"
    );

    let denied = g
        .call(&sid, 2, "query", json!({"sql": "DROP TABLE customers"}))
        .await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only through Gatehouse")
    );

    // delete_customer is held for a DBA's approval: the call waits, nothing is deleted.
    let held = {
        let http = g.http.clone();
        let url = format!("{}/mcp/customers", g.base);
        let sid = sid.clone();
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth("eng")
                .header("mcp-session-id", sid)
                .header("content-type", "application/json")
                .json(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_customer","arguments":{"id":1}}}))
                .send()
                .await
        })
    };
    let mut pending = Vec::new();
    for _ in 0..100 {
        pending = g.gw.store.approvals(true).await.unwrap();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending.len(), 1, "the call is waiting for approval");
    assert_eq!(
        (pending[0].tool.as_deref(), pending[0].approvers.clone()),
        (Some("delete_customer"), vec!["dba".to_string()])
    );
    assert!(!held.is_finished());
    held.abort();
    let still = g
        .call(
            &sid,
            4,
            "query",
            json!({"sql": "select * from customers where id = 1"}),
        )
        .await;
    assert_eq!(
        still["result"]["structuredContent"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing was deleted"
    );

    // Lists show only what this person may use: the schema resource is not allowed.
    let (_, _, tools) = g
        .post(
            "eng",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}),
        )
        .await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["query", "describe_table", "delete_customer"]);
    let (_, _, resources) = g
        .post(
            "eng",
            Some(&sid),
            json!({"jsonrpc":"2.0","id":6,"method":"resources/list"}),
        )
        .await;
    assert_eq!(resources["result"]["resources"], json!([]));

    let events = g.gw.store.session_events(&sid).await.unwrap();
    let decision_of = |rpc_id: &str| -> Value {
        let e = events
            .iter()
            .find(|e| e.direction == "client_to_server" && e.rpc_id.as_deref() == Some(rpc_id))
            .unwrap();
        serde_json::from_str(e.decision.as_deref().unwrap()).unwrap()
    };
    let version = g.gw.policy().unwrap().version.clone();
    assert_eq!(decision_of("1")["rule"], "engineers-read");
    assert_eq!(decision_of("1")["policy_version"], version.as_str());
    assert_eq!(decision_of("2")["rule"], "no-destructive-sql");
    assert_eq!(decision_of("2")["effect"], "deny");
    assert_eq!(decision_of("3")["rule"], "delete-needs-dba");
    // The refusals are on the record as the gateway's own answers.
    assert!(events.iter().any(|e| e.direction == "gateway"
        && e.kind == "error"
        && e.rpc_id.as_deref() == Some("2")));
}

/// A refusal's reason quotes the statement it refused, literals and all: what the
/// record keeps of it (the decision and the gateway's answer) is masked like the call's
/// arguments, so a refused query does not leave a customer's e-mail in the log.
#[tokio::test]
async fn a_refused_statement_reaches_the_record_masked() {
    let g = start().await;
    let (_, sid, _) = g.session("eng").await;
    let sid = sid.unwrap();
    let email = "ada.lovelace@example.com";
    let denied = g
        .call(
            &sid,
            1,
            "query",
            json!({"sql": format!("DELETE FROM customers WHERE email = '{email}'")}),
        )
        .await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    let message = denied["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("statement 1 is") && message.contains("[EMAIL]"),
        "the reason still names the statement, masked: {message}"
    );

    let events = g.gw.store.session_events(&sid).await.unwrap();
    let refused = events
        .iter()
        .find(|e| e.direction == "client_to_server" && e.rpc_id.as_deref() == Some("1"))
        .expect("the refused request is recorded");
    let decision: Value = serde_json::from_str(refused.decision.as_deref().unwrap()).unwrap();
    assert_eq!(decision["rule"], "no-destructive-sql");
    assert!(
        decision["message"].as_str().unwrap().contains("[EMAIL]"),
        "{decision}"
    );
    let everything = format!("{events:?}");
    assert!(
        !everything.contains(email),
        "the e-mail reached the record: {everything}"
    );
}

#[tokio::test]
async fn people_the_policy_keeps_off_a_server_cannot_open_a_session() {
    let g = start().await;
    let (status, sid, body) = g.session("sales").await;
    assert_eq!(status, 403);
    assert!(sid.is_none());
    assert_eq!(body["error"]["code"], -32003);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not let `sam` use server `customers`")
    );
}

#[tokio::test]
async fn a_draft_is_replayed_against_recorded_requests_before_anyone_pushes_it() {
    let g = start().await;
    let (_, sid, _) = g.session("eng").await;
    let sid = sid.unwrap();
    g.call(&sid, 1, "query", json!({"sql": "select * from customers"}))
        .await;
    g.call(&sid, 2, "describe_table", json!({"table": "customers"}))
        .await;
    g.call(&sid, 3, "query", json!({"sql": "drop table customers"}))
        .await;
    let draft = g._dir.path().join("draft.yaml");
    std::fs::write(
        &draft,
        "version: 1\ndefault: deny\nrules:\n  - name: describe-only\n    principals: {groups: [engineers]}\n    tools: [describe_table]\n    effect: allow\n",
    )
    .unwrap();
    let cfg = g._dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        format!(
            "policy_file = \"{POLICY}\"\ndatabase = \"{}\"\n",
            common::pg::database_url(&g._dir.path().join("p.db")).await
        ),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "policy",
            "test",
            draft.to_str().unwrap(),
            "--since",
            "1h",
            "--config",
            cfg.to_str().unwrap(),
        ])
        .env_remove("GATEHOUSE_DATABASE")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            r#"erin tools/call customers/query {"sql":"select * from customers"}: allowed → denied (default)"#
        ),
        "{text}"
    );
    assert!(text.contains("3 recorded requests since"), "{text}");
    assert!(text.contains("1 allowed → denied"), "{text}");
    // Same effect under another rule is reported as such, not as a transition.
    assert!(
        text.contains(
            r#"customers/describe_table {"table":"customers"}: allowed, with different terms (rule `describe-only`)"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_pushed_version_applies_without_a_restart_or_a_dropped_session() {
    let g = start().await;
    let (_, sid, _) = g.session("eng").await;
    let sid = sid.unwrap();
    let refused = g
        .call(&sid, 1, "describe_table", json!({"table": "customers"}))
        .await;
    assert!(
        refused["result"].is_object(),
        "allowed under the demo policy: {refused}"
    );
    let draft = g._dir.path().join("lockdown.yaml");
    std::fs::write(&draft, "version: 1\ndefault: deny\nrules:\n  - name: query-only\n    principals: {groups: [engineers]}\n    tools: [query]\n    effect: allow\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "policy",
            "push",
            draft.to_str().unwrap(),
            "--by",
            "admin-ann",
        ])
        .env_remove("GATEHOUSE_TOKEN")
        .env(
            "GATEHOUSE_DATABASE",
            common::pg::database_url(&g._dir.path().join("p.db")).await,
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("published as version 2"));
    let pushed = std::time::Instant::now();
    loop {
        let r = g
            .call(&sid, 2, "describe_table", json!({"table": "customers"}))
            .await;
        if r["error"]["code"] == -32003 {
            break;
        }
        assert!(
            pushed.elapsed() < std::time::Duration::from_secs(10),
            "the pushed version was never applied: {r}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Same session, still working, under the new version.
    let ok = g
        .call(
            &sid,
            3,
            "query",
            json!({"sql": "select * from customers where id = 2"}),
        )
        .await;
    assert!(ok["result"].is_object(), "{ok}");
    assert!(g.gw.policy().unwrap().version.starts_with("v2-"));
}

#[tokio::test]
async fn only_admins_publish_policies_through_the_api() {
    let g = start().await;
    let push = |token: &'static str, yaml: &'static str| {
        g.http
            .post(format!("{}/api/v1/policies", g.base))
            .bearer_auth(token)
            .header("content-type", "application/yaml")
            .body(yaml)
            .send()
    };
    let good = "version: 1\ndefault: allow\n";
    let r = push("eng", good).await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("gatehouse-admins"),
        "{v}"
    );
    let r = push("adm", "version: 1\nrules:\n  - name: x\n    effect: alow\n")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].as_str().unwrap().starts_with("policy:4:13:"),
        "{v}"
    );
    assert!(
        g.gw.policy().unwrap().version.starts_with("v1-"),
        "a bad document never replaces the version in force"
    );
    let r = push("adm", good).await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["version"].as_i64(), v["published_by"].as_str()),
        (Some(2), Some("ann"))
    );
}

/// Reads SSE events (`event:` name, `data:` JSON) from a streaming response.
struct EventReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl EventReader {
    async fn next(&mut self) -> (String, Value) {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_string())
                };
                if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                    return (event, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = self.body.next().await.expect("the stream ended").unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn agents_and_tray_apps_watch_the_policy_in_force_and_hear_each_new_version() {
    let g = start().await;
    let watch = |token: &'static str| {
        g.http
            .get(format!("{}/api/v1/policies/watch", g.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(watch("nobody").await.unwrap().status(), 401);
    let r = watch("eng").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut events = EventReader {
        body: Box::pin(r.bytes_stream()),
        buf: String::new(),
    };
    // On connect: the version in force, with its document.
    let (name, first) = events.next().await;
    assert_eq!(name, "policy");
    assert_eq!(first["version"], 1);
    assert!(
        first["document"].as_str().unwrap().contains("engineers"),
        "{first}"
    );
    // An admin publishes; the open stream hears version 2 and its document.
    let yaml = "version: 1\ndefault: deny\n";
    let r = g
        .http
        .post(format!("{}/api/v1/policies", g.base))
        .bearer_auth("adm")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (name, second) = events.next().await;
    assert_eq!(name, "policy");
    assert_eq!(second["version"], 2);
    assert_eq!(second["document"], yaml);
    assert_eq!(second["published_by"], "ann");
}

/// A person removed from a group mid-session (here: a fresh token of the same person
/// without `engineers`, as after a change at the identity provider) loses that group's
/// rights on the very next call of the same session, and the record says so.
#[tokio::test]
async fn the_next_call_is_decided_by_the_groups_of_its_own_token() {
    let g = start().await;
    let (_, sid, _) = g.session("eng").await;
    let sid = sid.unwrap();
    let call = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT * FROM customers WHERE id = 3"}}});
    let (_, _, ok) = g.post("eng", Some(&sid), call(1)).await;
    assert_eq!(
        ok["result"]["structuredContent"]["rows"][0]["id"], 3,
        "{ok}"
    );

    // The session was opened with other groups: it is refused with an error that says
    // so (a session is never reused across group sets), and a new session opened with the
    // new token is decided by the new groups.
    let (status, _, refused) = g.post("erin-left", Some(&sid), call(2)).await;
    assert_eq!(status, 404, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("other groups")),
        "{refused}"
    );
    let (_, new_sid, opened) = g.session("erin-left").await;
    match new_sid {
        Some(new_sid) => {
            let (_, _, denied) = g.post("erin-left", Some(&new_sid), call(2)).await;
            assert_eq!(denied["error"]["code"], -32003, "{denied}");
            let (_, _, list) = g
                .post(
                    "erin-left",
                    Some(&new_sid),
                    json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}),
                )
                .await;
            assert_eq!(
                list["result"]["tools"],
                json!([]),
                "nothing is offered any more: {list}"
            );
        }
        None => assert!(opened["error"].is_object(), "{opened}"),
    }

    // Back in the group (a newer token): allowed again.
    let (_, _, again) = g.post("eng", Some(&sid), call(4)).await;
    assert!(again["result"].is_object(), "{again}");
    let rows = g.gw.store.session_events(&sid).await.unwrap();
    let decisions: Vec<String> = rows
        .iter()
        .filter(|e| e.kind == "request" && e.method.as_deref() == Some("tools/call"))
        .map(|e| e.decision.clone().unwrap_or_default())
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert!(
        decisions.iter().all(|d| d.contains("engineers-read")),
        "{decisions:?}"
    );
}
