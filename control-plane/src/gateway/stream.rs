//! Moving one client POST through the session's upstream and back: recording every
//! message, answering as plain JSON when the upstream answers at once, switching to an
//! SSE stream when related messages (progress, server requests) come first, and the
//! session's GET stream for messages that belong to no request.

use super::policy::{Verdict, refusal};
use super::recording::{client_event, event_of, gateway_event};
use super::session::Session;
use super::{Gateway, json_response, unrecorded};
use crate::store::Direction;
use axum::body::Body as HttpBody;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_mask::MaskCounts;
use gatehouse_mask::message::mask_from_server;
use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use gatehouse_proxy_core::mcp::Era;
use gatehouse_proxy_core::sse;
use gatehouse_proxy_core::upstream::{Exchange, RequestHeaders};
use http::{StatusCode, header};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc};

/// One message from upstream (or one the gateway made up in its place), recorded.
struct Step {
    msg: Message,
    /// Set when the gateway answered in the upstream's place.
    outcome: Option<&'static str>,
}

impl Step {
    fn outcome(&self) -> &'static str {
        self.outcome.unwrap_or(if self.msg.error_value().is_some() {
            "error"
        } else {
            "ok"
        })
    }
}

/// What a request is, for errors and metrics.
struct Pending {
    id: Option<Id>,
    method: String,
    started: Instant,
}

async fn next_recorded(
    gw: &Gateway,
    session: &Session,
    exch: &mut Exchange,
    req: &Pending,
) -> Step {
    let deadline = req.started + gw.config.limits.request_timeout();
    let (msg, outcome) = match tokio::time::timeout_at(deadline.into(), exch.next()).await {
        Ok(Some(m)) => {
            let failed = m
                .error_value()
                .and_then(|e| e.get("code"))
                .and_then(|c| c.as_i64())
                == Some(codes::UPSTREAM_ERROR);
            (m, failed.then_some("upstream_failure"))
        }
        Ok(None) => (
            Message::error(
                req.id.clone(),
                codes::UPSTREAM_ERROR,
                format!(
                    "the connection to server `{}` closed before it answered",
                    session.server
                ),
                None,
            ),
            Some("upstream_failure"),
        ),
        Err(_) => {
            let secs = gw.config.limits.request_timeout_secs;
            (
                Message::error(
                    req.id.clone(),
                    codes::UPSTREAM_ERROR,
                    format!(
                        "server `{}` did not answer `{}` within {secs} s (limits.request_timeout_secs); the request was cancelled upstream",
                        session.server, req.method
                    ),
                    None,
                ),
                Some("timeout"),
            )
        }
    };
    let direction = if outcome.is_some() {
        Direction::Gateway
    } else {
        Direction::ServerToClient
    };
    // Masked before it is recorded or released: only masked data is ever stored or shown.
    let mut msg = msg;
    if session.bridge.get().is_some() {
        super::bridge::refuse_input_required(&mut msg);
    }
    if req.method == "tools/list" && msg.result_value().is_some() {
        pin_tools(gw, session, &msg).await;
    }
    if let Some(policy) = gw.policy()
        && msg.result_value().is_some()
        && req.method.ends_with("/list")
    {
        // A person sees only the tools, prompts and resources the policy lets them use.
        let mut v = msg.to_value();
        if let Some(result) = v.get_mut("result") {
            policy.filter_list(&session.principal, &session.server, &req.method, result);
        }
        let _ = msg.replace_value(v);
    }
    let masked = mask_from_server(&session.masker, &mut msg, Some(&req.method));
    match gw
        .store
        .record(vec![event_of(&session.id, direction, &msg, &masked)])
        .await
    {
        Ok(()) => Step { msg, outcome },
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "withholding an upstream message that could not be recorded");
            Step {
                msg: Message::error(
                    req.id.clone(),
                    codes::INTERNAL_ERROR,
                    format!(
                        "Gatehouse could not record the server's answer, so it was withheld ({e})"
                    ),
                    None,
                ),
                outcome: Some("record_failed"),
            }
        }
    }
}

