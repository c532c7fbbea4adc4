//! Streaming the audit log to a SIEM with real receivers (a small HTTP server in the
//! test): nothing is lost while the receiver is down, a restarted sink resumes at its
//! cursor, files rotate without dropping a line, OTLP collectors get log records.

mod common;

use axum::routing::post;
use axum::{Json, Router};
use common::audit;
use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::sinks::{self, SinkConfig};
use gatehouse_control_plane::store::Store;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn store_with(dir: &Path, events: usize) -> Store {
    let (store, _) = audit::open(&dir.join("s.db")).await;
    audit::start_session(&store, "s1").await;
    record(&store, 0, events).await;
    store
}

/// Tool calls `from..from + n` in session s1, each padded to a realistic size.
async fn record(store: &Store, from: usize, n: usize) {
    let events = (from..from + n)
        .map(|i| audit::call("s1", i, "query", json!({ "i": i, "pad": "x".repeat(40) })));
    audit::record(store, events).await;
}

fn sink(toml: &str) -> SinkConfig {
    let c = Config::parse(toml, Path::new("t.toml"), std::iter::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    c.audit.sinks[0].clone()
}

/// Bodies POSTed to it, in arrival order.
type Received = Arc<Mutex<Vec<Value>>>;

/// A receiver on `addr` until the token is cancelled.
async fn receiver(addr: std::net::SocketAddr, got: Received, stop: CancellationToken) {
    slow_receiver(addr, got, stop, Duration::ZERO).await
}

/// A receiver that takes `delay` to answer each webhook POST.
async fn slow_receiver(
    addr: std::net::SocketAddr,
    got: Received,
    stop: CancellationToken,
    delay: Duration,
) {
    let app = Router::new()
        .route(
            "/events",
            post({
                let got = got.clone();
                move |Json(v): Json<Value>| async move {
                    got.lock().unwrap().push(v);
                    tokio::time::sleep(delay).await;
                }
            }),
        )
        .route(
            "/v1/logs",
            post(move |Json(v): Json<Value>| async move {
                got.lock().unwrap().push(v);
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .unwrap();
    });
}

/// A loopback address nobody listens on (yet).
fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The events' seqs the webhook received (checkpoint records left out).
fn webhook_seqs(got: &Received) -> Vec<i64> {
    got.lock()
        .unwrap()
        .iter()
        .flat_map(|batch| batch.as_array().unwrap().clone())
        .filter(|e| e["record"] != "checkpoint")
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_webhook_down_then_up_gets_everything_and_a_restart_resumes_at_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 40).await;
    // A port with nobody listening yet: the receiver is down.
    let addr = free_addr();
    let cfg = sink(&format!(
        "[[audit.sinks]]\ntype = \"webhook\"\nurl = \"http://{addr}/events\"\nbatch = 16\n"
    ));
    let stop = CancellationToken::new();
    let running = tokio::spawn(sinks::run(store.clone(), cfg.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        store.sink_cursor("webhook").await.unwrap(),
        0,
        "nothing counts as delivered while the receiver is down"
    );

    let got: Received = Arc::default();
    let up = CancellationToken::new();
    receiver(addr, got.clone(), up.clone()).await;
    wait_for("the first 40 events", || webhook_seqs(&got).len() >= 40).await;
    assert_eq!(webhook_seqs(&got), (1..=40).collect::<Vec<_>>());
    stop.cancel();
    running.await.unwrap();

    // Gatehouse restarts (a new sink task) after more events were recorded.
    record(&store, 40, 25).await;
    let stop = CancellationToken::new();
    let running = tokio::spawn(sinks::run(store.clone(), cfg, stop.clone()));
    wait_for("the next 25 events", || webhook_seqs(&got).len() >= 65).await;
    assert_eq!(
        webhook_seqs(&got),
        (1..=65).collect::<Vec<_>>(),
        "resumed at the cursor: no event lost, none repeated"
    );
    assert_eq!(store.sink_cursor("webhook").await.unwrap(), 65);
    stop.cancel();
    running.await.unwrap();
    up.cancel();
}

#[tokio::test]
async fn a_jsonl_file_rotates_without_losing_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 60).await;
    let file = dir.path().join("audit.jsonl");
    let cfg = sink(&format!(
        "[[audit.sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nmax_bytes = 4000\nbatch = 7\n",
        file.display()
    ));
    let stop = CancellationToken::new();
    let running = tokio::spawn(sinks::run(store.clone(), cfg, stop.clone()));
    for _ in 0..300 {
        if store.sink_cursor("jsonl").await.unwrap() == 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.sink_cursor("jsonl").await.unwrap(), 60);
    stop.cancel();
    running.await.unwrap();
    let mut files: Vec<_> = (1..=5)
        .rev()
        .map(|n| dir.path().join(format!("audit.jsonl.{n}")))
        .filter(|p| p.exists())
        .collect();
    assert!(files.len() >= 2, "4000-byte files must have rotated");
    files.push(file);
    let mut seqs = Vec::new();
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 4000);
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            seqs.push(v["seq"].as_i64().unwrap());
        }
    }
    // Five rotated files are kept: what is left is a gapless tail of the log.
    let first = seqs[0];
    assert_eq!(seqs, (first..=60).collect::<Vec<_>>());
}

