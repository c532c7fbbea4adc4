//! `gatehouse demo` as a first-time user runs it: it prints what to paste, masks the demo
//! server's sensitive data, refuses destructive SQL, and holds `delete_customer` until a
//! second person (the demo DBA) approves it with `gatehouse approvals approve`; the record
//! and the approvals read back through the CLI (`--json` for scripts).

use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("GATEHOUSE_BIN");

fn after<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|rest| {
            rest.trim_start_matches([' ', ':'])
                .split_whitespace()
                .next()
                .unwrap_or("")
        })
        .unwrap_or_else(|| panic!("`{label}` not in the demo's instructions:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_masks_refuses_and_holds_for_a_second_person() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut demo = tokio::process::Command::new(BIN)
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut text = String::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
    {
        text.push_str(&line);
        text.push('\n');
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let endpoint = after(&text, "MCP endpoint").to_string();
    let token = after(&text, "Dev token").to_string();
    let dba = text
        .split("GATEHOUSE_TOKEN=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no DBA token in:\n{text}"))
        .to_string();
    let base = endpoint.trim_end_matches("/mcp/customers").to_string();

    let http = reqwest::Client::new();
    let post = |sid: Option<String>, body: Value| {
        let mut b = http
            .post(&endpoint)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            b = b.header("mcp-session-id", s);
        }
        b.send()
    };
    let r = post(None, json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"first-look","version":"1"}}}))
        .await
        .unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let call = |id: u64, tool: &str, args: Value| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}});

    let rows: Value = post(
        Some(sid.clone()),
        call(1, "query", json!({"sql": "select * from customers"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    // Names, addresses and birth dates are masked like cards and e-mail addresses, in the
    // text content and in structuredContent alike.
    let shown = rows.to_string();
    for secret in [
        "Ada Lovelace",
        "Grace Hopper",
        "St James's Square",
        "Keizersgracht 120",
        "1815-12-10",
        "4111 1111 1111 1111",
        "@example.com",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert_eq!(
        rows["result"]["structuredContent"]["rows"][0]["name"], "[PERSON_NAME]",
        "{shown}"
    );
    assert!(
        shown.contains("[POSTAL_ADDRESS]") && shown.contains("[DATE_OF_BIRTH]"),
        "{shown}"
    );
    let drop: Value = post(
        Some(sid.clone()),
        call(2, "query", json!({"sql": "DROP TABLE customers"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(drop["error"]["code"], -32003, "{drop}");

    let held = tokio::spawn(post(
        Some(sid.clone()),
        call(3, "delete_customer", json!({"id": 4})),
    ));
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_URL", &base)
            .env("GATEHOUSE_TOKEN", &dba)
            .output()
            .unwrap()
    };
    let mut id = String::new();
    for _ in 0..100 {
        let out = cli(&["approvals", "list"]);
        let listed = String::from_utf8_lossy(&out.stdout).to_string();
        if let Some(first) = listed
            .lines()
            .next()
            .filter(|l| l.contains("delete_customer"))
        {
            id = first.split_whitespace().next().unwrap().to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!id.is_empty(), "the held call shows up for the DBA");
    let out = cli(&[
        "approvals",
        "approve",
        &id,
        "--reason",
        "customer asked to be forgotten",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved"));
    // A streaming client gets the answer as the last event of the held call's stream.
    let body = held.await.unwrap().unwrap().text().await.unwrap();
    let done: Value = body
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .unwrap_or_else(|| serde_json::from_str(&body).unwrap());
    assert_eq!(
        done["result"]["content"][0]["text"], "Deleted customer 4.",
        "{done}"
    );
    // The demo database runs real SQL: the row is gone, and a query returns the columns
    // and rows it asks for, not the whole table.
    let ask =
        |id: u64, sql: &str| post(Some(sid.clone()), call(id, "query", json!({ "sql": sql })));
    let left: Value = ask(4, "SELECT id FROM customers ORDER BY id")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        left["result"]["structuredContent"]["rows"],
        json!([{"id": 1}, {"id": 2}, {"id": 3}, {"id": 5}]),
        "{left}"
    );
    let one: Value = ask(5, "SELECT name FROM customers WHERE id = 2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["result"]["structuredContent"]["rows"],
        json!([{"name": "[PERSON_NAME]"}]),
        "{one}"
    );

    // For scripts: the approvals as JSON; the record with policy versions as stored.
    let out = cli(&["approvals", "list", "--all", "--json"]);
    let listed: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(
        listed
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == id.as_str())),
        "{listed}"
    );
    let db = text
        .split("--database ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no database in:\n{text}"));
    // The record holds the masked answer, and its counts match what the client saw: each
    // customer's name, address, birth date and card counted once in the text content and once
    // in structuredContent, under its own type.
    let out = cli(&["sessions", "show", &sid, "--database", db, "--json"]);
    let record = String::from_utf8_lossy(&out.stdout).to_string();
    for secret in [
        "Ada Lovelace",
        "St James's Square",
        "1815-12-10",
        "4111 1111 1111 1111",
    ] {
        assert!(!record.contains(secret), "{secret} in the record");
    }
    let doc: Value = serde_json::from_str(&record).unwrap_or_else(|e| panic!("{e}: {record}"));
    let answer = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["payload"]["result"]["structuredContent"]["rows"]
                .as_array()
                .is_some_and(|r| r.len() == 5)
        })
        .unwrap_or_else(|| panic!("no recorded answer with five rows: {record}"));
    // Stored as JSON text: `{"credit_card": 10, ...}`.
    let masked: Value = serde_json::from_str(answer["masked"].as_str().unwrap_or("{}")).unwrap();
    for kind in [
        "person_name",
        "postal_address",
        "date_of_birth",
        "credit_card",
        "email",
    ] {
        assert_eq!(masked[kind], 10, "{kind} in {masked}");
    }
    assert!(masked.get("sensitive_field").is_none(), "{masked}");

    let out = cli(&["sessions", "show", &sid, "--database", db]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("policy=") && !shown.contains(", vv"),
        "{shown}"
    );

    let _ = demo.start_kill();
}
