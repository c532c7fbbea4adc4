//! The cost of the agent hop: the same stdio upstream behind the same control plane,
//! once as a direct `command` server and once served by the real `gatehouse-agent`
//! process through its WebSocket tunnel. Prints p50/p99 latency of `tools/call` (one
//! session, sequential calls) and throughput with 64 concurrent sessions.
//!
//! The upstream is this binary with `GH_BENCH_ROLE=upstream`: a stdio MCP server that
//! answers at once with ~1 KB of text, so what shows is the gateway and the hop.
//! Run: `cargo bench -p gatehouse-agent --bench agent_hop` (`GH_BENCH_SECS` sets seconds
//! per throughput run, default 5).
#![allow(clippy::print_stdout)]

use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::server;
use gatehouse_control_plane::store::{Durability, Store};
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";
const ADMIN: &str = "bench-admin";

fn main() {
    if std::env::var("GH_BENCH_ROLE").as_deref() == Ok("upstream") {
        stdio_upstream();
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

/// A stdio MCP server that answers every request at once.
fn stdio_upstream() {
    let text = "x".repeat(1000);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return };
        let Ok(req) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = req.get("id").cloned() else {
            continue;
        };
        let result = match req["method"].as_str() {
            Some("initialize") => {
                json!({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fast","version":"1"}})
            }
            _ => json!({"content":[{"type":"text","text": text}],"isError":false}),
        };
        let _ = writeln!(out, "{}", json!({"jsonrpc":"2.0","id":id,"result":result}));
        let _ = out.flush();
    }
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe()
        .expect("own path")
        .display()
        .to_string();
    let text = format!(
        "durability = \"os\"\n[masking]\ndefault_profile = \"off\"\n\
         [[servers]]\nname = \"direct\"\ncommand = {exe:?}\nenv = {{ GH_BENCH_ROLE = \"upstream\" }}\n\
         [[servers]]\nname = \"hop\"\nagent = \"bench\"\n\
         [dev]\ntokens = [{{ token = \"{TOKEN}\", user = \"bench\", groups = [\"gatehouse-admins\"] }}, {{ token = \"{ADMIN}\", user = \"admin\", groups = [\"gatehouse-admins\"] }}]\n"
    );
    let mut config =
        Config::parse(&text, Path::new("bench.toml"), std::iter::empty()).expect("config");
    config.database = format!("sqlite://{}", dir.path().join("bench.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    config.public_url = Some(base.clone());
    let store = Store::open_with(&config.database, Durability::Os)
        .await
        .expect("store");
    let gw = Gateway::new(config, store, true).expect("gateway");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(gw.clone(), listener, async move {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let created: Value = http
        .post(format!("{base}/api/v1/agents"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .expect("create token")
        .json()
        .await
        .expect("token");
    let agent_cfg = dir.path().join("agent.toml");
    std::fs::write(
        &agent_cfg,
        format!(
            "control_plane = \"{}\"\ntoken = \"env:GATEHOUSE_AGENT_TOKEN\"\n[[servers]]\nname = \"hop\"\ncommand = {exe:?}\nenv = {{ GH_BENCH_ROLE = \"upstream\" }}\n",
            base.replacen("http://", "ws://", 1)
        ),
    )
    .expect("agent config");
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse-agent"))
        .arg("--config")
        .arg(&agent_cfg)
        .env(
            "GATEHOUSE_AGENT_TOKEN",
            created["token"].as_str().expect("token"),
        )
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("agent");
    // Connected once the status API lists a live connection.
    let mut connected = false;
    for _ in 0..200 {
        let status: Value = http
            .get(format!("{base}/api/v1/agents"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("agent status")
            .json()
            .await
            .expect("agent status JSON");
        connected = status["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["connected"] == true));
        if connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connected, "the agent did not connect");

    let secs: f64 = std::env::var("GH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    println!(
        "\nagent hop: tools/call with a ~1 KB result, same stdio upstream, through the control plane"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>16}",
        "path", "p50 (µs)", "p99 (µs)", "mean (µs)", "64 sessions rps"
    );
    for name in ["direct", "hop"] {
        let url = format!("{base}/mcp/{name}");
        let s = open(&http, &url).await;
        for _ in 0..200 {
            call(&http, &url, &s).await;
        }
        let mut lat = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let t = Instant::now();
            call(&http, &url, &s).await;
            lat.push(t.elapsed());
        }
        lat.sort();
        let mean = lat.iter().sum::<Duration>() / lat.len() as u32;
        let rps = throughput(&http, &url, 64, secs).await;
        println!(
            "{:<10} {:>10} {:>10} {:>10} {:>16.0}",
            name,
            lat[lat.len() / 2].as_micros(),
            lat[lat.len() * 99 / 100].as_micros(),
            mean.as_micros(),
            rps
        );
    }
    let _ = agent.kill().await;
    let _ = stop_tx.send(());
    let _ = served.await;
}

async fn open(http: &reqwest::Client, url: &str) -> String {
    let r = http
        .post(url)
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}))
        .send()
        .await
        .expect("initialize");
    assert!(r.status().is_success(), "initialize: {}", r.status());
    r.headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_string()
}

async fn call(http: &reqwest::Client, url: &str, session: &str) {
    let r = http
        .post(url)
        .bearer_auth(TOKEN)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{}}}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("call");
    assert!(r.status().is_success(), "call: {}", r.status());
    let _ = r.bytes().await.expect("body");
}

/// Calls per second with `sessions` concurrent sessions for `secs`.
async fn throughput(http: &reqwest::Client, url: &str, sessions: usize, secs: f64) -> f64 {
    let mut ids = Vec::new();
    for _ in 0..sessions {
        ids.push(open(http, url).await);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let http = http.clone();
            let url = url.to_string();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    call(&http, &url, &id).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("worker");
    }
    total as f64 / started.elapsed().as_secs_f64()
}
