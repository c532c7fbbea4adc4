//! `gatehouse.toml`: what the control plane listens on, where it stores, which upstream
//! servers it exposes. Every key can be overridden by a `GATEHOUSE_*` environment variable
//! (`GATEHOUSE_LISTEN`, `GATEHOUSE_DATABASE`, `GATEHOUSE_LIMITS__BODY_BYTES`, ...).

use gatehouse_proxy_core::mcp::Era;
use gatehouse_proxy_core::upstream::UpstreamSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem, pointing at the file position when the file is at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read the config file {path}: {source}. Pass --config FILE or set GATEHOUSE_CONFIG."
    )]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or a key has the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values do not make sense together.
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The public base URL clients use (behind a reverse proxy this differs from `listen`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// `sqlite://path` (default) or `postgres://...`.
    #[serde(default = "default_database")]
    pub database: String,
    /// `fsync` (default: every record flushed to disk before the message moves on) or
    /// `os` (handed to the OS: survives a Gatehouse crash, not a power loss).
    #[serde(default)]
    pub durability: crate::store::Durability,
    /// Extra hosts accepted in `Host` and `Origin` (DNS-rebinding protection); the
    /// public URL's host and loopback names are always accepted.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Limits and timeouts.
    #[serde(default)]
    pub limits: Limits,
    /// Upstream MCP servers.
    #[serde(default)]
    pub servers: Vec<ServerConfig>,
    /// Stdio MCP servers that run on engineers' laptops (`[[local_servers]]`), served to
    /// the tray app and `gatehouse connect` of the groups named.
    #[serde(default)]
    pub local_servers: Vec<LocalServerConfig>,
    /// Dev sign-in, honoured only with `serve --dev` and by `gatehouse demo`.
    #[serde(default)]
    pub dev: DevConfig,
    /// Masking profiles and which one applies to whom.
    #[serde(default)]
    pub masking: MaskingConfig,
    /// The policy document (YAML). Without one every signed-in person may use every server.
    #[serde(default)]
    pub policy_file: Option<PathBuf>,
    /// How approvers are told about held calls.
    #[serde(default)]
    pub approvals: ApprovalsConfig,
    /// Signed checkpoints over the audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Access tokens from the company's OpenID provider.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    /// Groups whose members may publish policies through the API.
    #[serde(default = "default_admin_groups")]
    pub admin_groups: Vec<String>,
    /// Dashboard roles.
    #[serde(default)]
    pub roles: RolesConfig,
    /// Dashboard sign-in through a SAML 2.0 identity provider (instead of `[oidc]`).
    #[serde(default)]
    pub saml: Option<SamlConfig>,
    /// Agents (servers with `agent = "NAME"`).
    #[serde(default)]
    pub agents: AgentsConfig,
    /// The control plane as the OAuth authorization server MCP clients see.
    #[serde(default)]
    pub authz: AuthzConfig,
    /// Sign-in for machines without a browser (RFC 8628 device authorization grant).
    #[serde(default)]
    pub device_flow: DeviceFlowConfig,
    /// How the authorization server keeps its records: secrets encrypted at rest, old
    /// rows collected.
    #[serde(default)]
    pub authz_store: AuthzStoreConfig,
    /// The control plane's environment variables a stdio server inherits (default PATH,
    /// HOME, LANG, LC_ALL, LC_CTYPE, TMPDIR, TZ, USER, LOGNAME); it sees nothing else of
    /// it, only these and its own `env`.
    #[serde(default = "gatehouse_proxy_core::upstream::default_inherited_env")]
    pub stdio_inherit_env: Vec<String>,
    /// Reverse proxies (addresses or `ADDR/LEN` ranges) whose `client_address_header`
    /// names the client; from anyone else the header is ignored. None by default.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy puts the client's address in.
    #[serde(default = "default_client_address_header")]
    pub client_address_header: String,
}

fn default_client_address_header() -> String {
    "x-forwarded-for".into()
}

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

/// `[agents]`: how the control plane keeps its agent connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// Seconds between heartbeats; an agent silent for three of them is dropped. Each
    /// heartbeat also re-checks that the agent's token is not revoked.
    pub heartbeat_secs: u64,
    /// Seconds to wait for an agent to start a session's upstream.
    pub open_timeout_secs: u64,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            heartbeat_secs: 10,
            open_timeout_secs: 15,
        }
    }
}

