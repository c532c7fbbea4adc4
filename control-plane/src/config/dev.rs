//! `[dev]`: tokens that sign people in without an identity provider (`serve --dev`).

use serde::Deserialize;

/// Dev sign-in tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    /// Bearer tokens and who they stand for.
    #[serde(default)]
    pub tokens: Vec<DevToken>,
}

/// One dev bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevToken {
    /// The token text.
    pub token: String,
    /// The user it signs in.
    pub user: String,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}
