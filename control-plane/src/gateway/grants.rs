//! Just-in-time grants on the gateway path: before a call is decided, the person's grants
//! on the server are read from the store and handed to the policy with the principal.
//! Only servers whose decisions can depend on grants (a rule offers a role there, or the
//! server has no standing access) pay for the read; it is a fresh read every time, so a
//! grant, its expiry and a revocation hold at once on every replica.

use super::host::rights_of;
use super::state::Gateway;
use crate::identity::auth::Principal;
use gatehouse_pipeline as pipeline;
use std::sync::Arc;
use std::time::Duration;

/// How often grants past their end are marked expired and recorded.
const SWEEP: Duration = Duration::from_secs(1);

impl Gateway {
    /// The pipeline's principal for a call to `server`, with the grants the policy needs.
    /// If the store cannot say, no grant is assumed (what a grant allows is refused).
    pub(crate) async fn rights_on(
        &self,
        principal: &Principal,
        server: &str,
    ) -> pipeline::Principal {
        let mut rights = rights_of(principal);
        let needs = self
            .policy()
            .is_some_and(|p| p.policy().needs_grants(server));
        if needs {
            match self.store.held_grants(&principal.user, server).await {
                Ok(grants) => rights.grants = grants,
                Err(e) => {
                    tracing::error!(error = %e, user = %principal.user, server, "cannot read access grants; deciding without them");
                }
            }
        }
        rights
    }

    /// Marks grants past their end as expired and records each expiry, every second,
    /// until shutdown. Correctness does not wait for it: a grant past `ends_at` is not
    /// live for any decision even before it is marked.
    pub fn spawn_grant_expiry(self: &Arc<Self>) {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP);
            loop {
                tokio::select! {
                    _ = gw.shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match gw.store.expire_grants().await {
                    Ok(ended) => {
                        for g in ended {
                            tracing::info!(grant = %g.id, person = %g.person, server = %g.server, role = %g.role, "access grant expired");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot mark expired access grants"),
                }
            }
        });
    }
}
