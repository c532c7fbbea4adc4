//! Connections to upstream MCP servers: a spawned stdio process, a Streamable HTTP
//! endpoint, a legacy HTTP+SSE endpoint, or a message pipe the caller carries (an
//! agent's connection), all behind one [`Upstream`].

mod http;
mod pipe;
mod router;
mod sse_legacy;
mod stdio;

pub use pipe::{Outbound, PipeEnds, PipeInbound};
pub use router::{Exchange, Router};

use crate::jsonrpc::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where an upstream server is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamSpec {
    /// A process spawned per session, speaking newline-delimited JSON-RPC on stdio.
    Stdio {
        /// Program to run.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables (already resolved from secret references).
        env: BTreeMap<String, String>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        /// The endpoint URL.
        url: String,
        /// Extra headers sent upstream (credentials live here, never in logs).
        headers: BTreeMap<String, String>,
    },
    /// A legacy (2024-11-05) HTTP+SSE endpoint: GET opens the stream, POSTs go to the
    /// URL its `endpoint` event names.
    Sse {
        /// The SSE URL.
        url: String,
        /// Extra headers sent upstream.
        headers: BTreeMap<String, String>,
    },
}

/// Why talking to the upstream failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The process could not be started. Clients see only that it did not start; the
    /// command line is for the operator ([`UpstreamError::detail`]).
    #[error("the server did not start")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached (refused, unresolvable, TLS, timeout). Clients
    /// see only that; the address, redacted, is for the operator.
    #[error("the server is not reachable")]
    Unreachable {
        /// What failed, with the address redacted ([`crate::redact::url`]).
        detail: String,
    },
    /// The connection is closed (process exited, session ended, stream broke).
    #[error("the upstream server is gone: {0}")]
    Closed(String),
    /// An HTTP-level failure.
    #[error("the upstream server answered badly: {0}")]
    Http(String),
}

impl UpstreamError {
    /// What the operator's log says: the command or the redacted address, and why.
    /// Never sent to a client.
    pub fn detail(&self) -> String {
        match self {
            UpstreamError::Spawn { command, reason } => {
                format!("could not start `{command}`: {reason}")
            }
            UpstreamError::Unreachable { detail } => detail.clone(),
            other => other.to_string(),
        }
    }

    /// The error for a failed request to `url`: the address redacted, and reqwest's
    /// own text without its copy of the URL.
    pub(crate) fn unreachable(url: &str, e: reqwest::Error) -> UpstreamError {
        UpstreamError::Unreachable {
            detail: format!(
                "could not reach {}: {}",
                crate::redact::url(url),
                e.without_url()
            ),
        }
    }
}

/// Per-request HTTP details that travel with a message to an HTTP upstream.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    /// `MCP-Protocol-Version` to send (the negotiated or per-request version).
    pub protocol_version: Option<String>,
    /// Headers the client sent that pass through unchanged (`Mcp-Method`, `Mcp-Name`,
    /// `Mcp-Param-*`), in order.
    pub passthrough: Vec<(String, String)>,
}

/// Options common to all upstreams.
#[derive(Debug, Clone)]
pub struct UpstreamOptions {
    /// How long to wait for a connection or process start.
    pub connect_timeout: Duration,
    /// The variables of this process a stdio server sees (when set here); it gets
    /// nothing else of this process's environment, only these and its own `env`.
    pub inherit_env: Vec<String>,
}

/// The variables a stdio server inherits by default: what programs need to find
/// themselves, their home and their locale, and nothing that could hold a secret.
pub const DEFAULT_INHERITED_ENV: [&str; 9] = [
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME",
];

/// [`DEFAULT_INHERITED_ENV`] as owned names (the configuration's default).
pub fn default_inherited_env() -> Vec<String> {
    DEFAULT_INHERITED_ENV
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        UpstreamOptions {
            connect_timeout: Duration::from_secs(10),
            inherit_env: default_inherited_env(),
        }
    }
}

#[derive(Debug)]
enum Transport {
    Stdio(stdio::Stdio),
    /// Boxed: its parsed URL and ready header values make it the largest by far.
    Http(Box<http::StreamableHttp>),
    Sse(sse_legacy::LegacySse),
    Pipe(pipe::Pipe),
}

/// A live connection to one upstream server for one gateway session.
#[derive(Debug, Clone)]
pub struct Upstream {
    router: Arc<Router>,
    transport: Arc<Transport>,
}

impl Upstream {
    /// Connects (or spawns). Unsolicited server messages arrive on the returned receiver.
    pub async fn connect(
        spec: &UpstreamSpec,
        opts: &UpstreamOptions,
    ) -> Result<(Upstream, mpsc::Receiver<Message>), UpstreamError> {
        let (server_tx, server_rx) = mpsc::channel(256);
        let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
        let router = Router::new(server_tx, cancel_tx);
        let transport =
            match spec {
                UpstreamSpec::Stdio { command, args, env } => Transport::Stdio(
                    stdio::Stdio::spawn(command, args, env, &opts.inherit_env, router.clone())?,
                ),
                UpstreamSpec::Http { url, headers } => Transport::Http(Box::new(
                    http::StreamableHttp::new(url, headers, opts, router.clone())?,
                )),
                UpstreamSpec::Sse { url, headers } => Transport::Sse(
                    sse_legacy::LegacySse::connect(url, headers, opts, router.clone()).await?,
                ),
            };
        let up = Upstream {
            router,
            transport: Arc::new(transport),
        };
        up.spawn_cancel_writer(cancel_rx);
        Ok((up, server_rx))
    }

