//! Audit retention on a real store (SQLite, or PostgreSQL with
//! `GATEHOUSE_TEST_DATABASE=postgres`): events past the retention period are archived to
//! a bundle that verifies offline, then pruned under a signed anchor; the rest of the log
//! still verifies, and tampering, deletion outside retention and forged anchors are
//! still caught and named. Time is moved forward by pruning "as of" a later date.

mod common;

use common::audit;
use gatehouse_audit::{Anchor, KeyRing, LogReport, public_key_hex, signing_key_from_hex};
use gatehouse_control_plane::evidence::{BundleCheck, BundleReport, Signing, verify_bundle};
use gatehouse_control_plane::retention;
use gatehouse_control_plane::store::{Backend, Store};
use serde_json::json;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("GATEHOUSE_BIN");
const SEED: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn key() -> gatehouse_audit::SigningKey {
    signing_key_from_hex(SEED).unwrap()
}

async fn open(dir: &Path) -> (Store, String) {
    audit::open(&dir.join("r.db")).await
}

/// `n` allowed tool calls in `session`, every fourth with a masked value.
async fn record(store: &Store, session: &str, n: usize) {
    let events = (0..n).map(|i| {
        let arguments = if i % 4 == 0 {
            json!({ "i": i, "note": "mail ada@example.com" })
        } else {
            json!({ "i": i })
        };
        audit::call(session, i, "query", arguments).with_decision(&json!({ "effect": "allow" }))
    });
    audit::record(store, events).await;
}

