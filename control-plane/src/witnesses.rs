//! Sending each signed checkpoint to the configured witnesses (`[[audit.witnesses]]`),
//! so that someone holding both the signing key and the database still cannot rewrite
//! history unnoticed: the witnesses keep what the log said, outside its reach.
//!
//! - `file`: the checkpoint note is appended to a file (on another volume, ideally
//!   write-once storage); `gatehouse audit verify --witnessed FILE` reads it back.
//! - `webhook`: a C2SP `tlog-witness` `add-checkpoint` POST carrying the consistency
//!   proof from the last size the witness acknowledged; its cosignature is checked
//!   against the witness's key and stored beside the checkpoint.
//!
//! A witness that is down holds nothing up: recording and checkpointing go on, the
//! failure is stored (the dashboard and `/metrics` show the gap), and the next round
//! catches up — a file witness gets every note it missed, a webhook witness the newest
//! checkpoint with a proof from the last one it acknowledged.

use crate::store::{Store, StoreError};
use gatehouse_audit::{AddCheckpoint, KeyKind, Note, NoteSignature, VerifierKey, cosignatures};
use serde::Deserialize;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// One `[[audit.witnesses]]` entry. (No `deny_unknown_fields` here: serde cannot combine
/// it with the flattened kind, and would refuse every kind's own keys.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WitnessConfig {
    /// A name for messages, metrics and the dashboard (unique).
    pub name: String,
    /// Where and how.
    #[serde(flatten)]
    pub kind: WitnessKind,
}

/// The kinds of witness.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WitnessKind {
    /// Appends each checkpoint note to `path`.
    File {
        /// The append-only file (put it on another volume).
        path: PathBuf,
    },
    /// POSTs `add-checkpoint` to `url` (the witness's submission prefix).
    Webhook {
        /// Submission prefix; the request goes to `{url}/add-checkpoint`.
        url: String,
        /// The witness's cosignature key, `<name>+<key id>+<base64 key>` (type 0x04).
        key: String,
    },
}

impl WitnessConfig {
    /// Checks the entry; says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("audit.witnesses: every witness needs a name".into());
        }
        if let WitnessKind::Webhook { url, key } = &self.kind {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!(
                    "audit.witnesses `{}`: url `{url}` is not an http(s) URL",
                    self.name
                ));
            }
            let k = VerifierKey::parse(key)
                .map_err(|e| format!("audit.witnesses `{}`: {e}", self.name))?;
            if k.kind != KeyKind::Cosignature {
                return Err(format!(
                    "audit.witnesses `{}`: key is a note key; a witness key has type 0x04 (cosignature/v1)",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// Where one witness stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WitnessStatus {
    /// Its name.
    pub name: String,
    /// The largest tree size it acknowledged (0: none yet).
    pub size: u64,
    /// Events in the newest checkpoint it has not acknowledged yet (the gap).
    pub behind: u64,
    /// Its last failure, when its last attempt failed.
    pub last_error: Option<String>,
    /// When it last acknowledged a checkpoint.
    pub delivered_at: Option<String>,
}

/// What one round of delivery did for one witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing new for it.
    UpToDate,
    /// It acknowledged (and, for a webhook, cosigned) the tree of this size.
    Acknowledged(u64),
    /// It failed; the reason is stored and shown.
    Failed(String),
}

/// A checkpoint row with its note.
#[derive(Debug, Clone)]
struct NoteRow {
    id: i64,
    size: u64,
    note: String,
}

async fn notes_after(store: &Store, id: i64) -> Result<Vec<NoteRow>, StoreError> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, tree_size, note FROM checkpoints WHERE id > $1 AND note IS NOT NULL ORDER BY id",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, size, note)| NoteRow {
            id,
            size: size as u64,
            note,
        })
        .collect())
}

async fn position(store: &Store, name: &str) -> Result<(u64, i64), StoreError> {
    let row: Option<(i64, Option<i64>)> =
        sqlx::query_as("SELECT size, checkpoint_id FROM audit_witnesses WHERE name = $1")
            .bind(name)
            .fetch_optional(store.pool())
            .await?;
    Ok(row.map_or((0, 0), |(s, id)| (s as u64, id.unwrap_or(0))))
}

async fn record_failure(store: &Store, name: &str, error: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_witnesses (name, size, last_error, attempted_at) VALUES ($1, 0, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET last_error = excluded.last_error, attempted_at = excluded.attempted_at",
    )
    .bind(name)
    .bind(error)
    .bind(now())
    .execute(store.pool())
    .await?;
    Ok(())
}

