//! Where the integration tests keep their store: SQLite files by default; PostgreSQL when
//! `GATEHOUSE_TEST_DATABASE` says so:
//!
//! - `postgres`: a throwaway cluster this test process starts itself (`initdb`/`pg_ctl`
//!   as the `postgres` user on a free loopback port; a watcher stops it and removes its
//!   folder when the process ends);
//! - `postgres://USER:PW@HOST:PORT/DB`: an existing server where that user may create
//!   databases.
//!
//! Each SQLite path a test names maps to its own fresh database, the same one every time
//! the test names that path again (so CLI runs in the test see the gateway's store).

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The store URL for a test that would keep its SQLite file at `path`.
pub async fn database_url(path: &Path) -> String {
    match std::env::var("GATEHOUSE_TEST_DATABASE").ok().as_deref() {
        None | Some("") | Some("sqlite") => format!("sqlite://{}", path.display()),
        Some(_) => {
            let server = server_url();
            let known: &Mutex<HashMap<PathBuf, String>> = MAPPED.get_or_init(Default::default);
            if let Some(url) = known.lock().unwrap().get(path) {
                return url.clone();
            }
            let url = fresh_database(&server).await;
            known
                .lock()
                .unwrap()
                .insert(path.to_path_buf(), url.clone());
            url
        }
    }
}

/// True when the tests run against PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("GATEHOUSE_TEST_DATABASE").is_ok_and(|v| v.starts_with("postgres"))
}

static MAPPED: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
static SERVER: OnceLock<String> = OnceLock::new();

/// The server's admin URL (starting the process's own cluster on first use).
fn server_url() -> String {
    SERVER
        .get_or_init(
            || match std::env::var("GATEHOUSE_TEST_DATABASE").unwrap().as_str() {
                "postgres" => Cluster::start_for_process().url("postgres"),
                url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                    url.to_string()
                }
                other => panic!(
                    "GATEHOUSE_TEST_DATABASE=`{other}`: use sqlite, postgres (a throwaway cluster) or a postgres:// URL"
                ),
            },
        )
        .clone()
}

/// Creates an empty database on `server` and returns its URL.
pub async fn fresh_database(server: &str) -> String {
    use sqlx::Connection;
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "gh_test_{}_{}_{n}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    let mut c = sqlx::PgConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {server}: {e}"));
    sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{name}")
}

/// A throwaway PostgreSQL cluster (the binaries of Debian's postgresql package).
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    password: String,
    /// Stop it on drop (a process-wide cluster is stopped by its watcher instead).
    stop_on_drop: bool,
}

fn pg_bin(name: &str) -> String {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs.extend([PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")]);
    for dir in dirs {
        let p = dir.join(name);
        if p.exists() {
            return p.display().to_string();
        }
    }
    panic!(
        "PostgreSQL's `{name}` is not installed (Debian: apt-get install postgresql), or set GATEHOUSE_TEST_DATABASE=postgres://... to a server"
    );
}

/// Runs `argv` as the `postgres` user when we are root (initdb refuses root).
fn as_postgres(argv: &[&str]) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(argv);
        c
    } else {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    };
    c.env_remove("PGDATA");
    c
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn check(mut c: Command, what: &str) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Starts a cluster that stops (and is removed) when dropped.
    pub fn start() -> Cluster {
        let mut c = Cluster::init();
        c.stop_on_drop = true;
        c
    }

    /// Starts a cluster that lives until this test process exits.
    fn start_for_process() -> Cluster {
        let c = Cluster::init();
        // A watcher outside the process stops the cluster once the process is gone.
        let runuser = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runuser}{ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            ctl = pg_bin("pg_ctl"),
            data = c.dir.join("data").display(),
            dir = c.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &stop])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        c
    }

    fn init() -> Cluster {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gh-cp-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let password = format!("pw{}", std::process::id());
        std::fs::write(dir.join("pw"), &password).unwrap();
        let mut chown = Command::new("chown");
        chown.args(["-R", "postgres:postgres", &dir.display().to_string()]);
        // Not root: the folder is ours already and chown may fail harmlessly.
        let _ = chown.output();
        let data = dir.join("data").display().to_string();
        check(
            as_postgres(&[
                &pg_bin("initdb"),
                "-D",
                &data,
                "-U",
                "gatehouse",
                "--pwfile",
                &dir.join("pw").display().to_string(),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--no-sync",
            ]),
            "initdb",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!(
            "-p {port} -h 127.0.0.1 -k {} -c max_connections=300 -c shared_buffers=64MB",
            dir.display()
        );
        check(
            as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &data,
                "-o",
                &opts,
                "-l",
                &dir.join("pg.log").display().to_string(),
                "-w",
                "start",
            ]),
            "pg_ctl start",
        );
        Cluster {
            dir,
            port,
            password,
            stop_on_drop: false,
        }
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://gatehouse:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Stops the server at once (as a crash would), keeping its data.
    pub fn kill(&self) {
        check(
            as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &self.dir.join("data").display().to_string(),
                "-m",
                "immediate",
                "stop",
            ]),
            "pg_ctl stop",
        );
    }

    /// Starts it again after [`Cluster::kill`].
    pub fn restart(&self) {
        let opts = format!("-p {} -h 127.0.0.1 -k {}", self.port, self.dir.display());
        check(
            as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &self.dir.join("data").display().to_string(),
                "-o",
                &opts,
                "-l",
                &self.dir.join("pg.log").display().to_string(),
                "-w",
                "start",
            ]),
            "pg_ctl start",
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.stop_on_drop {
            let _ = as_postgres(&[
                &pg_bin("pg_ctl"),
                "-D",
                &self.dir.join("data").display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
