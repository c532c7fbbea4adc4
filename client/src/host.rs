//! The tray app's capture host: `gatehouse connect NAME` hands its stdio session for a
//! local server to the running tray app, which runs the server under capture (so one
//! process holds the sign-in, the policy stream, the spool and its uploads).
//!
//! The hand-off is a Unix socket, `capture.sock` in the app's folder, mode 0600, and the
//! host serves only peers of its own uid (checked on every connection with the kernel's
//! peer credentials), so nobody else on the machine can run servers as this person.
//!
//! Protocol: the client sends one JSON line `{"gatehouse": "connect", "server": NAME}`;
//! the host answers one JSON line, `{"ok": true}` (from then on the socket carries the MCP
//! session's newline-delimited JSON-RPC both ways) or `{"error": ..., "local": bool}`
//! (`local: false`: NAME is not a local server, use the gateway).

use crate::runtime::{LocalError, Runtime};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The socket's file name in the app's folder.
pub const SOCKET: &str = "capture.sock";

/// The longest hello line accepted.
const HELLO_MAX: usize = 4096;

/// The socket path in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// What a hand-off attempt found.
#[derive(Debug)]
pub enum HandOff {
    /// No tray app is running (no socket, or nobody listening).
    NoHost,
    /// The tray app took the session: pipe stdio through this stream.
    #[cfg(unix)]
    Taken(tokio::net::UnixStream),
    /// `server` is not a local server: use the gateway.
    NotLocal(String),
    /// The tray app refused to run it (no rules offline, cannot start): the reason.
    Refused(String),
}

/// Offers the session for local server `server` to the tray app whose folder is `dir`.
pub async fn hand_off(dir: &Path, server: &str) -> HandOff {
    #[cfg(unix)]
    {
        let Ok(stream) = tokio::net::UnixStream::connect(socket_path(dir)).await else {
            return HandOff::NoHost;
        };
        let (read, mut write) = stream.into_split();
        let hello = json!({ "gatehouse": "connect", "server": server });
        if write
            .write_all(format!("{hello}\n").as_bytes())
            .await
            .is_err()
        {
            return HandOff::NoHost;
        }
        // Read the answer byte by byte so nothing of the session after it is buffered away.
        let mut reader = read;
        let mut line = Vec::new();
        loop {
            use tokio::io::AsyncReadExt;
            let mut b = [0u8; 1];
            match reader.read(&mut b).await {
                Ok(1) if b[0] == b'\n' => break,
                Ok(1) if line.len() < HELLO_MAX => line.push(b[0]),
                _ => return HandOff::Refused("the tray app closed the hand-off".into()),
            }
        }
        let answer: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
        if answer["ok"] == true {
            return match reader.reunite(write) {
                Ok(s) => HandOff::Taken(s),
                Err(_) => HandOff::Refused("the hand-off socket split badly".into()),
            };
        }
        let message = answer["error"]
            .as_str()
            .unwrap_or("the tray app did not understand the hand-off")
            .to_string();
        if answer["local"] == false {
            HandOff::NotLocal(message)
        } else {
            HandOff::Refused(message)
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, server);
        HandOff::NoHost
    }
}

/// A running capture host; the socket is removed when it is dropped.
pub struct CaptureHost {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CaptureHost {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl CaptureHost {
    /// Listens on `capture.sock` in `dir` and runs every handed-over session with
    /// `runtime`. Fails when another host already listens there.
    pub async fn start(dir: &Path, runtime: Runtime) -> std::io::Result<CaptureHost> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let path = socket_path(dir);
            if tokio::net::UnixStream::connect(&path).await.is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "another Gatehouse tray app already runs local servers from {}",
                        path.display()
                    ),
                ));
            }
            std::fs::create_dir_all(dir)?;
            let _ = std::fs::remove_file(&path);
            // Bind under a private umask-free path, then tighten before anyone is served.
            let listener = tokio::net::UnixListener::bind(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            let uid = std::fs::metadata(&path)?.uid();
            let task = tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    match stream.peer_cred() {
                        Ok(c) if c.uid() == uid => {}
                        other => {
                            tracing::warn!(peer = ?other.map(|c| c.uid()), "refused a hand-off from another user");
                            continue;
                        }
                    }
                    let rt = runtime.clone();
                    tokio::spawn(async move { serve(stream, rt).await });
                }
            });
            Ok(CaptureHost { path, task })
        }
        #[cfg(not(unix))]
        {
            let _ = (dir, runtime);
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "handing sessions to the tray app needs Unix sockets; `gatehouse connect` captures by itself here",
            ))
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
async fn serve(stream: tokio::net::UnixStream, rt: Runtime) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    // A peer that never says hello does not hold a task forever.
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::io::AsyncReadExt::take(&mut reader, HELLO_MAX as u64).read_line(&mut line),
    )
    .await;
    let hello = match read {
        Ok(Ok(n)) if n > 0 => serde_json::from_str::<Value>(&line).unwrap_or(Value::Null),
        _ => return,
    };
    let Some(name) = hello["server"]
        .as_str()
        .filter(|_| hello["gatehouse"] == "connect")
    else {
        let _ = write
            .write_all(b"{\"error\":\"not a Gatehouse hand-off\",\"local\":true}\n")
            .await;
        return;
    };
    let name = name.to_string();
    // Check before accepting: the client falls back to the gateway for other names.
    let catalog = rt.catalog().await;
    let refusal = match &catalog {
        Ok((c, _)) if c.server(&name).is_some() => c.server(&name).and_then(|s| {
            s.resolved_env()
                .and_then(|_| s.masker().map(|_| ()))
                .err()
                .map(|e| json!({ "error": LocalError::Start(name.clone(), e).to_string(), "local": true }))
        }),
        Ok((c, _)) => Some(json!({
            "error": LocalError::Unknown(name.clone(), c.servers.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")).to_string(),
            "local": false,
        })),
        Err(e) => Some(json!({ "error": e.to_string(), "local": true })),
    };
    if let Some(r) = refusal {
        let _ = write.write_all(format!("{r}\n").as_bytes()).await;
        return;
    }
    if write.write_all(b"{\"ok\":true}\n").await.is_err() {
        return;
    }
    tracing::info!(server = %name, "running a handed-over local session");
    let Ok((catalog, _)) = catalog else {
        return;
    };
    if let Err(e) = rt.run_under(&catalog, &name, reader, write).await {
        tracing::warn!(server = %name, error = %e, "a handed-over local session failed");
    }
}