/// Writes a signed checkpoint; the tree size it covers.
async fn checkpoint(store: &Store) -> i64 {
    store
        .write_checkpoint(&key())
        .await
        .unwrap()
        .unwrap()
        .tree_size
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Drops the database's own guard (as someone with direct write access would).
async fn unguard(store: &Store, trigger: &str) {
    let sql = match store.backend() {
        Backend::Sqlite => format!("DROP TRIGGER {trigger}"),
        Backend::Postgres => format!("ALTER TABLE audit_events DISABLE TRIGGER {trigger}"),
    };
    sqlx::query(&sql).execute(store.pool()).await.unwrap();
}

/// A bundle check trusting only the log's key.
fn pinned() -> BundleCheck {
    BundleCheck {
        keys: Some(KeyRing::single(&public_key_hex(&key()))),
        ..BundleCheck::default()
    }
}

/// (events, first event) of a bundle that verifies.
fn intact(r: BundleReport) -> (u64, u64) {
    match r {
        BundleReport::Intact { events, first, .. } => (events, first),
        broken => panic!("{broken:?}"),
    }
}

fn later(days: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::days(days)
}

fn broken(r: LogReport) -> String {
    match r {
        LogReport::Broken { reason, .. } => reason,
        intact => panic!("not caught: {intact:?}"),
    }
}

/// s1: events 1..20, ended; an approval in it. s2: events 21..50, still open.
/// Checkpoint at 30. Returns the store, its URL.
async fn seeded(dir: &Path) -> (Store, String) {
    let (store, url) = open(dir).await;
    audit::start_session(&store, "s1").await;
    record(&store, "s1", 20).await;
    sqlx::query(
        "INSERT INTO approvals (id, session_id, requester, server, method, tool, digest, arguments, approvers, quorum, mode, rule, state, created_at, expires_at) \
         VALUES ('ap1', 's1', 'alice', 'db', 'tools/call', 'drop', 'd', '{}', '[\"bob\"]', 1, 'any', 'r', 'approved', $1, $1)",
    )
    .bind(chrono::Utc::now().to_rfc3339())
    .execute(store.pool())
    .await
    .unwrap();
    store.end_session("s1", "client_closed").await.unwrap();
    audit::start_session(&store, "s2").await;
    record(&store, "s2", 10).await;
    assert_eq!(checkpoint(&store).await, 30);
    record(&store, "s2", 20).await;
    (store, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_log_verifies_from_its_anchor_and_archives_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("archive");
    let (store, _) = seeded(dir.path()).await;
    let trusted = public_key_hex(&key());

    // Nothing is due while every event is younger than the retention period.
    assert!(
        retention::prune(&store, 30, &[], &archives, &key())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&store, "audit_events").await, 50);

    // Two days on, with one day of retention: everything is due, but only up to the
    // newest signed checkpoint (30) may go.
    let p = retention::prune_at(&store, 1, &[], &archives, &key(), later(2))
        .await
        .unwrap()
        .expect("events were due");
    assert_eq!((p.plan.after, p.plan.upto), (0, 30));
    assert_eq!((p.plan.sessions, p.plan.approvals), (1, 1));
    assert_eq!(count(&store, "audit_events").await, 20);
    assert!(
        store.find_session("s1").await.unwrap().is_none(),
        "ended and empty: gone"
    );
    assert!(
        store.find_session("s2").await.unwrap().is_some(),
        "still has events: kept"
    );
    assert_eq!(count(&store, "approvals").await, 0);

    // The archive is a bundle that verifies offline with only the public key, and has
    // what was deleted.
    assert_eq!(
        intact(verify_bundle(&p.archive, &pinned()).unwrap()),
        (30, 1)
    );
    let sessions = std::fs::read_to_string(p.archive.join("sessions.jsonl")).unwrap();
    assert!(sessions.contains("\"s1\""), "{sessions}");
    let approvals = std::fs::read_to_string(p.archive.join("approvals.jsonl")).unwrap();
    assert!(approvals.contains("\"ap1\""), "{approvals}");

    // The live log verifies from the anchor, and goes on being checkpointed over the
    // whole tree (pruned events included).
    match store.verify_log(Some(&trusted)).await.unwrap() {
        LogReport::Intact { events, pruned, .. } => assert_eq!((events, pruned), (20, 30)),
        broken => panic!("{broken:?}"),
    }
    assert_eq!(checkpoint(&store).await, 50);
    record(&store, "s2", 10).await;
    assert_eq!(checkpoint(&store).await, 60);
    assert!(matches!(
        store.verify_log(Some(&trusted)).await.unwrap(),
        LogReport::Intact {
            events: 30,
            checkpoints: 3,
            ..
        }
    ));

    // A second prune archives from the first anchor on; that archive verifies offline
    // from the anchor it carries.
    let p2 = retention::prune_at(&store, 1, &[], &archives, &key(), later(2))
        .await
        .unwrap()
        .expect("events were due");
    assert_eq!((p2.plan.after, p2.plan.upto), (30, 60));
    assert_eq!(
        intact(verify_bundle(&p2.archive, &pinned()).unwrap()),
        (30, 31)
    );
    assert_eq!(
        count(&store, "audit_events").await,
        1,
        "the newest event stays: the next one links to it"
    );
    assert_eq!(
        count(&store, "checkpoints").await,
        1,
        "checkpoints before the anchor are in the archives"
    );
    assert!(matches!(
        store.verify_log(Some(&trusted)).await.unwrap(),
        LogReport::Intact {
            events: 0,
            pruned: 60,
            ..
        }
    ));

    // An evidence export after pruning starts at the anchor and verifies offline.
    record(&store, "s2", 5).await;
    let out = dir.path().join("evidence");
    std::fs::create_dir_all(&out).unwrap();
    let k = key();
    let signing = Signing {
        key: Some(&k),
        ..Signing::none()
    };
    gatehouse_control_plane::evidence::write_bundle(
        &store,
        "2000-01-01T00:00:00Z",
        "2100-01-01T00:00:00Z",
        &out,
        signing,
    )
    .await
    .unwrap();
    assert_eq!(intact(verify_bundle(&out, &pinned()).unwrap()), (5, 61));

    // A changed archive is caught offline.
    let file = p.archive.join("audit_events.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("{\\\"i\\\":3}", "{\\\"i\\\":4}", 1)).unwrap();
    match verify_bundle(&p.archive, &BundleCheck::default()).unwrap() {
        BundleReport::Broken { reason, .. } => {
            assert!(
                reason.contains("audit_events.jsonl was changed"),
                "{reason}"
            )
        }
        intact => panic!("not caught: {intact:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_prune_tampering_deletion_and_forged_anchors_are_still_named() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = seeded(dir.path()).await;
    let trusted = public_key_hex(&key());
    retention::prune_at(&store, 1, &[], &dir.path().join("a"), &key(), later(2))
        .await
        .unwrap()
        .expect("events were due");

    // The database itself refuses to delete events no anchor covers.
    let e = sqlx::query("DELETE FROM audit_events WHERE seq = 31")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");

    // A forged anchor further on (signed by another key) is refused by the trusted key.
    let other = signing_key_from_hex(&"66".repeat(32)).unwrap();
    let a = store.newest_anchor().await.unwrap().unwrap();
    let forged = Anchor {
        tree_size: 40,
        ..a.clone()
    }
    .sign(&other);
    insert_anchor(&store, &forged).await;
    assert!(
        broken(store.verify_log(Some(&trusted)).await.unwrap()).contains("not the trusted key")
    );
    sqlx::query("DELETE FROM audit_anchors WHERE tree_size = 40")
        .execute(store.pool())
        .await
        .unwrap();

    // A changed event after the anchor.
    unguard(&store, "audit_events_append_only_update").await;
    let original: String = sqlx::query_scalar("SELECT payload FROM audit_events WHERE seq = 45")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET payload = '{}' WHERE seq = 45")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(broken(store.verify_log(Some(&trusted)).await.unwrap()).contains("#45 was changed"));
    sqlx::query("UPDATE audit_events SET payload = $1 WHERE seq = 45")
        .bind(original)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.verify_log(Some(&trusted)).await.unwrap(),
        LogReport::Intact { .. }
    ));

    // Events deleted outside retention, right after the anchor.
    unguard(&store, "audit_events_append_only_delete").await;
    sqlx::query("DELETE FROM audit_events WHERE seq <= 33")
        .execute(store.pool())
        .await
        .unwrap();
    let r = broken(store.verify_log(Some(&trusted)).await.unwrap());
    assert!(r.contains("events #31..#33 were deleted"), "{r}");

    // The anchor removed as well: the log no longer starts where anything says it may.
    sqlx::query("DELETE FROM audit_anchors")
        .execute(store.pool())
        .await
        .unwrap();
    let r = broken(store.verify_log(Some(&trusted)).await.unwrap());
    assert!(
        r.contains("starts at event #34") && r.contains("no signed retention anchor"),
        "{r}"
    );
}

async fn insert_anchor(store: &Store, a: &Anchor) {
    sqlx::query(
        "INSERT INTO audit_anchors (tree_size, root_hash, chain_head, frontier, pruned_before, archive, archive_digest, at, public_key, signature) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(a.tree_size)
    .bind(&a.root_hash)
    .bind(&a.chain_head)
    .bind(serde_json::to_string(&a.frontier).unwrap())
    .bind(&a.pruned_before)
    .bind(&a.archive)
    .bind(&a.archive_digest)
    .bind(&a.at)
    .bind(&a.public_key)
    .bind(&a.signature)
    .execute(store.pool())
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prunes_only_with_retention_on_and_says_what_it_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = seeded(dir.path()).await;
    let archives = dir.path().join("archive");
    let run = |config: &str, args: &[&str]| {
        let path = dir.path().join("g.toml");
        std::fs::write(&path, config).unwrap();
        let out = Command::new(BIN)
            .args(["audit"])
            .args(args)
            .arg("--config")
            .arg(&path)
            .env("GATEHOUSE_DATABASE", &url)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Retention off: nothing is deleted, and the user is told how to turn it on.
    let (code, _, err) = run("", &["prune"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("retention_days"), "{err}");
    // Half configured: refused with what is missing.
    let (code, _, err) = run("[audit]\nretention_days = 1\n", &["prune"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("archive_dir"), "{err}");
    let on = format!(
        "[audit]\nretention_days = 1\narchive_dir = \"{}\"\nsigning_key = \"{SEED}\"\n",
        archives.display()
    );
    // Every event is younger than a day: a dry run and a real run both leave them.
    let (code, out, err) = run(&on, &["prune", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("nothing to prune"), "{out}");
    let (code, out, _) = run(&on, &["prune"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("nothing to prune"), "{out}");
    assert_eq!(count(&store, "audit_events").await, 50);
    assert!(!archives.exists());

    // Once pruned (as of two days on), verify says from where and why.
    retention::prune_at(&store, 1, &[], &archives, &key(), later(2))
        .await
        .unwrap()
        .unwrap();
    let (code, out, err) = run(&on, &["verify", "--public-key", &public_key_hex(&key())]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("20 events (#31 onwards; events #1..#30 were archived and pruned"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plan_names_what_would_go_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = seeded(dir.path()).await;
    let plan = retention::plan(&store, 1, &[], later(2))
        .await
        .unwrap()
        .unwrap();
    let text = plan.describe(Path::new("/archive"));
    assert!(
        text.contains("events #1..#30 (30 events")
            && text.contains("1 ended sessions and 1 approvals"),
        "{text}"
    );
    assert!(
        retention::plan(&store, 3, &[], later(2))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&store, "audit_events").await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_sink_has_not_delivered_are_not_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let archives = dir.path().join("archive");
    let (store, _) = seeded(dir.path()).await;
    let sinks = ["siem".to_string()];
    // The SIEM is down: it has delivered 12 events, fewer than the checkpoint covers.
    store.set_sink_cursor("siem", 12).await.unwrap();
    assert!(
        retention::plan(&store, 1, &sinks, later(2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        retention::prune_at(&store, 1, &sinks, &archives, &key(), later(2))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count(&store, "audit_events").await, 50);
    // Once it has caught up past the checkpoint, the events before it go.
    store.set_sink_cursor("siem", 40).await.unwrap();
    let p = retention::prune_at(&store, 1, &sinks, &archives, &key(), later(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.plan.upto, 30);
    assert_eq!(count(&store, "audit_events").await, 20);
}
