//! `[oidc]`, `[saml]`, `[authz]`, `[roles]`: who may sign in and how (the identity
//! provider, the authorization server MCP clients see, trusted workload issuers).

use super::error::ConfigError;
use super::secrets::resolve_secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[device_flow]`: `gatehouse login --device` and other clients on machines without a
/// browser (RFC 8628).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceFlowConfig {
    /// How long a device code and its user code stay valid.
    pub code_secs: u64,
    /// The least seconds between two polls of the token endpoint (each poll faster is
    /// answered `slow_down` and adds 5 s).
    pub interval_secs: u64,
    /// Wrong user codes accepted per source address within 15 minutes before the
    /// verification page refuses that address (brute-force guard).
    pub max_wrong_codes: u32,
}

impl Default for DeviceFlowConfig {
    fn default() -> Self {
        DeviceFlowConfig {
            code_secs: 600,
            interval_secs: 5,
            max_wrong_codes: 5,
        }
    }
}

/// `[authz_store]`: the authorization server's records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzStoreConfig {
    /// The secret (at least 32 bytes, by reference: `env:NAME` or `file:PATH`) from which
    /// the key encrypting the identity provider's refresh tokens at rest is derived.
    /// Without it the key is derived from `authz.signing_key`; one of the two is needed
    /// when `[oidc] signin_scopes` asks for `offline_access`.
    pub encryption_key: Option<String>,
    /// Minutes between two collections of expired codes, device codes, refresh tokens,
    /// ended grants and unused clients (one also runs at start-up).
    pub gc_interval_mins: u64,
    /// Dynamically registered clients unused for this many days are deleted.
    pub unused_client_days: u64,
}

impl Default for AuthzStoreConfig {
    fn default() -> Self {
        AuthzStoreConfig {
            encryption_key: None,
            gc_interval_mins: 60,
            unused_client_days: 30,
        }
    }
}

impl AuthzStoreConfig {
    /// The configured encryption secret, resolved, when there is one.
    pub fn resolved_encryption_key(&self) -> Result<Option<String>, ConfigError> {
        self.encryption_key
            .as_deref()
            .map(|r| {
                resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("authz_store.encryption_key: {e}")))
            })
            .transpose()
    }
}

impl AuthzConfig {
    /// The configured access-token signing seed, resolved, when there is one.
    pub fn resolved_signing_key(&self) -> Result<Option<String>, ConfigError> {
        self.signing_key
            .as_deref()
            .map(|r| {
                resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("authz.signing_key: {e}")))
            })
            .transpose()
    }
}

/// `[authz]`: the authorization server MCP clients and `gatehouse login` sign in at. It
/// is on when `[oidc] client_id` is set: people's sign-in is delegated to that provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthzConfig {
    /// The Ed25519 key signing access tokens, as a 64-hex-character seed by reference
    /// (`file:PATH` or `env:NAME`). Without one, each run makes its own (tokens from an
    /// earlier run are then refused, and clients refresh).
    pub signing_key: Option<String>,
    /// Lifetime of an access token; sign-out and revocation take effect within it.
    pub access_token_secs: u64,
    /// Lifetime of a refresh token (each use rotates it).
    pub refresh_token_days: u64,
    /// Lifetime of an authorization code.
    pub code_secs: u64,
    /// Hosts whose client ID metadata documents may be fetched over plain HTTP or from a
    /// private or loopback address (internal clients, tests). Others need public HTTPS.
    pub metadata_document_allowed_hosts: Vec<String>,
    /// Failed sign-in and token events recorded per source address and minute; the rest
    /// are counted and the count recorded, so a flood cannot fill the audit log.
    pub failure_events_per_minute: u32,
    /// Issuers whose JWTs may be exchanged for a Gatehouse token (RFC 8693): CI pipelines.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// A sign-in's absolute lifetime: past it, refresh is refused and the person signs in
    /// again, whatever the refresh tokens say.
    pub max_grant_hours: f64,
    /// The lifetime of a sign-in whose groups cannot be re-checked at the identity
    /// provider on refresh (no provider refresh token was kept: SAML, dev sign-in, or a
    /// provider that gave none): groups removed there count within this bound.
    pub unverified_grant_hours: f64,
}

impl Default for AuthzConfig {
    fn default() -> Self {
        AuthzConfig {
            signing_key: None,
            access_token_secs: 600,
            refresh_token_days: 30,
            code_secs: 60,
            metadata_document_allowed_hosts: Vec::new(),
            failure_events_per_minute: 20,
            trusted_issuers: Vec::new(),
            max_grant_hours: 168.0,
            unverified_grant_hours: 10.0,
        }
    }
}

/// A workload identity provider (a CI system) whose tokens are exchanged for Gatehouse
/// tokens: `[[authz.trusted_issuers]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The issuer (`iss`); keys from its OIDC discovery document.
    pub issuer: String,
    /// The audience its tokens must carry for Gatehouse.
    pub audience: String,
    /// Claims that must equal these values (e.g. `repository = "acme/infra"`).
    #[serde(default)]
    pub require: BTreeMap<String, String>,
    /// The claim naming the workload (`sub` default).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// A prefix for the workload's name (e.g. `ci:`), so it never collides with a person.
    #[serde(default)]
    pub user_prefix: String,
    /// The groups it gets.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl TrustedIssuer {
    /// Why this trust rule is refused at start; `None` when it is sound. A CI provider
    /// signs tokens for every repository on it, and a workflow picks its own audience,
    /// so a rule that requires no claim trusts every stranger's pipeline; a rule without
    /// a name prefix lets a pipeline become a person (`actor = "alice"`).
    pub fn problem(&self) -> Option<String> {
        let rule = self;
        let at = format!("[[authz.trusted_issuers]] for `{}`", rule.issuer);
        if rule.audience.trim().is_empty() {
            return Some(format!(
                "{at}: `audience` is empty; name the audience the CI token must carry (e.g. \"https://gatehouse.example/mcp\")"
            ));
        }
        if rule.require.is_empty() || rule.require.values().any(|v| v.trim().is_empty()) {
            return Some(format!(
                "{at}: `require` is empty, so every pipeline of every customer of this CI provider would be trusted; \
                 require immutable claims, e.g. require = {{ repository_id = \"123456\", repository_owner_id = \"7890\" }} \
                 (GitHub) or {{ project_id = \"42\" }} (GitLab)"
            ));
        }
        if rule.user_prefix.trim().is_empty() {
            return Some(format!(
                "{at}: `user_prefix` is empty, so a pipeline could take a person's name (user_claim = \"{}\"); \
                 set a prefix people's names never start with, e.g. user_prefix = \"ci:\"",
                rule.user_claim
            ));
        }
        None
    }
}

