//! List filtering, the part of the decision made on the way back: a person sees only the
//! tools, prompts and resources the policy lets them use, so a model is never offered
//! what would be refused.

use crate::classify::listed;
use crate::decide::PolicyInForce;
use gatehouse_policy::Principal;
use gatehouse_proxy_core::jsonrpc::Message;
use serde_json::Value;

/// Removes from a list answer (`tools/list`, `prompts/list`, `resources/list`) what
/// `principal` may not use on `server`. Other answers are left alone.
pub fn filter(
    policy: Option<&PolicyInForce>,
    principal: &Principal,
    server: &str,
    request_method: &str,
    msg: &mut Message,
) {
    let (Some(policy), Some((kind, key, field))) = (policy, listed(request_method)) else {
        return;
    };
    if msg.result_value().is_none() {
        return;
    }
    let mut v = msg.to_value();
    if let Some(items) = v
        .get_mut("result")
        .and_then(|r| r.get_mut(key))
        .and_then(Value::as_array_mut)
    {
        items.retain(|item| {
            item.get(field)
                .and_then(Value::as_str)
                .is_some_and(|name| policy.policy().visible(principal, server, kind, name))
        });
    }
    if msg.replace_value(v).is_err() {
        tracing::error!("filtering a list changed its JSON-RPC shape; this is a bug");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Message {
        Message::from_value(json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"query"},{"name":"drop"},{"name":"secret"}]}})).unwrap()
    }

    fn names(m: &Message) -> Vec<String> {
        m.result_value().unwrap()["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_person_sees_what_they_may_use() {
        let p = crate::decide::tests::policy();
        let mut m = tools();
        filter(
            Some(&p),
            &Principal::new("ada", ["eng"]),
            "db",
            "tools/list",
            &mut m,
        );
        assert_eq!(names(&m), ["query", "drop"]);
        let mut m = tools();
        filter(
            Some(&p),
            &Principal::new("eve", ["sales"]),
            "db",
            "tools/list",
            &mut m,
        );
        assert!(names(&m).is_empty());
    }

    #[test]
    fn without_a_policy_or_for_other_methods_nothing_changes() {
        let mut m = tools();
        filter(
            None,
            &Principal::new("eve", ["sales"]),
            "db",
            "tools/list",
            &mut m,
        );
        assert_eq!(names(&m).len(), 3);
        let p = crate::decide::tests::policy();
        let mut m = tools();
        filter(
            Some(&p),
            &Principal::new("eve", ["sales"]),
            "db",
            "tools/call",
            &mut m,
        );
        assert_eq!(names(&m).len(), 3);
    }
}
