//! The agent's config file (TOML): where the control plane is, the agent token (by
//! reference only), and the upstream servers this agent serves with their credentials
//! (secret values by `env:NAME` or `file:PATH` reference).
//!
//! ```toml
//! control_plane = "wss://gatehouse.example.com"
//! token = "env:GATEHOUSE_AGENT_TOKEN"
//!
//! [[servers]]
//! name = "customers-db"
//! command = "mcp-server-postgres"
//! args = ["env:CUSTOMERS_DB_URL"]
//!
//! [[servers]]
//! name = "wiki"
//! url = "https://wiki.internal/mcp"
//! headers = { Authorization = "file:/run/secrets/wiki-token" }
//! ```

use gatehouse_proxy_core::upstream::UpstreamSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A problem with the agent's config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read the agent config {path}: {source}. Pass --config FILE or set GATEHOUSE_AGENT_CONFIG."
    )]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Malformed TOML or a key of the wrong type.
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
    /// Values that do not make sense.
    #[error("{0}")]
    Invalid(String),
}

/// The whole agent config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The control plane's base URL, `wss://` (or `ws://` on a trusted network); the
    /// path defaults to `/agent/v1/connect`.
    pub control_plane: String,
    /// The agent token, as `env:NAME` or `file:PATH`. Never inline.
    pub token: String,
    /// Reconnection backoff.
    #[serde(default)]
    pub reconnect: Reconnect,
    /// Seconds to wait for an upstream to start.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// The agent's environment variables a stdio server inherits; it sees nothing else
    /// of it (not the agent token), only these and its own `env`.
    #[serde(default = "gatehouse_proxy_core::upstream::default_inherited_env")]
    pub stdio_inherit_env: Vec<String>,
    /// The servers this agent serves.
    #[serde(default)]
    pub servers: Vec<ServerConfig>,
    /// OpenTelemetry traces (OTLP/HTTP) of the calls it carries; off unless `endpoint`
    /// is set. Either way it hands a call's `traceparent` on to HTTP upstreams.
    #[serde(default)]
    pub telemetry: gatehouse_telemetry::TelemetryConfig,
}

fn default_connect_timeout() -> u64 {
    10
}

/// Exponential backoff with jitter between connection attempts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reconnect {
    /// First delay, in milliseconds.
    pub initial_ms: u64,
    /// Largest delay, in milliseconds.
    pub max_ms: u64,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            initial_ms: 500,
            max_ms: 30_000,
        }
    }
}

