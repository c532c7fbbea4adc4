//! What the tray and the window show: one snapshot of the app's state, rebuilt by the
//! app and read by the menu and the window (its own module so that neither the menu nor
//! the app imports the other for it).

use gatehouse_client::signin::State as SignIn;
use serde::Serialize;
use serde_json::Value;

/// What the tray and the window show.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Set up (a gateway and provider are known)?
    pub configured: bool,
    /// The gateway's base URL.
    pub gateway_url: Option<String>,
    /// The sign-in state.
    pub signin: Option<SignIn>,
    /// The control plane cannot be reached.
    pub offline: bool,
    /// Who (from the control plane).
    pub user: Option<String>,
    /// Their groups.
    pub groups: Vec<String>,
    /// Servers this person may use: `{name, transport}`.
    pub servers: Vec<Value>,
    /// Local servers admins configured for this person: `{name, description, masking_profile}`.
    pub local_servers: Vec<Value>,
    /// Pending approvals this person may decide (others' calls and requests).
    pub approvals: Vec<Value>,
    /// This person's own pending requests (access requests, held calls): shown as waiting,
    /// never with Approve/Deny, and not counted as approvals waiting.
    pub own_requests: Vec<Value>,
    /// Their recent sessions.
    pub sessions: Vec<Value>,
    /// Records waiting in the local spool.
    pub spool_pending: i64,
    /// The last problem, for the window.
    pub message: Option<String>,
}

impl Snapshot {
    /// Takes the pending approvals the control plane lists for this person and keeps their
    /// own requests apart from those they may decide.
    pub fn set_approvals(&mut self, pending: Vec<Value>) {
        let me = self.user.clone().unwrap_or_default();
        (self.own_requests, self.approvals) = pending
            .into_iter()
            .partition(|a| !me.is_empty() && a["requester"].as_str() == Some(me.as_str()));
    }
}
