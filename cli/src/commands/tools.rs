//! `gatehouse tools list|accept`: pinned tool definitions, and accepting a changed one
//! after reviewing it.

use super::{Exit, out, sessions::open};
use std::path::PathBuf;

/// Prints every pinned tool and whether a change waits for acceptance.
pub async fn list(config: Option<PathBuf>, database: Option<String>) -> Result<(), Exit> {
    let store = open(config, database).await?;
    let pins = store
        .pins()
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let mut text = String::new();
    for p in &pins {
        let state = match &p.pending_digest {
            Some(d) => format!("CHANGED to {} (accept after review)", &d[..12.min(d.len())]),
            None => "pinned".to_string(),
        };
        text.push_str(&format!(
            "{:<16} {:<24} {}  {}\n",
            p.server,
            p.tool,
            &p.digest[..12.min(p.digest.len())],
            state
        ));
    }
    if pins.is_empty() {
        text.push_str("(no tools seen yet)\n");
    }
    out(&text);
    Ok(())
}

/// Accepts the changed definition of one tool.
pub async fn accept(
    server: &str,
    tool: &str,
    by: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    if store
        .accept_tool(server, tool, by)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
    {
        out(&format!(
            "{server}/{tool}: the new definition is accepted and pinned\n"
        ));
        Ok(())
    } else {
        Err(Exit::Usage(format!(
            "{server}/{tool} has no changed definition waiting; `gatehouse tools list` shows what does"
        )))
    }
}
