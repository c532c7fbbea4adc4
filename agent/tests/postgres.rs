//! The agent in front of a real PostgreSQL that only it can reach: the agent and the
//! database run in their own network namespace (veth to the control plane), the real
//! `@modelcontextprotocol/server-postgres` is the agent's stdio upstream with the database
//! URL given by env reference, and a real MCP client (TypeScript SDK) queries it through
//! the control plane. Then the faults: the agent killed mid-call, the control plane
//! restarted.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

/// Card numbers seeded into the customers table (test numbers with valid check digits).
const CARDS: [&str; 3] = ["4111111111111111", "5500000000000004", "4012888888881881"];

/// A network namespace with a veth pair to the host; removed when dropped.
struct Netns {
    name: String,
    host_ip: String,
    ns_ip: String,
}

impl Netns {
    fn create() -> Option<Netns> {
        let n = std::process::id() % 10_000;
        let name = format!("gh-agent-{n}");
        let (host_if, ns_if) = (format!("gha{n}"), format!("ghb{n}"));
        let octet = n % 250 + 1;
        let (host_ip, ns_ip) = (format!("10.203.{octet}.1"), format!("10.203.{octet}.2"));
        let _ = ip(&["netns", "del", &name]);
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), name.clone()],
            vec![
                "link".into(),
                "add".into(),
                host_if.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                ns_if.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                ns_if.clone(),
                "netns".into(),
                name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{host_ip}/30"),
                "dev".into(),
                host_if.clone(),
            ],
            vec!["link".into(), "set".into(), host_if.clone(), "up".into()],
            vec![
                "-n".into(),
                name.clone(),
                "addr".into(),
                "add".into(),
                format!("{ns_ip}/30"),
                "dev".into(),
                ns_if.clone(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                ns_if.clone(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        let ns = Netns {
            name,
            host_ip,
            ns_ip,
        };
        for s in &steps {
            let args: Vec<&str> = s.iter().map(String::as_str).collect();
            if let Err(e) = ip(&args) {
                eprintln!(
                    "\n!!!!!!!! `ip {}` failed ({e}): running WITHOUT a network namespace; \
                     isolation is then shown only by Postgres listening on a Unix socket path the \
                     control plane is never told about\n",
                    args.join(" ")
                );
                return None;
            }
        }
        Some(ns)
    }

    /// The command prefix that runs a program inside the namespace.
    fn exec(&self) -> Vec<String> {
        vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.name.clone(),
        ]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = StdCommand::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// A throwaway PostgreSQL 15 cluster, run as the `postgres` user (it refuses root),
/// listening on 127.0.0.1 inside the namespace only.
struct Postgres {
    dir: PathBuf,
    prefix: Vec<String>,
    port: u16,
    password: String,
}

fn pg_bin(name: &str) -> String {
    for dir in ["/usr/lib/postgresql/15/bin", "/usr/local/bin", "/usr/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p.display().to_string();
        }
    }
    panic!("PostgreSQL's `{name}` is not installed (Debian: apt-get install postgresql-15)");
}

fn run(prefix: &[String], argv: &[&str]) {
    let mut all: Vec<String> = prefix.to_vec();
    all.extend(argv.iter().map(|s| s.to_string()));
    let out = StdCommand::new(&all[0]).args(&all[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{all:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Postgres {
    fn start(netns: Option<&Netns>) -> Postgres {
        let dir = std::env::temp_dir().join(format!("gh-agent-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let password = format!("pw-{}", uuid_like());
        std::fs::write(dir.join("pw"), &password).unwrap();
        run(
            &[],
            &[
                "chown",
                "-R",
                "postgres:postgres",
                &dir.display().to_string(),
            ],
        );
        let data = dir.join("data").display().to_string();
        let as_pg = |ns: bool| -> Vec<String> {
            let mut p = Vec::new();
            if ns && let Some(n) = netns {
                p.extend(n.exec());
            }
            p.extend([
                "runuser".into(),
                "-u".into(),
                "postgres".into(),
                "--".into(),
            ]);
            p
        };
        run(
            &as_pg(false),
            &[
                &pg_bin("initdb"),
                "-D",
                &data,
                "-U",
                "app",
                "--pwfile",
                &dir.join("pw").display().to_string(),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
            ],
        );
        let port = 15_000 + (std::process::id() % 5_000) as u16;
        let opts = format!("-p {port} -h 127.0.0.1 -k {}", dir.display());
        run(
            &as_pg(true),
            &[
                &pg_bin("pg_ctl"),
                "-D",
                &data,
                "-o",
                &opts,
                "-l",
                &dir.join("pg.log").display().to_string(),
                "-w",
                "start",
            ],
        );
        let pg = Postgres {
            dir,
            prefix: as_pg(true),
            port,
            password,
        };
        let seed = format!(
            "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, card text NOT NULL); \
             INSERT INTO customers VALUES (1, 'Ada Lovelace', '{}'), (2, 'Grace Hopper', '{}'), (3, 'Alan Turing', '{}');",
            CARDS[0], CARDS[1], CARDS[2]
        );
        let mut psql = pg.prefix.clone();
        psql.extend(["env".into(), format!("PGPASSWORD={}", pg.password)]);
        run(
            &psql,
            &[
                &pg_bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "app",
                "shop",
            ],
        );
        run(
            &psql,
            &[
                "psql",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "app",
                "-d",
                "shop",
                "-c",
                &seed,
            ],
        );
        pg
    }

    fn url(&self) -> String {
        format!(
            "postgresql://app:{}@127.0.0.1:{}/shop",
            self.password, self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut argv = self.prefix.clone();
        argv.extend([
            pg_bin("pg_ctl"),
            "-D".into(),
            self.dir.join("data").display().to_string(),
            "-m".into(),
            "immediate".into(),
            "stop".into(),
        ]);
        let _ = StdCommand::new(&argv[0]).args(&argv[1..]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// The TypeScript SDK client: list tools, run one query.
async fn query(url: &str, sql: &str) -> Value {
    let peers = gatehouse_e2e::peers();
    gatehouse_e2e::run_json(
        &gatehouse_e2e::node22(),
        &[
            peers.join("pg-client.mjs").display().to_string(),
            "--url".into(),
            url.into(),
            "--token".into(),
            USER_TOKEN.into(),
            "--sql".into(),
            sql.into(),
        ],
        &[],
    )
    .await
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_only_the_agent_reaches_is_queried_masked_recorded_and_survives_faults() {
    let netns = Netns::create();
    let pg = Postgres::start(netns.as_ref());
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cp.db");
    // The control plane listens where the namespace can reach it (the host end of the veth).
    let host = netns
        .as_ref()
        .map_or("127.0.0.1".to_string(), |n| n.host_ip.clone());
    let port = {
        let l = std::net::TcpListener::bind((host.as_str(), 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("{host}:{port}");
    let servers = "[[servers]]\nname = \"customers\"\nagent = \"vnet-edge\"\n";
    let mut cp = ControlPlane::start(servers, &addr, &db).await;
    let (_, token) = cp.create_token("vnet-edge").await;

    let server_postgres = gatehouse_e2e::peers()
        .join("node_modules/@modelcontextprotocol/server-postgres/dist/index.js")
        .display()
        .to_string();
    let upstream = format!(
        "[[servers]]\nname = \"customers\"\ncommand = {:?}\nargs = [{:?}, \"env:CUSTOMERS_DB_URL\"]\n",
        gatehouse_e2e::node22(),
        server_postgres
    );
    let config = agent_config(dir.path(), "agent.toml", &cp.ws(), &upstream);
    let prefix = netns.as_ref().map(Netns::exec).unwrap_or_default();
    let db_url = pg.url();
    let mut agent = AgentProc::spawn(&prefix, &config, &token, &[("CUSTOMERS_DB_URL", &db_url)]);
    cp.wait_connected("vnet-edge", 1).await;

    // The control plane cannot reach the database: nothing listens on the host side.
    let mut targets = vec![format!("127.0.0.1:{}", pg.port)];
    if let Some(n) = &netns {
        targets.push(format!("{}:{}", n.ns_ip, pg.port));
    }
    for t in &targets {
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::TcpStream::connect(t.as_str()),
        )
        .await;
        assert!(
            !matches!(r, Ok(Ok(_))),
            "the control plane's network reaches PostgreSQL at {t}"
        );
    }

    // A person queries through the control plane with a real MCP client.
    let url = format!("{}/mcp/customers", cp.base);
    let out = query(&url, "SELECT id, name, card FROM customers ORDER BY id").await;
    assert_eq!(out["tools"], serde_json::json!(["query"]), "{out}");
    assert_eq!(out["isError"], false, "{out}");
    let text = out["text"].as_str().unwrap();
    // Every row came back, each person's name masked.
    assert!(
        !text.contains("Ada Lovelace") && text.matches("[PERSON_NAME]").count() >= 2,
        "{text}"
    );
    for card in CARDS {
        assert!(
            !text.contains(card),
            "card {card} reached the client unmasked: {text}"
        );
    }
    assert_eq!(text.matches("[CREDIT_CARD]").count(), 3, "{text}");

    // Recorded under the person's identity, with the masking counted.
    let sessions = cp.gw.store.list_sessions(100).await.unwrap();
    let s = sessions
        .iter()
        .find(|s| s.server == "customers" && s.principal == "alice")
        .unwrap_or_else(|| panic!("no session of alice: {sessions:?}"));
    let masked = serde_json::to_value(&s.masked).unwrap();
    assert_eq!(masked["credit_card"], 3, "{masked}");
    let events = cp.gw.store.session_events(&s.id).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.method.as_deref() == Some("tools/call"))
    );

    // Upstream credentials never reach the control plane: not in its store, not in its API.
    let api = cp.agents().await.to_string();
    for secret in [pg.password.as_str(), db_url.as_str()] {
        assert!(!api.contains(secret));
        for f in ["cp.db", "cp.db-wal"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{f} holds the database password"
            );
        }
    }

    // Fault: the agent is killed mid-call. The client gets a clear JSON-RPC error and the
    // session is closed in the record with the reason.
    let url2 = url.clone();
    let slow = tokio::spawn(async move { query(&url2, "SELECT pg_sleep(30)").await });
    wait_for_call_in_flight(&cp).await;
    agent.kill().await;
    let out = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out["error"]["code"], -32001, "{out}");
    let msg = out["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("agent `vnet-edge`") && msg.contains("disconnected"),
        "{msg}"
    );
    // The session ends either by the gateway noticing the upstream is gone or by the
    // client closing it after the error, whichever comes first; the error it got, naming
    // the agent, is in the record either way.
    let (ended, events) = wait_for_ended(&cp, "pg_sleep").await;
    assert!(
        (ended.contains("upstream_closed") && ended.contains("vnet-edge"))
            || ended == "client_closed",
        "{ended}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "error" && e.payload.contains("agent `vnet-edge`")),
        "the error the client got is not recorded: {events:?}"
    );

    // Fault: the control plane restarts. The agent reconnects; new sessions work.
    let mut agent = AgentProc::spawn(&prefix, &config, &token, &[("CUSTOMERS_DB_URL", &db_url)]);
    cp.wait_connected("vnet-edge", 1).await;
    cp.stop().await;
    let mut cp = ControlPlane::start(servers, &addr, &db).await;
    cp.wait_connected("vnet-edge", 1).await;
    let out = query(&url, "SELECT count(*) AS n FROM customers").await;
    assert_eq!(out["isError"], false, "{out}");
    let rows: Value = serde_json::from_str(out["text"].as_str().unwrap()).unwrap();
    assert_eq!(rows[0]["n"], "3", "{out}");
    agent.kill().await;
    cp.stop().await;
}

/// Waits until a `tools/call` of pg_sleep is recorded (so the call is on its way upstream).
async fn wait_for_call_in_flight(cp: &ControlPlane) {
    for _ in 0..300 {
        for s in cp.gw.store.list_sessions(100).await.unwrap() {
            if s.ended_at.is_none()
                && cp
                    .gw
                    .store
                    .session_events(&s.id)
                    .await
                    .unwrap()
                    .iter()
                    .any(|e| {
                        e.method.as_deref() == Some("tools/call") && e.payload.contains("pg_sleep")
                    })
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow query was never recorded");
}

/// Waits until the session that ran `sql` is ended in the record; returns its end reason
/// and events.
async fn wait_for_ended(
    cp: &ControlPlane,
    sql: &str,
) -> (String, Vec<gatehouse_control_plane::store::EventRow>) {
    for _ in 0..200 {
        for s in cp.gw.store.list_sessions(100).await.unwrap() {
            if let Some(reason) = &s.end_reason
                && cp
                    .gw
                    .store
                    .session_events(&s.id)
                    .await
                    .unwrap()
                    .iter()
                    .any(|e| e.payload.contains(sql))
            {
                let events = cp.gw.store.session_events(&s.id).await.unwrap();
                assert!(
                    events.iter().any(|e| e.kind == "session_end"),
                    "no session_end event"
                );
                return (reason.clone(), events);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session of the killed call was not closed in the record");
}
