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
    let log = gatehouse_telemetry::LogOptions {
        default_filter: "info",
        json: false,
    };
    let config = match AgentConfig::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            let _ = gatehouse_telemetry::install(log, &Default::default(), "gatehouse-agent");
            return fail(2, &e.to_string());
        }
    };
    if cli.check {
        let _ = gatehouse_telemetry::install(log, &Default::default(), "gatehouse-agent");
        if let Err(e) = Agent::new(&config) {
            return fail(2, &e.to_string());
        }
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
    // Inside the runtime: the trace exporter sends on it.
    let telemetry = match runtime
        .block_on(async { gatehouse_telemetry::install(log, &config.telemetry, "gatehouse-agent") })
    {
        Ok(t) => t,
        Err(e) => return fail(2, &e.to_string()),
    };
    let agent = match Agent::new(&config) {
        Ok(a) => a,
        Err(e) => return fail(2, &e.to_string()),
    };
    runtime.block_on(async {
        agent.run(shutdown()).await;
        telemetry.shutdown().await;
    });
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