fn default_required_scopes() -> Vec<String> {
    vec!["mcp".into()]
}

pub(super) fn default_admin_groups() -> Vec<String> {
    vec!["gatehouse-admins".into()]
}

/// `[oidc]`: the identity provider whose access tokens the gateway accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer (discovery at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// Extra accepted audiences; `{public_url}/mcp` and `{public_url}/mcp/{server}` always are.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The claim naming the person (`sub` default; `preferred_username`, `email`, `oid`…).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim listing their groups (`groups` default; Entra ID: `groups` or `roles`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Scopes every token must carry (`scope` claim, space-separated, or `scp`): `mcp` by
    /// default, so a token the provider issued for another purpose is not taken; `[]`
    /// accepts any.
    #[serde(default = "default_required_scopes")]
    pub required_scopes: Vec<String>,
    /// Renames groups from the provider's claim (Entra ID sends object ids:
    /// `"8c1e…" = "gatehouse-admins"`); groups not listed keep their name.
    #[serde(default)]
    pub group_map: BTreeMap<String, String>,
    /// The control plane's own client at the provider, for people signing in to the
    /// dashboard (Authorization Code + PKCE). Without it browser sign-in is off.
    #[serde(default)]
    pub client_id: Option<String>,
    /// That client's secret, by reference (`env:NAME` or `file:PATH`); none for a public client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for at browser sign-in (`openid` is always asked for).
    #[serde(default = "default_signin_scopes")]
    pub signin_scopes: Vec<String>,
    /// How long a dashboard sign-in lasts before the person signs in again.
    #[serde(default = "default_browser_session_hours")]
    pub browser_session_hours: u64,
}

fn default_signin_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

fn default_browser_session_hours() -> u64 {
    8
}

impl OidcConfig {
    /// The client secret, resolved from its reference.
    pub fn resolved_client_secret(&self) -> Result<Option<String>, ConfigError> {
        self.client_secret
            .as_deref()
            .map(|r| {
                resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("[oidc] client_secret: {e}")))
            })
            .transpose()
    }
}

/// `[saml]`: the control plane as a SAML 2.0 service provider for dashboard sign-in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    /// The IdP's metadata: an `https://` URL (`http://` only on a loopback address), or
    /// `file:PATH`. It must carry a signing certificate: unsigned answers are never accepted.
    pub idp_metadata: String,
    /// This service provider's entity id (default `{public_url}/saml/metadata`).
    #[serde(default)]
    pub entity_id: Option<String>,
    /// The attribute naming the person (default: the assertion's NameID).
    #[serde(default)]
    pub user_attribute: Option<String>,
    /// The attribute listing their groups.
    #[serde(default = "default_groups_claim")]
    pub groups_attribute: String,
    /// Renames groups (`"S-1-5-21-…" = "gatehouse-admins"`); others keep their name.
    #[serde(default)]
    pub group_map: BTreeMap<String, String>,
    /// How long a dashboard sign-in lasts.
    #[serde(default = "default_browser_session_hours")]
    pub browser_session_hours: u64,
}

/// `[roles]`: which groups see and do what in the dashboard and API. Everyone signed in
/// is an engineer (their own sessions and requests); `admin_groups` (top level) are admins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolesConfig {
    /// Read-only access to every session, approval, policy and the audit log.
    pub auditor_groups: Vec<String>,
    /// May decide approvals in the dashboard (the policy still names who may approve what).
    pub approver_groups: Vec<String>,
}

impl Default for RolesConfig {
    fn default() -> Self {
        RolesConfig {
            auditor_groups: vec!["gatehouse-auditors".into()],
            approver_groups: vec!["gatehouse-approvers".into()],
        }
    }
}

fn default_user_claim() -> String {
    "sub".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}
