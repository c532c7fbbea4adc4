//! A Streamable HTTP upstream (MCP 2025-03-26 and later, both eras).
//!
//! Every message is a POST. A request's answer comes back as JSON or as an SSE stream
//! carrying related messages before the response; either way each message goes to the
//! router. The upstream's `Mcp-Session-Id` is kept here and never shown to clients.

use super::{RequestHeaders, Router, UpstreamError, UpstreamOptions};
use crate::jsonrpc::{Body, Message, codes};
use crate::sse;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// What every POST accepts: a JSON answer or an SSE stream.
const ACCEPT_ANSWERS: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

#[derive(Debug)]
pub(super) struct StreamableHttp {
    client: reqwest::Client,
    /// Parsed once: every message is a request to it.
    url: reqwest::Url,
    /// Sent with every request; replaceable (a client's access token is renewed while the
    /// connection lives).
    headers: RwLock<HeaderMap>,
    /// Kept as header values, ready to send (no check or copy per request).
    session_id: RwLock<Option<HeaderValue>>,
    protocol_version: RwLock<Option<HeaderValue>>,
    router: Arc<Router>,
    get_stream: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    /// Response streams being read, by upstream request id, so a cancelled request's
    /// stream can be closed.
    answers: Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::task::AbortHandle>>>,
}

pub(super) fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, UpstreamError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::try_from(k.as_str())
            .map_err(|_| UpstreamError::Http(format!("`{k}` is not a valid HTTP header name")))?;
        let mut value = HeaderValue::try_from(v.as_str())
            .map_err(|_| UpstreamError::Http(format!("the value of header `{k}` is not valid")))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// One HTTP client (connection pool, TLS configuration) per connect timeout, shared by
/// every upstream connection: a client per session would cost tens of kilobytes each.
pub(super) fn client(opts: &UpstreamOptions) -> Result<reqwest::Client, UpstreamError> {
    static CLIENTS: std::sync::Mutex<Vec<(std::time::Duration, reqwest::Client)>> =
        std::sync::Mutex::new(Vec::new());
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = clients.iter().find(|(t, _)| *t == opts.connect_timeout) {
        return Ok(c.clone());
    }
    let c = reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| UpstreamError::Http(e.to_string()))?;
    clients.push((opts.connect_timeout, c.clone()));
    Ok(c)
}

/// Feeds every JSON-RPC message of an upstream answer (JSON or SSE) to the router.
/// Messages on the answer to request `owner` belong to that request, however many
/// others are in flight.
pub(super) async fn pump_response(
    resp: reqwest::Response,
    router: &Router,
    owner: Option<u64>,
) -> Result<usize, String> {
    let is_sse = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut delivered = 0;
    if is_sse {
        let mut decoder = sse::Decoder::default();
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("the upstream stream broke: {e}"))?;
            for ev in decoder.feed(&chunk) {
                if ev.event.as_deref().is_some_and(|e| e != "message") || ev.data.is_empty() {
                    continue;
                }
                for msg in decode_messages(ev.data.as_bytes())? {
                    router.route_for(owner, msg).await;
                    delivered += 1;
                }
            }
        }
    } else {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| format!("reading the upstream answer failed: {e}"))?;
        if !bytes.is_empty() {
            for msg in decode_messages(&bytes)? {
                router.route_for(owner, msg).await;
                delivered += 1;
            }
        }
    }
    Ok(delivered)
}

fn decode_messages(bytes: &[u8]) -> Result<Vec<Message>, String> {
    Body::decode(bytes)
        .map(Body::into_messages)
        .map_err(|e| format!("the upstream sent something that is not JSON-RPC: {e}"))
}

impl StreamableHttp {
    pub(super) fn new(
        url: &str,
        headers: &BTreeMap<String, String>,
        opts: &UpstreamOptions,
        router: Arc<Router>,
    ) -> Result<StreamableHttp, UpstreamError> {
        // Clients see only that the server is not reachable (as when a request to it
        // fails); the operator's log gets the redacted address and the reason.
        let url = reqwest::Url::parse(url).map_err(|e| UpstreamError::Unreachable {
            detail: format!("`{}` is not a valid URL: {e}", crate::redact::url(url)),
        })?;
        Ok(StreamableHttp {
            client: client(opts)?,
            url,
            headers: RwLock::new(header_map(headers)?),
            session_id: RwLock::new(None),
            protocol_version: RwLock::new(None),
            router,
            get_stream: std::sync::Mutex::new(None),
            answers: Arc::default(),
        })
    }

    pub(super) fn set_protocol_version(&self, v: &str) {
        // A version that is no header value is not sent (it is no version either).
        *self
            .protocol_version
            .write()
            .unwrap_or_else(|e| e.into_inner()) = HeaderValue::from_str(v).ok();
    }

