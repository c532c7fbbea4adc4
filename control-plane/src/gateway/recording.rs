//! Turning messages into session-record events.

use crate::store::{Direction, Event};
use gatehouse_proxy_core::jsonrpc::{Kind, Message};
use gatehouse_proxy_core::mcp;

/// The record of one message passing through.
pub fn event_of(session_id: &str, direction: Direction, msg: &Message) -> Event {
    let (kind, rpc_id) = match msg.kind() {
        Kind::Request { id, .. } => ("request", Some(id.to_string())),
        Kind::Notification { .. } => ("notification", None),
        Kind::Response { id, is_error } => (
            if *is_error { "error" } else { "response" },
            id.as_ref().map(|i| i.to_string()),
        ),
    };
    Event {
        session_id: session_id.to_string(),
        direction,
        kind: kind.to_string(),
        method: msg.method().map(String::from),
        tool: mcp::target_name(msg).map(String::from),
        rpc_id,
        payload: msg.to_json(),
    }
}

/// The record of something the gateway itself did (session end, a timeout it answered).
pub fn gateway_event(session_id: &str, kind: &str, detail: serde_json::Value) -> Event {
    Event {
        session_id: session_id.to_string(),
        direction: Direction::Gateway,
        kind: kind.to_string(),
        method: None,
        tool: None,
        rpc_id: None,
        payload: detail.to_string(),
    }
}
