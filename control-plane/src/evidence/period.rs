//! The proof that ties a bundle's events to the log's signed checkpoints without the
//! history before them ([`gatehouse_audit::PeriodProof`]): the Merkle frontier before
//! the period (from the tree rows, or from the retention anchor the period starts at),
//! the newest checkpoint before the period and the oldest one after it, each with its
//! witnesses' cosignatures and the consistency proof that joins it to the period.

use super::EvidenceError;
use crate::store::{CHECKPOINT_COLUMNS, CheckpointRow, Store, stored_checkpoint};
use crate::witnesses::{Delivery, WitnessConfig, deliver_all};
use gatehouse_audit::{
    Anchor, Bracket, Checkpoint, Note, NoteSignature, PeriodProof, SigningKey, frontier_node_ids,
};

/// How an export may sign a checkpoint when none covers the period's end yet.
#[derive(Clone, Copy)]
pub struct Signing<'a> {
    /// The log's signing key (`None`: only already-signed checkpoints are used).
    pub key: Option<&'a SigningKey>,
    /// The log's origin (`[audit] origin`).
    pub origin: &'a str,
    /// The witnesses a new checkpoint is sent to before it goes into the bundle, so it
    /// carries their cosignatures.
    pub witnesses: &'a [WitnessConfig],
}

impl Signing<'_> {
    /// Signs nothing: the checkpoints the store has must do.
    pub fn none() -> Signing<'static> {
        Signing {
            key: None,
            origin: crate::store::DEFAULT_ORIGIN,
            witnesses: &[],
        }
    }
}

fn failed(e: impl std::fmt::Display) -> EvidenceError {
    EvidenceError::Failed(e.to_string())
}

/// The checkpoint with a note nearest the period on one side: the newest at or before
/// `size` (`before`), or the oldest at or after it.
async fn nearest(store: &Store, size: i64, before: bool) -> Result<Option<i64>, EvidenceError> {
    let sql = if before {
        "SELECT id FROM checkpoints WHERE tree_size <= $1 AND tree_size > 0 AND note IS NOT NULL \
         ORDER BY tree_size DESC, id DESC LIMIT 1"
    } else {
        "SELECT id FROM checkpoints WHERE tree_size >= $1 AND note IS NOT NULL \
         ORDER BY tree_size ASC, id ASC LIMIT 1"
    };
    sqlx::query_scalar(sql)
        .bind(size)
        .fetch_optional(store.pool())
        .await
        .map_err(failed)
}

/// Checkpoint `id` as a bracket: its note with every cosignature the witnesses
/// answered, its Gatehouse form, and the consistency proof from `from` to `to` (one of
/// which is its own size).
async fn bracket(store: &Store, id: i64, from: u64, to: u64) -> Result<Bracket, EvidenceError> {
    let row: CheckpointRow = sqlx::query_as(&format!(
        "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(store.pool())
    .await
    .map_err(failed)?;
    let note: String = sqlx::query_scalar("SELECT note FROM checkpoints WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .map_err(failed)?;
    let cosignatures: Vec<String> = sqlx::query_scalar(
        "SELECT signatures FROM audit_cosignatures WHERE checkpoint_id = $1 AND signatures IS NOT NULL ORDER BY witness",
    )
    .bind(id)
    .fetch_all(store.pool())
    .await
    .map_err(failed)?;
    let mut note = Note::parse(&note)
        .map_err(|e| failed(format!("checkpoint #{id}'s stored note is unreadable: {e}")))?;
    for lines in &cosignatures {
        // Verified against the witness's key when it was stored.
        if let Ok(sigs) = NoteSignature::parse_lines(lines) {
            note.signatures.extend(sigs);
        }
    }
    let proof = if from == to {
        Vec::new()
    } else {
        store
            .consistency_proof(from, to)
            .await
            .map_err(failed)?
            .proof
    };
    Ok(Bracket {
        checkpoint: note.to_string(),
        proof,
        signed: Some(stored_checkpoint(row)),
    })
}

/// The proof for events `first..=last`, where the log starts after `anchor` (its
/// frontier is the tree before the period when the period starts right after it).
/// Signs (and has witnessed) a checkpoint now when none covers `last` yet and
/// `signing` has a key.
pub(crate) async fn period_proof(
    store: &Store,
    first: i64,
    last: i64,
    anchor: Option<&Anchor>,
    signing: Signing<'_>,
) -> Result<PeriodProof, EvidenceError> {
    let before = first - 1;
    store.extend_tree().await.map_err(failed)?;
    let end = match nearest(store, last, false).await? {
        Some(id) => id,
        None => {
            let Some(key) = signing.key else {
                return Err(EvidenceError::Failed(format!(
                    "no signed checkpoint covers event #{last} yet, so the period cannot be proven: run `gatehouse audit checkpoint` (or configure [audit] signing_key) and export again"
                )));
            };
            store
                .write_checkpoint_as(key, signing.origin)
                .await
                .map_err(failed)?;
            let http = reqwest::Client::new();
            for (name, d) in deliver_all(store, signing.witnesses, &http).await {
                if let Delivery::Failed(e) = d {
                    tracing::warn!(witness = %name, error = %e, "the export's checkpoint was not witnessed");
                }
            }
            nearest(store, last, false).await?.ok_or_else(|| {
                failed(format!(
                    "no checkpoint covers event #{last} even after signing one"
                ))
            })?
        }
    };
    let end_size: i64 = sqlx::query_scalar("SELECT tree_size FROM checkpoints WHERE id = $1")
        .bind(end)
        .fetch_one(store.pool())
        .await
        .map_err(failed)?;
    let end = bracket(store, end, last as u64, end_size as u64).await?;
    let start = match before {
        0 => None,
        _ => match nearest(store, before, true).await? {
            Some(id) => {
                let size: i64 =
                    sqlx::query_scalar("SELECT tree_size FROM checkpoints WHERE id = $1")
                        .bind(id)
                        .fetch_one(store.pool())
                        .await
                        .map_err(failed)?;
                Some(bracket(store, id, size as u64, before as u64).await?)
            }
            None => None,
        },
    };
    let frontier = match anchor.filter(|a| a.tree_size == before) {
        Some(a) => a.frontier.clone(),
        None => store
            .tree_nodes(&frontier_node_ids(before as u64))
            .await
            .map_err(failed)?
            .iter()
            .map(hex::encode)
            .collect(),
    };
    let origin = Note::parse(&end.checkpoint)
        .ok()
        .and_then(|n| Checkpoint::parse_body(&n.text).ok())
        .map_or_else(|| signing.origin.to_string(), |c| c.origin);
    Ok(PeriodProof {
        origin,
        first: first as u64,
        last: last as u64,
        before: frontier,
        start,
        end,
    })
}
