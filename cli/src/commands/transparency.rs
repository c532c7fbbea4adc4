//! `gatehouse audit checkpoint`: signs a checkpoint now and sends it to the witnesses.
//! `gatehouse audit prove`: an inclusion or consistency proof, as JSON, for the offline
//! verifier. `gatehouse audit verify --witnessed FILE`: checks the log against the tree
//! heads a witness kept, naming the first one a rewritten history contradicts.

use super::{Exit, load_config, out, sessions::open};
use gatehouse_audit::{KeyKind, VerifierKey, WitnessedHead, witnessed_heads};
use gatehouse_control_plane::store::{ChainReport, ProofRequestError, Store};
use gatehouse_control_plane::witnesses::{Delivery, deliver_all};
use std::path::{Path, PathBuf};

fn runtime(e: impl std::fmt::Display) -> Exit {
    Exit::Runtime(e.to_string())
}

fn proof_error(e: ProofRequestError) -> Exit {
    match e {
        ProofRequestError::Invalid(m) => Exit::Usage(m),
        ProofRequestError::Store(e) => runtime(e),
    }
}

/// Signs a checkpoint over the log as it is now (if anything is new) and delivers
/// every checkpoint a witness has not acknowledged yet.
pub async fn checkpoint(config: Option<PathBuf>, database: Option<String>) -> Result<(), Exit> {
    let cfg = load_config(config.clone())?;
    let key = cfg.signing_key().map_err(|e| Exit::Usage(e.to_string()))?;
    let store = open(config, database).await?;
    match store
        .write_checkpoint_as(&key, cfg.audit.log_origin())
        .await
        .map_err(runtime)?
    {
        Some(h) => out(&format!(
            "signed a checkpoint over {} events (root {})\n",
            h.tree_size, h.root
        )),
        None => out("no new events since the last checkpoint\n"),
    }
    let http = reqwest::Client::new();
    let mut failed = Vec::new();
    for (name, d) in deliver_all(&store, &cfg.audit.witnesses, &http).await {
        match d {
            Delivery::UpToDate => out(&format!("witness {name}: up to date\n")),
            Delivery::Acknowledged(n) => out(&format!(
                "witness {name}: acknowledged the tree of {n} events\n"
            )),
            Delivery::Failed(e) => failed.push(format!("witness {name}: {e}")),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Exit::Runtime(format!(
            "{} (the checkpoint is signed and stored; the next round retries)",
            failed.join("; ")
        )))
    }
}

/// What `audit prove` proves.
pub enum Prove {
    /// Event `seq` in the tree of `size` (the newest checkpoint's when `None`).
    Inclusion {
        /// Event.
        seq: u64,
        /// Tree size.
        size: Option<u64>,
    },
    /// Tree `from` is a prefix of tree `to`.
    Consistency {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
    },
}

/// Prints the proof as JSON.
pub async fn prove(
    config: Option<PathBuf>,
    database: Option<String>,
    what: Prove,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    let json = match what {
        Prove::Inclusion { seq, size } => {
            let p = store
                .inclusion_proof(seq, size)
                .await
                .map_err(proof_error)?;
            serde_json::to_string_pretty(&p)
        }
        Prove::Consistency { from, to } => {
            let p = store
                .consistency_proof(from, to)
                .await
                .map_err(proof_error)?;
            serde_json::to_string_pretty(&p)
        }
    };
    out(&format!("{}\n", json.map_err(runtime)?));
    Ok(())
}

/// The log's note key: `public_key` (hex) when given, else the configured signing
/// key's, named by the configured origin.
pub fn log_key(config: Option<PathBuf>, public_key: Option<&str>) -> Result<VerifierKey, Exit> {
    let cfg = load_config(config)?;
    let public = match public_key {
        Some(hex_key) => {
            let b = gatehouse_audit::hash_bytes(hex_key).ok_or_else(|| {
                Exit::Usage(format!(
                    "--public-key `{hex_key}` is not a 64-hex-character Ed25519 public key"
                ))
            })?;
            gatehouse_audit::VerifyingKey::from_bytes(&b).map_err(|_| {
                Exit::Usage(format!("--public-key `{hex_key}` is not an Ed25519 key"))
            })?
        }
        None => cfg
            .signing_key()
            .map_err(|e| Exit::Usage(e.to_string()))?
            .verifying_key(),
    };
    VerifierKey::new(cfg.audit.log_origin(), KeyKind::Ed25519, public)
        .map_err(|e| Exit::Usage(format!("audit.origin: {e}")))
}

/// The witness keys given with `--witness-key` (C2SP vkeys, type 0x04).
pub fn witness_keys(keys: &[String]) -> Result<Vec<VerifierKey>, Exit> {
    keys.iter()
        .map(|k| VerifierKey::parse(k).map_err(|e| Exit::Usage(format!("--witness-key: {e}"))))
        .collect()
}

/// Reads a witness's file of checkpoint notes.
pub fn read_witnessed(
    file: &Path,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<Vec<WitnessedHead>, Exit> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Exit::Usage(format!("cannot read {}: {e}", file.display())))?;
    let heads = witnessed_heads(
        &file.display().to_string(),
        &text,
        std::slice::from_ref(log_key),
        witnesses,
    )
    .map_err(|e| Exit::Usage(e.to_string()))?;
    if heads.is_empty() {
        return Err(Exit::Usage(format!(
            "{} holds no checkpoint: give the file a witness keeps",
            file.display()
        )));
    }
    Ok(heads)
}

/// `audit verify --witnessed FILE` on the live store.
pub async fn verify_witnessed(
    store: &Store,
    ring: Option<&gatehouse_audit::KeyRing>,
    heads: Vec<WitnessedHead>,
) -> Result<(ChainReport, usize), Exit> {
    let n = heads.len();
    let report = store.verify_against(ring, heads).await.map_err(runtime)?;
    Ok((report, n))
}

/// `audit verify --proof FILE`: checks a proof `audit prove` or the API handed out,
/// offline, against the log's key.
pub fn verify_proof(
    config: Option<PathBuf>,
    public_key: Option<&str>,
    file: &Path,
) -> Result<(), Exit> {
    let key = log_key(config, public_key)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| Exit::Usage(format!("cannot read {}: {e}", file.display())))?;
    let bad = |e: serde_json::Error| {
        Exit::Usage(format!(
            "{} is not a proof from `gatehouse audit prove` ({e})",
            file.display()
        ))
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
    let (what, signed) = if value.get("seq").is_some() {
        let p: gatehouse_audit::InclusionProof = serde_json::from_value(value).map_err(bad)?;
        let what = format!("event #{} is in the tree of {} events", p.seq, p.tree_size);
        (what, p.verify(Some(&key)))
    } else {
        let p: gatehouse_audit::ConsistencyProof = serde_json::from_value(value).map_err(bad)?;
        let what = format!(
            "the tree of {} events is a prefix of the tree of {}",
            p.from, p.to
        );
        (what, p.verify(Some(&key)))
    };
    match signed {
        Ok(true) => out(&format!(
            "proof holds: {what}, as signed checkpoints state\n"
        )),
        Ok(false) => out(&format!(
            "proof holds: {what} (no signed checkpoint at that size vouches for the root)\n"
        )),
        Err(e) => return Err(Exit::Runtime(format!("PROOF DOES NOT HOLD: {e}"))),
    }
    Ok(())
}
