//! Local capture: a stdio MCP server that must run on the laptop goes through the same
//! call pipeline as the gateway ([`gatehouse_pipeline::call`]): the policy decision (the
//! pushed version, for the rights of the current token), approvals asked at the control
//! plane, masking before the client and the record see a response, and a record of
//! every message in the durable spool *before* the message moves on (fail closed). This
//! module keeps only the stdio framing and what the laptop supplies to the pipeline.

use crate::api::ControlPlane;
use crate::approvals::{LocalApprovals, Outcome, outcome_record};
use crate::policy::LocalPolicy;
use crate::spool::Spool;
use crate::upload::{TokenSource, Uploader};
use gatehouse_mask::Masker;
use gatehouse_pipeline::{
    self as pipeline, Approvals, Awaiting, Client, Held, HoldOutcome, Masked, Masking, NoPins,
    PinChange, PolicyInForce, Principal, Record, RecordError, Records, Rights, ToolPins,
};
use gatehouse_proxy_core::jsonrpc::{Body, Message};
use gatehouse_proxy_core::upstream::{
    self as upstream, RequestHeaders, Upstream, UpstreamOptions, UpstreamSpec,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// Why a capture could not run.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The server could not be started.
    #[error("{0}")]
    Start(String),
    /// The spool could not record the session's start.
    #[error("{0}")]
    Spool(#[from] crate::spool::SpoolError),
}

/// One local server's capture settings.
#[derive(Clone)]
pub struct Capture {
    /// The local server's name (`local:NAME` on the control plane, and in policies).
    pub server: String,
    /// Who runs it (as known when the capture starts).
    pub user: String,
    /// Their groups (as known when the capture starts).
    pub groups: Vec<String>,
    /// Who calls now, asked per request (None: `user` and `groups` for the whole session).
    pub identity: Option<Identity>,
    /// The policy in force.
    pub policy: LocalPolicy,
    /// The masker for responses and the record.
    pub masker: Arc<Masker>,
    /// Where records go.
    pub spool: Spool,
    /// Woken after each record, when uploads run in this process.
    pub uploader: Option<Uploader>,
    /// Where calls the policy holds for approval are asked about (None: they are refused).
    pub approvals: Option<LocalApprovals>,
    /// What runs the capture (`tray` or `connect`), kept in the session's start record.
    pub host: String,
}

/// The policy's name for a local server.
pub fn policy_server(name: &str) -> String {
    format!("local:{name}")
}

/// The person behind the signed-in token, asked of the control plane whenever the token
/// changes (a refresh after a change at the identity provider brings new groups), so each
/// request is decided with the rights of the token it runs under. Offline, the last
/// known answer stands. The answer also carries the person's live just-in-time grants on
/// local servers: it is asked again every [`GRANTS_REFRESH`] (a grant approved a moment
/// ago applies), and a grant past its end stops counting at once, without asking.
#[derive(Clone)]
pub struct Identity {
    api: ControlPlane,
    tokens: TokenSource,
    known: Arc<Mutex<Option<Known>>>,
}

/// How often the signed-in person's grants are asked again.
pub const GRANTS_REFRESH: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Clone)]
struct Known {
    token: String,
    principal: Principal,
    /// Grants as last seen (live then; ended ones kept to say why a call is refused).
    grants: Vec<gatehouse_policy::HeldGrant>,
    asked: std::time::Instant,
}

impl Known {
    /// The principal with its grants as of now: one past its end has ended.
    fn now(&self) -> Principal {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut p = self.principal.clone();
        p.grants = self
            .grants
            .iter()
            .cloned()
            .map(|mut g| {
                if g.ended.is_none() && g.ends_at <= now {
                    g.ended = Some(format!("expired at {}", g.ends_at));
                }
                g
            })
            .collect();
        p
    }
}

impl Identity {
    /// Identity from `api` for the tokens of `tokens`.
    pub fn new(api: ControlPlane, tokens: TokenSource) -> Identity {
        Identity {
            api,
            tokens,
            known: Arc::new(Mutex::new(None)),
        }
    }

    fn known(&self) -> Option<Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The person behind the current token (`fallback` when nobody can say).
    pub async fn current(&self, fallback: &Principal) -> Principal {
        let last = self.known();
        let Some(token) = (self.tokens)().await else {
            return last.map_or_else(|| fallback.clone(), |k| k.now());
        };
        if let Some(k) = &last
            && k.token == token
            && k.asked.elapsed() < GRANTS_REFRESH
        {
            return k.now();
        }
        let known = match self.api.me(&token).await {
            Ok(me) => {
                let mut grants: Vec<gatehouse_policy::HeldGrant> = me
                    .local_grants
                    .into_iter()
                    .map(|g| gatehouse_policy::HeldGrant {
                        id: g.id,
                        server: g.server,
                        role: g.role,
                        ends_at: g.ends_at,
                        ended: None,
                    })
                    .collect();
                // A grant seen before and no longer live ended (expired or revoked).
                for old in last.iter().flat_map(|k| k.grants.iter()) {
                    if !grants.iter().any(|g| g.id == old.id) {
                        let mut ended = old.clone();
                        ended.ended.get_or_insert_with(|| {
                            format!("ended (it was to end at {})", old.ends_at)
                        });
                        grants.push(ended);
                    }
                }
                Known {
                    token,
                    principal: Principal::new(me.user, me.groups),
                    grants,
                    asked: std::time::Instant::now(),
                }
            }
            Err(e) => {
                // Asked again later, not on every request while offline.
                tracing::info!(error = %e, "who is signed in cannot be checked now; the last known groups and grants apply");
                let (principal, grants) = match &last {
                    Some(k) => (k.principal.clone(), k.grants.clone()),
                    None => (fallback.clone(), Vec::new()),
                };
                Known {
                    token,
                    principal,
                    grants,
                    asked: std::time::Instant::now(),
                }
            }
        };
        let p = known.now();
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
        p
    }
}

