//! `gatehouse serve` and `gatehouse demo`.

use super::{Exit, load_config, out};
use gatehouse_control_plane::config::{Config, DevToken, ServerConfig};
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::identity;
use gatehouse_control_plane::server;
use gatehouse_control_plane::store::Store;
use gatehouse_proxy_core::mcp::Era;
use std::path::PathBuf;

/// Runs the control plane from a config file.
pub async fn run(config: Option<PathBuf>, dev: bool) -> Result<(), Exit> {
    let config = load_config(config)?;
    let telemetry = super::init_tracing(false, &config.telemetry)?;
    if let Some(endpoint) = &config.telemetry.endpoint {
        tracing::info!(%endpoint, "exporting traces over OTLP/HTTP");
    }
    let served = serve_with(config, dev).await;
    // The spans of the last requests (and of the drain) go out before the process ends.
    telemetry.shutdown().await;
    served
}

async fn serve_with(config: Config, dev: bool) -> Result<(), Exit> {
    if dev {
        tracing::warn!(
            "dev mode: the [dev] token table signs people in; never use this in production"
        );
    } else if !config.dev.tokens.is_empty() {
        tracing::warn!("the [dev] token table is ignored without --dev");
    }
    let listener = bind(&config.listen).await?;
    start(config, dev, listener).await
}

async fn bind(addr: &str) -> Result<tokio::net::TcpListener, Exit> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Exit::Runtime(format!(
            "cannot listen on {addr}: {e} (set `listen` or GATEHOUSE_LISTEN)"
        ))
    })
}

async fn start(config: Config, dev: bool, listener: tokio::net::TcpListener) -> Result<(), Exit> {
    let store = Store::open_with(&config.database, config.durability)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let servers: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    tracing::info!(%addr, database = %gatehouse_proxy_core::redact::url(&config.database), servers = ?servers, "gatehouse is listening");
    let retention = match (&config.audit.retention_days, &config.audit.archive_dir) {
        (Some(days), Some(dir)) => Some((
            *days,
            config.audit.sink_names(),
            dir.clone(),
            config
                .signing_key()
                .map_err(|e| Exit::Usage(e.to_string()))?,
            std::time::Duration::from_secs(config.audit.prune_every_secs.max(1)),
        )),
        _ => None,
    };
    let gw = Gateway::new(config, store, dev).map_err(|e| Exit::Usage(e.to_string()))?;
    if let Some((days, sinks, dir, key, every)) = retention {
        tokio::spawn(gatehouse_control_plane::retention::run(
            gw.store.clone(),
            days,
            sinks,
            dir,
            key,
            every,
            gw.shutdown.clone(),
        ));
    }
    // Old codes, tokens, grants and unused clients: collected now and periodically.
    let gc = identity::authz::gc::spawn(gw.identity.clone());
    let served = server::serve(gw, listener, shutdown_signal()).await;
    gc.abort();
    served.map_err(|e| Exit::Runtime(format!("the server failed: {e}")))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// The policy `gatehouse demo` starts with.
pub const DEMO_POLICY: &str = include_str!("../../../proxy-core/policy/examples/demo-policy.yaml");

/// Runs everything on a fresh SQLite file with the demo server and a dev token.
pub async fn demo(listen: String, data_dir: PathBuf) -> Result<(), Exit> {
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Exit::Runtime(format!("cannot create {}: {e}", data_dir.display())))?;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let data_dir = data_dir.canonicalize().unwrap_or(data_dir);
    let db = data_dir.join(format!("demo-{stamp}.db"));
    let exe = std::env::current_exe()
        .map_err(|e| Exit::Runtime(format!("cannot find my own binary: {e}")))?;
    let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let mut config = Config::from_env().map_err(|e| Exit::Usage(e.to_string()))?;
    config.listen = listen;
    config.database = format!("sqlite://{}", db.display());
    config.servers = vec![ServerConfig {
        name: "customers".into(),
        url: None,
        transport: None,
        headers: Default::default(),
        command: Some(exe.display().to_string()),
        // Its customer database lives beside the store: a deleted customer stays deleted
        // for the next session.
        args: vec![
            "demo-server".into(),
            "--database".into(),
            data_dir
                .join(format!("demo-customers-{stamp}.db"))
                .display()
                .to_string(),
        ],
        env: Default::default(),
        era: Era::Legacy,
        masking_profile: None,
        pin_tools: true,
        agent: None,
        owners: Vec::new(),
    }];
    let dba_token = format!("demo-dba-{}", uuid::Uuid::new_v4().simple());
    config.dev.tokens = vec![
        DevToken {
            token: token.clone(),
            user: "demo-engineer".into(),
            groups: vec!["engineers".into()],
        },
        DevToken {
            token: dba_token.clone(),
            user: "demo-dba".into(),
            groups: vec!["dba".into(), "gatehouse-approvers".into()],
        },
        // Dashboard-only people: no token is printed for them; they sign in at /auth/login.
        DevToken {
            token: format!("demo-auditor-{}", uuid::Uuid::new_v4().simple()),
            user: "demo-auditor".into(),
            groups: vec!["gatehouse-auditors".into()],
        },
        DevToken {
            token: format!("demo-admin-{}", uuid::Uuid::new_v4().simple()),
            user: "demo-admin".into(),
            groups: vec!["gatehouse-admins".into()],
        },
    ];
    // The demo's policy: engineers may query and describe, destructive SQL is refused,
    // deleting a customer needs a DBA's approval.
    let policy = data_dir.join("demo-policy.yaml");
    std::fs::write(&policy, DEMO_POLICY)
        .map_err(|e| Exit::Runtime(format!("cannot write {}: {e}", policy.display())))?;
    config.policy_file = Some(policy);
    let listener = bind(&config.listen).await?;
    let base = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| Exit::Runtime(e.to_string()))?
    );
    config.public_url = Some(base.clone());
    out(&demo_instructions(
        &base,
        &token,
        &dba_token,
        &exe.display().to_string(),
        &db.display().to_string(),
    ));
    start(config, true, listener).await
}