/// Compares every tool a server lists with its pinned definition and records changes.
async fn pin_tools(gw: &Gateway, session: &Session, msg: &Message) {
    let Some(tools) = msg
        .result_value()
        .and_then(|r| r.get("tools"))
        .and_then(|t| t.as_array())
    else {
        return;
    };
    for tool in tools {
        let Some(name) = tool.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let (digest, definition) = crate::pins::tool_digest(tool);
        match gw
            .store
            .observe_tool(&session.server, name, &digest, &definition)
            .await
        {
            Ok(crate::pins::PinState::Changed {
                accepted,
                now,
                fresh: true,
            }) => {
                tracing::warn!(server = %session.server, tool = name, "a tool's definition changed");
                let ev = gateway_event(
                    &session.id,
                    "tool_changed",
                    serde_json::json!({ "tool": name, "accepted_digest": accepted, "new_digest": now, "definition": definition }),
                );
                let _ = gw.store.record(vec![ev]).await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, tool = name, "could not check a tool's pinned definition")
            }
        }
    }
}

fn finish(gw: &Gateway, session: &Session, req: &Pending, step: &Step) {
    gw.metrics.request_done(
        &session.server,
        &req.method,
        step.outcome(),
        req.started.elapsed(),
    );
}

async fn start(
    gw: &Gateway,
    session: &Session,
    msg: Message,
    rh: &RequestHeaders,
) -> Result<(Exchange, Pending), Step> {
    let req = Pending {
        id: msg.id().cloned(),
        method: msg.method().unwrap_or("").to_string(),
        started: Instant::now(),
    };
    match session.upstream.request(msg, rh).await {
        Ok(exch) => Ok((exch, req)),
        Err(e) => {
            let msg = Message::error(
                req.id.clone(),
                codes::UPSTREAM_ERROR,
                format!("server `{}` is unavailable: {e}", session.server),
                None,
            );
            let _ = gw
                .store
                .record(vec![event_of(
                    &session.id,
                    Direction::Gateway,
                    &msg,
                    &MaskCounts::new(),
                )])
                .await;
            let step = Step {
                msg,
                outcome: Some("upstream_failure"),
            };
            finish(gw, session, &req, &step);
            Err(step)
        }
    }
}

/// Forwards one request and returns its final answer; related messages go to the
/// session's GET stream.
pub(super) async fn forward_for_answer(
    gw: &Gateway,
    session: &Session,
    msg: Message,
    rh: &RequestHeaders,
    started: Instant,
) -> Message {
    let (mut exch, mut req) = match start(gw, session, msg, rh).await {
        Ok(x) => x,
        Err(step) => return step.msg,
    };
    req.started = started;
    loop {
        let step = next_recorded(gw, session, &mut exch, &req).await;
        if step.msg.is_response() {
            finish(gw, session, &req, &step);
            return step.msg;
        }
        session.outbox.push(step.msg.to_json());
    }
}

