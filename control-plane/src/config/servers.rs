//! `[[servers]]` and `[[local_servers]]`: the MCP servers the gateway exposes and the
//! local servers the client captures.

use super::agents::AgentRef;
use super::error::ConfigError;
use super::secrets::resolve_secret;
use gatehouse_proxy_core::mcp::Era;
use gatehouse_proxy_core::upstream::UpstreamSpec;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// People or groups (a person matches by name or by one of their groups) who decide
    /// this server's access reviews; the policy's `servers.NAME.owners` adds to them.
    #[serde(default)]
    pub owners: Vec<String>,
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
    pub(super) fn check(&self) -> Result<(), ConfigError> {
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
    pub(super) fn check_agent(&self) -> Result<(), ConfigError> {
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

fn default_era() -> Era {
    Era::Legacy
}
