//! A stdio upstream: one child process per session, newline-delimited JSON-RPC.

use super::{Router, UpstreamError};
use crate::jsonrpc::Message;
use std::collections::BTreeMap;
use std::process::Stdio as ProcStdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;

#[derive(Debug)]
pub(super) struct Stdio {
    stdin: Mutex<Option<ChildStdin>>,
    child: Arc<Mutex<Child>>,
}

impl Stdio {
    pub(super) fn spawn(
        command: &str,
        args: &[String],
        env: &BTreeMap<String, String>,
        inherit: &[String],
        router: Arc<Router>,
    ) -> Result<Stdio, UpstreamError> {
        // A cleared environment: the server (often third-party code) must not read this
        // process's secrets (sign-in secrets, keys, database URLs, other servers' env).
        let inherited = inherit
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| (k.clone(), v)));
        let mut child = Command::new(command)
            .args(args)
            .env_clear()
            .envs(inherited)
            .envs(env)
            .stdin(ProcStdio::piped())
            .stdout(ProcStdio::piped())
            .stderr(ProcStdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| UpstreamError::Spawn {
                command: command.to_string(),
                reason: e.to_string(),
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let child = Arc::new(Mutex::new(child));
        let name = command.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(target: "gatehouse::upstream::stderr", upstream = %name, "{line}");
            }
        });
        let reader_child = child.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) if line.trim().is_empty() => continue,
                    Ok(Some(line)) => match serde_json::from_str(&line)
                        .map_err(|e| e.to_string())
                        .and_then(|v| Message::from_value(v).map_err(|e| e.to_string()))
                    {
                        Ok(msg) => router.route(msg).await,
                        Err(e) => tracing::warn!(
                            "the upstream wrote a line that is not JSON-RPC ({e}); ignored"
                        ),
                    },
                    Ok(None) | Err(_) => break,
                }
            }
            let status = {
                let mut c = reader_child.lock().await;
                tokio::time::timeout(Duration::from_secs(2), c.wait()).await
            };
            let reason = match status {
                Ok(Ok(s)) => format!("the upstream process exited ({s})"),
                _ => "the upstream process closed its output".to_string(),
            };
            router.close(&reason).await;
        });
        Ok(Stdio {
            stdin: Mutex::new(stdin),
            child,
        })
    }

    pub(super) async fn write(&self, msg: &Message) -> Result<(), UpstreamError> {
        let mut line = msg.to_json();
        line.push('\n');
        let mut guard = self.stdin.lock().await;
        let stdin = guard.as_mut().ok_or_else(|| {
            UpstreamError::Closed("the upstream process's input is closed".into())
        })?;
        stdin.write_all(line.as_bytes()).await.map_err(|e| {
            UpstreamError::Closed(format!("writing to the upstream process failed: {e}"))
        })?;
        stdin.flush().await.map_err(|e| {
            UpstreamError::Closed(format!("writing to the upstream process failed: {e}"))
        })
    }

    /// Closes stdin, gives the process a moment to exit, then kills it (as the MCP spec's
    /// stdio shutdown describes).
    pub(super) async fn close(&self) {
        self.stdin.lock().await.take();
        let mut child = self.child.lock().await;
        if tokio::time::timeout(Duration::from_secs(2), child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}