/// Handles a POST body for a live session.
pub(super) async fn exchange(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    msgs: Vec<Message>,
    rh: RequestHeaders,
    accepts_sse: bool,
    is_batch: bool,
    started: Instant,
) -> Response {
    // Decided before it is recorded, so the record carries the decision.
    let policy = gw.policy();
    let mut decisions: Vec<Option<(Verdict, String)>> = msgs
        .iter()
        .map(|m| match &policy {
            Some(p) if m.is_request() => Some(p.decide(&session.principal, &session.server, m)),
            _ => None,
        })
        .collect();
    // On pinned servers a tool whose definition changed waits for an admin to accept it.
    if gw
        .config
        .server(&session.server)
        .is_some_and(|s| s.pin_tools)
    {
        for (m, d) in msgs.iter().zip(decisions.iter_mut()) {
            if m.method() != Some("tools/call") || matches!(d, Some((Verdict::Refuse(_), _))) {
                continue;
            }
            let Some(tool) = gatehouse_proxy_core::mcp::target_name(m) else {
                continue;
            };
            match gw.store.tool_changed(&session.server, tool).await {
                Ok(false) => {}
                changed => {
                    let why = match changed {
                        Ok(_) => format!(
                            "tool `{tool}` on `{}` changed its definition since it was approved; an admin must review and accept it (`gatehouse tools accept {} {tool}`)",
                            session.server, session.server
                        ),
                        Err(e) => format!(
                            "Gatehouse could not check tool `{tool}`'s pinned definition, so the call was not forwarded ({e})"
                        ),
                    };
                    let record = d
                        .as_ref()
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| "{}".into());
                    *d = Some((Verdict::Refuse(why), record));
                }
            }
        }
    }
    // Durable before anything moves on: nothing is ever forwarded unrecorded.
    let events = msgs
        .iter()
        .zip(&decisions)
        .map(|(m, d)| {
            let mut ev = client_event(&session, m);
            ev.decision = d.as_ref().map(|(_, record)| record.clone());
            ev
        })
        .collect();
    if let Err(e) = gw.store.record(events).await {
        let first_request = msgs
            .iter()
            .find(|m| m.is_request())
            .and_then(|m| m.id().cloned());
        return unrecorded(first_request, &e);
    }
    // A single call held for approval waits here (or is answered with the approval id).
    let hold_streaming = !is_batch
        && accepts_sse
        && msgs.len() == 1
        && matches!(decisions.first(), Some(Some((Verdict::Approve(t), _))) if t.mode == "hold");
    if hold_streaming {
        // A streaming client hears that its call is alive while it waits.
        if let (Some(Some((Verdict::Approve(terms), _))), Some(first)) =
            (decisions.into_iter().next(), msgs.into_iter().next())
        {
            return held_stream(gw, session, first, terms, rh, started);
        }
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if !is_batch
        && let Some(Some((Verdict::Approve(terms), _))) = decisions.first()
        && let Some(first) = msgs.first()
    {
        match super::approval::gate(&gw, &session, first, terms, None).await {
            Ok(()) => decisions[0] = Some((Verdict::Allow, String::new())),
            Err(answer) => {
                let ev = event_of(&session.id, Direction::Gateway, &answer, &MaskCounts::new());
                if let Err(e) = gw.store.record(vec![ev]).await {
                    return unrecorded(answer.id().cloned(), &e);
                }
                gw.metrics.request_done(
                    &session.server,
                    first.method().unwrap_or(""),
                    "held",
                    started.elapsed(),
                );
                return json_response(StatusCode::OK, answer.to_json());
            }
        }
    }
    // Refused requests are answered here and never reach the upstream.
    let mut refused = Vec::new();
    let msgs: Vec<Message> = msgs
        .into_iter()
        .zip(decisions)
        .filter_map(|(m, d)| match d {
            Some((Verdict::Refuse(why), _)) => {
                refused.push((refusal(&m, &why), m.method().unwrap_or("").to_string()));
                None
            }
            Some((Verdict::Approve(_), _)) => {
                let why = "this call needs approval, which cannot be requested inside a batch; send it on its own";
                refused.push((refusal(&m, why), m.method().unwrap_or("").to_string()));
                None
            }
            _ => Some(m),
        })
        .collect();
    if !refused.is_empty() {
        let events = refused
            .iter()
            .map(|(r, _)| event_of(&session.id, Direction::Gateway, r, &MaskCounts::new()))
            .collect();
        if let Err(e) = gw.store.record(events).await {
            return unrecorded(refused[0].0.id().cloned(), &e);
        }
        for (_, method) in &refused {
            gw.metrics
                .request_done(&session.server, method, "denied", started.elapsed());
        }
        if !is_batch {
            return json_response(StatusCode::OK, refused[0].0.to_json());
        }
    }
    let refused: Vec<Message> = refused.into_iter().map(|(r, _)| r).collect();
    let bridged = session.bridge.get();
    let mut msgs = msgs;
    if let Some(b) = bridged {
        msgs.retain(|m| !super::bridge::absorbed(m));
        msgs.iter_mut().for_each(|m| b.to_upstream(m));
    }
    let (requests, others): (Vec<Message>, Vec<Message>) =
        msgs.into_iter().partition(Message::is_request);
    for m in others {
        let h = headers_for(&session, &rh, &m);
        if let Err(e) = session.upstream.send(m, &h).await {
            tracing::warn!(session = %session.id, error = %e, "could not pass a client message upstream");
            if requests.is_empty() {
                return super::rpc_error(
                    StatusCode::BAD_GATEWAY,
                    None,
                    codes::UPSTREAM_ERROR,
                    format!("server `{}` is unavailable: {e}", session.server),
                );
            }
        }
    }
    if requests.is_empty() && refused.is_empty() {
        return StatusCode::ACCEPTED.into_response();
    }
    if is_batch {
        let (gw, session) = (&gw, &session);
        let answers = futures::future::join_all(requests.into_iter().map(|r| {
            let h = headers_for(session, &rh, &r);
            async move { forward_for_answer(gw, session, r, &h, started).await }
        }))
        .await;
        let body = format!(
            "[{}]",
            answers
                .iter()
                .chain(&refused)
                .map(Message::to_json)
                .collect::<Vec<_>>()
                .join(",")
        );
        return json_response(StatusCode::OK, body);
    }
    let Some(msg) = requests.into_iter().next() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let h = headers_for(&session, &rh, &msg);
    let (mut exch, mut req) = match start(&gw, &session, msg, &h).await {
        Ok(x) => x,
        Err(step) => return json_response(StatusCode::OK, step.msg.to_json()),
    };
    req.started = started;
    if session.era == Era::Current && accepts_sse {
        // Stream at once: in the stateless era closing the stream cancels the request,
        // and the gateway notices that only on an open stream.
        return stream_answer(gw, session, exch, req, None);
    }
    let first = next_recorded(&gw, &session, &mut exch, &req).await;
    if first.msg.is_response() {
        finish(&gw, &session, &req, &first);
        return json_response(StatusCode::OK, first.msg.to_json());
    }
    if !accepts_sse {
        // The client takes only JSON: related messages go to its GET stream.
        let mut step = first;
        while !step.msg.is_response() {
            session.outbox.push(step.msg.to_json());
            step = next_recorded(&gw, &session, &mut exch, &req).await;
        }
        finish(&gw, &session, &req, &step);
        return json_response(StatusCode::OK, step.msg.to_json());
    }
    stream_answer(gw, session, exch, req, Some(first))
}

