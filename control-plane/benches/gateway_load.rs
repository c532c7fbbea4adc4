//! Load benchmark of the gateway over loopback: added latency (p50, p99) at concurrency 1
//! and 64 for `tools/call` with a ~1 KB result against a fast upstream, throughput
//! through the gateway vs direct, and resident memory per idle session.
//!
//! Three processes: this one (the load generator), a fast upstream (this same binary
//! with `GH_BENCH_ROLE=upstream`), and the real `gatehouse serve`. Prints a table.
//! Run: `cargo bench -p gatehouse-control-plane --bench gateway_load`
//! (`GH_BENCH_SECS` sets seconds per measurement, default 5). `scripts/bench-peers.sh`
//! runs this binary's fast upstream alone (`GH_BENCH_ROLE=upstream GH_BENCH_PORT=n`).

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("GH_BENCH_ROLE").as_deref() == Ok("upstream") {
        let port: u16 = std::env::var("GH_BENCH_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        rt.block_on(fast_upstream(port));
        return;
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    rt.block_on(run());
}

/// An MCP server that answers at once: the gateway's own cost is what shows.
async fn fast_upstream(port: u16) {
    let text = "x".repeat(1000);
    let text = Arc::new(text);
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let text = text.clone();
            async move {
                let _ = headers;
                let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let Some(id) = req.get("id").cloned() else {
                    return StatusCode::ACCEPTED.into_response();
                };
                let result = match req["method"].as_str() {
                    Some("initialize") => json!({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fast","version":"1"}}),
                    // Peers that register tools from the list (scripts/bench-peers.sh) need one.
                    Some("tools/list") => json!({"tools":[{"name":"echo","description":"Answers at once","inputSchema":{"type":"object"}}]}),
                    _ => json!({"content":[{"type":"text","text": *text}],"isError":false}),
                };
                let body = json!({"jsonrpc":"2.0","id":id,"result":result}).to_string();
                ([("content-type", "application/json"), ("mcp-session-id", "fast-session")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind upstream");
    axum::serve(listener, app).await.expect("serve upstream");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

async fn wait_for(port: u16, what: &str) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} does not listen on {port}");
}

struct Target {
    url: String,
    token: Option<&'static str>,
}

async fn initialize(http: &reqwest::Client, t: &Target) -> Option<String> {
    let mut b = http
        .post(&t.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#);
    if let Some(tok) = t.token {
        b = b.bearer_auth(tok);
    }
    let r = b.send().await.expect("initialize");
    assert!(r.status().is_success(), "initialize failed: {}", r.status());
    r.headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// Runs `concurrency` workers for `secs`; returns sorted latencies.
async fn load(
    http: &reqwest::Client,
    t: &Target,
    concurrency: usize,
    secs: f64,
) -> (Vec<Duration>, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let http = http.clone();
        let url = t.url.clone();
        let token = t.token;
        let sid = initialize(&http, t).await;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"echo","arguments":{{"worker":{w}}}}}}}"#
                );
                let mut b = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body);
                if let Some(tok) = token {
                    b = b.bearer_auth(tok);
                }
                if let Some(s) = &sid {
                    b = b.header("mcp-session-id", s);
                }
                let t0 = Instant::now();
                let r = b.send().await.expect("request");
                let bytes = r.bytes().await.expect("body");
                lat.push(t0.elapsed());
                assert!(bytes.len() > 1000, "short answer: {}", String::from_utf8_lossy(&bytes));
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let rps = all.len() as f64 / elapsed;
    (all, rps)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time (user + system) a process has used so far, in microseconds.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // Linux reports in clock ticks of 1/100 s on every platform Gatehouse targets.
    ticks * 10_000
}

/// CPU per request of each process during one run.
struct CpuSplit {
    client: f64,
    gateway: f64,
    upstream: f64,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(String::from)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn run() {
    let durability = std::env::var("GH_BENCH_DURABILITY").unwrap_or_else(|_| "fsync".into());
    let secs: f64 = std::env::var("GH_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let up_port = free_port();
    let exe = std::env::current_exe().expect("exe");
    let mut upstream = tokio::process::Command::new(&exe)
        .env("GH_BENCH_ROLE", "upstream")
        .env("GH_BENCH_PORT", up_port.to_string())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn upstream");
    wait_for(up_port, "the fast upstream").await;

    let dir = tempfile::tempdir().expect("tempdir");
    let gw_port = free_port();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{gw_port}\"\ndatabase = \"sqlite://{}\"\ndurability = \"{durability}\"\n[limits]\nsession_idle_secs = 3600\n[[servers]]\nname = \"fast\"\nurl = \"http://127.0.0.1:{up_port}/mcp\"\n[dev]\ntokens = [{{ token = \"bench\", user = \"bench\" }}]\n",
            dir.path().join("bench.db").display()
        ),
    )
    .expect("config");
    let mut gateway = tokio::process::Command::new(env!("GATEHOUSE_BIN"))
        .args(["serve", "--dev", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        // GH_BENCH_GATEWAY_THREADS: the gateway's worker threads (default: one per core).
        .envs(std::env::var("GH_BENCH_GATEWAY_THREADS").map(|n| ("TOKIO_WORKER_THREADS", n)))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gatehouse");
    wait_for(gw_port, "gatehouse").await;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let direct = Target {
        url: format!("http://127.0.0.1:{up_port}/mcp"),
        token: None,
    };
    let via = Target {
        url: format!("http://127.0.0.1:{gw_port}/mcp/fast"),
        token: Some("bench"),
    };

    // Warm up both paths.
    load(&http, &direct, 4, 0.5).await;
    load(&http, &via, 4, 0.5).await;

    let me = std::process::id();
    let (gw_pid, up_pid) = (
        gateway.id().expect("gateway pid"),
        upstream.id().expect("upstream pid"),
    );
    let mut rows = Vec::new();
    let mut cpu_rows = Vec::new();
    for c in [1usize, 64] {
        let (d, d_rps) = load(&http, &direct, c, secs).await;
        let before = [cpu_us(me), cpu_us(gw_pid), cpu_us(up_pid)];
        let (g, g_rps) = load(&http, &via, c, secs).await;
        let n = g.len().max(1) as f64;
        let per = |i: usize, pid: u32| (cpu_us(pid) - before[i]) as f64 / n;
        let split = CpuSplit {
            client: per(0, me),
            gateway: per(1, gw_pid),
            upstream: per(2, up_pid),
        };
        cpu_rows.push(format!(
            "| {c:>3} | {:>6.1} | {:>6.1} | {:>6.1} | {:>5.1}% |",
            split.client,
            split.gateway,
            split.upstream,
            100.0 * (split.client + split.upstream)
                / (split.client + split.gateway + split.upstream)
        ));
        rows.push(format!(
            "| {c:>3} | {:>8.0} | {:>8.0} | {:>8.0} | {:>8.0} | {:>9.0} | {:>9.0} | {:>9.0} | {:>9.0} | {:>5.1}% |",
            pct(&d, 0.5).as_micros() as f64,
            pct(&g, 0.5).as_micros() as f64,
            pct(&d, 0.99).as_micros() as f64,
            pct(&g, 0.99).as_micros() as f64,
            pct(&g, 0.5).as_micros() as f64 - pct(&d, 0.5).as_micros() as f64,
            pct(&g, 0.99).as_micros() as f64 - pct(&d, 0.99).as_micros() as f64,
            d_rps,
            g_rps,
            100.0 * g_rps / d_rps
        ));
    }

    // Memory: 1,000 idle sessions.
    let pid = gw_pid;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(pid);
    for chunk in 0..10 {
        let mut inits = Vec::new();
        for _ in 0..100 {
            let http = http.clone();
            let url = via.url.clone();
            inits.push(tokio::spawn(async move {
                let t = Target {
                    url,
                    token: Some("bench"),
                };
                initialize(&http, &t).await
            }));
        }
        for i in inits {
            assert!(i.await.expect("init").is_some(), "session {chunk}");
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per_session = (after.saturating_sub(before)) as f64 * 1024.0 / 1000.0;

    let mut out = String::new();
    out.push_str(&format!("\nGatehouse gateway load benchmark ({secs} s per run, tools/call with a 1,000-char result, loopback, durability = {durability})\n\n"));
    out.push_str("| conc | p50 direct µs | p50 via µs | p99 direct µs | p99 via µs | p50 added µs | p99 added µs | direct req/s | via req/s | via/direct |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out.push_str(&format!(
        "\nResident memory: {before} KiB before, {after} KiB with 1,000 more open sessions: {:.1} KB per idle session\n",
        per_session / 1000.0
    ));
    out.push_str("\nCPU per call through the gateway (µs, user + system; 10 ms tick resolution, so read the c=64 row). When the two cores are the limit, throughput via the gateway can reach at most (client + upstream) / (client + gateway + upstream) of direct:\n\n| conc | client | gateway | upstream | ceiling |\n|---|---|---|---|---|\n");
    for r in cpu_rows {
        out.push_str(&r);
        out.push('\n');
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    let _ = gateway.kill().await;
    let _ = upstream.kill().await;
}
