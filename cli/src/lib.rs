//! `gatehouse`: the control plane server and the engineers' command line, one binary
//! over the libraries (`gatehouse-control-plane` for the server and its store,
//! `gatehouse-client` for sign-in and local capture). `main.rs` only calls [`run`].

pub mod commands;

use clap::{Parser, Subcommand};
use commands::Exit;
use std::path::PathBuf;

/// Gatehouse: an identity-aware gateway for MCP servers.
#[derive(Parser)]
#[command(name = "gatehouse", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: the gateway at /mcp/{server}, health and metrics.
    Serve {
        /// Config file (default: $GATEHOUSE_CONFIG, else ./gatehouse.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Honour the `[dev]` token table (never in production).
        #[arg(long)]
        dev: bool,
    },
    /// Start everything on a fresh SQLite file with a demo MCP server and dev sign-in.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Folder for the demo's database.
        #[arg(long, default_value = ".gatehouse-demo")]
        data_dir: PathBuf,
    },
    /// Sign in at the control plane in your browser, or with --device from a machine
    /// without one (the refresh token is kept in the OS keyring, else in a file only you
    /// can read, for `gatehouse connect`; GATEHOUSE_KEYRING=off forces the file).
    Login {
        /// The control plane's base URL.
        #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Only print the sign-in address; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
        /// Sign in from a machine without a browser (RFC 8628): prints an address and a
        /// short code to type on any other device, and waits for the approval.
        #[arg(long, conflicts_with = "no_browser")]
        device: bool,
    },
    /// Sign out: revoke the saved sign-in and forget it.
    Logout,
    /// A stdio MCP server for desktop clients that relays to the gateway with your token
    /// (GATEHOUSE_TOKEN, else the tray app's sign-in); with `--local NAME -- COMMAND ARGS...`
    /// runs COMMAND on this machine under the pushed policy and masking, recording every
    /// message in the local spool that uploads to the control plane.
    Connect {
        /// The server name (as in /mcp/{server}); not with --local.
        #[arg(required_unless_present = "local", conflicts_with = "local")]
        server: Option<String>,
        /// Capture a local stdio server under this name (`local:NAME` in policies and the audit log).
        #[arg(long, value_name = "NAME", requires = "command")]
        local: Option<String>,
        /// The local server's command line (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
        /// The gateway's base URL.
        #[arg(long, env = "GATEHOUSE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Recorded sessions.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
        /// Config file naming the database.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, global = true, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        /// Config file naming the database.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, global = true, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// Calls held for approval: list them, approve or deny (as yourself, via GATEHOUSE_TOKEN).
    Approvals {
        #[command(subcommand)]
        command: ApprovalsCommand,
        /// The control plane's base URL.
        #[arg(
            long,
            global = true,
            env = "GATEHOUSE_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// Access governance: just-in-time access (request a role on a server for a while, list,
    /// decide, revoke) and periodic access reviews.
    Access {
        #[command(subcommand)]
        command: commands::access::AccessCommand,
        /// The control plane's base URL.
        #[arg(
            long,
            global = true,
            env = "GATEHOUSE_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        url: String,
    },
    /// Pinned tool definitions: list them, accept a changed one after review.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
        /// Config file naming the database.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, global = true, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// Agents: tokens (create, revoke), status (list), and draining.
    Agents {
        #[command(subcommand)]
        command: AgentsCommand,
        /// Config file naming the database.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, global = true, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// Policy documents.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// SOC 2 evidence bundles.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
        /// Config file naming the database.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, global = true, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// Configuration files: `config check` validates one without starting.
    Config {
        #[command(subcommand)]
        command: commands::config_check::ConfigCommand,
    },
    /// Exit 0 when a running control plane answers /healthz (the images' HEALTHCHECK).
    Healthcheck {
        /// Its base URL (default: http://127.0.0.1 with the configured `listen` port).
        #[arg(long)]
        url: Option<String>,
    },
    /// Mask standard input (JSON or text) with a masking profile, to try it on sample data.
    Mask {
        /// The profile (default: masking.default_profile).
        #[arg(long, short)]
        profile: Option<String>,
        /// Config file defining the profiles.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the JSON API's OpenAPI 3.1 document (what `/api/v1/openapi.json` serves).
    Openapi,
    /// The demo MCP server (a customer database) on stdio; `gatehouse demo` runs it.
    #[command(hide = true)]
    DemoServer {
        /// The SQLite file of its customer database (created with the demo rows when new);
        /// in memory without one.
        #[arg(long)]
        database: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// Every pinned tool and whether its definition changed.
    List,
    /// Accept a tool's changed definition.
    Accept {
        /// The server.
        server: String,
        /// The tool.
        tool: String,
        /// Who accepts it (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

#[derive(Subcommand)]
enum AgentsCommand {
    /// Create a token for agent NAME (printed once; only its SHA-256 is stored).
    Create {
        /// The agent name (as in `agent = "NAME"` of [[servers]]).
        name: String,
        /// Who creates it (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// Revoke a token: it is refused from now on and its live connections are dropped.
    Revoke {
        /// The token id (from `create` or `list`).
        token_id: String,
        /// Who revokes it (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// Agents: connected or not, version, servers, last seen, drained; and tokens.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send no new sessions to agent NAME; open ones finish.
    Drain {
        /// The agent name.
        name: String,
        /// Who drains it (recorded).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
    /// Undo `drain`.
    Resume {
        /// The agent name.
        name: String,
        /// Who resumes it.
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
    },
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// Pending approvals (all with --all).
    List {
        /// Include decided, expired and used ones.
        #[arg(long)]
        all: bool,
        /// Show big argument values whole (they are cut otherwise).
        #[arg(long)]
        full: bool,
        /// Print the approvals as a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Approve a held call.
    Approve {
        /// The approval id.
        id: String,
        /// Why (goes on the record).
        #[arg(long)]
        reason: String,
    },
    /// Deny a held call.
    Deny {
        /// The approval id.
        id: String,
        /// Why (the requester sees it).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy document (errors as FILE:LINE:COL).
    Check {
        /// The YAML file.
        file: PathBuf,
    },
    /// Publish a policy document as the next version (applied by running gateways within a second).
    Push {
        /// The YAML file.
        file: PathBuf,
        /// Who is publishing (recorded with the version).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
        /// Config file naming the database.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
    /// Replay recorded requests against a draft and print what would change.
    Test {
        /// The draft YAML file.
        file: PathBuf,
        /// How far back: 7d, 12h, 30m.
        #[arg(long, default_value = "7d")]
        since: String,
        /// Config file naming the database and the policy in force.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Database URL (overrides the config).
        #[arg(long, env = "GATEHOUSE_DATABASE")]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no recorded event was changed, removed, added or reordered, and that
    /// every signed checkpoint still matches.
    Verify {
        /// The Ed25519 public key (hex) checkpoints must be signed with, as published at
        /// /.well-known/gatehouse-audit-key.
        #[arg(long)]
        public_key: Option<String>,
        /// The log's current and retired keys with their validity (the JSON
        /// /.well-known/gatehouse-audit-key serves): verification crosses a key rotation,
        /// and a key signing after its retirement is refused.
        #[arg(long, conflicts_with = "public_key")]
        keys: Option<PathBuf>,
        /// Verify an exported evidence bundle (offline) instead of the live store: the
        /// period's events against the signed checkpoints that bracket them.
        #[arg(long)]
        bundle: Option<PathBuf>,
        /// Also check the log (or the bundle) against the checkpoints a witness kept (a
        /// file of C2SP checkpoint notes, as a `file` witness writes it): a history
        /// rewritten and re-signed with the real key is named by the first one it
        /// contradicts.
        #[arg(long)]
        witnessed: Option<PathBuf>,
        /// A witness's cosignature key (C2SP vkey) whose cosignatures (in the witnessed
        /// file, or on a bundle's checkpoints) are checked and named; repeatable.
        #[arg(long)]
        witness_key: Vec<String>,
        /// Check a proof from `gatehouse audit prove` (or the API) instead of the log.
        #[arg(long, conflicts_with_all = ["bundle", "witnessed"])]
        proof: Option<PathBuf>,
    },
    /// Sign a checkpoint over the log now and send every checkpoint the configured
    /// witnesses have not acknowledged (`gatehouse serve` does this every
    /// `[audit] checkpoint_secs`).
    Checkpoint,
    /// Print an RFC 6962 proof as JSON: `--seq N [--size S]` (event N is in the tree of S
    /// events, by default the newest checkpoint's) or `--from M --to N` (the tree of M
    /// events is a prefix of the tree of N).
    Prove {
        /// The event to prove included.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        seq: Option<u64>,
        /// The tree size to prove it in.
        #[arg(long, requires = "seq")]
        size: Option<u64>,
        /// The older tree size.
        #[arg(long, requires = "to")]
        from: Option<u64>,
        /// The newer tree size.
        #[arg(long, requires = "from")]
        to: Option<u64>,
    },
    /// Archive, then prune, the events older than `[audit] retention_days` (to
    /// `[audit] archive_dir`); the rest of the log still verifies. `gatehouse serve` does
    /// this periodically by itself.
    Prune {
        /// Only print what would be archived and pruned.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Write the evidence of a period to a new folder (verify it with `audit verify --bundle`).
    Export {
        /// First day (2026-11-01) or RFC 3339 time.
        #[arg(long)]
        from: String,
        /// Last day (inclusive) or RFC 3339 time.
        #[arg(long)]
        to: String,
        /// A new or empty folder.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// A table of sessions, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One session's full transcript.
    Show {
        /// Session id (or a unique prefix).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fills a store with synthetic session summaries (no messages), for load tests of
    /// the dashboard. Refuses a store that already holds sessions.
    #[command(hide = true)]
    Seed {
        /// How many sessions.
        #[arg(long, default_value_t = 100_000)]
        count: u32,
    },
}

/// Parses the command line, runs the command, and returns its exit code.
pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` sets up logging once its config is read: its `[telemetry]` may add traces.
    if !matches!(cli.command, Command::Serve { .. }) {
        let quiet = matches!(
            cli.command,
            Command::Connect { .. } | Command::DemoServer { .. }
        );
        if let Err(e) = commands::init_tracing(quiet, &Default::default()) {
            return e.report();
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Exit::Runtime(format!("cannot start the async runtime: {e}")).report(),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { config, dev } => commands::serve::run(config, dev).await,
            Command::Demo { listen, data_dir } => commands::serve::demo(listen, data_dir).await,
            Command::Login {
                url,
                no_browser,
                device,
            } => {
                if device {
                    commands::login::login_device(url).await
                } else {
                    commands::login::login(url, !no_browser).await
                }
            }
            Command::Logout => commands::login::logout().await,
            Command::Connect {
                server,
                url,
                local,
                command,
            } => match (server, local) {
                (_, Some(name)) => commands::connect::run_local(name, url, command).await,
                (Some(server), None) => commands::connect::run(server, url).await,
                (None, None) => Err(Exit::Usage(
                    "name a server, or use --local NAME -- COMMAND ARGS...".into(),
                )),
            },
            Command::Sessions {
                command,
                config,
                database,
            } => match command {
                SessionsCommand::List { limit, json } => {
                    commands::sessions::list(config, database, limit, json).await
                }
                SessionsCommand::Show { id, json } => {
                    commands::sessions::show(config, database, id, json).await
                }
                SessionsCommand::Seed { count } => {
                    commands::sessions::seed(config, database, count).await
                }
            },
            Command::Audit {
                command:
                    AuditCommand::Verify {
                        public_key,
                        keys,
                        bundle,
                        witnessed,
                        witness_key,
                        proof,
                    },
                config,
                database,
            } => {
                if let Some(file) = proof {
                    return commands::transparency::verify_proof(
                        config,
                        public_key.as_deref(),
                        &file,
                    );
                }
                commands::audit::verify(
                    config,
                    database,
                    commands::audit::VerifyArgs {
                        public_key,
                        keys,
                        bundle,
                        witnessed,
                        witness_keys: witness_key,
                    },
                )
                .await
            }
            Command::Audit {
                command: AuditCommand::Checkpoint,
                config,
                database,
            } => commands::transparency::checkpoint(config, database).await,
            Command::Audit {
                command:
                    AuditCommand::Prove {
                        seq,
                        size,
                        from,
                        to,
                    },
                config,
                database,
            } => {
                let what = match (seq, from, to) {
                    (Some(seq), _, _) => commands::transparency::Prove::Inclusion { seq, size },
                    (None, Some(from), Some(to)) => {
                        commands::transparency::Prove::Consistency { from, to }
                    }
                    _ => {
                        return Err(commands::Exit::Usage(
                            "give --seq N (with an optional --size S) or --from M --to N".into(),
                        ));
                    }
                };
                commands::transparency::prove(config, database, what).await
            }
            Command::Audit {
                command: AuditCommand::Prune { dry_run },
                config,
                database,
            } => commands::audit::prune(config, database, dry_run).await,
            Command::Evidence {
                command: EvidenceCommand::Export { from, to, out },
                config,
                database,
            } => commands::evidence::export(&from, &to, &out, config, database).await,
            Command::Tools {
                command,
                config,
                database,
            } => match command {
                ToolsCommand::List => commands::tools::list(config, database).await,
                ToolsCommand::Accept { server, tool, by } => {
                    commands::tools::accept(&server, &tool, &by, config, database).await
                }
            },
            Command::Agents {
                command,
                config,
                database,
            } => match command {
                AgentsCommand::Create { name, by } => {
                    commands::agents::create(&name, &by, config, database).await
                }
                AgentsCommand::Revoke { token_id, by } => {
                    commands::agents::revoke(&token_id, &by, config, database).await
                }
                AgentsCommand::List { json } => {
                    commands::agents::list(config, database, json).await
                }
                AgentsCommand::Drain { name, by } => {
                    commands::agents::drain(&name, true, &by, config, database).await
                }
                AgentsCommand::Resume { name, by } => {
                    commands::agents::drain(&name, false, &by, config, database).await
                }
            },
            Command::Access { command, url } => commands::access::run(command, &url).await,
            Command::Approvals { command, url } => match command {
                ApprovalsCommand::List { all, full, json } => {
                    commands::approvals::list(&url, all, full, json).await
                }
                ApprovalsCommand::Approve { id, reason } => {
                    commands::approvals::decide(&url, &id, true, &reason).await
                }
                ApprovalsCommand::Deny { id, reason } => {
                    commands::approvals::decide(&url, &id, false, &reason).await
                }
            },
            Command::Policy { command } => match command {
                PolicyCommand::Check { file } => commands::policy::check(&file),
                PolicyCommand::Push {
                    file,
                    by,
                    config,
                    database,
                } => commands::policy::push(&file, &by, config, database).await,
                PolicyCommand::Test {
                    file,
                    since,
                    config,
                    database,
                } => commands::policy::test(&file, &since, config, database).await,
            },
            Command::Config { command } => commands::config_check::run(command),
            Command::Healthcheck { url } => {
                commands::healthcheck::run(url, std::time::Duration::from_secs(3)).await
            }
            Command::Mask { profile, config } => commands::mask::run(config, profile),
            Command::Openapi => {
                commands::out(&format!(
                    "{}\n",
                    gatehouse_control_plane::api::openapi::json()
                ));
                Ok(())
            }
            Command::DemoServer { database } => {
                gatehouse_control_plane::demo_server::run_stdio(database.as_deref())
                    .await
                    .map_err(|e| Exit::Runtime(e.to_string()))
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
