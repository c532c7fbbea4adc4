//! `[audit]` and `[approvals]`: checkpoints, retention, sinks; who approves held calls.

use serde::Deserialize;
use std::path::PathBuf;

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The Ed25519 signing key as a 64-hex-character seed, by reference (`file:PATH` or
    /// `env:NAME`). Without one, each run signs with a key made for that run.
    pub signing_key: Option<String>,
    /// Seconds between checkpoints (one is also signed at shutdown).
    pub checkpoint_secs: u64,
    /// Where the audit log is streamed as it grows (`[[audit.sinks]]`).
    pub sinks: Vec<crate::sinks::SinkConfig>,
    /// Days audit events are kept in the store; older ones are archived to a bundle in
    /// `archive_dir`, then pruned under a signed anchor. Unset: kept forever.
    pub retention_days: Option<u32>,
    /// Where retention writes its archive bundles (required with `retention_days`).
    pub archive_dir: Option<PathBuf>,
    /// Seconds between retention runs in `gatehouse serve`.
    pub prune_every_secs: u64,
    /// The log's name in its checkpoint notes (C2SP `tlog-checkpoint` origin line), which
    /// witnesses track it by: set it once, e.g. `gatehouse.example.com/audit`.
    pub origin: Option<String>,
    /// Where each signed checkpoint is sent (`[[audit.witnesses]]`).
    pub witnesses: Vec<crate::witnesses::WitnessConfig>,
}

impl AuditConfig {
    /// The origin checkpoint notes carry: `origin`, else the default.
    pub fn log_origin(&self) -> &str {
        self.origin
            .as_deref()
            .unwrap_or(crate::store::DEFAULT_ORIGIN)
    }

    /// The names of the configured sinks (each keys a delivery cursor).
    pub fn sink_names(&self) -> Vec<String> {
        self.sinks
            .iter()
            .map(crate::sinks::SinkConfig::name)
            .collect()
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key: None,
            checkpoint_secs: 60,
            sinks: Vec::new(),
            retention_days: None,
            archive_dir: None,
            prune_every_secs: 3600,
            origin: None,
            witnesses: Vec::new(),
        }
    }
}

/// `[approvals]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// A Slack-compatible incoming webhook (`{"text": ...}` is posted for every request).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// How often reviewers of an open access review with undecided entries are reminded
    /// on the webhook (seconds; 0 = never).
    #[serde(default = "default_review_reminder")]
    pub review_reminder_every_secs: u64,
}

fn default_review_reminder() -> u64 {
    86_400
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            webhook_url: None,
            review_reminder_every_secs: default_review_reminder(),
        }
    }
}