/// One capture session: the pipeline's host on the laptop.
struct Session {
    cap: Capture,
    id: String,
    /// `local:NAME`, as policies name the server.
    server: String,
}

impl Session {
    /// The rights of the next request.
    async fn principal(&self) -> Principal {
        let opened = Principal::new(self.cap.user.clone(), self.cap.groups.iter().cloned());
        match &self.cap.identity {
            Some(identity) => identity.current(&opened).await,
            None => opened,
        }
    }

    fn route(&self) -> pipeline::Route<'_> {
        pipeline::Route {
            session_id: &self.id,
            server: &self.server,
            timeout: None,
        }
    }

    async fn note(&self, kind: &str, detail: Value) -> Result<(), RecordError> {
        self.keep(vec![Record::note(&self.id, kind, detail)]).await
    }
}

impl Rights for Session {
    fn policy(&self) -> Option<Arc<PolicyInForce>> {
        self.cap.policy.current()
    }

    fn masking(&self, _: &Principal) -> Masking {
        // The control plane chose this server's profile for the person when the session
        // started (the catalog); it holds for the session.
        Masking::new(self.cap.masker.clone())
    }
}

impl Records for Session {
    async fn keep(&self, records: Vec<Record>) -> Result<(), RecordError> {
        self.cap
            .spool
            .keep(&self.cap.server, records)
            .await
            .map_err(|e| RecordError(e.to_string()))?;
        if let Some(u) = &self.cap.uploader {
            u.wake();
        }
        Ok(())
    }
}

impl ToolPins for Session {
    async fn changed(&self, server: &str, tool: &str) -> Result<bool, String> {
        NoPins.changed(server, tool).await
    }

    async fn observe(
        &self,
        server: &str,
        tool: &str,
        digest: &str,
        definition: &str,
    ) -> Result<Option<PinChange>, String> {
        NoPins.observe(server, tool, digest, definition).await
    }
}

impl Approvals for Session {
    /// The call waits for approvers at the control plane; the outcome is recorded with
    /// the decision that held it.
    async fn hold<C: Client>(&self, held: Held<'_>, _: &mut C) -> HoldOutcome {
        let outcome = match &self.cap.approvals {
            Some(a) => {
                a.ask(&self.cap.server, &self.id, &held.message.to_value(), held.terms.ttl)
                    .await
            }
            None => Outcome::Refused {
                message: "this call needs an approval, which this capture cannot ask for; the call was not sent".into(),
                approval: Value::Null,
            },
        };
        let mut decided = held.decision.cloned().unwrap_or_else(|| json!({}));
        decided["approval"] = outcome_record(&outcome);
        let record = Record::note(&self.id, "approval_decided", decided["approval"].clone())
            .about(held.message)
            .with_decision(&decided);
        if let Err(e) = self.keep(vec![record]).await {
            return HoldOutcome::Refused {
                message: pipeline::unrecorded(held.message.id(), &e)
                    .error_value()
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                data: None,
            };
        }
        match outcome {
            Outcome::Approved { .. } | Outcome::Allowed => HoldOutcome::Proceed,
            Outcome::Refused { message, approval } => HoldOutcome::Refused {
                message,
                data: Some(
                    json!({ "gatehouse": "approval_refused", "approvalId": approval.get("id") }),
                ),
            },
        }
    }
}

/// The local server's process.
#[derive(Clone)]
struct LocalUpstream(Upstream);

/// A forwarded request's messages; the negotiated version is noted from `initialize`.
struct LocalExchange {
    exchange: upstream::Exchange,
    upstream: Upstream,
    initialize: bool,
}

impl pipeline::Exchange for LocalExchange {
    async fn next(&mut self) -> Option<Message> {
        let msg = self.exchange.next().await?;
        if self.initialize
            && let Some(v) = msg
                .result_value()
                .and_then(|r| r.get("protocolVersion"))
                .and_then(|v| v.as_str())
        {
            self.upstream.set_protocol_version(v);
        }
        Some(msg)
    }
}

impl pipeline::Upstream for LocalUpstream {
    type Exchange = LocalExchange;

