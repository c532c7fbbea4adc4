//! How long a sign-in lasts. Refresh tokens rotate forever, so a grant needs an
//! absolute end: past `authz.max_grant_hours` the person signs in again. A grant whose
//! person cannot be re-checked at the identity provider on refresh (no provider refresh
//! token was kept) ends sooner, after `authz.unverified_grant_hours`, so someone removed
//! from a group or disabled there loses access within that bound (fail closed).

use super::super::state::Identity;

/// Why the grant `id` may not be refreshed any more, or `None` while it lives.
pub async fn ended(gw: &Identity, id: &str) -> Option<String> {
    let started = match gw.store.grant_started(id).await {
        Ok(Some(t)) => t,
        Ok(None) => return Some("the sign-in is unknown; sign in again".into()),
        Err(e) => {
            return Some(format!(
                "the sign-in's age cannot be read ({e}); sign in again"
            ));
        }
    };
    let hours = (chrono::Utc::now() - started).num_milliseconds() as f64 / 3_600_000.0;
    let limits = &gw.config.authz;
    if hours > limits.max_grant_hours {
        return Some(format!(
            "the sign-in is older than {} hours (authz.max_grant_hours); sign in again",
            limits.max_grant_hours
        ));
    }
    let checked =
        gw.relying_party.is_some() && matches!(gw.store.grant_idp_refresh(id).await, Ok(Some(_)));
    if !checked && hours > limits.unverified_grant_hours {
        return Some(format!(
            "the sign-in is older than {} hours and the identity provider cannot confirm your groups on refresh \
             (authz.unverified_grant_hours); sign in again",
            limits.unverified_grant_hours
        ));
    }
    None
}
