//! A message-pipe upstream: the upstream server is reached through something the caller
//! runs (the control plane's connection to an agent), not through a socket or process of
//! our own.
//!
//! The upstream side writes every outgoing message, with its per-request HTTP details,
//! into a channel the caller reads ([`PipeEnds::outbound_rx`]); the caller feeds whatever
//! comes back into [`PipeInbound::route`], and ends the connection with
//! [`PipeInbound::close`] when the far side is gone. Id remapping, exchanges and
//! cancellation work exactly as for the other transports, because they all live in the
//! shared [`Router`].

use super::{RequestHeaders, Router, UpstreamError};
use crate::jsonrpc::Message;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// How many outgoing messages may wait for the caller before writers wait too.
const OUTBOUND_BUFFER: usize = 64;

/// One message on its way to the upstream.
#[derive(Debug)]
pub struct Outbound {
    /// The message (request ids already remapped by the router).
    pub message: Message,
    /// Per-request details an HTTP upstream needs (protocol version, routing headers).
    pub headers: RequestHeaders,
}

/// What the caller holds: the outgoing stream and the way back in.
#[derive(Debug)]
pub struct PipeEnds {
    /// Messages for the upstream, in order. Ends (`None`) when the upstream is closed.
    pub outbound_rx: mpsc::Receiver<Outbound>,
    /// Where the upstream's messages are delivered.
    pub inbound: PipeInbound,
}

/// The inbound end: delivers the upstream's messages to whoever waits for them.
#[derive(Debug, Clone)]
pub struct PipeInbound {
    router: Arc<Router>,
}

impl PipeInbound {
    /// Delivers one message from the upstream.
    pub async fn route(&self, msg: Message) {
        self.router.route(msg).await;
    }

    /// Delivers a message that belongs to the request the upstream knows as `request`
    /// (its progress, or a server request made while answering it).
    pub async fn route_for(&self, request: Option<u64>, msg: Message) {
        self.router.route_for(request, msg).await;
    }

    /// The far side is gone: every waiting request is answered with `reason` and new
    /// ones are refused.
    pub async fn close(&self, reason: &str) {
        self.router.close(reason).await;
    }
}

/// The outbound end, held by the [`super::Upstream`].
#[derive(Debug)]
pub(super) struct Pipe {
    name: String,
    tx: Mutex<Option<mpsc::Sender<Outbound>>>,
    protocol_version: Mutex<Option<String>>,
}

impl Pipe {
    pub(super) fn new(name: &str, router: Arc<Router>) -> (Pipe, PipeEnds) {
        let (tx, outbound_rx) = mpsc::channel(OUTBOUND_BUFFER);
        let pipe = Pipe {
            name: name.to_string(),
            tx: Mutex::new(Some(tx)),
            protocol_version: Mutex::new(None),
        };
        let ends = PipeEnds {
            outbound_rx,
            inbound: PipeInbound { router },
        };
        (pipe, ends)
    }

    pub(super) async fn write(
        &self,
        message: Message,
        headers: &RequestHeaders,
    ) -> Result<(), UpstreamError> {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| {
                UpstreamError::Closed(format!("the pipe to `{}` is closed", self.name))
            })?;
        let mut headers = headers.clone();
        if headers.protocol_version.is_none() {
            headers.protocol_version = self
                .protocol_version
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
        }
        tx.send(Outbound { message, headers })
            .await
            .map_err(|_| UpstreamError::Closed(format!("the pipe to `{}` is closed", self.name)))
    }

    pub(super) fn set_protocol_version(&self, version: &str) {
        *self
            .protocol_version
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(version.to_string());
    }

    /// Ends the outgoing stream: the caller sees `None` and tells the far side.
    pub(super) fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

#[cfg(test)]
mod tests {
    use super::super::Upstream;
    use super::*;
    use crate::jsonrpc::Id;
    use serde_json::json;

    #[tokio::test]
    async fn requests_go_out_and_answers_come_back_through_the_pipe() {
        let (up, _server_rx, mut ends) = Upstream::over_pipe("db");
        up.set_protocol_version("2025-06-18");
        let req = Message::from_value(
            json!({"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"q"}}),
        )
        .unwrap();
        let mut ex = up.request(req, &RequestHeaders::default()).await.unwrap();
        let out = ends.outbound_rx.recv().await.unwrap();
        assert_eq!(
            out.message.id(),
            Some(&Id::Number(ex.upstream_id().to_string()))
        );
        assert_eq!(out.headers.protocol_version.as_deref(), Some("2025-06-18"));
        let answer =
            Message::from_value(json!({"jsonrpc":"2.0","id":ex.upstream_id(),"result":{}}))
                .unwrap();
        ends.inbound.route(answer).await;
        assert_eq!(
            ex.next().await.unwrap().id(),
            Some(&Id::String("c1".into()))
        );

        // The far side goes away mid-request: the waiter gets the reason.
        let req2 = Message::from_value(json!({"jsonrpc":"2.0","id":2,"method":"ping"})).unwrap();
        let mut ex2 = up.request(req2, &RequestHeaders::default()).await.unwrap();
        ends.inbound.close("the agent disconnected").await;
        let err = ex2.next().await.unwrap();
        assert_eq!(
            err.error_value().unwrap()["message"],
            "the agent disconnected"
        );
        assert_eq!(
            up.closed_reason().as_deref(),
            Some("the agent disconnected")
        );

        // Closing the upstream ends the outgoing stream, so the carrier can say so.
        up.close().await;
        let _ = ends.outbound_rx.recv().await; // the ping
        assert!(ends.outbound_rx.recv().await.is_none());
    }
}
