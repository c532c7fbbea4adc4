//! `gatehouse audit verify`: checks the audit log's hash chain and signed checkpoints.
//! `gatehouse audit prune`: archives and prunes events past the retention period.

use super::{Exit, load_config, out, sessions::open};
use gatehouse_control_plane::store::{ChainReport, Store};
use std::path::PathBuf;

/// What `audit verify` checks, besides the live log.
pub struct VerifyArgs {
    /// `--public-key`.
    pub public_key: Option<String>,
    /// `--keys FILE`.
    pub keys: Option<PathBuf>,
    /// `--bundle DIR`.
    pub bundle: Option<PathBuf>,
    /// `--witnessed FILE`.
    pub witnessed: Option<PathBuf>,
    /// `--witness-key`.
    pub witness_keys: Vec<String>,
}

/// Exit 0 when every event and checkpoint is intact, 1 (naming the first problem) when not.
pub async fn verify(
    config: Option<PathBuf>,
    database: Option<String>,
    args: VerifyArgs,
) -> Result<(), Exit> {
    let ring = super::evidence::trusted_keys(args.public_key.as_deref(), args.keys.as_deref())?;
    if let Some(dir) = &args.bundle {
        return super::evidence::verify(dir, ring, args.witnessed, &args.witness_keys);
    }
    let public_key = args.public_key;
    let mut witnessed_note = String::new();
    let report = match args.witnessed {
        Some(file) => {
            use super::transparency as t;
            let log_key = t::log_key(config.clone(), public_key.as_deref())?;
            let heads = t::read_witnessed(&file, &log_key, &t::witness_keys(&args.witness_keys)?)?;
            let store = open(config, database).await?;
            let (report, n) = t::verify_witnessed(&store, ring.as_ref(), heads).await?;
            witnessed_note = format!("consistent with the {n} checkpoints in {}", file.display());
            report
        }
        None => open(config, database)
            .await?
            .verify_against(ring.as_ref(), Vec::new())
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
                if ring.is_some() {
                    " (all by the trusted keys)"
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
