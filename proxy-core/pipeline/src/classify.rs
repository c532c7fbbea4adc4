//! Classify: what a client message asks for, read once so every later stage (the
//! decision, the approval digest, the record) sees the same call. The list of methods
//! the policy decides rule by rule lives here and nowhere else.

use gatehouse_policy::{ItemKind, Principal, Request};
use gatehouse_proxy_core::jsonrpc::{Kind, Message};
use gatehouse_proxy_core::mcp;
use serde_json::Value;

/// Methods decided rule by rule (they name a tool, resource or prompt); every other
/// request only needs the server to be usable.
const RULE_CHECKED: [&str; 4] = [
    "tools/call",
    "resources/read",
    "prompts/get",
    "resources/subscribe",
];

/// How the policy looks at a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Decided rule by rule on its target and arguments.
    Rule,
    /// Only needs the person to be allowed on the server (lists, pings).
    Server,
    /// Opens a session (`initialize`): the host admits the person before the session
    /// exists, so it is not decided again.
    Session,
}

/// One classified client message.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A request: it is decided, and an answer comes back.
    Request(Target),
    /// A notification or a response to a server request: recorded and passed on.
    Passing,
}

/// What a request names.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The JSON-RPC method.
    pub method: String,
    /// The tool, prompt or resource it names.
    pub name: Option<String>,
    /// `params.arguments` (`Null` when absent).
    pub arguments: Value,
    /// How the policy looks at it.
    pub scope: Scope,
}

impl Target {
    /// The question the policy engine answers for this request.
    pub fn policy_request(&self, principal: &Principal, server: &str) -> Request {
        Request {
            principal: principal.clone(),
            server: server.to_string(),
            method: self.method.clone(),
            tool: self.name.clone(),
            arguments: self.arguments.clone(),
        }
    }

    /// The digest an approval binds to: only this exact request passes once approved.
    pub fn digest(&self, server: &str) -> String {
        gatehouse_policy::request_digest(
            server,
            &self.method,
            self.name.as_deref(),
            &self.arguments,
        )
    }

    /// True for `tools/call`, the only method tool pins hold back.
    pub fn is_tool_call(&self) -> bool {
        self.method == "tools/call"
    }
}

/// Classifies a client message.
pub fn classify(msg: &Message) -> Call {
    let Kind::Request { method, .. } = msg.kind() else {
        return Call::Passing;
    };
    Call::Request(Target {
        method: method.clone(),
        name: mcp::target_name(msg).map(String::from),
        arguments: mcp::arguments(msg).cloned().unwrap_or(Value::Null),
        scope: if RULE_CHECKED.contains(&method.as_str()) {
            Scope::Rule
        } else if method == "initialize" {
            Scope::Session
        } else {
            Scope::Server
        },
    })
}

/// The kind of item a list method returns, with the list's key and each item's name
/// field, for filtering a list down to what a person may use.
pub fn listed(method: &str) -> Option<(ItemKind, &'static str, &'static str)> {
    match method {
        "tools/list" => Some((ItemKind::Tool, "tools", "name")),
        "prompts/list" => Some((ItemKind::Prompt, "prompts", "name")),
        "resources/list" => Some((ItemKind::Resource, "resources", "uri")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msg(v: Value) -> Message {
        Message::from_value(v).unwrap()
    }

    #[test]
    fn calls_with_a_target_are_decided_rule_by_rule() {
        let call = classify(&msg(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"select 1"}}}),
        ));
        let Call::Request(t) = call else {
            panic!("a request")
        };
        assert_eq!(t.scope, Scope::Rule);
        assert_eq!(t.name.as_deref(), Some("query"));
        assert_eq!(t.arguments, json!({"sql":"select 1"}));
        assert!(t.is_tool_call());
        let r = t.policy_request(&Principal::new("ada", ["eng"]), "db");
        assert_eq!(
            (r.server.as_str(), r.tool.as_deref()),
            ("db", Some("query"))
        );
    }

    #[test]
    fn other_requests_need_only_the_server_and_the_rest_passes() {
        let Call::Request(t) =
            classify(&msg(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})))
        else {
            panic!("a request")
        };
        assert_eq!((t.scope, t.arguments), (Scope::Server, Value::Null));
        assert_eq!(
            classify(&msg(
                json!({"jsonrpc":"2.0","method":"notifications/initialized"})
            )),
            Call::Passing
        );
        assert_eq!(
            classify(&msg(json!({"jsonrpc":"2.0","id":7,"result":{}}))),
            Call::Passing
        );
    }

    #[test]
    fn the_same_request_has_the_same_digest_and_another_does_not() {
        let t = |sql: &str| match classify(&msg(
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":sql}}}),
        )) {
            Call::Request(t) => t,
            Call::Passing => unreachable!(),
        };
        assert_eq!(t("select 1").digest("db"), t("select 1").digest("db"));
        assert_ne!(t("select 1").digest("db"), t("drop table x").digest("db"));
        assert_ne!(t("select 1").digest("db"), t("select 1").digest("other"));
    }

    #[test]
    fn lists_name_their_items() {
        assert_eq!(listed("resources/list").map(|l| l.2), Some("uri"));
        assert!(listed("tools/call").is_none());
    }
}
