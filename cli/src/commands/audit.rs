//! `gatehouse audit verify`: checks the audit log's hash chain and signed checkpoints.
//! `gatehouse audit prune`: archives and prunes events past the retention period.

use super::{Exit, load_config, out, sessions::open};
use gatehouse_control_plane::store::{ChainReport, Store};
use std::path::PathBuf;

/// Exit 0 when every event and checkpoint is intact, 1 (naming the first problem) when not.
pub async fn verify(
    config: Option<PathBuf>,
    database: Option<String>,
    public_key: Option<String>,
    bundle: Option<PathBuf>,
    witnessed: Option<(PathBuf, Vec<String>)>,
) -> Result<(), Exit> {
    let mut witnessed_note = String::new();
    let report = match (bundle, witnessed) {
        (Some(_), Some(_)) => {
            return Err(Exit::Usage(
                "--witnessed checks the live store; a bundle's period proof is checked on its own"
                    .into(),
            ));
        }
        (Some(dir), None) => {
            gatehouse_control_plane::evidence::verify_bundle(&dir, public_key.as_deref())?
        }
        (None, Some((file, keys))) => {
            use super::transparency as t;
            let log_key = t::log_key(config.clone(), public_key.as_deref())?;
            let heads = t::read_witnessed(&file, &log_key, &t::witness_keys(&keys)?)?;
            let store = open(config, database).await?;
            let (report, n) = t::verify_witnessed(&store, public_key.as_deref(), heads).await?;
            witnessed_note = format!("consistent with the {n} checkpoints in {}", file.display());
            report
        }
        (None, None) => open(config, database)
            .await?
            .verify_log(public_key.as_deref())
            .await
            .map_err(|e| Exit::Runtime(e.to_string()))?,
    };
    match report {
        ChainReport::Intact {
            events,
            checkpoints,
            head,
            pruned,
        } => {
            out(&format!(
                "audit log intact: {events} events{}, {checkpoints} signed checkpoints{}, chain head {head}\n",
                if pruned > 0 {
                    format!(
                        " (#{} onwards; events #1..#{pruned} were archived and pruned under a signed retention anchor)",
                        pruned + 1
                    )
                } else {
                    String::new()
                },
                if public_key.is_some() {
                    " (all by the trusted key)"
                } else {
                    ""
                }
            ));
            if !witnessed_note.is_empty() {
                out(&format!("witnessed: {witnessed_note}\n"));
            }
            Ok(())
        }
        ChainReport::Broken { events, reason } => Err(Exit::Runtime(format!(
            "AUDIT LOG TAMPERED: {reason}. The {events} events before it are intact. Preserve the database file and tell your security team."
        ))),
    }
}

/// Archives then prunes what retention says is due (or, with `dry_run`, says what).
pub async fn prune(
    config: Option<PathBuf>,
    database: Option<String>,
    dry_run: bool,
) -> Result<(), Exit> {
    let config = load_config(config)?;
    let (Some(days), Some(dir)) = (
        config.audit.retention_days,
        config.audit.archive_dir.clone(),
    ) else {
        return Err(Exit::Usage(
            "retention is off: set [audit] retention_days, archive_dir and signing_key to prune; nothing was pruned".into(),
        ));
    };
    let store = Store::open(&database.unwrap_or_else(|| config.database.clone()))
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let nothing = |days: u32| {
        format!(
            "nothing to prune: no signed checkpoint covers events older than {days} days that every audit sink has delivered yet\n"
        )
    };
    let sinks = config.audit.sink_names();
    if dry_run {
        let plan =
            gatehouse_control_plane::retention::plan(&store, days, &sinks, chrono::Utc::now())
                .await
                .map_err(|e| Exit::Runtime(e.to_string()))?;
        match plan {
            Some(p) => out(&format!("would have: {}\n", p.describe(&dir))),
            None => out(&nothing(days)),
        }
        return Ok(());
    }
    let key = config
        .signing_key()
        .map_err(|e| Exit::Usage(e.to_string()))?;
    match gatehouse_control_plane::retention::prune(&store, days, &sinks, &dir, &key).await? {
        Some(p) => out(&format!(
            "{}; the log now starts at event #{} under a signed retention anchor\n",
            p.plan.describe(&dir),
            p.plan.upto + 1
        )),
        None => out(&nothing(days)),
    }
    Ok(())
}