/// `agent = "NAME"`, or `agent = ["a", "b"]` for agents that share the load.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum AgentRef {
    /// One agent.
    One(String),
    /// Several; each new session goes to the least-loaded connected one.
    Many(Vec<String>),
}

fn default_required_scopes() -> Vec<String> {
    vec!["mcp".into()]
}

fn default_admin_groups() -> Vec<String> {
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
    /// The person named by verified claims: `user_claim` (falling back to `sub`) and the
    /// groups of `groups_claim`, renamed by `group_map`.
    pub fn principal_from_claims(
        &self,
        claims: &serde_json::Value,
    ) -> Option<crate::gateway::auth::Principal> {
        let user = claims[self.user_claim.as_str()]
            .as_str()
            .or_else(|| claims["sub"].as_str())?
            .to_string();
        let groups = claims[self.groups_claim.as_str()]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(|g| {
                        self.group_map
                            .get(g)
                            .cloned()
                            .unwrap_or_else(|| g.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(crate::gateway::auth::Principal { user, groups })
    }

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
}

impl AuditConfig {
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
        }
    }
}

/// `[approvals]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// A Slack-compatible incoming webhook (`{"text": ...}` is posted for every request).
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// `[masking]`: profiles and the rules choosing one per server and group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    /// Profile for servers and groups without one. `default` (every detector) unless set;
    /// `off` masks nothing.
    pub default_profile: String,
    /// Key for the `hmac` strategy, by reference (`env:NAME` or `file:PATH`).
    pub hmac_key: Option<String>,
    /// Named profiles (`[masking.profiles.NAME]`); `default` and `off` exist unless redefined.
    pub profiles: BTreeMap<String, gatehouse_mask::Profile>,
    /// Group overrides, first match wins: `{ group, server?, profile }`.
    pub overrides: Vec<MaskingOverride>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        MaskingConfig {
            default_profile: "default".into(),
            hmac_key: None,
            profiles: BTreeMap::new(),
            overrides: Vec::new(),
        }
    }
}

/// A profile for members of a group (optionally on one server only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingOverride {
    /// The group.
    pub group: String,
    /// Only on this server.
    #[serde(default)]
    pub server: Option<String>,
    /// The profile.
    pub profile: String,
}

/// Limits that protect the gateway and its upstreams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest accepted request body.
    pub body_bytes: usize,
    /// How long a request may wait for its upstream answer, in seconds.
    pub request_timeout_secs: f64,
    /// A session with no traffic for this long is closed, in seconds.
    pub session_idle_secs: u64,
    /// Stateless (2026-07-28) requests from the same person, server and client within
    /// this many seconds are grouped into one recorded session.
    pub stateless_group_secs: u64,
    /// How many server-to-client events a session keeps for `Last-Event-ID` replay.
    pub replay_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 120.0,
            session_idle_secs: 30 * 60,
            stateless_group_secs: 10 * 60,
            replay_events: 256,
        }
    }
}

impl Limits {
    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.request_timeout_secs.max(0.001))
    }
}

/// One upstream MCP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The name in `/mcp/{name}`.
    pub name: String,
    /// A Streamable HTTP (or, with `transport = "sse"`, legacy HTTP+SSE) endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// `streamable-http` (default for `url`) or `sse`.
    #[serde(default)]
    pub transport: Option<String>,
    /// Headers sent to a URL upstream; values may be `env:NAME` or `file:PATH` references.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A stdio server spawned per session.
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment; values may be `env:NAME` or `file:PATH` references.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The protocol era the upstream speaks (`legacy` default, or `current` for 2026-07-28).
    #[serde(default = "default_era")]
    pub era: Era,
    /// The masking profile for this server's answers (else `masking.default_profile`).
    #[serde(default)]
    pub masking_profile: Option<String>,
    /// Block a tool whose definition changed since it was first seen until an admin
    /// accepts it (`gatehouse tools accept`). Changes are recorded either way.
    #[serde(default)]
    pub pin_tools: bool,
    /// Served by this agent (or these agents): the upstream lives in the agent's network
    /// and its config; the control plane holds no address or credential for it.
    #[serde(default)]
    pub agent: Option<AgentRef>,
}

