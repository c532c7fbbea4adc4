//! `gatehouse evidence export`: writes the bundle for a period into a new folder (the
//! bundle itself is `gatehouse_control_plane::evidence`).

use super::{Exit, out, sessions::open};
use gatehouse_control_plane::evidence::{EvidenceError, period, write_bundle};
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
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Exit::Runtime(format!("cannot create {}: {e}", out_dir.display())))?;
    let store = open(config, database).await?;
    let summary = write_bundle(&store, &from, &to, out_dir).await?;
    out(&format!("{summary}\n"));
    Ok(())
}
