//! `gatehouse config check --config FILE`: everything `gatehouse serve` checks in its
//! config before it opens the store or a socket, without starting anything: the file's
//! syntax and keys, the values together, every secret reference (`env:`/`file:`), the
//! signing keys and the policy document. Deploy pipelines run it before a rollout, and
//! an init container or `ExecStartPre=` runs it where the secrets are mounted.

use super::{Exit, out};
use gatehouse_control_plane::config::{Config, ConfigError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `gatehouse config ...`.
#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file without starting (exit 2 with FILE:LINE:COL on a problem).
    Check {
        /// The config file (default: $GATEHOUSE_CONFIG, else ./gatehouse.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Runs a `gatehouse config` command.
pub fn run(command: ConfigCommand) -> Result<(), Exit> {
    match command {
        ConfigCommand::Check { config } => check(&config_path(config)),
    }
}

fn config_path(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("gatehouse.toml"))
}

/// Exit 0 with a one-line summary; 2 with the problem, at FILE:LINE:COL when a line of
/// the file is at fault.
fn check(path: &Path) -> Result<(), Exit> {
    let config = Config::load(path).map_err(|e| at_position(path, e))?;
    resolve_references(&config).map_err(|e| at_position(path, e))?;
    check_addresses(&config).map_err(|e| at_position(path, ConfigError::Invalid(e)))?;
    for warning in warnings(&config) {
        let _ = writeln!(std::io::stderr(), "{}: warning: {warning}", path.display());
    }
    out(&format!("{}: ok ({})\n", path.display(), summary(&config)));
    Ok(())
}

/// What `serve` resolves only when it starts: signing keys, secrets, the policy file.
fn resolve_references(config: &Config) -> Result<(), ConfigError> {
    if config.audit.signing_key.is_some() {
        config.signing_key()?;
    }
    if config.authz.signing_key.is_some() {
        config.token_signing_key()?;
    }
    if let Some(oidc) = &config.oidc {
        oidc.resolved_client_secret()?;
    }
    config.authz_store.resolved_encryption_key()?;
    config.policy()?;
    if let Some(saml) = &config.saml
        && let Some(file) = saml.idp_metadata.strip_prefix("file:")
        && !Path::new(file).is_file()
    {
        return Err(ConfigError::Invalid(format!(
            "saml.idp_metadata: the file `{file}` does not exist"
        )));
    }
    Ok(())
}

/// The addresses `serve` would only reject when binding or connecting.
fn check_addresses(config: &Config) -> Result<(), String> {
    let port = config
        .listen
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok());
    if port.is_none() {
        return Err(format!(
            "listen `{}` must be HOST:PORT, e.g. \"0.0.0.0:8080\"",
            config.listen
        ));
    }
    let db = config.database.as_str();
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| db.starts_with(scheme))
    {
        return Err(format!(
            "database `{db}` must start with sqlite:// or postgres://"
        ));
    }
    if let Some(url) = &config.public_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(format!("public_url `{url}` must start with https://"));
    }
    Ok(())
}

/// Things that run but are rarely meant.
fn warnings(config: &Config) -> Vec<&'static str> {
    let mut w = Vec::new();
    if !config.dev.tokens.is_empty() {
        w.push("[dev] tokens are honoured only by `serve --dev`; remove them in production");
    }
    if config.oidc.is_none() && config.saml.is_none() {
        w.push("no [oidc] or [saml]: nobody can sign in (outside `serve --dev`)");
    }
    if config.audit.signing_key.is_none() {
        w.push(
            "no audit.signing_key: each run signs checkpoints with a new key auditors cannot pin",
        );
    }
    w
}

