//! What can be wrong with a configuration, and where.

use std::path::PathBuf;

/// A configuration problem, pointing at the file position when the file is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read the config file {path}: {source}. Pass --config FILE or set GATEHOUSE_CONFIG."
    )]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or a key has the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values do not make sense together.
    #[error("{0}")]
    Invalid(String),
}
