//! Moving one client POST through the call pipeline and framing what comes back:
//! plain JSON when the upstream answers at once, an SSE stream when related messages
//! (progress, server requests, a held call's progress) come first, and the session's GET
//! stream for messages that belong to no request. Deciding, masking and recording happen
//! in [`gatehouse_pipeline::call`]; this module only frames.

use super::host::{SessionHost, SessionUpstream};
use super::rpc_error::{RpcError, json_response};
use super::session::Session;
use super::state::Gateway;
use crate::identity::auth::Principal;
use axum::body::Body as HttpBody;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_pipeline::{
    self as pipeline, Awaiting, Client, Masked, Outcome, Request, WaitingFor,
};
use gatehouse_proxy_core::jsonrpc::{Message, codes};
use gatehouse_proxy_core::mcp::{self, Era};
use gatehouse_proxy_core::sse;
use http::{StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument;

/// How a POST's answers reach the client.
enum Framing {
    /// JSON only: the response is the body; related messages go to the GET stream.
    Json,
    /// JSON when the response comes first; anything before it opens an SSE stream.
    JsonOrStream(Option<oneshot::Sender<mpsc::Receiver<Bytes>>>),
    /// An open SSE stream; `None` once a session-era client went away (the rest then
    /// goes to its GET stream).
    Stream(Option<mpsc::Sender<Bytes>>),
}

/// The client of one POSTed call, as the pipeline answers it.
struct HttpClient {
    session: Arc<Session>,
    framing: Framing,
    /// Closing the stream cancels the call (the stateless era).
    cancels_on_close: bool,
    /// The request's progress token, for telling a held call's client it waits.
    progress_token: Option<Value>,
    /// The response, when it is answered as JSON.
    response: Option<Message>,
}

fn frame(json: &str) -> Bytes {
    Bytes::from(sse::encode(Some("message"), None, json))
}

impl HttpClient {
    fn json(session: Arc<Session>) -> HttpClient {
        HttpClient {
            session,
            framing: Framing::Json,
            cancels_on_close: false,
            progress_token: None,
            response: None,
        }
    }

    /// The SSE stream, opened now if it is not yet.
    fn stream(&mut self) -> Option<&mpsc::Sender<Bytes>> {
        if let Framing::JsonOrStream(opener) = &mut self.framing {
            let (tx, rx) = mpsc::channel(16);
            if let Some(o) = opener.take() {
                let _ = o.send(rx);
            }
            self.framing = Framing::Stream(Some(tx));
        }
        match &self.framing {
            Framing::Stream(tx) => tx.as_ref(),
            _ => None,
        }
    }

    /// Sends `json` on the stream; false when the client has gone.
    async fn send(&mut self, json: &str) -> bool {
        match self.stream() {
            Some(tx) => tx.send(frame(json)).await.is_ok(),
            None => false,
        }
    }
}

impl Client for HttpClient {
    async fn answer(&mut self, msg: Masked<Message>) -> bool {
        let msg = msg.into_inner();
        match self.framing {
            Framing::Json if !msg.is_response() => {
                self.session.outbox.push(msg.to_json());
                return true;
            }
            Framing::Json | Framing::JsonOrStream(_) if msg.is_response() => {
                self.response = Some(msg);
                return true;
            }
            _ => {}
        }
        let text = msg.to_json();
        if self.send(&text).await {
            return true;
        }
        if self.cancels_on_close {
            return false;
        }
        // A session-era client that disconnects has not cancelled: the rest goes to its
        // GET stream.
        self.framing = Framing::Stream(None);
        self.session.outbox.push(text);
        true
    }

    async fn awaiting(&mut self, what: Awaiting) {
        // In the stateless era closing the stream cancels the request, and the gateway
        // notices that only on an open stream: open it as soon as the call is upstream.
        if what == Awaiting::Upstream && self.cancels_on_close {
            self.stream();
        }
    }

    async fn gone(&self) {
        match &self.framing {
            Framing::Stream(Some(tx)) if self.cancels_on_close => tx.closed().await,
            _ => std::future::pending().await,
        }
    }

    async fn still_waiting(&mut self, waiting: &WaitingFor) -> bool {
        if matches!(self.framing, Framing::Json) {
            return true;
        }
        let frame = match &self.progress_token {
            Some(token) => {
                let note = Message::notification(
                    "notifications/progress",
                    json!({
                        "progressToken": token,
                        "progress": waiting.approvals,
                        "total": waiting.quorum,
                        "message": waiting.message(),
                    }),
                );
                sse::encode(Some("message"), None, &note.to_json())
            }
            None => format!(": waiting for approval {}\n\n", waiting.approval),
        };
        match self.stream() {
            Some(tx) => tx.send(Bytes::from(frame)).await.is_ok(),
            None => false,
        }
    }
}

/// Counts a finished call in the metrics.
fn finish(gw: &Gateway, session: &Session, method: &str, outcome: &Outcome, started: Instant) {
    // A call refused because its request could not be recorded counts as `unrecorded`
    // (fail closed), with `record_failed` (an answer withheld) what the alert watches.
    if matches!(outcome, Outcome::Passed) {
        return;
    }
    gw.metrics
        .request_done(&session.server, method, outcome.as_str(), started.elapsed());
}

/// One request through the pipeline, answered as JSON (related messages go to the
/// session's GET stream): for `initialize` and batches.
pub(super) async fn call_for_answer(
    host: &SessionHost,
    upstream: &impl pipeline::Upstream,
    request: Request,
) -> Result<Message, Response> {
    let started = request.received;
    let id = request.message.id().cloned();
    let method = request.message.method().unwrap_or("").to_string();
    let mut client = HttpClient::json(host.session.clone());
    let outcome = pipeline::call(host, host.route(), upstream, request, &mut client).await;
    finish(&host.gw, &host.session, &method, &outcome, started);
    match (outcome, client.response) {
        (Outcome::Unrecorded(e), _) => Err(RpcError::unrecorded(id, &e).into_response()),
        (_, Some(answer)) => Ok(answer),
        (outcome, None) => Err(RpcError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            id,
            codes::INTERNAL_ERROR,
            format!("the call ended without an answer ({})", outcome.as_str()),
        )
        .into_response()),
    }
}

