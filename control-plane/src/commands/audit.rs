//! `gatehouse audit verify`: checks the audit log's hash chain and signed checkpoints.

use super::{Exit, out, sessions::open};
use crate::store::ChainReport;
use std::path::PathBuf;

/// Exit 0 when every event and checkpoint is intact, 1 (naming the first problem) when not.
pub async fn verify(
    config: Option<PathBuf>,
    database: Option<String>,
    public_key: Option<String>,
    bundle: Option<PathBuf>,
) -> Result<(), Exit> {
    let report = match bundle {
        Some(dir) => super::evidence::verify_bundle(&dir, public_key.as_deref())?,
        None => open(config, database)
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
            Ok(())
        }
        ChainReport::Broken { events, reason } => Err(Exit::Runtime(format!(
            "AUDIT LOG TAMPERED: {reason}. The {events} events before it are intact. Preserve the database file and tell your security team."
        ))),
    }
}
