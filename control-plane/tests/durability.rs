//! An acknowledged event is never lost: the control plane is killed with SIGKILL in the
//! middle of a load, restarted on the same store, and every call a client got an answer
//! for is on the record, with the hash chain intact.

mod common;

use gatehouse_control_plane::store::{ChainReport, Store};
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

const BIN: &str = env!("GATEHOUSE_BIN");

fn spawn(config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(BIN)
        .args(["serve", "--dev", "--config"])
        .arg(config)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_for(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gatehouse did not start");
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    sid: Option<&str>,
    body: Value,
) -> Option<(Option<String>, Value)> {
    let mut b = http
        .post(url)
        .bearer_auth("t")
        .header("content-type", "application/json")
        .json(&body);
    if let Some(s) = sid {
        b = b.header("mcp-session-id", s);
    }
    let r = b.send().await.ok()?;
    let sid = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    Some((sid, r.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_call_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = dir.path().join("d.db");
    let config = dir.path().join("g.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndatabase = \"sqlite://{}\"\n[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n\
             [dev]\ntokens = [{{ token = \"t\", user = \"erin\" }}]\n",
            db.display()
        ),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp/customers");
    let mut gatehouse = spawn(&config);
    wait_for(port).await;

    let http = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (http, url, acked) = (http.clone(), url.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"load","version":"1"}}});
            let Some((Some(sid), _)) = post(&http, &url, None, init).await else { return };
            for id in 1u64.. {
                let call = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"describe_table","arguments":{"table":"customers"}}});
                match post(&http, &url, Some(&sid), call).await {
                    Some((_, v)) if v["result"].is_object() => acked.lock().await.push((sid.clone(), id)),
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gatehouse.kill().await.unwrap();
    for w in workers {
        let _ = w.await;
    }
    let acked = acked.lock().await.clone();
    assert!(
        acked.len() > 20,
        "the load ran: {} calls acknowledged",
        acked.len()
    );

    // Restart on the same store: it starts, serves, and everything acknowledged is there.
    let _again = spawn(&config);
    wait_for(port).await;
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"after","version":"1"}}});
    let (sid, _) = post(&http, &url, None, init)
        .await
        .expect("serves after the restart");
    assert!(sid.is_some());

    let store = Store::open(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    match store.verify_chain().await.unwrap() {
        ChainReport::Intact { .. } => {}
        broken => panic!("the chain broke across the crash: {broken:?}"),
    }
    let mut recorded = std::collections::HashMap::new();
    for (sid, _) in &acked {
        if !recorded.contains_key(sid) {
            let events = store.session_events(sid).await.unwrap();
            let seen: std::collections::HashSet<(String, String)> = events
                .into_iter()
                .filter_map(|e| Some((e.direction, e.rpc_id?)))
                .collect();
            recorded.insert(sid.clone(), seen);
        }
    }
    for (sid, id) in &acked {
        let seen = &recorded[sid];
        let id = id.to_string();
        assert!(
            seen.contains(&("client_to_server".to_string(), id.clone()))
                && seen.contains(&("server_to_client".to_string(), id.clone())),
            "call {id} of {sid} was acknowledged but is not on the record"
        );
    }
}

/// An approver's vote reads the approval and then writes: while the audit writer commits
/// events at the same moment (the gateway records every call), the vote must wait for
/// the write lock and count, never fail with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_count_while_the_audit_writer_commits() {
    use gatehouse_control_plane::approvals::NewApproval;
    use gatehouse_control_plane::store::NewSession;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = Arc::new(Store::open(&url).await.unwrap());
    store
        .start_session(NewSession {
            id: "s".into(),
            principal: "alice".into(),
            groups: vec!["engineers".into()],
            server: "db".into(),
            era: "streamable".into(),
            client: None,
            protocol_version: None,
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..150 {
        let id = store
            .create_approval(&NewApproval {
                session_id: "s".into(),
                requester: "alice".into(),
                server: "db".into(),
                method: "tools/call".into(),
                tool: Some("delete_customer".into()),
                digest: format!("d{n}"),
                arguments: json!({"id": n}),
                approvers: vec!["dba".into()],
                quorum: 1,
                mode: gatehouse_pipeline::ApprovalMode::Hold,
                rule: None,
                ttl: Duration::from_secs(600),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    let writing: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..1500 {
                    let e = common::audit::call("s", w * 1500 + n, "query", json!({ "n": n }));
                    store.record(vec![e]).await.unwrap();
                }
            })
        })
        .collect();
    for id in &ids {
        let a = store
            .vote(id, "bob", &["dba".to_string()], true, "ok")
            .await
            .unwrap_or_else(|e| panic!("the vote on {id} failed: {e}"));
        assert_eq!(a.state, "approved");
    }
    for w in writing {
        w.await.unwrap();
    }
    assert!(matches!(
        store.verify_chain().await.unwrap(),
        ChainReport::Intact { .. }
    ));
}
