//! Which clients may manage Gatehouse. The management API (`/api/v1`) publishes
//! policies, decides approvals and mints agent tokens, so the control plane's own access
//! tokens are accepted there only for the audience `{public_url}/api`, and only Gatehouse's
//! own clients (the `gatehouse` command line, the tray app) get that audience. Any other
//! MCP client, registered dynamically (RFC 7591) or known by a metadata document, gets
//! tokens for the MCP endpoints alone, whatever a person consented to.
//!
//! The built-in clients are public clients (PKCE, loopback redirect on any port, RFC
//! 8252), so their ids are no secret: what makes them first-party is that nobody else can
//! register under these ids, and that their consent page says what they may do.

use crate::store::authz::AuthzClient;

/// The `gatehouse` command line's client id.
pub const CLI_CLIENT_ID: &str = "gatehouse-cli";
/// The tray app's client id (when it signs in at the control plane).
pub const TRAY_CLIENT_ID: &str = "gatehouse-tray";

/// The management API's audience for a control plane at `base`.
pub fn api_audience(base: &str) -> String {
    format!("{base}/api")
}

/// Whether `client_id` is one of Gatehouse's own clients.
pub fn is_first_party(client_id: &str) -> bool {
    client_id == CLI_CLIENT_ID || client_id == TRAY_CLIENT_ID
}

/// The built-in client of this id, if it is one.
pub fn client(client_id: &str) -> Option<AuthzClient> {
    let name = match client_id {
        CLI_CLIENT_ID => "gatehouse CLI",
        TRAY_CLIENT_ID => "Gatehouse tray app",
        _ => return None,
    };
    Some(AuthzClient {
        client_id: client_id.into(),
        client_name: name.into(),
        // Loopback on any port and either path the native clients use.
        redirect_uris: vec![
            "http://127.0.0.1/callback".into(),
            "http://localhost/callback".into(),
        ],
        source: "built_in".into(),
        grant_types: vec![
            "authorization_code".into(),
            "refresh_token".into(),
            super::device_codes::GRANT_TYPE.into(),
        ],
    })
}

/// The audiences of an access token for a grant of `client_id` to `resource`: the
/// resource, plus the management API for Gatehouse's own clients.
pub fn audiences(base: &str, client_id: &str, resource: &str) -> Vec<String> {
    let mut aud = vec![resource.to_string()];
    if is_first_party(client_id) && resource != api_audience(base) {
        aud.push(api_audience(base));
    }
    aud
}

/// What the consent page adds for a client that will also manage Gatehouse.
pub fn consent_note(client_id: &str) -> &'static str {
    if is_first_party(client_id) {
        " It may also <strong>manage Gatehouse as you</strong> through <code>/api/v1</code>: \
         decide approvals, publish policies and register agents, as far as your groups allow."
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_built_in_clients_reach_the_api() {
        let base = "https://gh.example";
        assert_eq!(
            audiences(base, CLI_CLIENT_ID, "https://gh.example/mcp"),
            ["https://gh.example/mcp", "https://gh.example/api"]
        );
        assert_eq!(
            audiences(base, "3f2a", "https://gh.example/mcp"),
            ["https://gh.example/mcp"]
        );
        assert!(client("3f2a").is_none());
        assert!(client(TRAY_CLIENT_ID).is_some());
    }
}