#[tokio::test]
async fn an_otlp_collector_gets_one_log_record_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 12).await;
    let addr = free_addr();
    let got: Received = Arc::default();
    let up = CancellationToken::new();
    receiver(addr, got.clone(), up.clone()).await;
    let cfg = sink(&format!(
        "[[audit.sinks]]\ntype = \"otlp\"\nurl = \"http://{addr}/v1/logs\"\n"
    ));
    let stop = CancellationToken::new();
    let running = tokio::spawn(sinks::run(store.clone(), cfg, stop.clone()));
    let records = || -> Vec<Value> {
        got.lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                b["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect()
    };
    wait_for("12 log records", || records().len() >= 12).await;
    stop.cancel();
    running.await.unwrap();
    let r = records();
    assert_eq!(r.len(), 12);
    assert_eq!(r[0]["attributes"][0]["key"], "gatehouse.seq");
    assert_eq!(r[11]["attributes"][0]["value"]["intValue"], "12");
    let body: Value = serde_json::from_str(r[3]["body"]["stringValue"].as_str().unwrap()).unwrap();
    assert_eq!(body["rpc_id"], "3");
    assert!(r[0]["timeUnixNano"].as_str().unwrap().len() >= 18);
    up.cancel();
}

#[tokio::test]
async fn every_checkpoint_reaches_each_sink_after_the_events_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), 20).await;
    let key = gatehouse_audit::signing_key_from_hex(&"42".repeat(32)).unwrap();
    store.write_checkpoint(&key).await.unwrap().unwrap();
    let file = dir.path().join("audit.jsonl");
    let addr = free_addr();
    let got: Received = Arc::default();
    let up = CancellationToken::new();
    receiver(addr, got.clone(), up.clone()).await;
    let stop = CancellationToken::new();
    let mut running = Vec::new();
    for toml in [
        format!(
            "[[audit.sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nbatch = 8\n",
            file.display()
        ),
        format!("[[audit.sinks]]\ntype = \"webhook\"\nurl = \"http://{addr}/events\"\n"),
        format!("[[audit.sinks]]\ntype = \"otlp\"\nurl = \"http://{addr}/v1/logs\"\n"),
    ] {
        running.push(tokio::spawn(sinks::run(
            store.clone(),
            sink(&toml),
            stop.clone(),
        )));
    }
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    wait_for("20 events and a checkpoint", || lines().len() >= 21).await;
    record(&store, 20, 10).await;
    store.write_checkpoint(&key).await.unwrap().unwrap();
    wait_for("30 events and two checkpoints", || lines().len() >= 32).await;
    let webhook_checkpoints = || -> Vec<Value> {
        got.lock()
            .unwrap()
            .iter()
            .filter_map(|b| b.as_array().cloned())
            .flatten()
            .filter(|r| r["record"] == "checkpoint")
            .collect()
    };
    let otlp_checkpoints = || -> Vec<Value> {
        got.lock()
            .unwrap()
            .iter()
            .filter_map(|b| {
                b["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                    .as_array()
                    .cloned()
            })
            .flatten()
            .filter(|r| r["eventName"] == "gatehouse.checkpoint")
            .collect()
    };
    wait_for("the webhook's and the collector's checkpoints", || {
        webhook_checkpoints().len() >= 2 && otlp_checkpoints().len() >= 2
    })
    .await;
    stop.cancel();
    for r in running {
        r.await.unwrap();
    }
    up.cancel();
    // In the file: each checkpoint right after the last event it covers.
    let l = lines();
    assert_eq!(l.len(), 32);
    for (at, size) in [(20, 20), (31, 30)] {
        assert_eq!(l[at]["record"], "checkpoint", "{}", l[at]);
        assert_eq!(l[at]["tree_size"], size);
        assert_eq!(l[at - 1]["seq"], size);
        assert!(
            l[at]["note"]
                .as_str()
                .unwrap()
                .starts_with(&format!("gatehouse.invalid/audit\n{size}\n")),
            "{}",
            l[at]
        );
        assert_eq!(
            l[at]["public_key"],
            gatehouse_audit::public_key_hex(&key).as_str()
        );
    }
    assert_eq!(file_seqs(&file), (1..=30).collect::<Vec<_>>());
    let w = webhook_checkpoints();
    assert_eq!((w.len(), &w[1]["tree_size"]), (2, &Value::from(30)));
    let o = otlp_checkpoints();
    assert_eq!(o.len(), 2);
    assert_eq!(o[1]["attributes"][1]["value"]["intValue"], "30");
    // Each went once: the checkpoints have their own cursor.
    assert_eq!(store.sink_cursor("jsonl/checkpoints").await.unwrap(), 2);
}