/// `[[local_servers]]`: a stdio MCP server that must run on the laptop (it reaches local
/// files, a local database, a device). Admins name it here; the tray app and `gatehouse
/// connect NAME` of members of `groups` run it under local capture, with the pushed policy
/// (`local:NAME` in policy documents) and this server's masking profile.
///
/// The command, arguments and environment are sent to the laptop as written: `env:NAME`
/// and `file:PATH` references in `env` are resolved there, from the person's own
/// environment and files, never here, so no control-plane secret ever reaches a laptop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalServerConfig {
    /// The name in `gatehouse connect NAME` (policies and the audit log say `local:NAME`).
    pub name: String,
    /// The program to start on the laptop.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment; values may be `env:NAME` or `file:PATH` references, resolved on
    /// the laptop.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Groups whose members may run it (at least one).
    pub groups: Vec<String>,
    /// The masking profile for its answers (else `masking.default_profile`; group
    /// overrides with `server = "local:NAME"` apply as for other servers).
    #[serde(default)]
    pub masking_profile: Option<String>,
    /// One line for the tray menu.
    #[serde(default)]
    pub description: Option<String>,
}

impl LocalServerConfig {
    fn check(&self) -> Result<(), ConfigError> {
        let invalid =
            |what: &str| ConfigError::Invalid(format!("local server `{}`: {what}", self.name));
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::Invalid(format!(
                "local server name `{}` must be non-empty and use only letters, digits, `-` and `_` (it becomes `gatehouse connect {{name}}`)",
                self.name
            )));
        }
        if self.command.trim().is_empty() {
            return Err(invalid(
                "`command` is empty: name the program to start on the laptop",
            ));
        }
        if self.groups.iter().all(|g| g.trim().is_empty()) {
            return Err(invalid(
                "`groups` names no group: list the groups whose members may run it, e.g. groups = [\"engineers\"]",
            ));
        }
        Ok(())
    }

    /// True when a member of `groups` may run it.
    pub fn allows(&self, groups: &[String]) -> bool {
        self.groups.iter().any(|g| groups.contains(g))
    }
}

/// Dev sign-in tokens.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    /// Bearer tokens and who they stand for.
    #[serde(default)]
    pub tokens: Vec<DevToken>,
}

/// One dev bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevToken {
    /// The token text.
    pub token: String,
    /// The user it signs in.
    pub user: String,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_database() -> String {
    "sqlite://gatehouse.db".into()
}
fn default_era() -> Era {
    Era::Legacy
}

