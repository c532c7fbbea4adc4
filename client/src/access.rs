//! Just-in-time access from the engineer's side: ask for a role on a server for a while
//! (the CLI's `gatehouse access request`, the tray's "Request access" form). Approvers
//! decide it on the control plane; the grant then holds at the gateway and, for local
//! servers, in this laptop's capture (through `/api/v1/me`'s `local_grants`).

use crate::api::{ApiError, ControlPlane};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What a person asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AccessAsk {
    /// Server, as the gateway names it (`local:NAME` for a local server).
    pub server: String,
    /// The role a policy rule offers there.
    pub role: String,
    /// For how long: `30m`, `2h`.
    pub duration: String,
    /// Why: a ticket or an incident.
    pub reason: String,
}

/// A live grant on a local server, as `/api/v1/me` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LocalGrant {
    /// Grant id.
    pub id: String,
    /// `local:NAME`.
    pub server: String,
    /// Role.
    pub role: String,
    /// Ends at (RFC 3339).
    pub ends_at: String,
}

/// Asks for access; returns the pending request (an approval: `id`, `approvers`, ...).
/// Bad input (a role no rule offers, too long, not covered) comes back as
/// [`ApiError::Refused`] with the control plane's words.
pub async fn request(api: &ControlPlane, token: &str, ask: &AccessAsk) -> Result<Value, ApiError> {
    for (what, value) in [
        ("server", &ask.server),
        ("role", &ask.role),
        ("duration", &ask.duration),
        ("reason", &ask.reason),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::Refused(format!(
                "the {what} is empty; fill it in"
            )));
        }
    }
    api.post_json(
        "/api/v1/access/requests",
        token,
        &json!({ "server": ask.server.trim(), "role": ask.role.trim(),
                 "duration": ask.duration.trim(), "reason": ask.reason.trim() }),
    )
    .await
}
