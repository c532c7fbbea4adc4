//! What the gateway needs to know about MCP itself: protocol eras, the handful of
//! methods it inspects, and the request facts that policy and the audit log use.

use crate::jsonrpc::Message;
use serde_json::Value;

/// The `_meta` key carrying the protocol version in the stateless era (2026-07-28).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying the client's capabilities in the stateless era.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// The `_meta` key carrying the client's name and version in the stateless era.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// The `_meta` key naming the `subscriptions/listen` request a notification belongs to
/// (its JSON-RPC id), in the stateless era.
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The first protocol revision of the stateless era.
pub const CURRENT_ERA_FIRST: &str = "2026-07-28";
/// The newest legacy (session-based) revision.
pub const LEGACY_LATEST: &str = "2025-11-25";
/// Legacy revisions the gateway knows, oldest first.
pub const LEGACY_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// The two eras of MCP in use at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Era {
    /// Revisions 2024-11-05 to 2025-11-25: `initialize` handshake and `Mcp-Session-Id`.
    Legacy,
    /// Revision 2026-07-28 and later: stateless, version and capabilities in each request's `_meta`.
    Current,
}

impl Era {
    /// The era of a protocol revision string. Unknown revisions that sort after the
    /// first stateless one are treated as current (newer revisions pass through).
    pub fn of_version(version: &str) -> Era {
        if version >= CURRENT_ERA_FIRST {
            Era::Current
        } else {
            Era::Legacy
        }
    }

    /// Stable lowercase name (for the store and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Legacy => "legacy",
            Era::Current => "current",
        }
    }
}

/// True when batches (JSON arrays) are part of this revision (2025-03-26 only).
pub fn allows_batches(version: &str) -> bool {
    version == "2025-03-26"
}

/// The protocol version a stateless-era request carries in `params._meta`.
pub fn meta_protocol_version(msg: &Message) -> Option<&str> {
    msg.params()?
        .get("_meta")?
        .get(META_PROTOCOL_VERSION)?
        .as_str()
}

/// The client's name and version: from `initialize` params (legacy) or `_meta` (current).
pub fn client_info(msg: &Message) -> Option<(String, String)> {
    let params = msg.params()?;
    let info = params
        .get("clientInfo")
        .or_else(|| params.get("_meta")?.get(META_CLIENT_INFO))?;
    Some((
        info.get("name")?.as_str()?.to_string(),
        info.get("version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    ))
}

/// The name a request acts on, for the methods that name one: the tool of `tools/call`,
/// the prompt of `prompts/get`, the URI of `resources/read` and subscriptions.
pub fn target_name(msg: &Message) -> Option<&str> {
    let params = msg.params()?;
    match msg.method()? {
        "tools/call" | "prompts/get" => params.get("name")?.as_str(),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            params.get("uri")?.as_str()
        }
        _ => None,
    }
}

/// The arguments of a `tools/call` or `prompts/get`.
pub fn arguments(msg: &Message) -> Option<&Value> {
    match msg.method()? {
        "tools/call" | "prompts/get" => msg.params()?.get("arguments"),
        _ => None,
    }
}

/// The progress token a request asks progress notifications for.
pub fn progress_token(msg: &Message) -> Option<&Value> {
    msg.params()?.get("_meta")?.get("progressToken")
}

/// The `Mcp-Name` header value the stateless era expects for a request, if any:
/// the tool or prompt name, or the resource URI.
pub fn expected_name_header(msg: &Message) -> Option<&str> {
    target_name(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> Message {
        Message::from_value(v).unwrap()
    }

    #[test]
    fn eras_by_version() {
        assert_eq!(Era::of_version("2024-11-05"), Era::Legacy);
        assert_eq!(Era::of_version("2025-11-25"), Era::Legacy);
        assert_eq!(Era::of_version("2026-07-28"), Era::Current);
        assert_eq!(Era::of_version("2027-01-01"), Era::Current);
        assert!(allows_batches("2025-03-26") && !allows_batches("2025-06-18"));
    }

    #[test]
    fn names_and_client_info() {
        let call = msg(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"select 1"},"_meta":{"progressToken":5}}}),
        );
        assert_eq!(target_name(&call), Some("query"));
        assert_eq!(arguments(&call), Some(&json!({"sql":"select 1"})));
        assert_eq!(progress_token(&call), Some(&json!(5)));
        let read = msg(
            json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"db://t"}}),
        );
        assert_eq!(target_name(&read), Some("db://t"));
        let init = msg(
            json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"c","version":"1"}}}),
        );
        assert_eq!(client_info(&init), Some(("c".into(), "1".into())));
        let cur = msg(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{META_PROTOCOL_VERSION:"2026-07-28",META_CLIENT_INFO:{"name":"py","version":"2"}}}}),
        );
        assert_eq!(meta_protocol_version(&cur), Some("2026-07-28"));
        assert_eq!(client_info(&cur), Some(("py".into(), "2".into())));
    }
}
