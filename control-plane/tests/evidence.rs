//! Period bundles end to end, with the real `gatehouse` binary: `evidence export` writes
//! only the period's events and the signed checkpoints that bracket them (signing and
//! witnessing one at export time when none covers the period's end yet);
//! `audit verify --bundle` proves the period offline, names the witnesses that
//! cosigned, checks it against a witness's file, and refuses a malformed bundle, an
//! event edited inside it, a bracket from another log, a truncated proof and a history
//! rewritten and re-signed by an insider with the real key.

mod common;

use common::audit;
use common::tlog::{ORIGIN, config, gatehouse, key, record, rewrite_history};
use common::witness::Witness;
use gatehouse_audit::{Checkpoint, NoteSigner, SigningKey, public_key_hex};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A copy of the bundle `src` at `dst`.
fn copy(src: &Path, dst: &Path) -> PathBuf {
    std::fs::create_dir_all(dst).unwrap();
    for f in std::fs::read_dir(src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
    dst.to_path_buf()
}

/// Rewrites `name` in the bundle and its hash in the manifest, as someone forging a
/// bundle would.
fn forge(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["files"][name] = Value::String(hex::encode(sha2::Sha256::digest(text.as_bytes())));
    std::fs::write(&path, m.to_string()).unwrap();
}

fn period(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("period.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_bundle_carries_the_period_only_and_proves_it_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = audit::open(&dir.path().join("g.db")).await;
    audit::start_session(&store, "s1").await;
    let w1 = Witness::start("witness.test/w1", ORIGIN, &key()).await;
    let witnessed = dir.path().join("witnessed.notes");
    let cfg = config(
        dir.path(),
        "g.toml",
        &url,
        &format!(
            "[[audit.witnesses]]\nname = \"vault\"\ntype = \"file\"\npath = \"{}\"\n\
             [[audit.witnesses]]\nname = \"w1\"\ntype = \"webhook\"\nurl = \"{}\"\nkey = \"{}\"\n",
            witnessed.display(),
            w1.url,
            w1.vkey()
        ),
    );
    let pk = public_key_hex(&key());

    // Before the period: 40 events and a witnessed checkpoint. The period: 25 events.
    // After it: 10 more, and no checkpoint yet covers the period's end.
    record(&store, 0, 40).await;
    let (code, out, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let from = now();
    record(&store, 40, 65).await;
    let to = now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    record(&store, 65, 75).await;

    let bundle = dir.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let (code, out, err) = gatehouse(
        &cfg,
        &[
            "evidence", "export", "--from", &from, "--to", &to, "--out", b,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("events #41..#65 of the log")
            && out.contains("checkpoints at tree sizes 40 and 75"),
        "{out}"
    );
    // Only the period's events: its size follows the period, not the log.
    let events = std::fs::read_to_string(bundle.join("audit_events.jsonl")).unwrap();
    assert_eq!(events.lines().count(), 25);
    assert!(events.starts_with("{\"seq\":41,"), "{events}");
    // The export signed a checkpoint over the period's end and had it witnessed.
    assert_eq!(w1.size(), 75);

    let verify = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "verify",
            "--bundle",
            dir.to_str().unwrap(),
            "--public-key",
            &pk,
        ];
        args.extend_from_slice(extra);
        gatehouse(&cfg, &args)
    };
    let vkey = w1.vkey();
    let (code, out, err) = verify(&bundle, &["--witness-key", &vkey]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("evidence bundle intact: 25 events (#41..#65 of the log)"),
        "{out}"
    );
    assert!(
        out.contains("witness.test/w1 cosigned the start checkpoint")
            && out.contains("witness.test/w1 cosigned the end checkpoint"),
        "{out}"
    );
    let (code, out, err) = verify(&bundle, &["--witnessed", witnessed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("consistent with the 2 witnessed checkpoints"),
        "{out}"
    );

    // A malformed bundle: not a bundle at all, or a period proof that does not parse.
    let bad = copy(&bundle, &dir.path().join("malformed"));
    forge(&bad, "period.json", "{\"origin\":");
    let (code, _, err) = verify(&bad, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a period proof"), "{err}");
    std::fs::write(bad.join("manifest.json"), "garbage").unwrap();
    let (code, _, err) = verify(&bad, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a Gatehouse evidence bundle"), "{err}");

    // An event edited inside the bundle, the manifest fixed to match.
    let edited = copy(&bundle, &dir.path().join("edited"));
    forge(
        &edited,
        "audit_events.jsonl",
        &events.replacen("{\\\"i\\\":50}", "{\\\"i\\\":51}", 1),
    );
    let (code, _, err) = verify(&edited, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("EVIDENCE BUNDLE DOES NOT VERIFY: event #51 was changed"),
        "{err}"
    );

    // The end bracket swapped for one from another log (its own origin and key).
    let foreign = copy(&bundle, &dir.path().join("foreign"));
    let mut p = period(&foreign);
    let other = NoteSigner::new("elsewhere.test/audit", SigningKey::from_bytes(&[9; 32])).unwrap();
    p["end"]["checkpoint"] = Value::String(
        Checkpoint::new("elsewhere.test/audit", 75, [1; 32])
            .sign(&other)
            .to_string(),
    );
    forge(&foreign, "period.json", &p.to_string());
    let (code, _, err) = verify(&foreign, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("belongs to another log"), "{err}");

    // A truncated consistency proof.
    let truncated = copy(&bundle, &dir.path().join("truncated"));
    let mut p = period(&truncated);
    p["end"]["proof"].as_array_mut().unwrap().pop();
    forge(&truncated, "period.json", &p.to_string());
    let (code, _, err) = verify(&truncated, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("not the ones the end checkpoint (tree size 75) signed"),
        "{err}"
    );

    // Events cut from the end of the period.
    let cut = copy(&bundle, &dir.path().join("cut"));
    let short: String = events.lines().take(20).map(|l| format!("{l}\n")).collect();
    forge(&cut, "audit_events.jsonl", &short);
    let (code, _, err) = verify(&cut, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("events were removed"), "{err}");

    // An insider rewrites event #50 with the database and the real key, re-signs and
    // exports again: the bundle verifies on its own, but not against the witness's file.
    rewrite_history(&store, 50).await;
    let quiet = config(dir.path(), "insider.toml", &url, "");
    let forged = dir.path().join("forged");
    let (code, out, err) = gatehouse(
        &quiet,
        &[
            "evidence",
            "export",
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            forged.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = verify(&forged, &[]);
    assert_eq!(code, 0, "the re-signed rewrite passes alone: {out}{err}");
    let (code, _, err) = verify(&forged, &["--witnessed", witnessed.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("EVIDENCE BUNDLE DOES NOT VERIFY")
            && err.contains("(tree size 75")
            && err.contains("is contradicted by the bundle's checkpoint at tree size 75"),
        "{err}"
    );
}

/// The published key list (`/.well-known/gatehouse-audit-key`) of a gateway signing
/// with the key of `seed`, saved to `file`.
async fn published_keys(url: &str, dir: &Path, seed: &str, file: &Path) -> Value {
    let key_file = dir.join("served.key");
    std::fs::write(&key_file, seed).unwrap();
    let toml = format!(
        "[audit]\nsigning_key = \"file:{}\"\norigin = \"{ORIGIN}\"\ncheckpoint_secs = 3600\n",
        key_file.display()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = common::serve_url(&toml, url, false, async {
        let _ = stopped.await;
    })
    .await;
    let published: Value = reqwest::get(format!("{}/.well-known/gatehouse-audit-key", served.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = stop.send(());
    let _ = served.handle.await;
    std::fs::write(file, published.to_string()).unwrap();
    published
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_crosses_a_key_rotation_and_refuses_a_retired_key() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = audit::open(&dir.path().join("g.db")).await;
    audit::start_session(&store, "s1").await;
    let (old_seed, new_seed) = ("42".repeat(32), "43".repeat(32));
    let old = common::tlog::config_with_key(dir.path(), "old.toml", &url, "", &old_seed);
    let new = common::tlog::config_with_key(dir.path(), "new.toml", &url, "", &new_seed);
    let run = |cfg: &Path, args: &[&str]| {
        let (code, out, err) = gatehouse(cfg, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    record(&store, 0, 20).await;
    run(&old, &["audit", "checkpoint"]);
    // `[audit] signing_key` changes: the next checkpoint is the new key's first.
    record(&store, 20, 40).await;
    run(&new, &["audit", "checkpoint"]);

    let keys_file = dir.path().join("keys.json");
    let published = published_keys(&url, dir.path(), &new_seed, &keys_file).await;
    let keys = published["keys"].as_array().unwrap();
    let hex = |seed: &str| public_key_hex(&gatehouse_audit::signing_key_from_hex(seed).unwrap());
    assert_eq!(keys.len(), 2, "{published}");
    assert_eq!(keys[0]["public_key"], hex(&old_seed).as_str());
    assert_eq!(keys[1]["public_key"], hex(&new_seed).as_str());
    assert!(keys[0]["valid_from"].is_null() && keys[1]["retired_at"].is_null());
    assert_eq!(keys[0]["retired_at"], keys[1]["valid_from"], "{published}");
    assert_eq!(published["public_key"], hex(&new_seed).as_str());
    let pinned = ["--keys", keys_file.to_str().unwrap()];

    // The live log and a period bundle across the rotation verify with the published keys.
    let out = run(&new, &[&["audit", "verify"][..], &pinned].concat());
    assert!(out.contains("audit log intact: 40 events"), "{out}");
    let (code, _, err) = gatehouse(&new, &["audit", "verify", "--public-key", &hex(&old_seed)]);
    assert_eq!(code, 1, "one pinned key alone refuses its successor: {err}");
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT at FROM audit_events WHERE seq IN (21, 40) ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let bundle = dir.path().join("rotated");
    run(
        &new,
        &[
            "evidence",
            "export",
            "--from",
            &rows[0],
            "--to",
            &rows[1],
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    let b = bundle.to_str().unwrap();
    let out = run(
        &new,
        &[&["audit", "verify", "--bundle", b][..], &pinned].concat(),
    );
    assert!(
        out.contains("start checkpoint (tree size 20) is signed by key")
            && out.contains(&hex(&old_seed))
            && out.contains(&hex(&new_seed)),
        "{out}"
    );

    // The retired key signs again after its retirement (a leaked key, or a replica
    // left on the old config): refused, in the live log and in a bundle.
    record(&store, 40, 50).await;
    run(&old, &["audit", "checkpoint"]);
    let (code, _, err) = gatehouse(&new, &[&["audit", "verify"][..], &pinned].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("after that key was retired"), "{err}");
    let late: Vec<String> =
        sqlx::query_scalar("SELECT at FROM audit_events WHERE seq IN (41, 50) ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let bundle = dir.path().join("late");
    run(
        &new,
        &[
            "evidence",
            "export",
            "--from",
            &late[0],
            "--to",
            &late[1],
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    let (code, _, err) = gatehouse(
        &new,
        &[
            &["audit", "verify", "--bundle", bundle.to_str().unwrap()][..],
            &pinned,
        ]
        .concat(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("end checkpoint (tree size 50) is refused")
            && err.contains("after that key was retired"),
        "{err}"
    );
}

/// A period with nothing recorded exits 2 with the reason and leaves no folder that could
/// pass for an export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_period_is_refused_and_leaves_no_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, url) = audit::open(&dir.path().join("g.db")).await;
    let cfg = config(dir.path(), "g.toml", &url, "");
    let bundle = dir.path().join("bundle");
    let (code, out, err) = gatehouse(
        &cfg,
        &[
            "evidence",
            "export",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("nothing to export"), "{err}");
    assert!(!bundle.exists(), "an empty export folder was left behind");
}
