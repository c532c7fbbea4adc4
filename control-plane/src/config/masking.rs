//! `[masking]`: the masking profiles and which servers and groups use each.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `[masking]`: profiles and the rules choosing one per server and group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    /// Profile for servers and groups without one. `default` (every detector) unless set;
    /// `off` masks nothing.
    pub default_profile: String,
    /// Key for the `hmac` strategy, by reference (`env:NAME` or `file:PATH`).
    pub hmac_key: Option<String>,
    /// Named profiles (`[masking.profiles.NAME]`); `default` and `off` exist unless redefined.
    pub profiles: BTreeMap<String, gatehouse_mask::Profile>,
    /// Group overrides, first match wins: `{ group, server?, profile }`.
    pub overrides: Vec<MaskingOverride>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            default_profile: "default".into(),
            hmac_key: None,
            profiles: BTreeMap::new(),
            overrides: Vec::new(),
        }
    }
}

/// A profile for members of a group (optionally on one server only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingOverride {
    /// The group.
    pub group: String,
    /// Only on this server.
    #[serde(default)]
    pub server: Option<String>,
    /// The profile.
    pub profile: String,
}
