//! Transparency at scale, printed as a table: a log of `GATEHOUSE_BENCH_EVENTS` events
//! (default 1,000,000) generated here, then
//! - indexing its Merkle tree into the store (once, as the first checkpoint does);
//! - inclusion and consistency proof latency from the store (p50/p99 of 1,000 random
//!   requests each);
//! - a period of `GATEHOUSE_BENCH_SLICE` events (default a tenth of the log): the size of
//!   its events and of its period proof, and the offline verification time;
//! - witnessing: the cost of one checkpoint round for a file witness;
//!
//! on SQLite and, when PostgreSQL is installed, on a throwaway cluster.
//! `cargo bench -p gatehouse-control-plane --bench transparency`. The machine is shared:
//! medians, and noisy.

// The table on standard output is what this bench is for.
#![allow(clippy::print_stdout)]

#[path = "../tests/common/audit.rs"]
mod audit;
#[path = "../tests/common/pg.rs"]
mod pg;

use gatehouse_audit::{
    Bracket, NoteSigner, PeriodProof, PeriodVerifier, SigningKey, frontier_node_ids,
};
use gatehouse_control_plane::store::Store;
use gatehouse_control_plane::witnesses::{WitnessConfig, WitnessKind, deliver_all};
use gatehouse_pipeline::Record;
use std::time::{Duration, Instant};

const ORIGIN: &str = "bench.gatehouse/audit";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Request `i`, as the gateway records it. Masked once and copied: the fill measures
/// recording, not masking.
fn event(i: u64) -> Record {
    static CALL: std::sync::LazyLock<Record> = std::sync::LazyLock::new(|| {
        audit::call(
            "bench",
            0,
            "query",
            serde_json::json!({ "q": "x".repeat(200) }),
        )
    });
    let mut e = CALL.clone();
    e.rpc_id = Some(i.to_string());
    e
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn lcg(x: &mut u64) -> u64 {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *x >> 11
}

async fn run(label: &str, store: &Store, dir: &std::path::Path) {
    let n = env("GATEHOUSE_BENCH_EVENTS", 1_000_000);
    let slice = env("GATEHOUSE_BENCH_SLICE", n / 10).clamp(1, n);
    audit::start_session(store, "bench").await;
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<Record> = (i..(i + 1000).min(n)).map(event).collect();
        i += batch.len() as u64;
        store.record(batch).await.unwrap();
    }
    let fill = t.elapsed();
    let key = SigningKey::from_bytes(&[7; 32]);
    let t = Instant::now();
    store.write_checkpoint_as(&key, ORIGIN).await.unwrap();
    let index = t.elapsed();

    let mut seed = 1;
    let mut inc = Vec::new();
    let mut con = Vec::new();
    for _ in 0..1000 {
        let seq = lcg(&mut seed) % n + 1;
        let t = Instant::now();
        store.inclusion_proof(seq, Some(n)).await.unwrap();
        inc.push(t.elapsed());
        let from = lcg(&mut seed) % n + 1;
        let t = Instant::now();
        store.consistency_proof(from, n).await.unwrap();
        con.push(t.elapsed());
    }

    // A period: the last `slice` events, bracketed by checkpoints just before and at its end.
    let (first, last) = (n - slice + 1, n);
    let signer = NoteSigner::new(ORIGIN, key.clone()).unwrap();
    let note = |size: u64, root| {
        gatehouse_audit::Checkpoint::new(ORIGIN, size, root)
            .sign(&signer)
            .to_string()
    };
    let hex = |v: Vec<gatehouse_audit::Hash>| v.iter().map(hex::encode).collect::<Vec<_>>();
    let before = first - 1;
    let start_size = before / 2;
    let proof = PeriodProof {
        origin: ORIGIN.into(),
        first,
        last,
        before: hex(store.tree_nodes(&frontier_node_ids(before)).await.unwrap()),
        start: Some(Bracket {
            checkpoint: note(start_size, store.tree_root(start_size).await.unwrap()),
            proof: store
                .consistency_proof(start_size, before)
                .await
                .unwrap()
                .proof,
        }),
        end: Bracket {
            checkpoint: note(last, store.tree_root(last).await.unwrap()),
            proof: vec![],
        },
    };
    let events = store
        .events_after(before as i64, slice as i64)
        .await
        .unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let event_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let proof_bytes = serde_json::to_string(&proof).unwrap().len();
    let t = Instant::now();
    let mut v = PeriodVerifier::new(proof, &signer.verifier(), &[], vec![]).unwrap();
    for l in &lines {
        let e: gatehouse_audit::StoredEvent = serde_json::from_str(l).unwrap();
        assert!(v.push(&e.as_ref()));
    }
    v.finish().unwrap();
    let verify = t.elapsed();

    // Witnessing: one round for a file witness, per new checkpoint.
    let witnesses = vec![WitnessConfig {
        name: "file".into(),
        kind: WitnessKind::File {
            path: dir.join(format!("{label}.notes")),
        },
    }];
    let http = reqwest::Client::new();
    let mut rounds = Vec::new();
    for k in 0..20u64 {
        store.record(vec![event(n + k)]).await.unwrap();
        let t = Instant::now();
        store.write_checkpoint_as(&key, ORIGIN).await.unwrap();
        deliver_all(store, &witnesses, &http).await;
        rounds.push(t.elapsed());
    }

    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| {label} | {n} events | fill {:.1} s | index {:.1} s | inclusion p50 {} p99 {} | consistency p50 {} p99 {} | slice {slice}: events {:.1} MB, proof {} B ({:.4}x), verify {:.2} s | checkpoint+file witness p50 {} |",
        fill.as_secs_f64(),
        index.as_secs_f64(),
        ms(percentile(inc.clone(), 0.5)),
        ms(percentile(inc, 0.99)),
        ms(percentile(con.clone(), 0.5)),
        ms(percentile(con, 0.99)),
        event_bytes as f64 / 1e6,
        proof_bytes,
        (event_bytes + proof_bytes) as f64 / event_bytes as f64,
        verify.as_secs_f64(),
        ms(percentile(rounds, 0.5))
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("SQLite", &Store::open(&url).await.unwrap(), dir.path()).await;
        postgres(dir.path()).await;
    });
}

/// The same on PostgreSQL when `GATEHOUSE_TEST_DATABASE` names one (`postgres` starts a
/// throwaway cluster, as the tests do).
async fn postgres(dir: &std::path::Path) {
    if std::env::var("GATEHOUSE_TEST_DATABASE").is_err() {
        println!("| PostgreSQL | skipped: set GATEHOUSE_TEST_DATABASE=postgres to run it |");
        return;
    }
    let url = pg::database_url(&dir.join("pg.db")).await;
    run("PostgreSQL", &Store::open(&url).await.unwrap(), dir).await;
}
