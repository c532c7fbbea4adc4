//! Audit-log set-up shared by the audit, retention, sink and CLI tests and the
//! `audit_scale` bench (which includes this file by path, next to `pg.rs`): a store, a
//! session, tool calls recorded one at a time as a gateway records them.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use gatehouse_control_plane::store::{Direction, Event, NewSession, Store};
use std::path::Path;

/// A fresh store standing for the SQLite file `file` (see [`super::pg`]), and its URL.
pub async fn open(file: &Path) -> (Store, String) {
    let url = super::pg::database_url(file).await;
    (Store::open(&url).await.unwrap(), url)
}

/// Starts session `id` for alice on server `db`.
pub async fn start_session(store: &Store, id: &str) {
    store
        .start_session(NewSession {
            id: id.into(),
            principal: "alice".into(),
            groups: vec![],
            server: "db".into(),
            era: "legacy".into(),
            client: None,
            protocol_version: None,
        })
        .await
        .unwrap();
}

/// Tool-call request number `i` in `session`: payload `{"i":i}`, nothing masked, no
/// decision (tests needing more set those fields over this one).
pub fn request(session: &str, i: usize) -> Event {
    Event {
        session_id: session.into(),
        direction: Direction::ClientToServer,
        kind: "request".into(),
        method: Some("tools/call".into()),
        tool: Some("query".into()),
        rpc_id: Some(i.to_string()),
        payload: format!("{{\"i\":{i}}}"),
        masked: None,
        decision: None,
    }
}

/// Records `events` one at a time, each its own write, as a gateway records calls.
pub async fn record(store: &Store, events: impl IntoIterator<Item = Event>) {
    for e in events {
        store.record(vec![e]).await.unwrap();
    }
}
