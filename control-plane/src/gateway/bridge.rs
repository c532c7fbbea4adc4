//! Bridging a session-era client (initialize, 2024-11-05 … 2025-11-25) to a stateless
//! 2026-07-28 upstream, where it can be done faithfully:
//!
//! - `initialize` is answered from the upstream's `server/discover`;
//! - every request gets the protocol version, client info and capabilities in `_meta`
//!   and the `Mcp-Method` / `Mcp-Name` headers the stateless era requires;
//! - `notifications/initialized` has no stateless counterpart and stops at the gateway;
//! - an `input_required` result (the stateless replacement for server-to-client
//!   requests) cannot be carried faithfully to a session-era client, so it becomes a
//!   clear -32021 error instead of a result the client would misread.

use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use gatehouse_proxy_core::mcp::{self, CURRENT_ERA_FIRST, LEGACY_LATEST, LEGACY_VERSIONS};
use serde_json::{Value, json};

/// What a bridged session remembers about its client.
#[derive(Debug, Clone)]
pub struct Bridge {
    /// The client's `clientInfo`.
    pub client_info: Value,
    /// The client's declared capabilities.
    pub client_capabilities: Value,
}

impl Bridge {
    /// From the client's `initialize` request.
    pub fn from_initialize(msg: &Message) -> Bridge {
        let params = msg.params().cloned().unwrap_or(Value::Null);
        Bridge {
            client_info: params.get("clientInfo").cloned().unwrap_or(json!({})),
            client_capabilities: params.get("capabilities").cloned().unwrap_or(json!({})),
        }
    }

    fn meta(&self) -> Value {
        json!({
            mcp::META_PROTOCOL_VERSION: CURRENT_ERA_FIRST,
            mcp::META_CLIENT_INFO: self.client_info,
            mcp::META_CLIENT_CAPABILITIES: self.client_capabilities,
        })
    }

    /// The `server/discover` request that stands in for `initialize`.
    pub fn discover(&self, id: Id) -> Message {
        Message::request(id, "server/discover", json!({ "_meta": self.meta() }))
    }

    /// Adds the stateless `_meta` keys a request lacks (keys the client set win).
    pub fn to_upstream(&self, msg: &mut Message) {
        if !msg.is_request() {
            return;
        }
        let params = msg.params_mut();
        if !params.is_object() {
            *params = json!({});
        }
        let meta = params
            .as_object_mut()
            .map(|p| p.entry("_meta").or_insert_with(|| json!({})));
        if let Some(Value::Object(meta)) = meta
            && let Value::Object(ours) = self.meta()
        {
            for (k, v) in ours {
                meta.entry(k).or_insert(v);
            }
        }
    }

    /// The routing headers the stateless era requires for `msg`.
    pub fn headers(msg: &Message) -> Vec<(String, String)> {
        let mut h = Vec::new();
        if let Some(m) = msg.method() {
            h.push(("mcp-method".to_string(), m.to_string()));
        }
        if let Some(n) = mcp::expected_name_header(msg) {
            h.push(("mcp-name".to_string(), n.to_string()));
        }
        h
    }
}

/// True for client messages that have no stateless counterpart and stop here.
pub fn absorbed(msg: &Message) -> bool {
    msg.method() == Some("notifications/initialized")
}

/// The `initialize` result a session-era client expects, built from `server/discover`.
pub fn initialize_result(requested_version: Option<&str>, discover: &Value) -> Value {
    let version = requested_version
        .filter(|v| LEGACY_VERSIONS.contains(v))
        .unwrap_or(LEGACY_LATEST);
    let server_info = discover
        .get("serverInfo")
        .or_else(|| {
            discover
                .get("_meta")
                .and_then(|m| m.get("io.modelcontextprotocol/serverInfo"))
        })
        .cloned()
        .unwrap_or(json!({ "name": "unknown", "version": "" }));
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": discover.get("capabilities").cloned().unwrap_or(json!({})),
        "serverInfo": server_info,
    });
    if let Some(i) = discover.get("instructions") {
        result["instructions"] = i.clone();
    }
    result
}

/// Replaces an `input_required` result, which a session-era client cannot act on, with
/// an error saying so. Returns true when it did.
pub fn refuse_input_required(msg: &mut Message) -> bool {
    let needs_input = msg
        .result_value()
        .and_then(|r| r.get("resultType"))
        .and_then(Value::as_str)
        == Some("input_required");
    if needs_input {
        *msg = Message::error(
            msg.id().cloned(),
            codes::ERA_MISMATCH,
            "the server needs more input from the client (a 2026-07-28 `input_required` result), which Gatehouse cannot relay to a session-era client yet; use a client that speaks MCP 2026-07-28 for this tool".to_string(),
            None,
        );
    }
    needs_input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() -> Message {
        Message::from_value(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"claude","version":"1"}}})).unwrap()
    }

    #[test]
    fn requests_carry_the_stateless_meta_and_headers() {
        let b = Bridge::from_initialize(&init());
        let mut call = Message::from_value(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":1}}})).unwrap();
        b.to_upstream(&mut call);
        let meta = &call.params().unwrap()["_meta"];
        assert_eq!(meta["progressToken"], 1, "the client's own keys stay");
        assert_eq!(meta[mcp::META_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(meta[mcp::META_CLIENT_INFO]["name"], "claude");
        assert_eq!(
            Bridge::headers(&call),
            vec![
                ("mcp-method".into(), "tools/call".into()),
                ("mcp-name".into(), "echo".into())
            ]
        );
        let mut list =
            Message::from_value(json!({"jsonrpc":"2.0","id":4,"method":"tools/list"})).unwrap();
        b.to_upstream(&mut list);
        assert!(list.params().unwrap()["_meta"].is_object());
    }

    #[test]
    fn discover_becomes_an_initialize_result() {
        let d = json!({"capabilities":{"tools":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"s","version":"2"}},"instructions":"hi","resultType":"complete"});
        let r = initialize_result(Some("2025-06-18"), &d);
        assert_eq!(
            r,
            json!({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"2"},"instructions":"hi"})
        );
        assert_eq!(
            initialize_result(Some("1999-01-01"), &d)["protocolVersion"],
            LEGACY_LATEST
        );
    }

    #[test]
    fn input_required_is_refused_clearly() {
        let mut m = Message::from_value(json!({"jsonrpc":"2.0","id":5,"result":{"resultType":"input_required","inputRequests":{}}})).unwrap();
        assert!(refuse_input_required(&mut m));
        assert_eq!(m.error_value().unwrap()["code"], codes::ERA_MISMATCH);
        let mut ok =
            Message::from_value(json!({"jsonrpc":"2.0","id":6,"result":{"resultType":"complete"}}))
                .unwrap();
        assert!(!refuse_input_required(&mut ok));
    }
}
