//! Audit log at scale, printed as a table: durable recording throughput (256 concurrent
//! callers, group commit), then `gatehouse audit verify`, `gatehouse evidence export` and
//! the offline `gatehouse audit verify --bundle` of that export, over the whole log (wall
//! time and peak RSS of the CLI process, by /usr/bin/time), on
//! SQLite and on PostgreSQL (a throwaway cluster, as in the tests; skipped when
//! PostgreSQL is not installed).
//!
//! `cargo bench -p gatehouse-control-plane --bench audit_scale` (events:
//! `GATEHOUSE_BENCH_EVENTS`, default 1,000,000).

#[path = "../tests/common/audit.rs"]
mod audit;
#[path = "../tests/common/pg.rs"]
mod pg;

use gatehouse_control_plane::store::Store;
use gatehouse_pipeline::Record;
use std::process::Command;
use std::sync::LazyLock;
use std::time::Instant;

const BIN: &str = env!("GATEHOUSE_BIN");
const CALLERS: usize = 256;

/// Event `n`: requests (allowed) and answers in turn, every tenth answer with an email
/// address masked. Each kind is masked once and copied: this measures recording.
fn event(n: usize) -> Record {
    static KINDS: LazyLock<[Record; 3]> = LazyLock::new(|| {
        let text = "x".repeat(200);
        [
            audit::call("bench", 0, "query", serde_json::json!({ "q": text })).with_decision(
                &serde_json::json!({ "effect": "allow", "rule": "r", "version": 1 }),
            ),
            audit::answer("bench", 0, &text),
            audit::answer("bench", 0, &format!("{text} ada@example.com")),
        ]
    });
    let kind = match n % 10 {
        1 => 2,
        k => k % 2,
    };
    let mut e = KINDS[kind].clone();
    e.rpc_id = Some((n / 2).to_string());
    e
}

/// Records `total` events with CALLERS concurrent callers; returns events per second.
async fn fill(store: &Store, total: usize) -> f64 {
    audit::start_session(store, "bench").await;
    let t = Instant::now();
    let tasks: Vec<_> = (0..CALLERS)
        .map(|c| {
            let s = store.clone();
            tokio::spawn(async move {
                let mut n = c;
                while n < total {
                    s.record(vec![event(n)]).await.expect("record");
                    n += CALLERS;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    total as f64 / t.elapsed().as_secs_f64()
}

/// Runs the CLI under /usr/bin/time: (seconds, peak RSS in MB, stdout).
fn timed(database: &str, args: &[&str]) -> (f64, f64, String) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(BIN)
        .args(args)
        .env("GATEHOUSE_DATABASE", database)
        .output()
        .expect("/usr/bin/time (Debian: apt-get install time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let secs: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let kb: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    (
        secs,
        kb / 1024.0,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn measure(name: &str, url: &str, total: usize, rt: &tokio::runtime::Runtime) {
    let rate = rt.block_on(async {
        let store = Store::open(url).await.expect("store");
        let rate = fill(&store, total).await;
        // A signed checkpoint over the whole log, as a running server keeps: verify then
        // checks the Merkle tree as well as the chain.
        let key = gatehouse_audit::signing_key_from_hex(&"42".repeat(32)).expect("key");
        store.write_checkpoint(&key).await.expect("checkpoint");
        if url.starts_with("postgres") {
            // What autovacuum does soon after a bulk insert; without it the first reader
            // of the fresh rows also writes their hint bits, which times the disk rather
            // than the verifier.
            sqlx::query("VACUUM ANALYZE audit_events")
                .execute(store.pool())
                .await
                .expect("vacuum");
        }
        rate
    });
    let (vs, vm, report) = timed(url, &["audit", "verify"]);
    assert!(
        report.contains("intact") && report.contains("1 signed checkpoints"),
        "verify: {report}"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let bundle = out.path().join("bundle");
    let (es, em, _) = timed(
        url,
        &[
            "evidence",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--out",
            bundle.to_str().unwrap_or_default(),
        ],
    );
    let events = std::fs::read_to_string(bundle.join("audit_events.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    assert_eq!(events, total, "the bundle holds every event");
    let (bs, bm, report) = timed(
        url,
        &[
            "audit",
            "verify",
            "--bundle",
            bundle.to_str().unwrap_or_default(),
        ],
    );
    assert!(report.contains("intact"), "bundle verify: {report}");
    let line = format!(
        "| {name:<10} | {total:>9} | {rate:>11.0} | {vs:>8.1} | {:>12.0} | {vm:>8.0} | {es:>8.1} | {em:>8.0} | {bs:>8.1} | {bm:>8.0} |\n",
        total as f64 / vs.max(0.001)
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: only
    // the former runs the (long) measurement.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let total: usize = std::env::var("GATEHOUSE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let header = "| store      |    events | record ev/s | verify s | verify ev/s  | RSS MB   | export s | RSS MB   | bundle s | RSS MB   |\n\
                  |------------|-----------|-------------|----------|--------------|----------|----------|----------|----------|----------|\n";
    let _ = std::io::Write::write_all(&mut std::io::stderr(), header.as_bytes());
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    if std::env::var("GATEHOUSE_BENCH_PG").is_err() {
        measure("sqlite", &sqlite, total, &rt);
    }
    // GATEHOUSE_BENCH_PG=postgres://USER:PW@HOST:PORT/postgres: measure on that server
    // (the database made for the run is left there, to profile against).
    if let Ok(server) = std::env::var("GATEHOUSE_BENCH_PG") {
        let url = rt.block_on(pg::fresh_database(&server));
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("postgres database: {url}\n").as_bytes(),
        );
        measure("postgres", &url, total, &rt);
    } else if std::fs::read_dir("/usr/lib/postgresql").is_ok() {
        let cluster = pg::Cluster::start();
        let url = rt.block_on(pg::fresh_database(&cluster.url("postgres")));
        measure("postgres", &url, total, &rt);
    }
}