impl Config {
    /// Reads a file, applies `GATEHOUSE_*` overrides, validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path, std::env::vars())
    }

    /// Parses TOML text (named `path` in errors) with the given environment overrides.
    pub fn parse(
        text: &str,
        path: &Path,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        };
        let mut table: toml::Table = toml::from_str(text).map_err(syntax)?;
        apply_env_overrides(&mut table, env)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    // Positions are lost after overrides; re-parse the raw file to find the spot.
                    match toml::from_str::<Config>(text) {
                        Err(raw) => syntax(raw),
                        Ok(_) => ConfigError::Invalid(format!(
                            "an environment override is invalid: {}",
                            e.message()
                        )),
                    }
                })?;
        config.validate()?;
        Ok(config)
    }

    /// A config with no file: defaults plus environment overrides.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::parse("", Path::new("<environment>"), std::env::vars())
    }

    /// The trusted proxies' ranges (validated at start).
    pub fn trusted_proxy_ranges(&self) -> Vec<crate::gateway::client_address::IpRange> {
        self.trusted_proxies
            .iter()
            .filter_map(|r| crate::gateway::client_address::IpRange::parse(r).ok())
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(saml) = &self.saml {
            let m = saml.idp_metadata.as_str();
            let loopback_http = reqwest::Url::parse(m).is_ok_and(|u| {
                u.scheme() == "http"
                    && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
            });
            if !(m.starts_with("https://") || m.starts_with("file:") || loopback_http) {
                return Err(ConfigError::Invalid(format!(
                    "saml.idp_metadata `{m}` must be an https:// URL or file:PATH: the signing certificate in it decides whose sign-in answers are trusted"
                )));
            }
        }
        for r in &self.trusted_proxies {
            crate::gateway::client_address::IpRange::parse(r)
                .map_err(|e| ConfigError::Invalid(format!("trusted_proxies: {e}")))?;
        }
        if http::HeaderName::from_bytes(self.client_address_header.as_bytes()).is_err() {
            return Err(ConfigError::Invalid(format!(
                "client_address_header `{}` is not a header name",
                self.client_address_header
            )));
        }
        if let Some(days) = self.audit.retention_days {
            let problem = if days == 0 {
                Some(
                    "audit.retention_days must be at least 1 (leave it out to keep events forever)",
                )
            } else if self.audit.archive_dir.is_none() {
                Some(
                    "audit.retention_days needs audit.archive_dir: events are archived there before they are pruned",
                )
            } else if self.audit.signing_key.is_none() {
                Some(
                    "audit.retention_days needs audit.signing_key: the retention anchor that keeps the pruned log verifiable is signed with it, and auditors must be able to pin that key",
                )
            } else {
                None
            };
            if let Some(p) = problem {
                return Err(ConfigError::Invalid(p.to_string()));
            }
        }
        let mut sinks = std::collections::HashSet::new();
        for sink in &self.audit.sinks {
            sink.validate().map_err(ConfigError::Invalid)?;
            if !sinks.insert(sink.name()) {
                return Err(ConfigError::Invalid(format!(
                    "two audit sinks are named `{}`: give each its own `name` (it keys the delivery cursor)",
                    sink.name()
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.servers {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "server name `{}` must be non-empty and use only letters, digits, `-` and `_` (it becomes /mcp/{{name}})",
                    s.name
                )));
            }
            if !seen.insert(&s.name) {
                return Err(ConfigError::Invalid(format!(
                    "server `{}` is configured twice",
                    s.name
                )));
            }
            if s.agent.is_some() {
                s.check_agent()?;
            } else {
                s.upstream_spec()?;
            }
        }
        let mut local = std::collections::HashSet::new();
        for s in &self.local_servers {
            s.check()?;
            if !local.insert(&s.name) {
                return Err(ConfigError::Invalid(format!(
                    "local server `{}` is configured twice",
                    s.name
                )));
            }
        }
        if self.agents.heartbeat_secs == 0 || self.agents.open_timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "agents.heartbeat_secs and agents.open_timeout_secs must be at least 1".into(),
            ));
        }
        let masking = self.masking()?;
        for s in &self.servers {
            if let Some(p) = &s.masking_profile
                && !masking.has_profile(p)
            {
                return Err(ConfigError::Invalid(format!(
                    "server `{}`: masking_profile `{p}` is not a profile; define [masking.profiles.{p}]",
                    s.name
                )));
            }
        }
        for s in &self.local_servers {
            if let Some(p) = &s.masking_profile
                && !masking.has_profile(p)
            {
                return Err(ConfigError::Invalid(format!(
                    "local server `{}`: masking_profile `{p}` is not a profile; define [masking.profiles.{p}]",
                    s.name
                )));
            }
        }
        for rule in &self.authz.trusted_issuers {
            if let Some(p) = crate::gateway::authz::exchange_rules::problem(rule) {
                return Err(ConfigError::Invalid(p));
            }
        }
        if !(self.authz.max_grant_hours > 0.0)
            || !(self.authz.unverified_grant_hours > 0.0)
            || self.authz.unverified_grant_hours > self.authz.max_grant_hours
        {
            return Err(ConfigError::Invalid(
                "authz.max_grant_hours and authz.unverified_grant_hours must be above 0, and unverified_grant_hours at most max_grant_hours".into(),
            ));
        }
        if self.authz.access_token_secs == 0 || self.authz.code_secs == 0 {
            return Err(ConfigError::Invalid(
                "authz.access_token_secs and authz.code_secs must be at least 1".into(),
            ));
        }
        if self.limits.body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "limits.body_bytes must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    /// The masking profiles, built (checks every profile and the HMAC key reference).
    pub fn masking(&self) -> Result<crate::gateway::masking::Masking, ConfigError> {
        let key = match &self.masking.hmac_key {
            Some(r) => Some(
                resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("masking.hmac_key: {e}")))?,
            ),
            None => None,
        };
        crate::gateway::masking::Masking::new(&self.masking, key.as_deref().map(str::as_bytes))
    }

    /// The policy document, loaded and checked (errors name file:line:column).
    pub fn policy(&self) -> Result<Option<gatehouse_policy::Policy>, ConfigError> {
        let Some(path) = &self.policy_file else {
            return Ok(None);
        };
        load_policy(path).map(Some)
    }

    /// The checkpoint signing key: the configured one, or one made for this run.
    pub fn signing_key(&self) -> Result<gatehouse_audit::SigningKey, ConfigError> {
        match &self.audit.signing_key {
            Some(r) => {
                let seed = resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("audit.signing_key: {e}")))?;
                gatehouse_audit::signing_key_from_hex(&seed)
                    .map_err(|e| ConfigError::Invalid(format!("audit.signing_key: {e}")))
            }
            None => {
                tracing::warn!(
                    "no audit.signing_key configured: checkpoints are signed with a key made for this run; configure one so auditors can pin it"
                );
                let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let mut seed = [0u8; 32];
                seed[..16].copy_from_slice(a.as_bytes());
                seed[16..].copy_from_slice(b.as_bytes());
                Ok(gatehouse_audit::SigningKey::from_bytes(&seed))
            }
        }
    }

    /// The access-token signing key: the configured one, or one made for this run.
    pub fn token_signing_key(&self) -> Result<gatehouse_audit::SigningKey, ConfigError> {
        match &self.authz.signing_key {
            Some(r) => {
                let seed = resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("authz.signing_key: {e}")))?;
                gatehouse_audit::signing_key_from_hex(&seed)
                    .map_err(|e| ConfigError::Invalid(format!("authz.signing_key: {e}")))
            }
            None => {
                let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
                let mut seed = [0u8; 32];
                seed[..16].copy_from_slice(a.as_bytes());
                seed[16..].copy_from_slice(b.as_bytes());
                Ok(gatehouse_audit::SigningKey::from_bytes(&seed))
            }
        }
    }

    /// The local server named `name`.
    pub fn local_server(&self, name: &str) -> Option<&LocalServerConfig> {
        self.local_servers.iter().find(|s| s.name == name)
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

impl ServerConfig {
    /// The agents serving this server (empty for a direct upstream).
    pub fn agents(&self) -> Vec<String> {
        match &self.agent {
            None => Vec::new(),
            Some(AgentRef::One(a)) => vec![a.clone()],
            Some(AgentRef::Many(v)) => v.clone(),
        }
    }

    /// An agent-served server names its agents and nothing about the upstream itself.
    fn check_agent(&self) -> Result<(), ConfigError> {
        let agents = self.agents();
        if agents.is_empty() {
            return Err(
                self.invalid("`agent` names no agent; give a name, e.g. agent = \"vnet-1\"")
            );
        }
        for a in &agents {
            if a.is_empty()
                || !a
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.invalid(&format!(
                    "agent name `{a}` must be non-empty and use only letters, digits, `-` and `_`"
                )));
            }
        }
        let mut direct = Vec::new();
        if self.url.is_some() {
            direct.push("url");
        }
        if self.command.is_some() {
            direct.push("command");
        }
        if !self.args.is_empty() {
            direct.push("args");
        }
        if !self.env.is_empty() {
            direct.push("env");
        }
        if !self.headers.is_empty() {
            direct.push("headers");
        }
        if self.transport.is_some() {
            direct.push("transport");
        }
        if !direct.is_empty() {
            return Err(self.invalid(&format!(
                "`agent` cannot be combined with {}: the upstream and its credentials are configured on the agent, not here",
                direct.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(())
    }

    /// How to reach this upstream, with secret references resolved.
    pub fn upstream_spec(&self) -> Result<UpstreamSpec, ConfigError> {
        if self.agent.is_some() {
            return Err(self.invalid(
                "this server is served by an agent; its sessions go through the agent connection",
            ));
        }
        let resolve_all =
            |m: &BTreeMap<String, String>| -> Result<BTreeMap<String, String>, ConfigError> {
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), resolve_secret(v).map_err(|e| self.invalid(&e))?)))
                    .collect()
            };
        match (&self.url, &self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(
                        self.invalid(&format!("url `{url}` must start with http:// or https://"))
                    );
                }
                let headers = resolve_all(&self.headers)?;
                match self.transport.as_deref() {
                    None | Some("streamable-http") => Ok(UpstreamSpec::Http {
                        url: url.clone(),
                        headers,
                    }),
                    Some("sse") => Ok(UpstreamSpec::Sse {
                        url: url.clone(),
                        headers,
                    }),
                    Some(other) => Err(self.invalid(&format!(
                        "transport `{other}` is unknown; use `streamable-http` or `sse`"
                    ))),
                }
            }
            (None, Some(command)) => Ok(UpstreamSpec::Stdio {
                command: command.clone(),
                args: self.args.clone(),
                env: resolve_all(&self.env)?,
            }),
            (Some(_), Some(_)) => Err(self.invalid("set either `url` or `command`, not both")),
            (None, None) => Err(self.invalid(
                "set `url` (HTTP upstream), `command` (stdio upstream) or `agent` (served by an agent)",
            )),
        }
    }

    fn invalid(&self, what: &str) -> ConfigError {
        ConfigError::Invalid(format!("server `{}`: {what}", self.name))
    }
}

