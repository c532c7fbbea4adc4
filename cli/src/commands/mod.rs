//! The `gatehouse` subcommands.

pub mod access;
pub mod access_review;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod config_check;
pub mod connect;
pub mod evidence;
pub mod healthcheck;
pub mod login;
pub mod mask;
pub mod policy;
pub mod serve;
pub mod sessions;
pub mod tools;
pub mod transparency;

use gatehouse_control_plane::config::Config;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How a command failed, which decides the exit code (DESIGN: 1 runtime, 2 usage/config).
#[derive(Debug)]
pub enum Exit {
    /// Something failed at run time.
    Runtime(String),
    /// Bad usage or bad configuration.
    Usage(String),
}

impl Exit {
    /// Prints the message and returns the exit code.
    pub fn report(self) -> std::process::ExitCode {
        let (code, msg) = match self {
            Exit::Runtime(m) => (1, m),
            Exit::Usage(m) => (2, m),
        };
        let _ = writeln!(std::io::stderr(), "gatehouse: {msg}");
        std::process::ExitCode::from(code)
    }
}

/// Logs to stderr; JSON lines when `GATEHOUSE_LOG_FORMAT=json`. `quiet` commands (the
/// stdio ones, whose stdout is the protocol) log warnings only unless `RUST_LOG` says more.
/// With `[telemetry]` on (`serve`), trace spans are exported too; call it inside the
/// runtime then.
pub fn init_tracing(
    quiet: bool,
    telemetry: &gatehouse_telemetry::TelemetryConfig,
) -> Result<gatehouse_telemetry::Telemetry, Exit> {
    let log = gatehouse_telemetry::LogOptions {
        default_filter: if quiet { "warn" } else { "info" },
        json: std::env::var("GATEHOUSE_LOG_FORMAT").as_deref() == Ok("json"),
    };
    gatehouse_telemetry::install(log, telemetry, "gatehouse").map_err(|e| match e {
        gatehouse_telemetry::TelemetryError::Config(m) => Exit::Usage(m),
        other => Exit::Runtime(other.to_string()),
    })
}

/// The config a command uses: `--config`, else `$GATEHOUSE_CONFIG`, else `./gatehouse.toml`
/// when present, else defaults (all with `GATEHOUSE_*` overrides).
pub fn load_config(path: Option<PathBuf>) -> Result<Config, Exit> {
    let path = path.or_else(|| std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from));
    let result = match path {
        Some(p) => Config::load(&p),
        None if Path::new("gatehouse.toml").exists() => Config::load(Path::new("gatehouse.toml")),
        None => Config::from_env(),
    };
    result.map_err(|e| Exit::Usage(e.to_string()))
}

/// Writes to stdout (the CLI's output; libraries never print).
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

impl From<gatehouse_control_plane::retention::RetentionError> for Exit {
    fn from(e: gatehouse_control_plane::retention::RetentionError) -> Exit {
        Exit::Runtime(e.to_string())
    }
}
