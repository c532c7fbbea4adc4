//! The transparency and evidence tests' shared set-up: a config with the log's key in a
//! file and witnesses, the real `gatehouse` binary run on it, and what an insider with
//! the database does to rewrite history.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use super::audit;
use gatehouse_audit::{SigningKey, StoredEvent, chain_hash, signing_key_from_hex};
use gatehouse_control_plane::store::{Backend, Store};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("GATEHOUSE_BIN");
pub const ORIGIN: &str = "gatehouse.test/audit";

pub fn key() -> SigningKey {
    signing_key_from_hex(&"42".repeat(32)).unwrap()
}

/// A config for `url` with the key in a file and the given witnesses (TOML tables).
pub fn config(dir: &Path, name: &str, url: &str, witnesses: &str) -> PathBuf {
    config_with_key(dir, name, url, witnesses, &"42".repeat(32))
}

/// [`config`] signing with the key of `seed` (64 hex digits).
pub fn config_with_key(dir: &Path, name: &str, url: &str, witnesses: &str, seed: &str) -> PathBuf {
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&key_file, seed).unwrap();
    let cfg = dir.join(name);
    std::fs::write(
        &cfg,
        format!(
            "database = \"{url}\"\n[audit]\nsigning_key = \"file:{}\"\norigin = \"{ORIGIN}\"\n{witnesses}",
            key_file.display()
        ),
    )
    .unwrap();
    cfg
}

pub fn gatehouse(cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("GATEHOUSE_CONFIG")
        .env_remove("GATEHOUSE_DATABASE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub async fn record(store: &Store, from: usize, to: usize) {
    audit::record(store, (from..to).map(|i| audit::request("s1", i))).await;
}

pub async fn sql(store: &Store, q: &str) {
    sqlx::query(q).execute(store.pool()).await.unwrap();
}

/// What an insider with database access does: drops the guards, rewrites event `seq`,
/// re-hashes the chain after it, and throws away every checkpoint and tree row so the
/// real key can sign the new history afresh.
pub async fn rewrite_history(store: &Store, seq: i64) {
    let unguard: &[&str] = match store.backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_append_only_update",
            "DROP TRIGGER audit_events_append_only_delete",
        ],
        Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER USER"],
    };
    for q in unguard {
        sql(store, q).await;
    }
    sql(
        store,
        &format!(
            "UPDATE audit_events SET payload = '{{\"i\":\"nothing happened\"}}' WHERE seq = {seq}"
        ),
    )
    .await;
    let mut events: Vec<StoredEvent> = store.events_after(seq - 1, i64::MAX).await.unwrap();
    let mut prev = events[0].prev_hash.clone().unwrap();
    for e in &mut events {
        let h = chain_hash(&prev, &e.as_ref().record);
        sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&prev)
            .bind(&h)
            .bind(e.seq)
            .execute(store.pool())
            .await
            .unwrap();
        prev = h;
    }
    for t in ["checkpoints", "audit_tree", "audit_tree_nodes"] {
        sql(store, &format!("DELETE FROM {t}")).await;
    }
}
