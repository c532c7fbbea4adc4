//! Local capture: a stdio MCP server that must run on the laptop, run under the same
//! pipeline as on the gateway — policy decision (the pushed version), masking
//! (gatehouse-mask, before the client and the record see a response), and a record of
//! every message in the durable spool *before* the message moves on. If a record cannot
//! be made durable the message does not pass (fail closed), as on the gateway.

use crate::approvals::{LocalApprovals, Outcome, outcome_record};
use crate::policy::{LocalPolicy, Verdict};
use crate::spool::{Record, Spool};
use crate::upload::Uploader;
use gatehouse_mask::{MaskCounts, Masker};
use gatehouse_proxy_core::jsonrpc::{Body, Id, Kind, Message, codes};
use gatehouse_proxy_core::mcp;
use gatehouse_proxy_core::upstream::{RequestHeaders, Upstream, UpstreamOptions, UpstreamSpec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

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
    /// Who runs it.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
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

/// Shared per-session state.
struct Session {
    cap: Capture,
    id: String,
}

impl Session {
    fn record(
        &self,
        direction: &str,
        kind: &str,
        msg: Option<&Message>,
        payload: String,
        masked: &MaskCounts,
        decision: Option<&Value>,
    ) -> Record {
        Record {
            id: uuid::Uuid::new_v4().to_string(),
            session_id: self.id.clone(),
            server: self.cap.server.clone(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            direction: direction.to_string(),
            kind: kind.to_string(),
            method: msg.and_then(|m| m.method()).map(String::from),
            tool: msg.and_then(mcp::target_name).map(String::from),
            rpc_id: msg.and_then(|m| m.id()).map(|i| i.to_string()),
            payload,
            masked: (!masked.is_empty()).then(|| serde_json::to_string(masked).unwrap_or_default()),
            decision: decision.map(|d| d.to_string()),
        }
    }

    fn message_record(
        &self,
        direction: &str,
        msg: &Message,
        payload: Option<String>,
        masked: &MaskCounts,
        decision: Option<&Value>,
    ) -> Record {
        let kind = match msg.kind() {
            Kind::Request { .. } => "request",
            Kind::Notification { .. } => "notification",
            Kind::Response { is_error: true, .. } => "error",
            Kind::Response { .. } => "response",
        };
        self.record(
            direction,
            kind,
            Some(msg),
            payload.unwrap_or_else(|| msg.to_json()),
            masked,
            decision,
        )
    }

    /// Spools records (durable on return) and nudges the uploader.
    async fn keep(&self, records: &[Record]) -> Result<(), crate::spool::SpoolError> {
        self.cap.spool.append(records).await?;
        if let Some(u) = &self.cap.uploader {
            u.wake();
        }
        Ok(())
    }

    /// Masks a server message, records it, and returns its text for the client; None when
    /// it could not be recorded (then it is not released).
    async fn relay_from_server(
        &self,
        mut msg: Message,
        request_method: Option<&str>,
    ) -> Option<String> {
        let counts = mask_from_server(&self.cap.masker, &mut msg, request_method);
        let rec = self.message_record("server_to_client", &msg, None, &counts, None);
        match self.keep(&[rec]).await {
            Ok(()) => Some(msg.to_json()),
            Err(e) => {
                tracing::error!(error = %e, "could not record a server message; it is withheld");
                msg.id().filter(|_| msg.is_response()).map(|id| {
                    Message::error(
                        Some(id.clone()),
                        codes::INTERNAL_ERROR,
                        format!("Gatehouse could not record this response, so it is withheld: {e}"),
                        None,
                    )
                    .to_json()
                })
            }
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
        });
        let program = std::path::Path::new(command)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        session
            .keep(&[session.record(
                "gateway",
                "session_start",
                None,
                json!({ "server": policy_server(&self.server), "program": program, "user": self.user, "host": self.host }).to_string(),
                &MaskCounts::new(),
                None,
            )])
            .await?;
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
                    let _ = session
                        .keep(&[session.record(
                            "gateway",
                            "session_end",
                            None,
                            json!({ "reason": "upstream_failed", "error": e.to_string() })
                                .to_string(),
                            &MaskCounts::new(),
                            None,
                        )])
                        .await;
                    return Err(CaptureError::Start(e.to_string()));
                }
            };

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
            while let Some(m) = from_server.recv().await {
                if let Some(text) = s.relay_from_server(m, None).await
                    && server_out.send(text).await.is_err()
                {
                    return;
                }
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
        upstream.close().await;
        unsolicited.abort();
        drop(out_tx);
        let _ = writer.await;
        session
            .keep(&[session.record(
                "gateway",
                "session_end",
                None,
                json!({ "reason": "client_closed" }).to_string(),
                &MaskCounts::new(),
                None,
            )])
            .await?;
        tracing::info!(session = %session.id, "local capture ended");
        Ok(())
    }
}

