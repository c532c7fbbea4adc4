//! One tunnel session on the agent: the real upstream (spawned or connected here, with
//! the agent's credentials) and the messages between it and the control plane.

use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use gatehouse_proxy_core::tunnel::{Delivery, Mux, SessionSender};
use gatehouse_proxy_core::upstream::{RequestHeaders, Upstream, UpstreamOptions, UpstreamSpec};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How often a session checks whether its upstream went away on its own.
const CLOSED_POLL: Duration = Duration::from_millis(200);

/// Serves one session until either side ends it.
pub async fn serve(
    mux: Arc<Mux>,
    session: String,
    server: String,
    spec: Option<UpstreamSpec>,
    opts: UpstreamOptions,
) {
    let connect_timeout = opts.connect_timeout;
    let Ok(mut link) = mux.attach(&session) else {
        return;
    };
    let sender = link.sender();
    let Some(spec) = spec else {
        sender.close(&format!(
            "this agent does not serve `{server}` (it is not in the agent's config)"
        ));
        return;
    };
    let (up, mut server_rx) =
        match tokio::time::timeout(connect_timeout, Upstream::connect(&spec, &opts)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::warn!(%server, error = %e.detail(), "could not start an upstream");
                sender.close(&e.to_string());
                return;
            }
            Err(_) => {
                sender.close(&format!(
                    "the upstream did not start within {} s",
                    connect_timeout.as_secs()
                ));
                return;
            }
        };
    sender.opened();
    tracing::info!(%session, %server, "session opened");
    let mut version: Option<String> = None;
    let mut poll = tokio::time::interval(CLOSED_POLL);
    let reason = loop {
        tokio::select! {
            d = link.recv() => match d {
                Delivery::Message { message, headers, .. } => {
                    if let Some(v) = &headers.protocol_version
                        && version.as_deref() != Some(v)
                    {
                        up.set_protocol_version(v);
                        version = Some(v.clone());
                    }
                    forward(&up, &sender, message, headers, &server).await;
                }
                Delivery::Opened => {}
                Delivery::Closed(reason) => {
                    up.close().await;
                    break reason;
                }
            },
            Some(m) = server_rx.recv() => {
                if sender.send(m, None, RequestHeaders::default()).await.is_err() {
                    up.close().await;
                    break "the tunnel closed".to_string();
                }
            }
            _ = poll.tick() => {
                if let Some(r) = up.closed_reason()
                    && up.in_flight() == 0
                {
                    sender.close(&r);
                    up.close().await;
                    break r;
                }
            }
        }
    };
    tracing::info!(%session, %server, %reason, "session ended");
}

/// Sends one message from the control plane to the upstream; a request's related
/// messages and answer go back tagged with the request they belong to.
async fn forward(
    up: &Upstream,
    sender: &SessionSender,
    message: Message,
    mut headers: RequestHeaders,
    server: &str,
) {
    if !message.is_request() {
        let initialized = message.method() == Some("notifications/initialized");
        if let Err(e) = up.send(message, &headers).await {
            tracing::warn!(error = %e.detail(), "could not forward a message upstream");
        }
        if initialized {
            // An HTTP upstream's server-to-client stream (a no-op for stdio and SSE).
            let up = up.clone();
            tokio::spawn(async move {
                if let Err(e) = up.open_server_stream().await {
                    tracing::debug!(error = %e, "the upstream has no server stream");
                }
            });
        }
        return;
    }
    let id = message.id().cloned();
    let request = match &id {
        Some(Id::Number(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    // The agent's span of this call, a child of the control plane's upstream stage (the
    // `traceparent` the tunnel carried), handed on to the upstream in its place. With
    // tracing off here the control plane's `traceparent` goes on unchanged.
    let span = gatehouse_proxy_core::stage_span!(
        "agent.forward",
        otel.kind = "client",
        mcp.server = server,
        mcp.method.name = message.method().unwrap_or("-"),
    );
    gatehouse_telemetry::propagate::continue_from_pairs(&span, &headers.passthrough);
    span.in_scope(|| gatehouse_telemetry::propagate::inject_current(&mut headers.passthrough));
    match up.request(message, &headers).instrument(span.clone()).await {
        Ok(mut exchange) => {
            let sender = sender.clone();
            tokio::spawn(
                async move {
                    while let Some(m) = exchange.next().await {
                        let last = m.is_response();
                        if sender
                            .send(m, request, RequestHeaders::default())
                            .await
                            .is_err()
                            || last
                        {
                            return;
                        }
                    }
                }
                .instrument(span),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e.detail(), "an upstream request failed");
            let err = Message::error(id, codes::UPSTREAM_ERROR, e.to_string(), None);
            let _ = sender.send(err, request, RequestHeaders::default()).await;
        }
    }
}
