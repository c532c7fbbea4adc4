//! Tool pinning against a rug pull: a server that changes a tool's description after it
//! was first seen gets that tool blocked (and the change recorded) until an admin reviews
//! and accepts it.

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;

const BIN: &str = env!("GATEHOUSE_BIN");

async fn session(http: &reqwest::Client, url: &str) -> String {
    let r = http
        .post(url)
        .bearer_auth("t")
        .header("content-type", "application/json")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}))
        .send()
        .await
        .unwrap();
    r.headers()["mcp-session-id"].to_str().unwrap().to_string()
}

async fn rpc(http: &reqwest::Client, url: &str, sid: &str, body: Value) -> Value {
    http.post(url)
        .bearer_auth("t")
        .header("mcp-session-id", sid)
        .header("content-type", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_changed_tool_is_blocked_until_an_admin_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let variant = dir.path().join("variant");
    std::fs::write(&variant, "normal").unwrap();
    let text = format!(
        "[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\npin_tools = true\n\
         env = {{ GATEHOUSE_DEMO_VARIANT = \"file:{}\" }}\n[dev]\ntokens = [{{ token = \"t\", user = \"erin\" }}]\n",
        variant.display()
    );
    let db = common::pg::database_url(&dir.path().join("pins.db")).await;
    let served = common::serve(
        &text,
        &dir.path().join("pins.db"),
        true,
        std::future::pending(),
    )
    .await;
    let url = format!("{}/mcp/customers", served.base);
    let gw: Arc<Gateway> = served.gw;
    let http = reqwest::Client::new();
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    let delete = |id: u64, customer: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"delete_customer","arguments":{"id":customer}}});

    // First sight: pinned as it is, and usable.
    let a = session(&http, &url).await;
    rpc(&http, &url, &a, list.clone()).await;
    let ok = rpc(&http, &url, &a, delete(2, 5)).await;
    assert_eq!(
        ok["result"]["content"][0]["text"], "Deleted customer 5.",
        "{ok}"
    );

    // The server swaps the description: the change is recorded and the tool blocked.
    std::fs::write(&variant, "poisoned").unwrap();
    let b = session(&http, &url).await;
    let tools = rpc(&http, &url, &b, list.clone()).await;
    assert!(
        tools.to_string().contains("api_keys"),
        "the client still sees what the server says"
    );
    let blocked = rpc(&http, &url, &b, delete(2, 4)).await;
    assert_eq!(blocked["error"]["code"], -32003, "{blocked}");
    assert!(
        blocked["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gatehouse tools accept customers delete_customer")
    );
    let other = rpc(&http, &url, &b, json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"describe_table","arguments":{"table":"customers"}}})).await;
    assert!(
        other["result"].is_object(),
        "unchanged tools keep working: {other}"
    );
    let events = gw.store.session_events(&b).await.unwrap();
    let changed = events
        .iter()
        .find(|e| e.kind == "tool_changed")
        .expect("the change is on the record");
    assert!(changed.payload.contains("delete_customer") && changed.payload.contains("api_keys"));

    // An admin reviews and accepts it; the tool works again.
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_DATABASE", &db)
            .output()
            .unwrap()
    };
    let listed = cli(&["tools", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("CHANGED"),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
    let accepted = cli(&[
        "tools",
        "accept",
        "customers",
        "delete_customer",
        "--by",
        "admin-ann",
    ]);
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let again = cli(&["tools", "accept", "customers", "delete_customer"]);
    assert_eq!(again.status.code(), Some(2), "nothing left to accept");
    let ok = rpc(&http, &url, &b, delete(4, 4)).await;
    assert_eq!(
        ok["result"]["content"][0]["text"], "Deleted customer 4.",
        "{ok}"
    );
}