fn demo_instructions(base: &str, token: &str, dba_token: &str, exe: &str, db: &str) -> String {
    format!(
        r#"
Gatehouse demo is running.

  Dashboard    : {base}/   (sign in as demo-auditor, demo-dba (approver), demo-admin or demo-engineer)
  MCP endpoint : {base}/mcp/customers   (a demo customer database: query, describe_table, delete_customer)
  Dev token    : {token}
  Session store: {db}
  Health       : {base}/healthz   Metrics: {base}/metrics

Try it with any MCP client that speaks Streamable HTTP, e.g. in a client config:

  {{ "mcpServers": {{ "customers": {{ "type": "http", "url": "{base}/mcp/customers",
                                     "headers": {{ "Authorization": "Bearer {token}" }} }} }} }}

or, for desktop clients that launch stdio servers (Claude Desktop, Cursor):

  {{ "mcpServers": {{ "customers": {{ "command": "{exe}", "args": ["connect", "customers"],
                                     "env": {{ "GATEHOUSE_URL": "{base}", "GATEHOUSE_TOKEN": "{token}" }} }} }} }}

or with the MCP Inspector:  npx @modelcontextprotocol/inspector --cli {base}/mcp/customers --transport http \
    --header "Authorization: Bearer {token}" --method tools/list

What the demo policy does (demo-policy.yaml next to the database): queries and table
descriptions are allowed; DROP/TRUNCATE/ALTER/DELETE/UPDATE through `query` are refused;
delete_customer waits for a DBA. Approve it as the demo DBA:

  GATEHOUSE_URL={base} GATEHOUSE_TOKEN={dba_token} {exe} approvals list
  GATEHOUSE_URL={base} GATEHOUSE_TOKEN={dba_token} {exe} approvals approve ID --reason "ticket 42"

Then read what was recorded:  {exe} sessions list --database sqlite://{db}

Press Ctrl-C to stop.
"#
    )
}