fn summary(config: &Config) -> String {
    let store = if config.database.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let signin = match (&config.oidc, &config.saml) {
        (Some(_), Some(_)) => "oidc and saml",
        (Some(_), None) => "oidc",
        (None, Some(_)) => "saml",
        (None, None) => "none",
    };
    let agents: std::collections::BTreeSet<String> =
        config.servers.iter().flat_map(|s| s.agents()).collect();
    let traces = match &config.telemetry.endpoint {
        Some(endpoint) => format!(", traces to {endpoint}"),
        None => String::new(),
    };
    format!(
        "{} servers, {} agents, store {store}, sign-in {signin}{traces}",
        config.servers.len(),
        agents.len()
    )
}

/// Syntax errors already carry FILE:LINE:COL; for a value problem, the line it names.
fn at_position(path: &Path, e: ConfigError) -> Exit {
    let ConfigError::Invalid(message) = e else {
        return Exit::Usage(e.to_string());
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match locate(&text, &message) {
        Some((line, column)) => {
            Exit::Usage(format!("{}:{line}:{column}: {message}", path.display()))
        }
        None => Exit::Usage(format!("{}: {message}", path.display())),
    }
}

/// The line and column of the first key a message names: ``server `NAME` `` (its
/// `name = "NAME"` line), a dotted key such as `audit.signing_key`, or a top-level key
/// the message starts with (`listen ...`).
fn locate(text: &str, message: &str) -> Option<(usize, usize)> {
    locate_server(text, message)
        .or_else(|| locate_dotted(text, message))
        .or_else(|| locate_top_level(text, message))
}

fn locate_server(text: &str, message: &str) -> Option<(usize, usize)> {
    if let Some(name) = backticked_after(message, "server `") {
        return find_line(text, |l| {
            l.strip_prefix("name")
                .map(str::trim_start)
                .and_then(|l| l.strip_prefix('='))
                .map(|v| v.trim().trim_matches('"') == name)
                .unwrap_or(false)
        });
    }
    None
}

fn locate_dotted(text: &str, message: &str) -> Option<(usize, usize)> {
    let key = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .find(|w| w.contains('.') && w.split('.').all(|p| !p.is_empty()))?;
    let (section, leaf) = key.rsplit_once('.')?;
    let header = format!("[{section}]");
    let mut in_section = false;
    find_line(text, |l| {
        if l.starts_with('[') {
            in_section = l == header;
            return false;
        }
        let is_key = |k: &str| {
            l.strip_prefix(k)
                .is_some_and(|r| r.trim_start().starts_with('='))
        };
        (in_section && is_key(leaf)) || is_key(key)
    })
}

fn locate_top_level(text: &str, message: &str) -> Option<(usize, usize)> {
    let key: String = message
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if key.is_empty() {
        return None;
    }
    let mut top = true;
    find_line(text, |l| {
        top &= !l.starts_with('[');
        top && l
            .strip_prefix(key.as_str())
            .is_some_and(|r| r.trim_start().starts_with('='))
    })
}

fn backticked_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    rest.find('`').map(|end| &rest[..end])
}

/// 1-based line and column of the first line (trimmed) matching `pred`.
fn find_line(text: &str, mut pred: impl FnMut(&str) -> bool) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        pred(trimmed.trim_end()).then(|| (i + 1, line.len() - trimmed.len() + 1))
    })
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn value_problems_point_at_the_line_they_name() {
        let text = "listen = \"a:1\"\n[[servers]]\nname = \"db\"\n  name = \"wiki\"\n[audit]\nsigning_key = \"file:/x\"\n";
        assert_eq!(locate(text, "server `wiki`: set `url`"), Some((4, 3)));
        assert_eq!(
            locate(text, "audit.signing_key: cannot read secret file `/x`"),
            Some((6, 1))
        );
        assert_eq!(
            locate("audit.retention_days = 0\n", "audit.retention_days must be"),
            Some((1, 1))
        );
        assert_eq!(
            locate(
                text,
                "listen `a:1` must be HOST:PORT, e.g. \"0.0.0.0:8080\""
            ),
            Some((1, 1))
        );
        assert_eq!(locate(text, "something else"), None);
    }
}
