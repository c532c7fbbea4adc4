//! Shared by the agent's end-to-end tests: a real control plane served in-process, the
//! real agent binary, raw MCP requests over HTTP, and the store read back.

#![allow(dead_code)]

use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::server;
use gatehouse_control_plane::store::Store;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

/// Dev token of an ordinary engineer.
pub const USER_TOKEN: &str = "alice-token";
/// Dev token of an admin (may create and revoke agent tokens, drain agents).
pub const ADMIN_TOKEN: &str = "admin-token";

/// A control plane being served.
pub struct ControlPlane {
    /// `http://ADDR`.
    pub base: String,
    /// The gateway.
    pub gw: Arc<Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl ControlPlane {
    /// Serves `servers` (TOML `[[servers]]` entries) on `addr` with its store at `db`.
    pub async fn start(servers: &str, addr: &str, db: &Path) -> ControlPlane {
        let text = format!(
            "[agents]\nheartbeat_secs = 1\nopen_timeout_secs = 10\n{servers}\n[dev]\ntokens = [\
             {{ token = \"{USER_TOKEN}\", user = \"alice\", groups = [\"engineers\"] }}, \
             {{ token = \"{ADMIN_TOKEN}\", user = \"root-admin\", groups = [\"gatehouse-admins\"] }}]\n"
        );
        let mut config = Config::parse(&text, Path::new("agent-e2e.toml"), std::iter::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        config.database = format!("sqlite://{}", db.display());
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                // The previous run's socket may linger a moment after a restart.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("cannot listen on {addr}"));
        let base = format!("http://{}", listener.local_addr().unwrap());
        config.public_url = Some(base.clone());
        let store = Store::open(&config.database).await.unwrap();
        let gw = Gateway::new(config, store, true).unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server::serve(gw.clone(), listener, async move {
            let _ = rx.await;
        }));
        ControlPlane {
            base,
            gw,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// The WebSocket base URL agents dial.
    pub fn ws(&self) -> String {
        self.base.replacen("http://", "ws://", 1)
    }

    /// Stops serving and waits until it has drained.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), h).await;
        }
    }

    /// A new agent token through the API (as an admin).
    pub async fn create_token(&self, agent: &str) -> (String, String) {
        let r: Value = http()
            .post(format!("{}/api/v1/agents", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": agent }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            r["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string(),
            r["token"].as_str().unwrap().to_string(),
        )
    }

    /// `GET /api/v1/agents` as an ordinary user.
    pub async fn agents(&self) -> Value {
        http()
            .get(format!("{}/api/v1/agents", self.base))
            .bearer_auth(USER_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The API's entry for one agent name.
    pub async fn agent(&self, name: &str) -> Value {
        let all = self.agents().await;
        all["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == name).cloned())
            .unwrap_or(Value::Null)
    }

    /// Waits until `n` connections of agent `name` are registered.
    pub async fn wait_connected(&self, name: &str, n: usize) {
        for _ in 0..300 {
            let a = self.agent(name).await;
            if a["connections"].as_array().map_or(0, Vec::len) == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "agent `{name}` did not get {n} connection(s) within 30 s: {}",
            self.agent(name).await
        );
    }

    /// Audit events of agent connections (sessions of principal `agent:NAME`): (kind, payload).
    pub async fn agent_events(&self, name: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for s in self.gw.store.list_sessions(1000).await.unwrap() {
            if s.principal != format!("agent:{name}") {
                continue;
            }
            for e in self.gw.store.session_events(&s.id).await.unwrap() {
                out.push((
                    e.kind,
                    serde_json::from_str(&e.payload).unwrap_or(Value::Null),
                ));
            }
        }
        out
    }
}

/// A reqwest client that does not use any proxy from the environment.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The agent binary Cargo built for these tests.
pub fn agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gatehouse-agent"))
}

/// Writes an agent config and returns its path.
pub fn agent_config(dir: &Path, file: &str, control_plane: &str, servers: &str) -> PathBuf {
    let p = dir.join(file);
    let text = format!(
        "control_plane = \"{control_plane}\"\ntoken = \"env:GATEHOUSE_AGENT_TOKEN\"\n[reconnect]\ninitial_ms = 200\nmax_ms = 1000\n{servers}"
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// A running agent process (killed when dropped). `prefix` runs it through another
/// program (`ip netns exec NS`).
pub struct AgentProc {
    pub child: Child,
}

impl AgentProc {
    pub fn spawn(prefix: &[String], config: &Path, token: &str, env: &[(&str, &str)]) -> AgentProc {
        let bin = agent_bin().display().to_string();
        let mut argv: Vec<String> = prefix.to_vec();
        argv.extend([bin, "--config".into(), config.display().to_string()]);
        let log = std::fs::File::create(config.with_extension("log")).unwrap();
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("GATEHOUSE_AGENT_TOKEN", token)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the agent: {e}"));
        AgentProc { child }
    }

    /// Kills it (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `[[servers]]` lines of an agent config for a stdio server-everything.
pub fn everything_server(name: &str) -> String {
    let cmd = gatehouse_e2e::everything_stdio();
    let args: Vec<String> = cmd[1..].iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[servers]]\nname = \"{name}\"\ncommand = {:?}\nargs = [{}]\n",
        cmd[0],
        args.join(", ")
    )
}

/// A raw MCP session over Streamable HTTP (what any client sends).
pub struct McpSession {
    pub url: String,
    pub id: String,
}

/// Reads a JSON-RPC answer from a JSON or SSE body.
async fn answer(r: reqwest::Response) -> Value {
    let sse = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    if !sse {
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some() && (v.get("result").is_some() || v.get("error").is_some()))
        .unwrap_or_else(|| panic!("no answer in {text}"))
}

impl McpSession {
    /// `initialize` + `notifications/initialized`.
    pub async fn open(url: &str) -> McpSession {
        let r = http()
            .post(url)
            .bearer_auth(USER_TOKEN)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agent-e2e","version":"1"}}}))
            .send()
            .await
            .unwrap();
        let id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = answer(r).await;
        let id = id.unwrap_or_else(|| panic!("initialize failed: {body}"));
        let s = McpSession {
            url: url.to_string(),
            id,
        };
        s.post(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
        s
    }

    async fn post(&self, body: Value) -> reqwest::Response {
        http()
            .post(&self.url)
            .bearer_auth(USER_TOKEN)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A tools/call; returns the JSON-RPC answer.
    pub async fn call(&self, tool: &str, args: Value) -> Value {
        answer(
            self.post(json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":args}}))
                .await,
        )
        .await
    }
}
