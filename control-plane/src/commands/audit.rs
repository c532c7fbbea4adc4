//! `gatehouse audit verify`: checks the audit log's hash chain end to end.

use super::{Exit, out, sessions::open};
use crate::store::ChainReport;
use std::path::PathBuf;

/// Exit 0 when every event is intact, 1 (naming the first bad event) when not.
pub async fn verify(config: Option<PathBuf>, database: Option<String>) -> Result<(), Exit> {
    let store = open(config, database).await?;
    match store
        .verify_chain()
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
    {
        ChainReport::Intact { events, head } => {
            out(&format!(
                "audit log intact: {events} events, chain head {head}\n"
            ));
            Ok(())
        }
        ChainReport::Broken { events, reason } => Err(Exit::Runtime(format!(
            "AUDIT LOG TAMPERED: {reason}. The {events} events before it are intact. Preserve the database file and tell your security team."
        ))),
    }
}
