//! Authorization requests waiting for the person's consent and login.

use super::tokens::random_secret;
use crate::store::authz::AuthzClient;
use std::time::{Duration, Instant};

/// How long a person may take from the consent page through the provider's login.
pub(super) const REQUEST_TTL: Duration = Duration::from_secs(600);

/// Where a finished sign-in goes: back to a client's redirect URI with a code, or to a
/// device's waiting poll (RFC 8628).
#[derive(Clone)]
pub enum Target {
    /// The authorization code flow.
    Client {
        /// The client's redirect URI.
        redirect_uri: String,
        /// The client's `state`.
        state: Option<String>,
        /// The PKCE S256 challenge.
        code_challenge: String,
    },
    /// The device authorization grant: the request whose user code the person typed.
    Device {
        /// The digest of its device code.
        device_code_hash: String,
    },
}

/// An authorization request waiting for consent and then the person's login.
pub struct Pending {
    pub(super) client_id: String,
    pub(super) client_name: String,
    pub(super) target: Target,
    pub(super) resource: String,
    pub(super) consent_secret: String,
    pub(super) consented: bool,
    pub(super) started: Instant,
}

impl Pending {
    /// A request for `client` to reach `resource`, not consented yet.
    pub(crate) fn new(client: &AuthzClient, resource: &str, target: Target) -> Pending {
        Pending {
            client_id: client.client_id.clone(),
            client_name: client.client_name.clone(),
            target,
            resource: resource.to_string(),
            consent_secret: random_secret(),
            consented: false,
            started: Instant::now(),
        }
    }
}
