//! The log's published keys (`/.well-known/gatehouse-audit-key`): every key that has
//! signed the log, with the window in which it could sign, so an auditor who pins the
//! list (`gatehouse audit verify --keys FILE`) verifies across a rotation of
//! `[audit] signing_key` and refuses a retired key that signs after its retirement.
//!
//! The list is read from what the keys signed — checkpoints and retention anchors, each
//! carrying its key and signing time — so a rotation needs no step besides changing the
//! key: each key is valid from its first signature (the first key from the start) until
//! its successor's first signature. A configured key that has not signed yet is listed
//! last, open-ended, and takes its window with its first checkpoint.

use crate::store::{Store, StoreError};
use gatehouse_audit::{KeyRing, PublishedKey, VerifyingKey};

/// The published keys of the log `origin`, oldest first; `current` is the configured
/// signing key.
pub async fn published_keys(
    store: &Store,
    origin: &str,
    current: &VerifyingKey,
) -> Result<KeyRing, StoreError> {
    let used: Vec<(String, String)> = sqlx::query_as(
        "SELECT public_key, MIN(at) FROM (SELECT public_key, at FROM checkpoints \
         UNION ALL SELECT public_key, at FROM audit_anchors) k GROUP BY public_key ORDER BY MIN(at)",
    )
    .fetch_all(store.pool())
    .await?;
    let current_hex = hex::encode(current.as_bytes());
    let mut keys: Vec<(VerifyingKey, Option<String>)> = used
        .iter()
        .enumerate()
        .filter_map(|(i, (hex_key, first))| {
            let b = gatehouse_audit::hash_bytes(hex_key)?;
            let k = VerifyingKey::from_bytes(&b).ok()?;
            Some((k, (i > 0).then(|| first.clone())))
        })
        .collect();
    if !used.iter().any(|(k, _)| *k == current_hex) {
        keys.push((*current, None));
    }
    let mut ring = KeyRing::default();
    for (i, (k, from)) in keys.iter().enumerate() {
        let retired = keys.get(i + 1).and_then(|(_, next)| next.clone());
        let p = PublishedKey::new(origin, k, from.clone(), retired)
            .map_err(|e| StoreError(format!("audit.origin `{origin}`: {e}")))?;
        ring.keys.push(p);
    }
    Ok(ring)
}
