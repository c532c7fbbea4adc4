//! Collecting the authorization server's old records: expired codes and device codes,
//! refresh tokens that expired or whose sign-in was revoked, grants (consent records)
//! that ended, and registered clients nobody used for `authz_store.unused_client_days`.
//! Anyone may register a client or start a device sign-in, so without this the tables
//! only grow. `gatehouse serve` runs it at start-up and every
//! `authz_store.gc_interval_mins`.

use crate::identity::state::Identity;
use crate::store::StoreError;
use crate::store::authz::AuthzGarbage;
use std::sync::Arc;
use std::time::Duration;

/// Seconds a revoked grant is kept beyond the access-token lifetime (other replicas
/// read recent revocations; clocks differ a little).
const REVOCATION_MARGIN_SECS: u64 = 300;

/// One collection; what it removed.
pub async fn collect(gw: &Identity) -> Result<AuthzGarbage, StoreError> {
    let removed = gw
        .store
        .collect_authz_garbage(
            gw.config.authz.access_token_secs + REVOCATION_MARGIN_SECS,
            gw.config.authz_store.unused_client_days,
        )
        .await?;
    if removed.total() > 0 {
        tracing::info!(?removed, "collected old sign-in records");
    }
    Ok(removed)
}

/// Collects now and then every `authz_store.gc_interval_mins`, for as long as the
/// gateway lives (the task ends with the runtime).
pub fn spawn(gw: Arc<Identity>) -> tokio::task::JoinHandle<()> {
    let every = Duration::from_secs(gw.config.authz_store.gc_interval_mins.max(1) * 60);
    tokio::spawn(async move {
        loop {
            if let Err(e) = collect(&gw).await {
                tracing::warn!(error = %e, "could not collect old sign-in records; retrying later");
            }
            tokio::time::sleep(every).await;
        }
    })
}
