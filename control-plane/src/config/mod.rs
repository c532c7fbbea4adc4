//! `gatehouse.toml`: what the control plane listens on, where it stores, which upstream
//! servers it exposes. Every key can be overridden by a `GATEHOUSE_*` environment variable
//! (`GATEHOUSE_LISTEN`, `GATEHOUSE_DATABASE`, `GATEHOUSE_LIMITS__BODY_BYTES`, ...).

use serde::Deserialize;
use std::path::{Path, PathBuf};

mod agents;
mod audit;
mod dev;
mod error;
mod identity;
pub mod ip_range;
mod limits;
mod masking;
mod masking_profiles;
mod secrets;
mod servers;
#[cfg(test)]
mod tests;

pub use agents::{AgentRef, AgentsConfig};
pub use audit::{ApprovalsConfig, AuditConfig};
pub use dev::{DevConfig, DevToken};
pub use error::ConfigError;
use identity::default_admin_groups;
pub use identity::{
    AuthzConfig, AuthzStoreConfig, DeviceFlowConfig, OidcConfig, RolesConfig, SamlConfig,
    TrustedIssuer,
};
pub use limits::Limits;
pub use masking::{MaskingConfig, MaskingOverride};
pub use masking_profiles::Masking;
pub(crate) use secrets::resolve_secret;
pub use servers::{LocalServerConfig, ServerConfig};

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
    /// OpenTelemetry traces (OTLP/HTTP); off unless `endpoint` is set.
    #[serde(default)]
    pub telemetry: gatehouse_telemetry::TelemetryConfig,
}

fn default_client_address_header() -> String {
    "x-forwarded-for".into()
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_database() -> String {
    "sqlite://gatehouse.db".into()
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
    pub fn trusted_proxy_ranges(&self) -> Vec<ip_range::IpRange> {
        self.trusted_proxies
            .iter()
            .filter_map(|r| ip_range::IpRange::parse(r).ok())
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
        self.telemetry.validate().map_err(ConfigError::Invalid)?;
        for r in &self.trusted_proxies {
            ip_range::IpRange::parse(r)
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
        let mut witnesses = std::collections::HashSet::new();
        for w in &self.audit.witnesses {
            w.validate().map_err(ConfigError::Invalid)?;
            if !witnesses.insert(w.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "two audit witnesses are named `{}`: give each its own `name`",
                    w.name
                )));
            }
        }
        if let Some(o) = &self.audit.origin
            && (o.is_empty() || o.chars().any(|c| c.is_whitespace() || c == '+'))
        {
            return Err(ConfigError::Invalid(format!(
                "audit.origin `{o}` must be non-empty without spaces or `+` (e.g. gatehouse.example.com/audit)"
            )));
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
            if let Some(p) = rule.problem() {
                return Err(ConfigError::Invalid(p));
            }
        }
        // `is_nan() || <= 0.0`: a NaN from the file is refused like a zero.
        let not_positive = |h: f64| h.is_nan() || h <= 0.0;
        if not_positive(self.authz.max_grant_hours)
            || not_positive(self.authz.unverified_grant_hours)
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

impl Config {
    /// The masking profiles, built (checks every profile and the HMAC key reference).
    pub fn masking(&self) -> Result<Masking, ConfigError> {
        let key = match &self.masking.hmac_key {
            Some(r) => Some(
                resolve_secret(r)
                    .map_err(|e| ConfigError::Invalid(format!("masking.hmac_key: {e}")))?,
            ),
            None => None,
        };
        Masking::new(&self.masking, key.as_deref().map(str::as_bytes))
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