/// Decides, records and forwards one client message; a request's answers are relayed by
/// the returned task.
async fn client_message(
    s: &Arc<Session>,
    upstream: &Upstream,
    msg: Message,
    out: &mpsc::Sender<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (record_payload, counts) = mask_for_record(&s.cap.masker, &msg);
    if !msg.is_request() {
        let rec = s.message_record("client_to_server", &msg, record_payload, &counts, None);
        if let Err(e) = s.keep(&[rec]).await {
            tracing::error!(error = %e, "could not record a client message; it is not forwarded");
            return None;
        }
        if let Err(e) = upstream.send(msg, &RequestHeaders::default()).await {
            tracing::warn!(error = %e, "could not relay a message to the local server");
        }
        return None;
    }
    let id: Option<Id> = msg.id().cloned();
    let (verdict, decision) = s.cap.policy.decide(
        &s.cap.user,
        &s.cap.groups,
        &policy_server(&s.cap.server),
        &msg,
    );
    let request = s.message_record(
        "client_to_server",
        &msg,
        record_payload,
        &counts,
        Some(&decision),
    );
    if let Verdict::Refuse(reason) = verdict {
        let answer = Message::error(
            id,
            codes::POLICY_DENIED,
            reason,
            Some(json!({ "gatehouse": "denied_by_policy" })),
        );
        let answer_rec = s.message_record("gateway", &answer, None, &MaskCounts::new(), None);
        let text = match s.keep(&[request, answer_rec]).await {
            Ok(()) => answer.to_json(),
            Err(e) => not_recorded(msg.id(), &e),
        };
        let _ = out.send(text).await;
        return None;
    }
    if let Err(e) = s.keep(&[request]).await {
        let _ = out.send(not_recorded(msg.id(), &e)).await;
        return None;
    }
    if let Verdict::Approve { ttl, .. } = verdict {
        // The call waits for approvers while the client's other messages keep flowing.
        let s = s.clone();
        let out = out.clone();
        let upstream = upstream.clone();
        return Some(tokio::spawn(async move {
            let outcome = match &s.cap.approvals {
                Some(a) => a.ask(&s.cap.server, &s.id, &msg.to_value(), ttl).await,
                None => Outcome::Refused {
                    message: "this call needs an approval, which this capture cannot ask for; the call was not sent".into(),
                    approval: Value::Null,
                },
            };
            let mut decided = decision.clone();
            decided["approval"] = outcome_record(&outcome);
            let rec = s.record(
                "gateway",
                "approval_decided",
                Some(&msg),
                decided["approval"].to_string(),
                &MaskCounts::new(),
                Some(&decided),
            );
            if let Err(e) = s.keep(&[rec]).await {
                let _ = out.send(not_recorded(msg.id(), &e)).await;
                return;
            }
            match outcome {
                Outcome::Approved { .. } | Outcome::Allowed => {
                    if let Some(t) = forward(&s, &upstream, msg, &out).await {
                        let _ = t.await;
                    }
                }
                Outcome::Refused { message, approval } => {
                    let answer = Message::error(
                        msg.id().cloned(),
                        codes::POLICY_DENIED,
                        message,
                        Some(
                            json!({ "gatehouse": "approval_refused", "approvalId": approval.get("id") }),
                        ),
                    );
                    let rec = s.message_record("gateway", &answer, None, &MaskCounts::new(), None);
                    let text = match s.keep(&[rec]).await {
                        Ok(()) => answer.to_json(),
                        Err(e) => not_recorded(msg.id(), &e),
                    };
                    let _ = out.send(text).await;
                }
            }
        }));
    }
    forward(s, upstream, msg, out).await
}

/// Forwards a recorded, allowed request; its answers are relayed by the returned task.
async fn forward(
    s: &Arc<Session>,
    upstream: &Upstream,
    msg: Message,
    out: &mpsc::Sender<String>,
) -> Option<tokio::task::JoinHandle<()>> {
    let id: Option<Id> = msg.id().cloned();
    let method = msg.method().map(String::from);
    match upstream.request(msg, &RequestHeaders::default()).await {
        Ok(mut exchange) => {
            let s = s.clone();
            let out = out.clone();
            let upstream = upstream.clone();
            Some(tokio::spawn(async move {
                while let Some(m) = exchange.next().await {
                    let done = m.is_response();
                    if done
                        && method.as_deref() == Some("initialize")
                        && let Some(v) = m
                            .result_value()
                            .and_then(|r| r.get("protocolVersion"))
                            .and_then(|v| v.as_str())
                    {
                        upstream.set_protocol_version(v);
                    }
                    let req_method = if done { method.as_deref() } else { None };
                    if let Some(text) = s.relay_from_server(m, req_method).await {
                        let _ = out.send(text).await;
                    }
                    if done {
                        return;
                    }
                }
            }))
        }
        Err(e) => {
            let err = Message::error(
                id,
                codes::UPSTREAM_ERROR,
                format!("the local server is unavailable: {e}"),
                None,
            );
            let rec = s.message_record("gateway", &err, None, &MaskCounts::new(), None);
            let _ = s.keep(&[rec]).await;
            let _ = out.send(err.to_json()).await;
            None
        }
    }
}

fn not_recorded(id: Option<&Id>, e: &crate::spool::SpoolError) -> String {
    Message::error(
        id.cloned(),
        codes::INTERNAL_ERROR,
        format!("Gatehouse could not record this request, so it was not sent: {e}"),
        None,
    )
    .to_json()
}

pub use gatehouse_mask::message::{mask_for_record, mask_from_server};
