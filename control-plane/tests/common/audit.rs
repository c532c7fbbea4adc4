//! Audit-log set-up shared by the audit, retention, sink and CLI tests and the
//! `audit_scale` bench (which includes this file by path, next to `pg.rs`): a store, a
//! session, tool calls recorded one at a time as a gateway records them.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use gatehouse_control_plane::store::{NewSession, Store};
use gatehouse_mask::{Masker, Profile};
use gatehouse_pipeline::{Direction, Masking, Record};
use gatehouse_proxy_core::jsonrpc::Message;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, OnceLock};

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

/// The masking a gateway applies with the default profile (built once per test binary).
pub fn masking() -> Masking {
    static MASKER: OnceLock<Arc<Masker>> = OnceLock::new();
    let masker = MASKER.get_or_init(|| Arc::new(Masker::new(&Profile::default(), None).unwrap()));
    Masking::new(masker.clone())
}

/// Request number `i` in `session` calling tool `tool` with `arguments`, recorded as a
/// gateway records a client's request: through the pipeline's masker, no decision (tests
/// needing one attach it with `with_decision`).
pub fn call(session: &str, i: usize, tool: &str, arguments: Value) -> Record {
    let msg = Message::from_value(json!({
        "jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments },
    }))
    .unwrap();
    Record::client(session, &msg, &masking().client_record(&msg), None)
}

/// The server's answer to request `i` in `session`, one text item, recorded as a gateway
/// records it: masked on its way from the server.
pub fn answer(session: &str, i: usize, text: &str) -> Record {
    let msg = Message::from_value(json!({
        "jsonrpc": "2.0", "id": i,
        "result": { "content": [{ "type": "text", "text": text }] },
    }))
    .unwrap();
    let masked = masking().from_server(msg, Some("tools/call"));
    Record::message(session, Direction::ServerToClient, &masked)
}

/// Tool-call request number `i` of `query` in `session`, arguments `{"i":i}`: nothing
/// masked, no decision.
pub fn request(session: &str, i: usize) -> Record {
    call(session, i, "query", json!({ "i": i }))
}

/// Records `events` one at a time, each its own write, as a gateway records calls.
pub async fn record(store: &Store, events: impl IntoIterator<Item = Record>) {
    for e in events {
        store.record(vec![e]).await.unwrap();
    }
}
