//! `gatehouse connect SERVER`: a stdio MCP server for desktop clients (Claude Desktop,
//! Cursor) that relays every message to the gateway over Streamable HTTP with the
//! user's token, so the client never needs the upstream's own credentials. When SERVER
//! is a local server an admin configured for the person's groups, it runs on this
//! machine under local capture instead (in the tray app when one runs).

use super::Exit;
use gatehouse_proxy_core::jsonrpc::{Body, Message, codes};
use gatehouse_proxy_core::upstream::{RequestHeaders, Upstream, UpstreamOptions, UpstreamSpec};
use std::collections::BTreeMap;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

mod local;
pub use local::run_local;

/// `GATEHOUSE_TOKEN`, if set.
fn env_token() -> Option<String> {
    std::env::var("GATEHOUSE_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Relays stdin/stdout to `{url}/mcp/{server}` until stdin closes.
pub async fn run(server: String, url: String) -> Result<(), Exit> {
    if local::try_named(&server, &url).await? {
        return Ok(());
    }
    // GATEHOUSE_TOKEN when set; else the sign-in `gatehouse login` saved (renewed before
    // each token runs out for as long as the client keeps this server running); else the
    // tray app's sign-in.
    let text = |e: Exit| match e {
        Exit::Usage(m) | Exit::Runtime(m) => m,
    };
    let (token, signed_in) = match env_token() {
        Some(t) => (t, false),
        None => match super::login::access_token(&url).await {
            Ok(t) => (t, true),
            Err(login) => match local::tray_token(&url).await {
                Ok(t) => (t, false),
                Err(tray) => {
                    return Err(Exit::Usage(format!(
                        "not signed in: run `gatehouse login` ({}), or sign in with the tray app ({tray}), \
                         or put a Gatehouse token in GATEHOUSE_TOKEN in the client's env for this server",
                        text(login)
                    )));
                }
            },
        },
    };
    let endpoint = format!("{}/mcp/{server}", url.trim_end_matches('/'));
    let headers = BTreeMap::from([(
        "authorization".to_string(),
        format!("Bearer {}", token.trim()),
    )]);
    let spec = UpstreamSpec::Http {
        url: endpoint.clone(),
        headers,
    };
    let (gateway, mut from_server) = Upstream::connect(&spec, &UpstreamOptions::default())
        .await
        .map_err(|e| Exit::Runtime(format!("cannot reach the gateway at {endpoint}: {e}")))?;

    if signed_in {
        spawn_renewal(gateway.clone(), url.clone(), &token);
    }
    // One writer owns stdout so messages from concurrent requests never interleave.
    let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err()
                || stdout.write_all(b"\n").await.is_err()
            {
                return;
            }
            let _ = stdout.flush().await;
        }
    });
    let server_out = out_tx.clone();
    let unsolicited = tokio::spawn(async move {
        while let Some(m) = from_server.recv().await {
            if server_out.send(m.to_json()).await.is_err() {
                return;
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let msgs = match Body::decode_line(&line) {
            Ok(msgs) => msgs,
            Err(answer) => {
                let _ = out_tx.send(answer).await;
                continue;
            }
        };
        for msg in msgs {
            relay(&gateway, msg, &out_tx).await;
        }
    }
    gateway.close().await;
    // The server's stream may outlive the session's close; stop relaying it so the
    // process exits when the client closes stdin.
    unsolicited.abort();
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

async fn relay(gateway: &Upstream, msg: Message, out: &mpsc::Sender<String>) {
    if !msg.is_request() {
        if let Err(e) = gateway.send(msg, &RequestHeaders::default()).await {
            tracing::warn!(error = %e, "could not relay a message to the gateway");
        }
        return;
    }
    let id = msg.id().cloned();
    let is_initialize = msg.method() == Some("initialize");
    match gateway.request(msg, &RequestHeaders::default()).await {
        Ok(mut exchange) => {
            let gateway = gateway.clone();
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(m) = exchange.next().await {
                    let done = m.is_response();
                    if done
                        && is_initialize
                        && let Some(v) = m
                            .result_value()
                            .and_then(|r| r.get("protocolVersion"))
                            .and_then(|v| v.as_str())
                    {
                        gateway.set_protocol_version(v);
                    }
                    let _ = out.send(m.to_json()).await;
                    if done {
                        if is_initialize {
                            let _ = gateway.open_server_stream().await;
                        }
                        return;
                    }
                }
            });
        }
        Err(e) => {
            let err = Message::error(
                id,
                codes::UPSTREAM_ERROR,
                format!("the gateway is unavailable: {e}"),
                None,
            );
            let _ = out.send(err.to_json()).await;
        }
    }
}

/// Seconds until a JWT's `exp` (unverified: only to time the renewal).
fn lifetime_secs(token: &str) -> i64 {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["exp"].as_i64())
        .map(|exp| exp - chrono::Utc::now().timestamp())
        .unwrap_or(60)
}

/// Renews the access token a minute (or, for short tokens, a fifth of its life) before
/// it runs out and hands the new one to the connection.
fn spawn_renewal(gateway: Upstream, url: String, first: &str) {
    let mut left = lifetime_secs(first);
    tokio::spawn(async move {
        loop {
            let wait = (left - 60).max(left * 4 / 5).max(5);
            tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
            match super::login::access_token(&url).await {
                Ok(t) => {
                    left = lifetime_secs(&t);
                    if let Err(e) = gateway.set_header("authorization", &format!("Bearer {t}")) {
                        tracing::warn!(error = %e, "could not use the renewed token");
                    }
                }
                Err(e) => {
                    let msg = match e {
                        Exit::Runtime(m) | Exit::Usage(m) => m,
                    };
                    tracing::warn!(error = %msg, "could not renew the sign-in; retrying in 30 s");
                    left = 90;
                }
            }
        }
    });
}
