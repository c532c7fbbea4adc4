//! Turning messages into session-record events. Only masked data is ever stored: server
//! messages are masked before they are recorded (and released), client messages are
//! recorded with their arguments masked while the upstream gets them as sent.

use super::session::Session;
use crate::store::{Direction, Event};
use gatehouse_mask::MaskCounts;
use gatehouse_mask::message::mask_for_record;
use gatehouse_proxy_core::jsonrpc::{Kind, Message};
use gatehouse_proxy_core::mcp;

/// The record of a message that is already masked (`masked` says how much).
pub fn event_of(
    session_id: &str,
    direction: Direction,
    msg: &Message,
    masked: &MaskCounts,
) -> Event {
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
        masked: (!masked.is_empty()).then(|| serde_json::to_string(masked).unwrap_or_default()),
        decision: None,
    }
}

/// The record of a message from the client, with its data masked for the record only.
pub fn client_event(session: &Session, msg: &Message) -> Event {
    let (masked_payload, counts) = mask_for_record(&session.masker, msg);
    let mut ev = event_of(&session.id, Direction::ClientToServer, msg, &counts);
    if let Some(p) = masked_payload {
        ev.payload = p;
    }
    ev
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
        masked: None,
        decision: None,
    }
}