/// The HTTP details a message travels upstream with: as the client sent them, or, on a
/// bridged session, the stateless era's version and routing headers.
fn headers_for(session: &Session, rh: &RequestHeaders, msg: &Message) -> RequestHeaders {
    match session.bridge.get() {
        Some(_) => RequestHeaders {
            protocol_version: Some(gatehouse_proxy_core::mcp::CURRENT_ERA_FIRST.into()),
            passthrough: super::bridge::Bridge::headers(msg),
        },
        None => rh.clone(),
    }
}

/// A held call answered as an SSE stream: progress (or keep-alive comments) while it
/// waits for approval, then the upstream's messages once approved, or the refusal.
fn held_stream(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    msg: Message,
    terms: super::policy::ApprovalTerms,
    rh: RequestHeaders,
    started: Instant,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let waiting = super::approval::Waiting {
            tx: tx.clone(),
            progress_token: gatehouse_proxy_core::mcp::progress_token(&msg).cloned(),
        };
        let send = |m: &Message| Bytes::from(sse::encode(Some("message"), None, &m.to_json()));
        if let Err(answer) =
            super::approval::gate(&gw, &session, &msg, &terms, Some(&waiting)).await
        {
            let ev = event_of(&session.id, Direction::Gateway, &answer, &MaskCounts::new());
            let _ = gw.store.record(vec![ev]).await;
            gw.metrics.request_done(
                &session.server,
                msg.method().unwrap_or(""),
                "held",
                started.elapsed(),
            );
            let _ = tx.send(send(&answer)).await;
            return;
        }
        let h = headers_for(&session, &rh, &msg);
        let (mut exch, req) = match start(&gw, &session, msg, &h).await {
            Ok(x) => x,
            Err(step) => {
                let _ = tx.send(send(&step.msg)).await;
                return;
            }
        };
        loop {
            let step = next_recorded(&gw, &session, &mut exch, &req).await;
            let _ = tx.send(send(&step.msg)).await;
            if step.msg.is_response() {
                finish(&gw, &session, &req, &step);
                return;
            }
        }
    });
    sse_response(rx)
}