    fn builder(
        &self,
        method: reqwest::Method,
        headers: &RequestHeaders,
    ) -> reqwest::RequestBuilder {
        let mut b = self
            .client
            .request(method, self.url.clone())
            .header(ACCEPT, ACCEPT_ANSWERS);
        {
            let fixed = self.headers.read().unwrap_or_else(|e| e.into_inner());
            if !fixed.is_empty() {
                b = b.headers(fixed.clone());
            }
        }
        if let Some(sid) = self
            .session_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            b = b.header(MCP_SESSION_ID, sid.clone());
        }
        match &headers.protocol_version {
            Some(v) => b = b.header(MCP_PROTOCOL_VERSION, v.as_str()),
            None => {
                if let Some(v) = self
                    .protocol_version
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                {
                    b = b.header(MCP_PROTOCOL_VERSION, v.clone());
                }
            }
        }
        for (k, v) in &headers.passthrough {
            b = b.header(k, v);
        }
        b
    }

    /// Replaces (or adds) one header sent with every later request.
    pub(super) fn set_header(&self, name: &str, value: &str) -> Result<(), UpstreamError> {
        let one = header_map(&BTreeMap::from([(name.to_string(), value.to_string())]))?;
        let mut h = self.headers.write().unwrap_or_else(|e| e.into_inner());
        for (k, v) in one {
            if let Some(k) = k {
                h.insert(k, v);
            }
        }
        Ok(())
    }

    pub(super) async fn write(
        &self,
        msg: Message,
        headers: &RequestHeaders,
        expects_response: bool,
    ) -> Result<(), UpstreamError> {
        let request_id = msg.id().cloned();
        let resp = self
            .builder(reqwest::Method::POST, headers)
            .header(CONTENT_TYPE, APPLICATION_JSON)
            .body(msg.to_json())
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(self.url.as_str(), e))?;
        if let Some(sid) = resp.headers().get(MCP_SESSION_ID)
            && sid.to_str().is_ok()
            && self
                .session_id
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
        {
            let mut slot = self.session_id.write().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(sid.clone());
            }
        }
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            // The upstream may answer an HTTP error with a JSON-RPC error body: pass it on.
            if let Ok(Body::Single(m)) = Body::decode(body.as_bytes())
                && m.is_response()
                && m.id().is_some()
            {
                self.router.route(m).await;
                return Ok(());
            }
            let text = format!(
                "the upstream answered HTTP {status}: {}",
                truncate(&body, 300)
            );
            if expects_response && let Some(id) = request_id {
                self.router
                    .route(Message::error(Some(id), codes::UPSTREAM_ERROR, text, None))
                    .await;
                return Ok(());
            }
            return Err(UpstreamError::Http(text));
        }
        if !expects_response {
            return Ok(());
        }
        let router = self.router.clone();
        let key = request_id.as_ref().map(|i| i.to_value().to_string());
        let answers = self.answers.clone();
        let done_key = key.clone();
        let task = tokio::spawn(async move {
            let owner = request_id
                .as_ref()
                .and_then(|i| i.to_string().parse::<u64>().ok());
            if let Err(e) = pump_response(resp, &router, owner).await
                && let Some(id) = request_id
            {
                router
                    .route(Message::error(Some(id), codes::UPSTREAM_ERROR, e, None))
                    .await;
            }
            if let Some(k) = done_key {
                answers.lock().unwrap_or_else(|e| e.into_inner()).remove(&k);
            }
        });
        if let Some(k) = key
            && !task.is_finished()
        {
            self.answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k, task.abort_handle());
        }
        Ok(())
    }

    /// Closes the response stream of an abandoned request (`id` as JSON text).
    pub(super) fn abort_request(&self, id: &str) {
        if let Some(h) = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        {
            h.abort();
        }
    }

    /// Opens the upstream's GET stream once; its messages go to the router.
    pub(super) async fn open_get_stream(&self) -> Result<(), UpstreamError> {
        if self
            .get_stream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let resp = self
            .builder(reqwest::Method::GET, &RequestHeaders::default())
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(self.url.as_str(), e))?;
        if !resp.status().is_success() {
            // 405: the upstream offers no GET stream; server messages still arrive on POSTs.
            return Ok(());
        }
        let router = self.router.clone();
        let task = tokio::spawn(async move {
            let _ = pump_response(resp, &router, None).await;
        });
        *self.get_stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        Ok(())
    }

    pub(super) async fn close(&self) {
        if let Some(h) = self
            .get_stream
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            h.abort();
        }
        if self
            .session_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            let _ = self
                .builder(reqwest::Method::DELETE, &RequestHeaders::default())
                .send()
                .await;
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
