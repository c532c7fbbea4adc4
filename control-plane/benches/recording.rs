//! Durable recording throughput: one caller at a time (every record pays its own
//! commit) against 64 concurrent callers (group commit shares commits), with
//! `synchronous = FULL` on a real file.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_control_plane::store::{Durability, NewSession, Store};
use gatehouse_mask::{Masker, Profile};
use gatehouse_pipeline::{Direction, Masking, Record};
use gatehouse_proxy_core::jsonrpc::Message;
use std::sync::{Arc, LazyLock};

/// A server's 1 kB answer, masked and recorded as the gateway records it. Masked once:
/// this measures recording, not masking.
static ANSWER: LazyLock<Record> = LazyLock::new(|| {
    let masking = Masking::new(Arc::new(
        Masker::new(&Profile::default(), None).expect("masker"),
    ));
    let msg = Message::from_value(serde_json::json!({
        "jsonrpc": "2.0", "id": 0,
        "result": { "content": [{ "type": "text", "text": "x".repeat(1000) }] },
    }))
    .expect("message");
    Record::message(
        "bench",
        Direction::ServerToClient,
        &masking.from_server(msg, Some("tools/call")),
    )
});

fn event(n: u64) -> Record {
    let mut e = ANSWER.clone();
    e.rpc_id = Some(n.to_string());
    e
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    for durability in [Durability::Fsync, Durability::Os] {
        let url = format!(
            "sqlite://{}",
            dir.path().join(format!("{durability:?}.db")).display()
        );
        let store = rt.block_on(async {
            let s = Store::open_with(&url, durability).await.expect("store");
            s.start_session(NewSession {
                id: "bench".into(),
                principal: "bench".into(),
                groups: vec![],
                server: "fast".into(),
                era: "legacy".into(),
                client: None,
                protocol_version: None,
            })
            .await
            .expect("session");
            s
        });
        let mut g = c.benchmark_group(format!("record_{durability:?}").to_lowercase());
        g.throughput(Throughput::Elements(1));
        g.bench_function("one_caller", |b| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                rt.block_on(store.record(vec![event(n)])).expect("record")
            })
        });
        g.throughput(Throughput::Elements(64));
        g.bench_function("64_concurrent_callers", |b| {
            let mut n = 0;
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..64)
                        .map(|_| {
                            n += 1;
                            let s = store.clone();
                            let e = event(n);
                            tokio::spawn(async move { s.record(vec![e]).await })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("join").expect("record");
                    }
                })
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