/// Reads and checks a policy document; every problem is reported as FILE:LINE:COL.
pub fn load_policy(path: &Path) -> Result<gatehouse_policy::Policy, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::Invalid(format!(
            "cannot read the policy file {}: {e}",
            path.display()
        ))
    })?;
    gatehouse_policy::Policy::from_yaml(&text)
        .map_err(|e| ConfigError::Invalid(e.with_file(&path.display().to_string()).to_string()))
}

/// Resolves `env:NAME` and `file:PATH` references; other values are literal.
fn resolve_secret(value: &str) -> Result<String, String> {
    if let Some(name) = value.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
    } else if let Some(path) = value.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim_end().to_string())
            .map_err(|e| format!("cannot read secret file `{path}`: {e}"))
    } else {
        Ok(value.to_string())
    }
}

/// Top-level keys an environment variable may override.
const TOP_LEVEL_KEYS: [&str; 24] = [
    "stdio_inherit_env",
    "trusted_proxies",
    "client_address_header",
    "local_servers",
    "authz",
    "device_flow",
    "authz_store",
    "admin_groups",
    "saml",
    "roles",
    "agents",
    "oidc",
    "approvals",
    "audit",
    "policy_file",
    "listen",
    "public_url",
    "database",
    "durability",
    "allowed_hosts",
    "limits",
    "servers",
    "dev",
    "masking",
];