/// Answers with an SSE stream carrying related messages, then the response.
fn stream_answer(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    mut exch: Exchange,
    req: Pending,
    first: Option<Step>,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut client = Some(tx);
        let mut pending_first = first;
        loop {
            let step = match pending_first.take() {
                Some(step) => step,
                None => {
                    let next = next_recorded(&gw, &session, &mut exch, &req);
                    match &client {
                        Some(tx) if session.era == Era::Current => tokio::select! {
                            step = next => step,
                            _ = tx.closed() => {
                                cancelled_by_client(&gw, &session, &req).await;
                                return;
                            }
                        },
                        _ => next.await,
                    }
                }
            };
            let text = step.msg.to_json();
            let delivered = match &client {
                Some(tx) => tx
                    .send(Bytes::from(sse::encode(Some("message"), None, &text)))
                    .await
                    .is_ok(),
                None => false,
            };
            if !delivered && session.era == Era::Current {
                cancelled_by_client(&gw, &session, &req).await;
                return;
            }
            if !delivered {
                // A legacy client that disconnects has not cancelled: the rest goes to its GET stream.
                client = None;
                session.outbox.push(text);
            }
            if step.msg.is_response() {
                finish(&gw, &session, &req, &step);
                return;
            }
        }
    });
    sse_response(rx)
}

/// Records that a stateless-era client closed its stream; dropping the exchange
/// afterwards sends `notifications/cancelled` upstream.
async fn cancelled_by_client(gw: &Gateway, session: &Session, req: &Pending) {
    let ev = gateway_event(
        &session.id,
        "client_cancelled",
        serde_json::json!({ "request": req.id.as_ref().map(|i| i.to_value()), "method": req.method }),
    );
    let _ = gw.store.record(vec![ev]).await;
    gw.metrics.request_done(
        &session.server,
        &req.method,
        "cancelled",
        req.started.elapsed(),
    );
}

fn sse_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(HttpBody::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The session's GET stream: replays what the client missed, then follows live.
pub(super) async fn server_stream(session: &Arc<Session>, last_event_id: Option<u64>) -> Response {
    if session.claim_server_stream()
        && let Err(e) = session.upstream.open_server_stream().await
    {
        tracing::warn!(session = %session.id, error = %e, "the upstream's server stream could not be opened");
    }
    let (replay, mut live) = session.outbox.subscribe(last_event_id);
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let session = session.clone();
    tokio::spawn(async move {
        let mut sent = replay.last().map(|e| e.id).unwrap_or(0);
        for ev in replay {
            if tx.send(encode(ev.id, &ev.json)).await.is_err() {
                return;
            }
            session.outbox.mark_delivered(ev.id);
        }
        loop {
            tokio::select! {
                _ = session.closed.cancelled() => return,
                _ = tx.closed() => return,
                r = live.recv() => match r {
                    Ok(ev) if ev.id <= sent => {}
                    Ok(ev) => {
                        if tx.send(encode(ev.id, &ev.json)).await.is_err() {
                            return;
                        }
                        sent = ev.id;
                        session.outbox.mark_delivered(ev.id);
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(session = %session.id, skipped = n, "a slow client missed server messages; it can resume with Last-Event-ID");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    sse_response(rx)
}

fn encode(id: u64, json: &str) -> Bytes {
    Bytes::from(sse::encode(Some("message"), Some(&id.to_string()), json))
}

/// Records and queues the upstream's unsolicited messages (logs, list changes, server
/// requests while several client requests are in flight) for the GET stream.
pub(super) fn spawn_server_pump(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    mut rx: mpsc::Receiver<Message>,
) {
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                _ = session.closed.cancelled() => return,
                m = rx.recv() => match m { Some(m) => m, None => return },
            };
            let mut msg = msg;
            let masked = mask_from_server(&session.masker, &mut msg, None);
            if let Err(e) = gw
                .store
                .record(vec![event_of(
                    &session.id,
                    Direction::ServerToClient,
                    &msg,
                    &masked,
                )])
                .await
            {
                tracing::error!(session = %session.id, error = %e, "withholding a server message that could not be recorded");
                continue;
            }
            session.outbox.push(msg.to_json());
        }
    });
}
