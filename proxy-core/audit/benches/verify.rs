//! Verification speed: events per second through the chain verifier (and the Merkle root
//! a checkpoint needs), on 100,000 realistic events.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_audit::{
    ChainRecord, GENESIS, StoredCheckpoint, StoredEvent, TreeHead, chain_hash, merkle_root,
    public_key_hex, signing_key_from_hex, verify_log,
};
use std::hint::black_box;

fn log(n: i64) -> (Vec<StoredEvent>, Vec<StoredCheckpoint>) {
    let mut prev = GENESIS.to_string();
    let mut events = Vec::with_capacity(n as usize);
    for seq in 1..=n {
        let payload = format!(
            r#"{{"jsonrpc":"2.0","id":{seq},"method":"tools/call","params":{{"name":"query","arguments":{{"sql":"select * from customers where id = {seq}"}}}}}}"#
        );
        let e = StoredEvent {
            seq,
            session_id: "0123456789abcdef0123456789abcdef".into(),
            at: "2026-11-29T12:00:00.000000Z".into(),
            direction: "client_to_server".into(),
            kind: "request".into(),
            method: Some("tools/call".into()),
            tool: Some("query".into()),
            rpc_id: Some(seq.to_string()),
            payload,
            masked: None,
            decision: Some(
                r#"{"effect":"allow","rule":"engineers-read","policy_version":"v1-1df7eebe2da9"}"#
                    .into(),
            ),
            prev_hash: Some(prev.clone()),
            hash: None,
        };
        let hash = chain_hash(
            &prev,
            &ChainRecord {
                seq,
                session_id: &e.session_id,
                at: &e.at,
                direction: &e.direction,
                kind: &e.kind,
                method: e.method.as_deref(),
                tool: e.tool.as_deref(),
                rpc_id: e.rpc_id.as_deref(),
                payload: &e.payload,
                masked: None,
                decision: e.decision.as_deref(),
            },
        );
        prev = hash.clone();
        events.push(StoredEvent {
            hash: Some(hash),
            ..e
        });
    }
    let key = signing_key_from_hex(&"42".repeat(32)).expect("key");
    let leaves: Vec<Vec<u8>> = events
        .iter()
        .map(|e| hex::decode(e.hash.as_deref().unwrap_or("")).unwrap_or_default())
        .collect();
    let head = TreeHead {
        tree_size: n,
        root: hex::encode(merkle_root(&leaves)),
        chain_head: prev,
        at: "t".into(),
    };
    let cp = StoredCheckpoint {
        id: 1,
        tree_size: n,
        root_hash: head.root.clone(),
        chain_head: head.chain_head.clone(),
        at: head.at.clone(),
        public_key: public_key_hex(&key),
        signature: head.sign(&key),
    };
    (events, vec![cp])
}

fn bench(c: &mut Criterion) {
    let n = 100_000;
    let (events, checkpoints) = log(n);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("chain_and_checkpoint_100k_events", |b| {
        // The store hands the verifier owned rows; cloning them is setup, not verification.
        b.iter_batched(
            || events.clone(),
            |owned| black_box(verify_log(owned, &checkpoints, None)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
