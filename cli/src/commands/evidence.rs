//! `gatehouse evidence export`: writes the bundle for a period into a new folder, and
//! `gatehouse audit verify --bundle`: checks one offline (the bundle itself is
//! `gatehouse_control_plane::evidence`).

use super::{Exit, load_config, out, sessions::open};
use gatehouse_audit::{KeyRing, VerifierKey};
use gatehouse_control_plane::evidence::{
    BundleCheck, BundleReport, EvidenceError, Signing, period, verify_bundle, write_bundle,
};
use std::path::{Path, PathBuf};

impl From<EvidenceError> for Exit {
    fn from(e: EvidenceError) -> Exit {
        match e {
            EvidenceError::Invalid(m) => Exit::Usage(m),
            EvidenceError::Failed(m) => Exit::Runtime(m),
        }
    }
}

/// Writes the bundle for `[from, to]` into `out_dir` (created; must be empty or new).
pub async fn export(
    from: &str,
    to: &str,
    out_dir: &Path,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let (from, to) = period(from, to)?;
    if out_dir.exists()
        && std::fs::read_dir(out_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Exit::Usage(format!(
            "{} exists and is not empty; choose a new folder",
            out_dir.display()
        )));
    }
    let created = !out_dir.exists();
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Exit::Runtime(format!("cannot create {}: {e}", out_dir.display())))?;
    let written = write(&from, &to, out_dir, config, database).await;
    if written.is_err() && created {
        // Nothing to keep (no events in the period, a bad config): no folder that looks
        // like an export either.
        let _ = std::fs::remove_dir_all(out_dir);
    }
    out(&format!("{}\n", written?));
    Ok(())
}

async fn write(
    from: &str,
    to: &str,
    out_dir: &Path,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<String, Exit> {
    let cfg = load_config(config.clone())?;
    // A key lets the export sign (and have witnessed) a checkpoint over the period's end
    // when none covers it yet; without one, the checkpoints already signed must do.
    let key = cfg.signing_key().ok();
    let signing = Signing {
        key: key.as_ref(),
        origin: cfg.audit.log_origin(),
        witnesses: &cfg.audit.witnesses,
    };
    let store = open(config, database).await?;
    Ok(write_bundle(&store, from, to, out_dir, signing).await?)
}

/// The log's keys to trust: `--public-key` (one key, any time) or `--keys FILE` (the
/// published keys with their validity, as `/.well-known/gatehouse-audit-key` serves them).
pub fn trusted_keys(
    public_key: Option<&str>,
    keys_file: Option<&Path>,
) -> Result<Option<KeyRing>, Exit> {
    match (public_key, keys_file) {
        (Some(_), Some(_)) => Err(Exit::Usage("give --public-key or --keys, not both".into())),
        (Some(k), None) => Ok(Some(KeyRing::single(k))),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Exit::Usage(format!("cannot read {}: {e}", file.display())))?;
            let ring: KeyRing = serde_json::from_str(&text).map_err(|e| {
                Exit::Usage(format!(
                    "{} is not the published key list of /.well-known/gatehouse-audit-key ({e})",
                    file.display()
                ))
            })?;
            ring.validate()
                .map_err(|e| Exit::Usage(format!("{}: {e}", file.display())))?;
            if ring.keys.is_empty() {
                return Err(Exit::Usage(format!("{} lists no key", file.display())));
            }
            Ok(Some(ring))
        }
        (None, None) => Ok(None),
    }
}

/// `audit verify --bundle DIR`: exit 0 when the bundle proves its period, 1 naming the
/// first problem, 2 when it is not a bundle at all.
pub fn verify(
    dir: &Path,
    keys: Option<KeyRing>,
    witnessed: Option<PathBuf>,
    witness_keys: &[String],
) -> Result<(), Exit> {
    let witness_keys = witness_keys
        .iter()
        .map(|k| VerifierKey::parse(k).map_err(|e| Exit::Usage(format!("--witness-key: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let check = BundleCheck {
        keys,
        witness_keys,
        witnessed,
    };
    match verify_bundle(dir, &check)? {
        BundleReport::Intact {
            events,
            first,
            last,
            details,
        } => {
            let mut text = format!(
                "evidence bundle intact: {events} events (#{first}..#{last} of the log), proven part of the log by its signed checkpoints\n"
            );
            for d in details {
                text.push_str(&format!("  {d}\n"));
            }
            out(&text);
            Ok(())
        }
        BundleReport::Broken { events, reason } => Err(Exit::Runtime(format!(
            "EVIDENCE BUNDLE DOES NOT VERIFY: {reason}. The {events} events before it are intact. Do not rely on this bundle; export it again from the log and compare."
        ))),
    }
}