async fn record_success(
    store: &Store,
    name: &str,
    row: &NoteRow,
    signatures: Option<String>,
) -> Result<(), StoreError> {
    let at = now();
    let mut tx = store.write_tx().await?;
    sqlx::query(
        "INSERT INTO audit_cosignatures (witness, checkpoint_id, tree_size, signatures, at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (witness, checkpoint_id) DO NOTHING",
    )
    .bind(name)
    .bind(row.id)
    .bind(row.size as i64)
    .bind(signatures)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO audit_witnesses (name, size, checkpoint_id, last_error, attempted_at, delivered_at) \
         VALUES ($1, $2, $3, NULL, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET size = excluded.size, checkpoint_id = excluded.checkpoint_id, \
         last_error = NULL, attempted_at = excluded.attempted_at, delivered_at = excluded.delivered_at",
    )
    .bind(name)
    .bind(row.size as i64)
    .bind(row.id)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends what each witness has not seen yet; one witness failing never stops the others
/// (nor the log).
pub async fn deliver_all(
    store: &Store,
    witnesses: &[WitnessConfig],
    http: &reqwest::Client,
) -> Vec<(String, Delivery)> {
    let mut out = Vec::with_capacity(witnesses.len());
    for w in witnesses {
        let d = match deliver(store, w, http).await {
            Ok(d) => d,
            Err(e) => Delivery::Failed(e),
        };
        if let Delivery::Failed(e) = &d {
            tracing::warn!(witness = %w.name, error = %e, "audit witness did not take the checkpoint; will retry");
            if let Err(e2) = record_failure(store, &w.name, e).await {
                tracing::error!(witness = %w.name, error = %e2, "cannot record a witness failure");
            }
        }
        out.push((w.name.clone(), d));
    }
    out
}

async fn deliver(
    store: &Store,
    w: &WitnessConfig,
    http: &reqwest::Client,
) -> Result<Delivery, String> {
    let (size, after) = position(store, &w.name).await.map_err(|e| e.to_string())?;
    let pending = notes_after(store, after).await.map_err(|e| e.to_string())?;
    let Some(newest) = pending.last().cloned() else {
        return Ok(Delivery::UpToDate);
    };
    match &w.kind {
        WitnessKind::File { path } => {
            // Every missed note, in order: the file is the witness's whole history.
            let text: String = pending.iter().map(|r| format!("{}\n", r.note)).collect();
            append(path, &text).map_err(|e| format!("cannot append to {}: {e}", path.display()))?;
            record_success(store, &w.name, &newest, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        WitnessKind::Webhook { url, key } => {
            let key = VerifierKey::parse(key).map_err(|e| e.to_string())?;
            let sigs = add_checkpoint(store, http, url, &key, size, &newest).await?;
            record_success(store, &w.name, &newest, Some(sigs))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(Delivery::Acknowledged(newest.size))
}

fn append(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

/// One `add-checkpoint` exchange; on a 409 (the witness remembers another size) it
/// retries once from the size the witness names. Returns the verified cosignature lines.
async fn add_checkpoint(
    store: &Store,
    http: &reqwest::Client,
    url: &str,
    key: &VerifierKey,
    mut old: u64,
    row: &NoteRow,
) -> Result<String, String> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    for _ in 0..2 {
        if old > row.size {
            return Err(format!(
                "the witness has acknowledged a tree of {old} events, larger than this log's newest checkpoint ({}): the log was rolled back or forked",
                row.size
            ));
        }
        let proof = if old == 0 || old == row.size {
            Vec::new()
        } else {
            let p = store
                .consistency_proof(old, row.size)
                .await
                .map_err(|e| e.to_string())?;
            p.proof
                .iter()
                .filter_map(|h| gatehouse_audit::hash_bytes(h))
                .collect()
        };
        let body = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: row.note.clone(),
        }
        .body();
        let resp = http
            .post(&endpoint)
            .timeout(Duration::from_secs(10))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {endpoint}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::CONFLICT {
            old = text.trim().parse().map_err(|_| {
                format!(
                    "{endpoint} answered 409 without a tree size (`{}`)",
                    excerpt(&text)
                )
            })?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("{endpoint} answered {status}: {}", excerpt(&text)));
        }
        let sigs = NoteSignature::parse_lines(&text).map_err(|e| {
            format!("{endpoint} answered something that is not cosignature lines ({e}); nothing was stored")
        })?;
        let note = Note::parse(&row.note).map_err(|e| e.to_string())?;
        let signed = Note {
            text: note.text,
            signatures: sigs,
        };
        let times = cosignatures(key, &signed).map_err(|e| {
            format!("{endpoint} answered a cosignature that does not verify with {key} ({e}); nothing was stored")
        })?;
        if times.is_empty() {
            return Err(format!(
                "{endpoint} answered no cosignature by {key}; nothing was stored"
            ));
        }
        return Ok(text);
    }
    Err(format!(
        "{endpoint} keeps answering 409 (conflicting tree sizes)"
    ))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn excerpt(s: &str) -> String {
    s.chars().take(200).collect::<String>().trim().to_string()
}

/// Where every configured witness stands against the newest checkpoint.
pub async fn status(
    store: &Store,
    witnesses: &[WitnessConfig],
) -> Result<Vec<WitnessStatus>, StoreError> {
    let newest = store.latest_checkpoint_size().await?.unwrap_or(0);
    let mut out = Vec::with_capacity(witnesses.len());
    for w in witnesses {
        let row: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT size, last_error, delivered_at FROM audit_witnesses WHERE name = $1",
        )
        .bind(&w.name)
        .fetch_optional(store.pool())
        .await?;
        let (size, last_error, delivered_at) = row.unwrap_or((0, None, None));
        out.push(WitnessStatus {
            name: w.name.clone(),
            size: size as u64,
            behind: newest.saturating_sub(size as u64),
            last_error,
            delivered_at,
        });
    }
    Ok(out)
}

/// One round after a checkpoint: delivers, then publishes where each witness stands
/// in `/metrics`.
pub async fn round(
    store: &Store,
    witnesses: &[WitnessConfig],
    http: &reqwest::Client,
    metrics: &crate::metrics::Metrics,
) {
    if witnesses.is_empty() {
        return;
    }
    for (name, d) in deliver_all(store, witnesses, http).await {
        if matches!(d, Delivery::Failed(_)) {
            metrics
                .witness_failures
                .get_or_create(&crate::metrics::WitnessLabels { witness: name })
                .inc();
        }
    }
    match status(store, witnesses).await {
        Ok(all) => {
            for s in all {
                metrics
                    .witness_behind
                    .get_or_create(&crate::metrics::WitnessLabels { witness: s.name })
                    .set(s.behind as i64);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the audit witnesses' positions"),
    }
}
