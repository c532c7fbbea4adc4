//! Server-Sent Event streams for whatever must react at once: the policy in force (for
//! agents and tray apps applying a pushed version within seconds) and the pending
//! approvals (the dashboard's live queue, the tray's approver prompts). Each stream
//! sends the current state on connect and again on every change.

use super::caller::signed_in;
use super::error::ApiError;
use crate::gateway::Gateway;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use http::HeaderMap;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Turns a watch channel into SSE events: the value now, then each change, until the
/// gateway shuts down.
fn events<T, F, Fut>(
    gw: Arc<Gateway>,
    mut rx: watch::Receiver<T>,
    render: F,
) -> impl Stream<Item = Result<Event, Infallible>>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(Arc<Gateway>, T) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<Event>> + Send,
{
    rx.mark_changed();
    futures::stream::unfold((gw, rx, render), |(gw, mut rx, render)| async move {
        loop {
            tokio::select! {
                _ = gw.shutdown.cancelled() => return None,
                changed = rx.changed() => changed.ok()?,
            }
            let value = rx.borrow_and_update().clone();
            if let Some(ev) = render(gw.clone(), value).await {
                return Some((Ok(ev), (gw, rx, render)));
            }
        }
    })
}

fn sse<S>(stream: S) -> Response
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /api/v1/policies/watch`: event `policy` with `{version, digest, document}`.
#[utoipa::path(
    get,
    operation_id = "watch_policy",
    path = "/api/v1/policies/watch",
    tag = "policies",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Server-sent events: `policy` with the version in force (version, digest, document, published_by, published_at), now and on every change", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn policies(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    signed_in(&gw, &headers).await?;
    let rx = gw.policy.subscribe();
    Ok(sse(events(gw, rx, |gw, policy| async move {
        let number = policy?.number;
        let v = gw.store.policy_version(number).await.ok().flatten()?;
        Event::default()
            .event("policy")
            .json_data(json!({ "version": v.version, "digest": v.digest, "document": v.document, "published_by": v.published_by, "published_at": v.published_at }))
            .ok()
    })))
}

/// `GET /api/v1/approvals/watch`: event `approvals` with the pending approvals this
/// person may see.
#[utoipa::path(
    get,
    operation_id = "watch_approvals",
    path = "/api/v1/approvals/watch",
    tag = "approvals",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Server-sent events: `approvals` with the pending approvals the caller may see (`ApprovalList`), now and on every change", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = crate::api::schema::ErrorBody),
    )
)]
pub async fn approvals(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = signed_in(&gw, &headers).await?;
    gw.read_pending_approvals().await;
    let rx = gw.pending_approvals.subscribe();
    Ok(sse(events(gw, rx, move |gw, pending| {
        let principal = principal.clone();
        async move {
            let visible: Vec<_> = pending
                .iter()
                .filter(|a| gw.may_see_approval(&principal, a))
                .map(|a| super::approvals::for_reader(&gw, &principal, a.clone(), false))
                .collect();
            Event::default()
                .event("approvals")
                .json_data(json!({ "approvals": visible }))
                .ok()
        }
    })))
}