/// One upstream server the agent serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The name the control plane knows it by (its `[[servers]]` entry has
    /// `agent = "THIS AGENT"`).
    pub name: String,
    /// A Streamable HTTP (or, with `transport = "sse"`, legacy SSE) endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// `streamable-http` (default for `url`) or `sse`.
    #[serde(default)]
    pub transport: Option<String>,
    /// Headers for a URL upstream; values may be `env:`/`file:` references.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A stdio server, spawned per session.
    #[serde(default)]
    pub command: Option<String>,
    /// Its arguments; each may be an `env:`/`file:` reference (a database URL, say).
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment; values may be `env:`/`file:` references.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl AgentConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AgentConfig::parse(&text, path)
    }

    /// Parses TOML text (named `path` in errors) and checks it.
    pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
        let c: AgentConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.telemetry.validate().map_err(ConfigError::Invalid)?;
        if !(self.control_plane.starts_with("ws://") || self.control_plane.starts_with("wss://")) {
            return Err(ConfigError::Invalid(format!(
                "control_plane `{}` must start with wss:// (or ws:// on a trusted network)",
                self.control_plane
            )));
        }
        if !is_reference(&self.token) {
            return Err(ConfigError::Invalid(
                "token must be a reference, `env:NAME` or `file:PATH`, never the token itself: config files get copied, committed and printed".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.servers {
            if !seen.insert(&s.name) {
                return Err(ConfigError::Invalid(format!(
                    "server `{}` is configured twice",
                    s.name
                )));
            }
            s.check()?;
        }
        if self.reconnect.initial_ms == 0 || self.reconnect.max_ms < self.reconnect.initial_ms {
            return Err(ConfigError::Invalid(
                "reconnect.initial_ms must be at least 1 and reconnect.max_ms at least initial_ms"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The token, read from its reference.
    pub fn resolve_token(&self) -> Result<String, ConfigError> {
        resolve(&self.token)
            .map_err(|e| ConfigError::Invalid(format!("token: {e}")))
            .and_then(|t| {
                if t.is_empty() {
                    Err(ConfigError::Invalid(format!(
                        "token: `{}` is empty",
                        self.token
                    )))
                } else {
                    Ok(t)
                }
            })
    }

    /// Every server's upstream, with secret references resolved (fails fast on a missing
    /// variable or file, naming it).
    pub fn upstreams(&self) -> Result<BTreeMap<String, UpstreamSpec>, ConfigError> {
        self.servers
            .iter()
            .map(|s| Ok((s.name.clone(), s.spec()?)))
            .collect()
    }

    /// How long to wait for an upstream to start.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }
}

impl ServerConfig {
    fn invalid(&self, what: &str) -> ConfigError {
        ConfigError::Invalid(format!("server `{}`: {what}", self.name))
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.invalid("the name must use only letters, digits, `-` and `_`"));
        }
        match (&self.url, &self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(
                        self.invalid(&format!("url `{url}` must start with http:// or https://"))
                    );
                }
                if !self.args.is_empty() || !self.env.is_empty() {
                    return Err(self.invalid("`args` and `env` belong to a `command` server"));
                }
                match self.transport.as_deref() {
                    None | Some("streamable-http") | Some("sse") => Ok(()),
                    Some(other) => Err(self.invalid(&format!(
                        "transport `{other}` is unknown; use `streamable-http` or `sse`"
                    ))),
                }
            }
            (None, Some(_)) => {
                if !self.headers.is_empty() || self.transport.is_some() {
                    return Err(self.invalid("`headers` and `transport` belong to a `url` server"));
                }
                Ok(())
            }
            (Some(_), Some(_)) => Err(self.invalid("set either `url` or `command`, not both")),
            (None, None) => {
                Err(self.invalid("set `url` (HTTP upstream) or `command` (stdio upstream)"))
            }
        }
    }

    fn spec(&self) -> Result<UpstreamSpec, ConfigError> {
        let map = |m: &BTreeMap<String, String>, what: &str| {
            m.iter()
                .map(|(k, v)| {
                    resolve(v)
                        .map(|v| (k.clone(), v))
                        .map_err(|e| self.invalid(&format!("{what} `{k}`: {e}")))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        match (&self.url, &self.command) {
            (Some(url), _) => {
                let headers = map(&self.headers, "header")?;
                Ok(match self.transport.as_deref() {
                    Some("sse") => UpstreamSpec::Sse {
                        url: url.clone(),
                        headers,
                    },
                    _ => UpstreamSpec::Http {
                        url: url.clone(),
                        headers,
                    },
                })
            }
            (None, Some(command)) => Ok(UpstreamSpec::Stdio {
                command: command.clone(),
                args: self
                    .args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| resolve(a).map_err(|e| self.invalid(&format!("args[{i}]: {e}"))))
                    .collect::<Result<_, _>>()?,
                env: map(&self.env, "env")?,
            }),
            (None, None) => Err(self.invalid("set `url` or `command`")),
        }
    }
}

fn is_reference(v: &str) -> bool {
    v.strip_prefix("env:").is_some_and(|n| !n.is_empty())
        || v.strip_prefix("file:").is_some_and(|p| !p.is_empty())
}

/// Resolves `env:NAME` and `file:PATH` references; other values are literal.
fn resolve(value: &str) -> Result<String, String> {
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(text, Path::new("agent.toml"))
    }

    #[test]
    fn a_full_config_resolves_its_references() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hdr");
        std::fs::write(&secret, "Bearer s3cret\n").unwrap();
        let text = format!(
            "control_plane = \"wss://gh.example\"\ntoken = \"env:PATH\"\n\
             [[servers]]\nname = \"db\"\ncommand = \"srv\"\nargs = [\"--url\", \"env:PATH\"]\nenv = {{ MODE = \"ro\" }}\n\
             [[servers]]\nname = \"wiki\"\nurl = \"https://wiki/mcp\"\nheaders = {{ Authorization = \"file:{}\" }}\n",
            secret.display()
        );
        let c = parse(&text).unwrap();
        let ups = c.upstreams().unwrap();
        match &ups["db"] {
            UpstreamSpec::Stdio { args, env, .. } => {
                assert_eq!(args[1], std::env::var("PATH").unwrap());
                assert_eq!(env["MODE"], "ro");
            }
            other => panic!("{other:?}"),
        }
        match &ups["wiki"] {
            UpstreamSpec::Http { headers, .. } => {
                assert_eq!(headers["Authorization"], "Bearer s3cret")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_configs_say_what_to_fix() {
        let e = parse("control_plane = \"wss://x\"\ntoken = \"gha_0123\"\n").unwrap_err();
        assert!(e.to_string().contains("must be a reference"), "{e}");
        let e = parse("control_plane = \"https://x\"\ntoken = \"env:T\"\n").unwrap_err();
        assert!(e.to_string().contains("wss://"), "{e}");
        let e = parse("control_plane = \"ws://x\"\ntoken = \"env:T\"\n[[servers]]\nname = \"a\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("set `url`"), "{e}");
        let e = parse("control_plane = \"ws://x\"\ntoken = \"env:T\"\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().starts_with("agent.toml:3:1"), "{e}");
        let c = parse(
            "control_plane = \"ws://x\"\ntoken = \"env:GH_AGENT_TEST_UNSET\"\n[[servers]]\nname = \"a\"\ncommand = \"x\"\nargs = [\"env:GH_AGENT_TEST_UNSET\"]\n",
        )
        .unwrap();
        assert!(
            c.resolve_token()
                .unwrap_err()
                .to_string()
                .contains("GH_AGENT_TEST_UNSET")
        );
        assert!(c.upstreams().unwrap_err().to_string().contains("args[0]"));
    }
}