    /// An upstream reached through a message pipe the caller carries (`name` is for
    /// errors). Outgoing messages arrive on [`PipeEnds::outbound_rx`]; the caller feeds
    /// the answers into [`PipeEnds::inbound`]. Unsolicited server messages arrive on the
    /// returned receiver, as for [`Upstream::connect`]. Must be called within a tokio runtime.
    pub fn over_pipe(name: &str) -> (Upstream, mpsc::Receiver<Message>, PipeEnds) {
        let (server_tx, server_rx) = mpsc::channel(256);
        let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
        let router = Router::new(server_tx, cancel_tx);
        let (pipe, ends) = pipe::Pipe::new(name, router.clone());
        let up = Upstream {
            router,
            transport: Arc::new(Transport::Pipe(pipe)),
        };
        up.spawn_cancel_writer(cancel_rx);
        (up, server_rx, ends)
    }

    fn spawn_cancel_writer(&self, mut rx: mpsc::UnboundedReceiver<Message>) {
        let up = self.clone();
        tokio::spawn(async move {
            while let Some(cancel) = rx.recv().await {
                // Stateless-era servers learn of a cancellation by the stream closing;
                // session-era ones by the notification. Do both: each era ignores the other.
                if let Transport::Http(t) = &*up.transport
                    && let Some(id) = cancel.params().and_then(|p| p.get("requestId"))
                {
                    t.abort_request(&id.to_string());
                }
                let _ = up.write(cancel, &RequestHeaders::default(), false).await;
            }
        });
    }

    /// Sends a request; its related messages and response arrive on the exchange.
    pub async fn request(
        &self,
        mut msg: Message,
        headers: &RequestHeaders,
    ) -> Result<Exchange, UpstreamError> {
        let exchange = self
            .router
            .register(&mut msg)
            .map_err(UpstreamError::Closed)?;
        self.write(msg, headers, true).await?;
        Ok(exchange)
    }

    /// Sends a notification or a response to a server-initiated request. A client's
    /// `notifications/cancelled` is rewritten to the upstream id (and dropped when that
    /// request is already finished).
    pub async fn send(
        &self,
        mut msg: Message,
        headers: &RequestHeaders,
    ) -> Result<(), UpstreamError> {
        if msg.method() == Some("notifications/cancelled")
            && self.router.translate_cancel(&mut msg).is_none()
        {
            // The request already finished (or never existed): nothing to cancel upstream.
            return Ok(());
        }
        self.write(msg, headers, false).await
    }

    async fn write(
        &self,
        msg: Message,
        headers: &RequestHeaders,
        expects_response: bool,
    ) -> Result<(), UpstreamError> {
        match &*self.transport {
            Transport::Stdio(t) => t.write(&msg).await,
            Transport::Http(t) => t.write(msg, headers, expects_response).await,
            Transport::Sse(t) => t.write(&msg).await,
            Transport::Pipe(t) => t.write(msg, headers).await,
        }
    }

    /// Opens the server-to-client stream where the transport has one (Streamable HTTP GET).
    pub async fn open_server_stream(&self) -> Result<(), UpstreamError> {
        match &*self.transport {
            Transport::Http(t) => t.open_get_stream().await,
            Transport::Stdio(_) | Transport::Sse(_) | Transport::Pipe(_) => Ok(()),
        }
    }

    /// Replaces a header a Streamable HTTP upstream sends with every later request (a
    /// renewed access token).
    pub fn set_header(&self, name: &str, value: &str) -> Result<(), UpstreamError> {
        match &*self.transport {
            Transport::Http(h) => h.set_header(name, value),
            _ => Err(UpstreamError::Http(
                "only Streamable HTTP upstreams take new headers while connected".into(),
            )),
        }
    }

    /// Tells an HTTP upstream which protocol version was negotiated (sent on every later request).
    pub fn set_protocol_version(&self, version: &str) {
        match &*self.transport {
            Transport::Http(t) => t.set_protocol_version(version),
            Transport::Pipe(t) => t.set_protocol_version(version),
            Transport::Stdio(_) | Transport::Sse(_) => {}
        }
    }

    /// Ends the session upstream (DELETE, or closing stdin and stopping the process).
    pub async fn close(&self) {
        match &*self.transport {
            Transport::Stdio(t) => t.close().await,
            Transport::Http(t) => t.close().await,
            Transport::Sse(t) => t.close().await,
            Transport::Pipe(t) => t.close(),
        }
        self.router.close("the session was closed").await;
    }

    /// Why the upstream is gone, if it is.
    pub fn closed_reason(&self) -> Option<String> {
        self.router.closed_reason()
    }

    /// How many requests are waiting for the upstream.
    pub fn in_flight(&self) -> usize {
        self.router.in_flight()
    }
}
