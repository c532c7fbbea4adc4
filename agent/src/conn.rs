//! The agent's one outbound connection: dial, say hello, carry sessions, send
//! heartbeats; and redial with exponential backoff and jitter when it ends.

use crate::config::AgentConfig;
use futures::{SinkExt, StreamExt};
use gatehouse_proxy_core::tunnel::{CONNECT_PATH, Frame, Mux};
use gatehouse_proxy_core::upstream::UpstreamSpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// How one connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The control plane refused or dropped the agent, and why (token, claims).
    Refused(String),
    /// The connection failed or was lost.
    Lost(String),
}

/// What the agent runs with: its config, resolved.
#[derive(Debug, Clone)]
pub struct Agent {
    url: String,
    token: String,
    upstreams: Arc<BTreeMap<String, UpstreamSpec>>,
    upstream: gatehouse_proxy_core::upstream::UpstreamOptions,
    initial: Duration,
    max: Duration,
}

impl Agent {
    /// Resolves every reference in the config (fails fast, naming what is missing).
    pub fn new(config: &AgentConfig) -> Result<Agent, crate::config::ConfigError> {
        Ok(Agent {
            url: endpoint(&config.control_plane),
            token: config.resolve_token()?,
            upstreams: Arc::new(config.upstreams()?),
            upstream: gatehouse_proxy_core::upstream::UpstreamOptions {
                connect_timeout: config.connect_timeout(),
                inherit_env: config.stdio_inherit_env.clone(),
            },
            initial: Duration::from_millis(config.reconnect.initial_ms),
            max: Duration::from_millis(config.reconnect.max_ms),
        })
    }

    /// Connects, serves, and reconnects until `stop` resolves.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut delay = self.initial;
        loop {
            let started = Instant::now();
            let ended = tokio::select! {
                _ = &mut stop => return,
                e = self.connect_once() => e,
            };
            match &ended {
                Ended::Refused(r) => {
                    tracing::error!(reason = %r, "the control plane refused this agent; retrying slowly");
                    delay = self.max;
                }
                Ended::Lost(r) => {
                    tracing::warn!(reason = %r, "connection to the control plane ended; reconnecting");
                    // A connection that lasted resets the backoff; a failing one grows it.
                    delay = if started.elapsed() > self.max {
                        self.initial
                    } else {
                        (delay * 2).min(self.max)
                    };
                }
            }
            let wait = jittered(delay);
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "waiting before reconnecting"
            );
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One connection, from dial to end.
    pub async fn connect_once(&self) -> Ended {
        let ws = match tokio::time::timeout(
            Duration::from_secs(15),
            // No Nagle delay: tunnel frames are small and latency-bound.
            tokio_tungstenite::connect_async_with_config(self.url.as_str(), None, true),
        )
        .await
        {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return Ended::Lost(format!("cannot connect to {}: {e}", self.url)),
            Err(_) => return Ended::Lost(format!("connecting to {} timed out", self.url)),
        };
        let (mut sink, mut stream) = ws.split();
        let hello = Frame::Hello {
            token: self.token.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            servers: self.upstreams.keys().cloned().collect(),
        };
        if let Err(e) = sink.send(WsMessage::Text(hello.encode().into())).await {
            return Ended::Lost(format!("sending hello failed: {e}"));
        }
        let heartbeat = match tokio::time::timeout(Duration::from_secs(15), stream.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) => match Frame::decode(&t) {
                Ok(Frame::Welcome {
                    agent,
                    heartbeat_secs,
                }) => {
                    tracing::info!(agent, url = %self.url, servers = ?self.upstreams.keys().collect::<Vec<_>>(), "connected to the control plane");
                    Duration::from_secs(heartbeat_secs.max(1))
                }
                Ok(Frame::Refused { reason }) => return Ended::Refused(reason),
                Ok(other) => return Ended::Lost(format!("expected welcome, got {other:?}")),
                Err(e) => return Ended::Lost(e.to_string()),
            },
            Ok(_) => {
                return Ended::Lost("the control plane closed the connection after hello".into());
            }
            Err(_) => return Ended::Lost("no answer to hello within 15 s".into()),
        };
        let (mux, mut out) = Mux::new();
        let mut tick = tokio::time::interval(heartbeat);
        tick.tick().await;
        let mut heard = Instant::now();
        let mut seq = 0u64;
        let ended = loop {
            tokio::select! {
                frame = out.recv() => {
                    let Some(frame) = frame else { break Ended::Lost("the writer stopped".into()) };
                    if let Err(e) = sink.send(WsMessage::Text(frame.encode().into())).await {
                        break Ended::Lost(format!("the connection was lost ({e})"));
                    }
                }
                msg = stream.next() => {
                    let text = match msg {
                        Some(Ok(WsMessage::Text(t))) => t,
                        Some(Ok(WsMessage::Close(_))) | None => break Ended::Lost("the control plane closed the connection".into()),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => break Ended::Lost(format!("the connection was lost ({e})")),
                    };
                    heard = Instant::now();
                    match Frame::decode(&text) {
                        Ok(f) => match mux.dispatch(f) {
                            None => {}
                            Some(Frame::Open { session, server }) => {
                                let spec = self.upstreams.get(&server).cloned();
                                tokio::spawn(crate::session::serve(mux.clone(), session, server, spec, self.upstream.clone()));
                            }
                            Some(Frame::Ping { seq }) => { mux.send_frame(Frame::Pong { seq }); }
                            Some(Frame::Pong { .. }) => {}
                            Some(Frame::Refused { reason }) => break Ended::Refused(reason),
                            Some(other) => tracing::warn!(frame = ?other, "unexpected frame from the control plane; ignored"),
                        },
                        Err(e) => tracing::warn!(error = %e, "ignored a malformed frame"),
                    }
                }
                _ = tick.tick() => {
                    if heard.elapsed() > heartbeat * 3 {
                        break Ended::Lost(format!("no heartbeat from the control plane for {} s", heard.elapsed().as_secs()));
                    }
                    seq += 1;
                    mux.send_frame(Frame::Ping { seq });
                }
            }
        };
        let why = match &ended {
            Ended::Refused(r) | Ended::Lost(r) => r.clone(),
        };
        mux.shutdown(&format!(
            "the agent lost its control plane connection: {why}"
        ));
        let _ = sink.close().await;
        ended
    }
}

/// The WebSocket URL: the configured one, with the connect path when it has none.
fn endpoint(base: &str) -> String {
    let rest = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
    if rest.contains('/') && !rest.ends_with('/') {
        base.to_string()
    } else {
        format!("{}{CONNECT_PATH}", base.trim_end_matches('/'))
    }
}

/// Between half and all of `d`, at random: many agents cut off at once do not all come
/// back at the same instant.
fn jittered(d: Duration) -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % 1_000) as f64 / 1_000.0;
    d.mul_f64(0.5 + r / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_jitter() {
        assert_eq!(
            endpoint("wss://gh.example"),
            "wss://gh.example/agent/v1/connect"
        );
        assert_eq!(endpoint("ws://h:1/"), "ws://h:1/agent/v1/connect");
        assert_eq!(endpoint("ws://h:1/custom/path"), "ws://h:1/custom/path");
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(10));
            assert!(
                j >= Duration::from_secs(5) && j <= Duration::from_secs(10),
                "{j:?}"
            );
        }
    }
}
