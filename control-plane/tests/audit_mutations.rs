//! Mutation tests of the audit log: each case alters a real store the way someone with
//! direct write access to the database could (the append-only guards dropped first),
//! then runs the real `gatehouse audit verify` and expects it to fail (exit 1) naming the
//! problem and where. SQLite by default; `scripts/audit-mutations.sh` runs them on
//! PostgreSQL too.

mod common;

use common::audit;
use gatehouse_audit::{StoredEvent, chain_hash, signing_key_from_hex};
use gatehouse_control_plane::store::{Backend, Store};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("GATEHOUSE_BIN");

/// 50 events in two sessions; a signed checkpoint at 40.
async fn seeded(path: &Path) -> (Store, String) {
    let (store, url) = audit::open(path).await;
    for s in ["s1", "s2"] {
        audit::start_session(&store, s).await;
    }
    for i in 0..50usize {
        if i == 40 {
            let key = signing_key_from_hex(&"42".repeat(32)).unwrap();
            store.write_checkpoint(&key).await.unwrap().unwrap();
        }
        let session = if i % 2 == 0 { "s1" } else { "s2" };
        audit::record(&store, [audit::request(session, i)]).await;
    }
    // The guards an attacker with database access would drop first.
    let unguard: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_append_only_update",
            "DROP TRIGGER audit_events_append_only_delete",
        ],
        Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER USER"],
    };
    for sql in unguard {
        sqlx::query(sql).execute(store.pool()).await.unwrap();
    }
    (store, url)
}

async fn run(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

async fn event(store: &Store, seq: i64) -> StoredEvent {
    store.events_after(seq - 1, 1).await.unwrap().pop().unwrap()
}

fn rehash(prev: &str, e: &StoredEvent) -> String {
    chain_hash(prev, &e.as_ref().record)
}

/// Rewrites the payload of `from` and re-hashes every event after it, as a careful
/// attacker would so that the chain itself stays consistent.
async fn rewrite_and_rehash(store: &Store, from: i64, last: i64) {
    run(
        store,
        &format!("UPDATE audit_events SET payload = '{{\"i\":-1}}' WHERE seq = {from}"),
    )
    .await;
    let mut prev = event(store, from).await.prev_hash.unwrap();
    for seq in from..=last {
        let e = event(store, seq).await;
        let hash = rehash(&prev, &e);
        sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&hash)
            .bind(seq)
            .execute(store.pool())
            .await
            .unwrap();
        prev = hash;
    }
}

/// `gatehouse audit verify` must exit 1 and say `expected`.
fn verify_names(url: &str, expected: &str) {
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .env("GATEHOUSE_DATABASE", url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{expected}: {err}");
    assert!(
        err.contains("AUDIT LOG TAMPERED") && err.contains(expected),
        "expected `{expected}` in: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_every_kind_of_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let case = |name: &str| dir.path().join(format!("{name}.db"));

    // Untouched, it verifies.
    let (_, url) = seeded(&case("intact")).await;
    let out = Command::new(BIN)
        .args(["audit", "verify"])
        .env("GATEHOUSE_DATABASE", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (s, url) = seeded(&case("changed")).await;
    run(
        &s,
        "UPDATE audit_events SET payload = '{\"i\":999}' WHERE seq = 7",
    )
    .await;
    verify_names(&url, "event #7 was changed");

    let (s, url) = seeded(&case("removed")).await;
    run(&s, "DELETE FROM audit_events WHERE seq = 12").await;
    verify_names(&url, "event #13 follows #11");

    // Inserted: events from #20 on move up one, a forged #20 goes in, linked and hashed
    // correctly onto #19; the moved event no longer links to what precedes it.
    let (s, url) = seeded(&case("inserted")).await;
    run(
        &s,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 20",
    )
    .await;
    run(
        &s,
        "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
    )
    .await;
    let mut forged = event(&s, 19).await;
    forged.seq = 20;
    forged.payload = "{\"i\":\"forged\"}".into();
    let prev = forged.hash.clone().unwrap();
    let hash = rehash(&prev, &forged);
    sqlx::query(
        "INSERT INTO audit_events (seq, session_id, at, direction, kind, method, tool, rpc_id, payload, prev_hash, hash) \
         VALUES (20, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&forged.session_id)
    .bind(&forged.at)
    .bind(&forged.direction)
    .bind(&forged.kind)
    .bind(&forged.method)
    .bind(&forged.tool)
    .bind(&forged.rpc_id)
    .bind(&forged.payload)
    .bind(&prev)
    .bind(&hash)
    .execute(s.pool())
    .await
    .unwrap();
    verify_names(&url, "event #21");

    let (s, url) = seeded(&case("reordered")).await;
    run(&s, "UPDATE audit_events SET seq = 1003 WHERE seq = 3").await;
    run(&s, "UPDATE audit_events SET seq = 3 WHERE seq = 4").await;
    run(&s, "UPDATE audit_events SET seq = 4 WHERE seq = 1003").await;
    verify_names(&url, "event #3");

    let (s, url) = seeded(&case("truncated")).await;
    run(&s, "DELETE FROM audit_events WHERE seq > 30").await;
    verify_names(&url, "truncated tail");

    // Rewritten and re-hashed so the chain holds: the signed checkpoint does not.
    let (s, url) = seeded(&case("rewritten")).await;
    rewrite_and_rehash(&s, 35, 50).await;
    verify_names(&url, "no longer match checkpoint");

    let (s, url) = seeded(&case("forged-checkpoint")).await;
    run(&s, "UPDATE checkpoints SET tree_size = 30").await;
    verify_names(&url, "invalid signature");

    let (s, url) = seeded(&case("head-cut")).await;
    run(&s, "DELETE FROM audit_events WHERE seq <= 5").await;
    verify_names(&url, "starts at event #6");

    let (s, url) = seeded(&case("unlinked")).await;
    run(
        &s,
        "UPDATE audit_events SET prev_hash = hash WHERE seq = 44",
    )
    .await;
    verify_names(&url, "event #44 does not link");
}