    async fn request(&self, msg: Message) -> Result<LocalExchange, String> {
        let initialize = msg.method() == Some("initialize");
        let exchange = self
            .0
            .request(msg, &RequestHeaders::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(LocalExchange {
            exchange,
            upstream: self.0.clone(),
            initialize,
        })
    }

    async fn send(&self, msg: Message) -> Result<(), String> {
        self.0
            .send(msg, &RequestHeaders::default())
            .await
            .map_err(|e| e.to_string())
    }
}

/// The stdio client: one line per message, through the one writer.
struct StdioClient {
    out: mpsc::Sender<String>,
    /// Fired when the call starts to wait, so the client's next messages flow meanwhile.
    detach: Option<oneshot::Sender<()>>,
}

impl Client for StdioClient {
    async fn answer(&mut self, msg: Masked<Message>) -> bool {
        // A client that stopped reading has not cancelled anything: the call completes
        // and is recorded.
        let _ = self.out.send(msg.get().to_json()).await;
        true
    }

    async fn awaiting(&mut self, _: Awaiting) {
        if let Some(d) = self.detach.take() {
            let _ = d.send(());
        }
    }
}

impl Capture {
    /// Runs `command args` as the local server for one client speaking on
    /// `input`/`output` (newline-delimited JSON-RPC), until the client closes `input`.
    pub async fn run<R, W>(
        &self,
        command: &str,
        args: &[String],
        env: BTreeMap<String, String>,
        input: R,
        output: W,
    ) -> Result<(), CaptureError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let session = Arc::new(Session {
            cap: self.clone(),
            id: format!("local-{}", uuid::Uuid::new_v4()),
            server: policy_server(&self.server),
        });
        let program = std::path::Path::new(command)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        session
            .note(
                "session_start",
                json!({ "server": session.server, "program": program, "user": self.user, "host": self.host }),
            )
            .await
            .map_err(|e| CaptureError::Start(e.to_string()))?;
        tracing::info!(session = %session.id, server = %self.server, "local capture started");

        let spec = UpstreamSpec::Stdio {
            command: command.to_string(),
            args: args.to_vec(),
            env,
        };
        let (upstream, mut from_server) =
            match Upstream::connect(&spec, &UpstreamOptions::default()).await {
                Ok(u) => u,
                Err(e) => {
                    let detail = json!({ "reason": "upstream_failed", "error": e.to_string() });
                    let _ = session.note("session_end", detail).await;
                    return Err(CaptureError::Start(e.to_string()));
                }
            };
        let upstream = LocalUpstream(upstream);

        // One writer owns the output so concurrent answers never interleave.
        let (out_tx, mut out_rx) = mpsc::channel::<String>(256);
        let mut output = output;
        let writer = tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                if output.write_all(line.as_bytes()).await.is_err()
                    || output.write_all(b"\n").await.is_err()
                {
                    return;
                }
                let _ = output.flush().await;
            }
        });
        let s = session.clone();
        let server_out = out_tx.clone();
        let unsolicited = tokio::spawn(async move {
            let masking = s.masking(&s.principal().await);
            let mut client = StdioClient {
                out: server_out,
                detach: None,
            };
            while let Some(m) = from_server.recv().await {
                pipeline::relay(&*s, &s.id, &masking, m, &mut client).await;
            }
        });

        let mut lines = BufReader::new(input).lines();
        let mut tasks = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let msgs = match Body::decode_line(&line) {
                Ok(msgs) => msgs,
                Err(answer) => {
                    let _ = out_tx.send(answer).await;
                    continue;
                }
            };
            for msg in msgs {
                if let Some(t) = client_message(&session, &upstream, msg, &out_tx).await {
                    tasks.push(t);
                }
            }
        }
        // The client is gone: let answers in flight finish, then stop the server.
        for t in tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), t).await;
        }
        upstream.0.close().await;
        unsolicited.abort();
        drop(out_tx);
        let _ = writer.await;
        session
            .note("session_end", json!({ "reason": "client_closed" }))
            .await
            .map_err(|e| CaptureError::Start(e.to_string()))?;
        tracing::info!(session = %session.id, "local capture ended");
        Ok(())
    }
}

/// Runs one client message through the pipeline: here until it is recorded and sent on
/// (so the server sees messages in the client's order), then, while it waits for
/// approvers or the server, in the returned task.
async fn client_message(
    session: &Arc<Session>,
    upstream: &LocalUpstream,
    msg: Message,
    out: &mpsc::Sender<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let principal = session.principal().await;
    let (detach, detached) = oneshot::channel();
    let client = StdioClient {
        out: out.clone(),
        detach: Some(detach),
    };
    let (session, upstream) = (session.clone(), upstream.clone());
    let mut call = Box::pin(async move {
        let id = msg.id().cloned();
        let mut client = client;
        let request = pipeline::Request::new(principal, msg);
        let outcome =
            pipeline::call(&*session, session.route(), &upstream, request, &mut client).await;
        if let (pipeline::Outcome::Unrecorded(e), Some(_)) = (outcome, &id) {
            let answer = pipeline::unrecorded(id.as_ref(), &e);
            let _ = client.out.send(answer.to_json()).await;
        }
    });
    tokio::select! {
        biased;
        () = &mut call => None,
        Ok(()) = detached => Some(tokio::spawn(call)),
    }
}
