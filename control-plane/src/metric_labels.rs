//! Label values `/metrics` may show. The endpoint needs no sign-in and a method name
//! comes from the client, so only the methods of the MCP specification become labels;
//! any other is counted as `other` (a client cannot grow the label set without bound).

/// Methods of the MCP specification (both eras).
const KNOWN: [&str; 27] = [
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "elicitation/create",
    "roots/list",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/message",
    "notifications/roots/list_changed",
    "subscriptions/listen",
];

/// The label for `method`: itself when the specification names it, else `other`.
pub fn method(method: &str) -> &str {
    if KNOWN.contains(&method) {
        method
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(super::method("tools/call"), "tools/call");
        assert_eq!(super::method("x-attacker-1234"), "other");
    }
}
