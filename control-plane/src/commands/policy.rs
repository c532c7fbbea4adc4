//! `gatehouse policy check FILE`: validates a policy document before anyone pushes it.

use super::{Exit, out};
use crate::config::load_policy;
use std::path::Path;

/// Exit 0 with a one-line summary, or 2 with every problem as FILE:LINE:COL: message.
pub fn check(file: &Path) -> Result<(), Exit> {
    let policy = load_policy(file).map_err(|e| Exit::Usage(e.to_string()))?;
    out(&format!(
        "{}: ok ({} rules, version {})\n",
        file.display(),
        policy.rule_count(),
        policy.source_digest().chars().take(12).collect::<String>()
    ));
    Ok(())
}