/// `GATEHOUSE_LISTEN=...` sets `listen`; `__` separates nested keys
/// (`GATEHOUSE_LIMITS__BODY_BYTES`). Values are parsed as TOML when they parse, else strings.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    const SKIP: [&str; 4] = [
        "GATEHOUSE_CONFIG",
        "GATEHOUSE_TOKEN",
        "GATEHOUSE_URL",
        "GATEHOUSE_LOG_FORMAT",
    ];
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("GATEHOUSE_") else {
            continue;
        };
        if SKIP.contains(&key.as_str()) || rest.is_empty() {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if !TOP_LEVEL_KEYS.contains(&path[0].as_str()) {
            // Not a config key (a secret referenced as env:GATEHOUSE_..., say): leave it be.
            tracing::debug!(variable = %key, "not a config override: no such top-level key");
            continue;
        }
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value.clone()));
        let mut cur = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = cur
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cur = entry
                .as_table_mut()
                .ok_or_else(|| ConfigError::Invalid(format!("{key}: `{part}` is not a table")))?;
        }
        cur.insert(path[path.len() - 1].clone(), parsed);
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>();
        Config::parse(text, Path::new("g.toml"), env.into_iter())
    }

    #[test]
    fn servers_and_defaults() {
        let c = parse(
            "listen = \"0.0.0.0:9\"\n[[servers]]\nname = \"db\"\ncommand = \"srv\"\nargs = [\"-v\"]\n[[servers]]\nname = \"web\"\nurl = \"http://x/mcp\"\nera = \"current\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9");
        assert_eq!(c.database, "sqlite://gatehouse.db");
        assert!(matches!(
            c.server("db").unwrap().upstream_spec().unwrap(),
            UpstreamSpec::Stdio { .. }
        ));
        assert_eq!(c.server("web").unwrap().era, Era::Current);
        assert_eq!(c.limits.body_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn errors_point_at_the_file_position() {
        let e = parse("listen = \"a\"\n[[servers]]\nname = 3\n", &[]).unwrap_err();
        assert_eq!(e.to_string().split(": ").next().unwrap(), "g.toml:3:8");
        let e = parse("listen = \"a\"\nbogus = 1\n", &[]).unwrap_err();
        assert!(e.to_string().starts_with("g.toml:2:1"), "{e}");
        let e = parse("[[servers]]\nname = \"a\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("set `url`"), "{e}");
        let e = parse("[[servers]]\nname = \"a b\"\ncommand = \"x\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("only letters"), "{e}");
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let c = parse(
            "[limits]\nbody_bytes = 2048\n",
            &[
                ("GATEHOUSE_LISTEN", "127.0.0.1:1"),
                ("GATEHOUSE_LIMITS__REQUEST_TIMEOUT_SECS", "1.5"),
                ("GATEHOUSE_TOKEN", "x"),
                ("GATEHOUSE_MASK_KEY", "a secret, not a config key"),
            ],
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:1");
        assert_eq!(c.limits.request_timeout(), Duration::from_millis(1500));
        assert_eq!(c.limits.body_bytes, 2048);
    }

    #[test]
    fn agent_servers_name_agents_and_nothing_else() {
        let c = parse(
            "[[servers]]\nname = \"db\"\nagent = \"vnet-1\"\n[[servers]]\nname = \"wide\"\nagent = [\"a\", \"b\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.server("db").unwrap().agents(), vec!["vnet-1"]);
        assert_eq!(c.server("wide").unwrap().agents(), vec!["a", "b"]);
        assert!(c.server("db").unwrap().upstream_spec().is_err());
        let e = parse(
            "[[servers]]\nname = \"db\"\nagent = \"a\"\ncommand = \"psql\"\nenv = { P = \"x\" }\n",
            &[],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot be combined with `command`, `env`"),
            "{e}"
        );
        let e = parse("[[servers]]\nname = \"db\"\nagent = \"a b\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("agent name `a b`"), "{e}");
        let e = parse("[[servers]]\nname = \"db\"\nagent = []\n", &[]).unwrap_err();
        assert!(e.to_string().contains("names no agent"), "{e}");
        let e = parse("[[servers]]\nname = \"db\"\n", &[]).unwrap_err();
        assert!(e.to_string().contains("or `agent`"), "{e}");
    }

    #[test]
    fn local_servers_name_groups_and_a_known_profile() {
        let c = parse(
            "[[local_servers]]\nname = \"files\"\ncommand = \"npx\"\nargs = [\"srv\"]\nenv = { ROOT = \"env:HOME\" }\ngroups = [\"engineers\"]\nmasking_profile = \"off\"\n",
            &[],
        )
        .unwrap();
        let f = c.local_server("files").unwrap();
        assert_eq!(f.env["ROOT"], "env:HOME", "references stay unresolved here");
        assert!(f.allows(&["engineers".into()]));
        assert!(!f.allows(&["sales".into()]));
        let e = parse(
            "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = []\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("names no group"), "{e}");
        let e = parse("[[local_servers]]\nname = \"f\"\ncommand = \"x\"\n", &[]).unwrap_err();
        assert!(e.to_string().starts_with("g.toml:1:1"), "{e}");
        let e = parse(
            "[[local_servers]]\nname = \"a:b\"\ncommand = \"x\"\ngroups = [\"g\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("only letters"), "{e}");
        let e = parse(
            "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = [\"g\"]\nmasking_profile = \"nope\"\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("masking_profile `nope`"), "{e}");
        let e = parse(
            "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = [\"g\"]\n[[local_servers]]\nname = \"f\"\ncommand = \"y\"\ngroups = [\"g\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("configured twice"), "{e}");
    }

    #[test]
    fn secret_references_resolve_or_fail_clearly() {
        let e = parse(
            "[[servers]]\nname = \"a\"\ncommand = \"x\"\nenv = { K = \"env:GATEHOUSE_TEST_UNSET_VAR\" }\n",
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("GATEHOUSE_TEST_UNSET_VAR"), "{e}");
    }
}
