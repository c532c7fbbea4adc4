//! A legacy HTTP+SSE upstream (MCP 2024-11-05): GET opens an event stream whose first
//! `endpoint` event names the URL to POST messages to; every answer arrives on the stream.

use super::http::{client, header_map};
use super::{Router, UpstreamError, UpstreamOptions};
use crate::jsonrpc::{Body, Message};
use crate::sse;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Debug)]
pub(super) struct LegacySse {
    client: reqwest::Client,
    headers: HeaderMap,
    post_url: String,
    stream: tokio::task::AbortHandle,
}

impl LegacySse {
    pub(super) async fn connect(
        url: &str,
        headers: &BTreeMap<String, String>,
        opts: &UpstreamOptions,
        router: Arc<Router>,
    ) -> Result<LegacySse, UpstreamError> {
        let client = client(opts)?;
        let headers = header_map(headers)?;
        let resp = client
            .get(url)
            .headers(headers.clone())
            .header("accept", "text/event-stream")
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(url, e))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Http(format!(
                "GET {} answered HTTP {}",
                crate::redact::url(url),
                resp.status()
            )));
        }
        let base = resp.url().clone();
        let (endpoint_tx, endpoint_rx) = oneshot::channel::<String>();
        let task = tokio::spawn(async move {
            let mut endpoint_tx = Some(endpoint_tx);
            let mut decoder = sse::Decoder::default();
            let mut body = resp.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                for ev in decoder.feed(&chunk) {
                    if ev.event.as_deref() == Some("endpoint") {
                        if let Some(tx) = endpoint_tx.take() {
                            let _ = tx.send(ev.data);
                        }
                        continue;
                    }
                    match Body::decode(ev.data.as_bytes()) {
                        Ok(b) => {
                            for m in b.into_messages() {
                                router.route(m).await;
                            }
                        }
                        Err(e) => tracing::warn!(
                            "the SSE upstream sent an event that is not JSON-RPC: {e}"
                        ),
                    }
                }
            }
            router.close("the upstream's event stream ended").await;
        });
        let endpoint = tokio::time::timeout(opts.connect_timeout, endpoint_rx)
            .await
            .map_err(|_| UpstreamError::Http("the SSE upstream sent no `endpoint` event".into()))?
            .map_err(|_| {
                UpstreamError::Closed("the SSE upstream closed before naming its endpoint".into())
            })?;
        let post_url = base
            .join(endpoint.trim())
            .map_err(|e| {
                UpstreamError::Http(format!("the SSE upstream named a bad endpoint: {e}"))
            })?
            .to_string();
        Ok(LegacySse {
            client,
            headers,
            post_url,
            stream: task.abort_handle(),
        })
    }

    pub(super) async fn write(&self, msg: &Message) -> Result<(), UpstreamError> {
        let resp = self
            .client
            .post(&self.post_url)
            .headers(self.headers.clone())
            .header("content-type", "application/json")
            .body(msg.to_json())
            .send()
            .await
            .map_err(|e| UpstreamError::unreachable(self.post_url.as_str(), e))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Http(format!(
                "POST answered HTTP {}",
                resp.status()
            )));
        }
        Ok(())
    }

    pub(super) async fn close(&self) {
        self.stream.abort();
    }
}
