//! The policy in force on the laptop: the version the control plane pushed last (watch
//! stream), cached on disk so local capture keeps deciding the same way while offline.

use crate::api::PolicyVersion;
use gatehouse_policy::{Policy, Principal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// A loaded policy version (the same type the gateway decides with).
pub use gatehouse_pipeline::PolicyInForce as InForce;

/// The policy holder, shared by the capture and the watch task.
#[derive(Clone)]
pub struct LocalPolicy {
    tx: Arc<watch::Sender<Option<Arc<InForce>>>>,
    cache: PathBuf,
}

impl LocalPolicy {
    /// Loads the cached version from `dir` (if any).
    pub fn load(dir: &Path) -> LocalPolicy {
        let cache = dir.join("policy.json");
        let lp = LocalPolicy {
            tx: Arc::new(watch::channel(None).0),
            cache,
        };
        if let Ok(text) = std::fs::read_to_string(&lp.cache)
            && let Ok(v) = serde_json::from_str::<PolicyVersion>(&text)
            && let Err(e) = lp.set(&v)
        {
            tracing::warn!(error = %e, "the cached policy does not load; waiting for the control plane");
        }
        lp
    }

    fn set(&self, v: &PolicyVersion) -> Result<(), String> {
        let policy = Policy::from_yaml(&v.document)
            .map_err(|e| format!("policy v{}: {}", v.version, e.with_file("policy")))?;
        self.tx
            .send_replace(Some(Arc::new(InForce::new(policy, v.version))));
        Ok(())
    }

    /// Puts a pushed version in force and caches it.
    pub fn apply(&self, v: &PolicyVersion) -> Result<(), String> {
        self.set(v)?;
        let text = serde_json::to_string(v).unwrap_or_default();
        if let Err(e) = crate::secrets::write_private(&self.cache, &text) {
            tracing::warn!(error = %e, "could not cache the policy");
        }
        Ok(())
    }

    /// The version in force, if any.
    pub fn current(&self) -> Option<Arc<InForce>> {
        self.tx.borrow().clone()
    }

    /// Watches changes.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<InForce>>> {
        self.tx.subscribe()
    }

    /// May this person use `server` at all (no policy yet: yes, as on the gateway)?
    pub fn may_connect(&self, user: &str, groups: &[String], server: &str) -> bool {
        let principal = Principal::new(user.to_string(), groups.iter().cloned());
        gatehouse_pipeline::may_connect(self.current().as_deref(), &principal, server).is_ok()
    }
}
