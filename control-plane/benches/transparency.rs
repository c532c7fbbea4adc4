//! Transparency at scale, printed as a table: a log of `GATEHOUSE_BENCH_EVENTS` events
//! (default 1,000,000) generated here, then
//! - indexing its Merkle tree into the store (once, as the first checkpoint does);
//! - inclusion and consistency proof latency from the store (p50/p99 of 1,000 random
//!   requests each);
//! - a period of `GATEHOUSE_BENCH_SLICE` events (default a tenth of the log), exported as
//!   an evidence bundle (`evidence::write_bundle`, as `gatehouse evidence export` does):
//!   the bundle's size against its events' own bytes, and the offline verification time
//!   (`evidence::verify_bundle`, as `gatehouse audit verify --bundle` does);
//! - witnessing: the cost of one checkpoint round alone, with a file witness, and with a
//!   C2SP tlog-witness over HTTP (consistency proof, cosignature checked and stored);
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
#[path = "../tests/common/witness.rs"]
mod witness;

use gatehouse_audit::{KeyRing, SigningKey, public_key_hex};
use gatehouse_control_plane::evidence::{
    BundleCheck, BundleReport, Signing, verify_bundle, write_bundle,
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

    // A period: the last `slice` events, exported and verified as an auditor would.
    let first = n - slice + 1;
    let at = |seq: u64| {
        sqlx::query_scalar::<_, String>("SELECT at FROM audit_events WHERE seq = $1")
            .bind(seq as i64)
            .fetch_one(store.pool())
    };
    let (from, to) = (at(first).await.unwrap(), at(n).await.unwrap());
    let out = dir.join(format!("{label}-bundle"));
    std::fs::create_dir_all(&out).unwrap();
    let signing = Signing {
        key: Some(&key),
        origin: ORIGIN,
        witnesses: &[],
    };
    let t = Instant::now();
    write_bundle(store, &from, &to, &out, signing)
        .await
        .unwrap();
    let export = t.elapsed();
    let events_bytes = std::fs::metadata(out.join("audit_events.jsonl"))
        .unwrap()
        .len();
    let bundle_bytes: u64 = std::fs::read_dir(&out)
        .unwrap()
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    let check = BundleCheck {
        keys: Some(KeyRing::single(&public_key_hex(&key))),
        ..BundleCheck::default()
    };
    let t = Instant::now();
    let report = verify_bundle(&out, &check).unwrap();
    let verify = t.elapsed();
    let BundleReport::Intact {
        events: in_bundle, ..
    } = report
    else {
        panic!("{report:?}");
    };

    // Witnessing: one round per new checkpoint, alone, with a file witness, with an
    // HTTP tlog-witness.
    let w = witness::Witness::start("bench.witness/w1", ORIGIN, &key).await;
    let file = WitnessConfig {
        name: "file".into(),
        kind: WitnessKind::File {
            path: dir.join(format!("{label}.notes")),
        },
    };
    let webhook = WitnessConfig {
        name: "w1".into(),
        kind: WitnessKind::Webhook {
            url: w.url.clone(),
            key: w.vkey(),
        },
    };
    let http = reqwest::Client::new();
    let mut next = n;
    let mut round = async |witnesses: &[WitnessConfig]| {
        let mut took = Vec::new();
        for _ in 0..20 {
            store.record(vec![event(next)]).await.unwrap();
            next += 1;
            let t = Instant::now();
            store.write_checkpoint_as(&key, ORIGIN).await.unwrap();
            for (name, d) in deliver_all(store, witnesses, &http).await {
                assert!(
                    !matches!(d, gatehouse_control_plane::witnesses::Delivery::Failed(_)),
                    "{name}: {d:?}"
                );
            }
            took.push(t.elapsed());
        }
        percentile(took, 0.5)
    };
    let alone = round(&[]).await;
    let with_file = round(std::slice::from_ref(&file)).await;
    let with_webhook = round(std::slice::from_ref(&webhook)).await;

    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| {label} | log | {n} events (generated in {:.1} s; tree indexed in {:.1} s) |",
        fill.as_secs_f64(),
        index.as_secs_f64()
    );
    println!(
        "| {label} | inclusion proof | p50 {} p99 {} (1,000 random events) |",
        ms(percentile(inc.clone(), 0.5)),
        ms(percentile(inc, 0.99))
    );
    println!(
        "| {label} | consistency proof | p50 {} p99 {} (1,000 random sizes) |",
        ms(percentile(con.clone(), 0.5)),
        ms(percentile(con, 0.99))
    );
    println!(
        "| {label} | period bundle | {in_bundle} events: events {:.1} MB, whole bundle {:.1} MB ({:.3}x the events), exported in {:.2} s |",
        events_bytes as f64 / 1e6,
        bundle_bytes as f64 / 1e6,
        bundle_bytes as f64 / events_bytes as f64,
        export.as_secs_f64()
    );
    println!(
        "| {label} | offline verify | {:.2} s for {in_bundle} events ({:.2} s per million) |",
        verify.as_secs_f64(),
        verify.as_secs_f64() * 1e6 / in_bundle as f64
    );
    println!(
        "| {label} | checkpoint round p50 | alone {}, + file witness {}, + HTTP tlog-witness {} |",
        ms(alone),
        ms(with_file),
        ms(with_webhook)
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!("| store | what | measured |\n| --- | --- | --- |");
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
        println!("| PostgreSQL | skipped | set GATEHOUSE_TEST_DATABASE=postgres to run it |");
        return;
    }
    let url = pg::database_url(&dir.join("pg.db")).await;
    run("PostgreSQL", &Store::open(&url).await.unwrap(), dir).await;
}
