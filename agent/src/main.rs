//! `gatehouse-agent`: runs the agent from its config file.

use clap::Parser;
use gatehouse_agent::{Agent, AgentConfig};
use std::io::Write;
use std::path::PathBuf;

/// The Gatehouse agent: dials out to the control plane and serves the upstream MCP
/// servers of its private network through it.
#[derive(Parser)]
#[command(name = "gatehouse-agent", version, about)]
struct Cli {
    /// The agent's config file (TOML).
    #[arg(
        long,
        short,
        env = "GATEHOUSE_AGENT_CONFIG",
        default_value = "gatehouse-agent.toml"
    )]
    config: PathBuf,
    /// Check the config (and that every secret reference resolves), then exit.
    #[arg(long)]
    check: bool,
}

fn fail(code: u8, msg: &str) -> std::process::ExitCode {
    let _ = writeln!(std::io::stderr(), "gatehouse-agent: {msg}");
    std::process::ExitCode::from(code)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let agent = match AgentConfig::load(&cli.config).and_then(|c| Agent::new(&c)) {
        Ok(a) => a,
        Err(e) => return fail(2, &e.to_string()),
    };
    if cli.check {
        let _ = writeln!(std::io::stdout(), "{}: ok", cli.config.display());
        return std::process::ExitCode::SUCCESS;
    }
    gatehouse_agent::init_tls();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(agent.run(shutdown()));
    std::process::ExitCode::SUCCESS
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
