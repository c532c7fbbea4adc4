//! The control plane's HTTP server: every part's routes in one table, and the serve loop
//! with the background tasks (session reaper, checkpoints, sinks, agents, policy watch)
//! and the graceful drain.

use crate::agents::Agents;
use crate::gateway::Gateway;
use axum::Router;
use std::sync::Arc;

/// Every route of the control plane.
pub fn router(gw: Arc<Gateway>, agents: &Arc<Agents>) -> Router {
    Router::new()
        // The MCP endpoint, its resource metadata, the audit key, health and metrics.
        .merge(crate::gateway::routes())
        // The dashboard's JSON API.
        .merge(crate::api::routes())
        // Anything else is the dashboard (it routes itself).
        .fallback(crate::dashboard::serve)
        .with_state(gw.clone())
        // Browser sign-in and the authorization server MCP clients sign in through, over
        // identity's own state (the same the gateway checks tokens with).
        .merge(crate::identity::routes().with_state(gw.identity.clone()))
        // Agents' status and tokens (JSON API) and their WebSocket, over their own state.
        .merge(
            Router::new()
                .merge(crate::api::agents::routes())
                .route(
                    gatehouse_proxy_core::tunnel::CONNECT_PATH,
                    axum::routing::get(crate::agents::ws::connect),
                )
                .with_state(agents.clone()),
        )
        // Outermost: every handler sees the client's address, not a proxy's.
        .layer(axum::middleware::from_fn_with_state(
            gw,
            crate::gateway::client_address::rewrite,
        ))
}

/// Serves the control plane until `stop` resolves, then drains: server streams end, open
/// requests finish, and every session is closed and recorded as ended by shutdown.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    gw.spawn_reaper();
    gw.spawn_grant_expiry();
    gw.spawn_checkpoints();
    for sink in &gw.config.audit.sinks {
        tokio::spawn(crate::sinks::run(
            gw.store.clone(),
            sink.clone(),
            gw.shutdown.clone(),
        ));
    }
    if let (Some(url), every @ 1..) = (
        gw.config.approvals.webhook_url.clone(),
        gw.config.approvals.review_reminder_every_secs,
    ) {
        tokio::spawn(crate::access_review::reminders::run(
            gw.store.clone(),
            url,
            std::time::Duration::from_secs(every),
            gw.shutdown.clone(),
        ));
    }
    let agents = Agents::start(&gw);
    gw.start_policy_watch()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let token = gw.shutdown.clone();
    let app = router(gw.clone(), &agents);
    let drained = async move {
        stop.await;
        tracing::info!("shutting down: draining open requests");
        token.cancel();
    };
    // No Nagle delay: JSON-RPC messages and agent tunnel frames are small and
    // latency-bound (with it, a frame can wait 40 ms for the peer's delayed ACK).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(drained)
    .await?;
    gw.end_all_sessions("gateway_shutdown").await;
    gw.identity.flush_failures(true).await;
    gw.checkpoint().await;
    Ok(())
}