/// Handles a POST body for a live session; every message carries the rights of the
/// token it came with.
#[allow(clippy::too_many_arguments)]
pub(super) async fn exchange(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    principal: &Principal,
    msgs: Vec<Message>,
    rh: gatehouse_proxy_core::upstream::RequestHeaders,
    accepts_sse: bool,
    is_batch: bool,
    started: Instant,
    trace: tracing::Span,
) -> Response {
    let host = SessionHost {
        gw: gw.clone(),
        session: session.clone(),
    };
    let upstream = SessionUpstream {
        session: session.clone(),
        headers: rh,
    };
    let rights = gw.rights_on(principal, &session.server).await;
    let request = |message: Message| Request {
        principal: rights.clone(),
        message,
        received: started,
        in_batch: is_batch,
    };
    // Messages that expect no answer go first, as the client sent them.
    let (requests, others): (Vec<Message>, Vec<Message>) =
        msgs.into_iter().partition(Message::is_request);
    for m in others {
        let mut client = HttpClient::json(session.clone());
        match pipeline::call(&host, host.route(), &upstream, request(m), &mut client).await {
            Outcome::Unrecorded(e) => return RpcError::unrecorded(None, &e).into_response(),
            Outcome::UpstreamFailure if requests.is_empty() => {
                return RpcError::new(
                    StatusCode::BAD_GATEWAY,
                    None,
                    codes::UPSTREAM_ERROR,
                    format!("server `{}` is unavailable", session.server),
                )
                .into_response();
            }
            _ => {}
        }
    }
    if is_batch {
        if requests.is_empty() {
            return StatusCode::ACCEPTED.into_response();
        }
        let (host, upstream) = (&host, &upstream);
        let answers = futures::future::join_all(
            requests
                .into_iter()
                .map(|m| async move { call_for_answer(host, upstream, request(m)).await }),
        )
        .await;
        let mut texts = Vec::with_capacity(answers.len());
        for a in answers {
            match a {
                Ok(m) => texts.push(m.to_json()),
                Err(r) => return r,
            }
        }
        return json_response(StatusCode::OK, format!("[{}]", texts.join(",")));
    }
    let Some(msg) = requests.into_iter().next() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let (id, method) = (msg.id().cloned(), msg.method().unwrap_or("").to_string());
    let (opener, opened) = oneshot::channel();
    let client = HttpClient {
        session: session.clone(),
        framing: if accepts_sse {
            Framing::JsonOrStream(Some(opener))
        } else {
            Framing::Json
        },
        cancels_on_close: accepts_sse && session.era == Era::Current,
        progress_token: mcp::progress_token(&msg).cloned(),
        response: None,
    };
    let request = request(msg);
    // The call keeps its trace span when it goes on in a task of its own (below).
    let mut call = Box::pin(
        async move {
            let mut client = client;
            let outcome =
                pipeline::call(&host, host.route(), &upstream, request, &mut client).await;
            (outcome, client)
        }
        .instrument(trace),
    );
    // The call runs here until it ends or opens a stream; a stream is returned at once
    // and the call goes on feeding it.
    enum First {
        // Boxed: the finished call's client holds the answer, the stream only a receiver.
        Done(Outcome, Box<HttpClient>),
        Streaming(mpsc::Receiver<Bytes>),
    }
    let mut opened = opened;
    let first = tokio::select! {
        biased;
        (outcome, client) = &mut call => First::Done(outcome, Box::new(client)),
        Ok(rx) = &mut opened => First::Streaming(rx),
    };
    match first {
        First::Done(outcome, client) => {
            finish(&gw, &session, &method, &outcome, started);
            if let Ok(rx) = opened.try_recv() {
                return sse_response(rx);
            }
            match (outcome, client.response) {
                (Outcome::Unrecorded(e), _) => RpcError::unrecorded(id, &e).into_response(),
                (_, Some(answer)) => json_response(StatusCode::OK, answer.to_json()),
                (_, None) => StatusCode::ACCEPTED.into_response(),
            }
        }
        First::Streaming(rx) => {
            tokio::spawn(async move {
                let (outcome, mut client) = call.await;
                finish(&gw, &session, &method, &outcome, started);
                if let Outcome::Unrecorded(e) = outcome {
                    let answer = pipeline::unrecorded(id.as_ref(), &e);
                    client.send(&answer.to_json()).await;
                }
            });
            sse_response(rx)
        }
    }
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

/// Messages for the session's GET stream.
struct ToGetStream(Arc<Session>);

impl Client for ToGetStream {
    async fn answer(&mut self, msg: Masked<Message>) -> bool {
        self.0.outbox.push(msg.get().to_json());
        true
    }
}

/// Records and queues the upstream's unsolicited messages (logs, list changes, server
/// requests while several client requests are in flight) for the GET stream, masked with
/// the rights of the session's newest request.
pub(super) fn spawn_server_pump(
    gw: Arc<Gateway>,
    session: Arc<Session>,
    mut rx: mpsc::Receiver<Message>,
) {
    tokio::spawn(async move {
        let host = SessionHost {
            gw: gw.clone(),
            session: session.clone(),
        };
        let mut outbox = ToGetStream(session.clone());
        loop {
            let msg = tokio::select! {
                _ = session.closed.cancelled() => return,
                m = rx.recv() => match m { Some(m) => m, None => return },
            };
            let masking = gw.masking_for(&session.server, &session.rights());
            pipeline::relay(&host, &session.id, &masking, msg, &mut outbox).await;
        }
    });
}