#[test]
fn sinks_missing_their_target_are_refused() {
    let e = Config::parse(
        "[[audit.sinks]]\ntype = \"jsonl\"\n",
        Path::new("t.toml"),
        std::iter::empty(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("needs `path`"), "{e}");
    let e = Config::parse(
        "[[audit.sinks]]\ntype = \"webhook\"\nurl = \"http://a\"\n[[audit.sinks]]\ntype = \"webhook\"\nurl = \"http://b\"\n",
        Path::new("t.toml"),
        std::iter::empty(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("named `webhook`"), "{e}");
}

const BIN: &str = env!("GATEHOUSE_BIN");

/// A `gatehouse serve` process (a replica) on a free port; killed with SIGKILL on drop.
async fn replica(dir: &Path, name: &str, database: &str, sinks: &str) -> tokio::process::Child {
    let port = free_addr().port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\ndatabase = \"{database}\"\n{sinks}"),
    )
    .unwrap();
    let child = tokio::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("replica {name} did not start");
}

/// The events' seqs in a jsonl sink's file (checkpoint records left out).
fn file_seqs(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["record"] != "checkpoint")
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// Waits (`what`) until the webhook and the jsonl `file` have `n` events each, leaves time
/// for a second delivery to show up if there were one, then checks both hold events
/// 1..=n exactly once, in order (`why` says what a failure means).
async fn delivered_once(got: &Received, file: &Path, n: i64, what: &str, why: &str) {
    let n_len = n as usize;
    wait_for(what, || {
        webhook_seqs(got).len() >= n_len && file_seqs(file).len() >= n_len
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let once: Vec<i64> = (1..=n).collect();
    assert_eq!(webhook_seqs(got), once, "webhook: {why}");
    assert_eq!(file_seqs(file), once, "jsonl file: {why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once_and_the_survivor_takes_over() {
    let pg = common::pg::Cluster::start();
    let url = common::pg::fresh_database(&pg.url("postgres")).await;
    let dir = tempfile::tempdir().unwrap();
    // The events come from the database (any replica's writer); this store is a third.
    let store = Store::open(&url).await.unwrap();
    audit::start_session(&store, "s1").await;
    record(&store, 0, 30).await;
    let addr = free_addr();
    let got: Received = Arc::default();
    let up = CancellationToken::new();
    // A slow receiver: a second replica polling the shared cursor while a batch is on
    // its way would send it again.
    slow_receiver(addr, got.clone(), up.clone(), Duration::from_millis(300)).await;
    // Both replicas write the jsonl sink to the same file: a line twice would show.
    let file = dir.path().join("audit.jsonl");
    let sinks = format!(
        "[[audit.sinks]]\ntype = \"webhook\"\nurl = \"http://{addr}/events\"\nbatch = 7\n\
         [[audit.sinks]]\ntype = \"jsonl\"\npath = \"{}\"\nbatch = 7\n",
        file.display()
    );
    let mut a = replica(dir.path(), "a", &url, &sinks).await;
    wait_for("replica a to deliver the first 30", || {
        webhook_seqs(&got).len() >= 30 && file_seqs(&file).len() >= 30
    })
    .await;
    let _b = replica(dir.path(), "b", &url, &sinks).await;
    record(&store, 30, 40).await;
    delivered_once(&got, &file, 70, "70 events", "each event once, in order").await;

    // The leader dies; the other replica takes over at the shared cursor.
    a.kill().await.unwrap();
    record(&store, 70, 30).await;
    delivered_once(
        &got,
        &file,
        100,
        "replica b to deliver the rest",
        "nothing lost or repeated across the takeover",
    )
    .await;
    assert_eq!(store.sink_cursor("webhook").await.unwrap(), 100);
    up.cancel();
}
