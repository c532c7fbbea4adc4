//! Shared by the control plane's integration tests: a real gateway on a free loopback
//! port, configured from TOML text, with its store at a given SQLite file (or, with
//! `GATEHOUSE_TEST_DATABASE`, a PostgreSQL database standing for that file: see [`pg`]).

pub mod audit;
pub mod pg;
pub mod tlog;
pub mod witness;

use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::server;
use gatehouse_control_plane::store::Store;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// A gateway being served.
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    #[allow(dead_code)]
    pub base: String,
    /// The gateway (its store is where the record is read; some test binaries only use HTTP).
    #[allow(dead_code)]
    pub gw: Arc<Gateway>,
    /// Ends when `stop` resolves and the gateway has drained (only some test binaries wait).
    #[allow(dead_code)]
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `toml` (dev sign-in on when `dev`) with its store at `db` until `stop` resolves.
#[allow(dead_code)]
pub async fn serve(
    toml: &str,
    db: &Path,
    dev: bool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Served {
    serve_url(toml, &pg::database_url(db).await, dev, stop).await
}

/// [`serve`] with its store at a database URL.
#[allow(dead_code)]
pub async fn serve_url(
    toml: &str,
    database: &str,
    dev: bool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Served {
    let mut config = Config::parse(toml, Path::new("test.toml"), std::iter::empty())
        .unwrap_or_else(|e| panic!("{e}"));
    config.database = database.to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    config.public_url = Some(base.clone());
    let store = Store::open(&config.database).await.unwrap();
    let gw = Gateway::new(config, store, dev).unwrap_or_else(|e| panic!("{e}"));
    let handle = tokio::spawn(server::serve(gw.clone(), listener, stop));
    Served { base, gw, handle }
}

/// One JSON-RPC message POSTed to `/mcp/{server}`: (status, session id, JSON body).
#[allow(dead_code)]
pub async fn mcp_post(
    http: &reqwest::Client,
    endpoint: &str,
    token: &str,
    sid: Option<&str>,
    body: serde_json::Value,
) -> (u16, Option<String>, serde_json::Value) {
    let mut b = http
        .post(endpoint)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&body);
    if let Some(s) = sid {
        b = b.header("mcp-session-id", s);
    }
    let r = b.send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        sid,
        r.json().await.unwrap_or(serde_json::Value::Null),
    )
}
