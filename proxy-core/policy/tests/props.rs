//! Properties over arbitrary input: evaluation never panics and stays within its contract;
//! the request digest depends on JSON values only.

use gatehouse_policy::{
    EffectKind, ItemKind, Policy, Principal, Request, canonical_json, request_digest,
};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<u64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        ".{0,40}".prop_map(Value::String),
        "(?i)(select|drop|delete) [a-z ;]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((".{0,12}", inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// The demo policy, and one exercising every condition kind on odd pointers.
fn policies() -> [Policy; 2] {
    let extra = r#"
version: 1
default: allow
rules:
  - {name: root, arguments: [{pointer: "", matches: "(?i)drop"}], effect: deny}
  - {name: deep, arguments: [{pointer: "/a/0/~0~1", matches: "x+"}], tools: ["*"], effect: require_approval, approval: {approvers: [g]}}
  - {name: glob, servers: ["c*"], tools: ["{q,d}*"], effect: allow, masking_profile: m}
"#;
    [
        Policy::from_yaml(include_str!("../examples/demo-policy.yaml"))
            .expect("demo policy is valid"),
        Policy::from_yaml(extra).expect("extra policy is valid"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_never_panics(
        args in arb_json(),
        user in ".{0,8}",
        groups in prop::collection::vec("engineers|dba|.{0,6}", 0..4),
        server in "customers|c.{0,6}|.{0,10}",
        method in "tools/call|resources/read|.{0,12}",
        tool in prop::option::of("query|delete_customer|.{0,12}"),
    ) {
        let request = Request {
            principal: Principal::new(user, groups),
            server,
            method,
            tool,
            arguments: args,
        };
        for policy in policies() {
            let d = policy.evaluate(&request);
            // A decision names its source: a rule or a default, never both, never neither.
            prop_assert!(d.rule.is_some() != d.default_source.is_some());
            if d.effect.kind() == EffectKind::Deny {
                prop_assert!(d.masking_profile.is_none());
            }
            if let Some(tool) = &request.tool {
                let _ = policy.visible(&request.principal, &request.server, ItemKind::Tool, tool);
            }
        }
    }

    #[test]
    fn digest_depends_on_values_not_spelling(args in arb_json()) {
        let pretty = serde_json::to_string_pretty(&args).unwrap();
        let reparsed: Value = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(canonical_json(&args), canonical_json(&reparsed));
        // Reversing every object's key order changes nothing.
        let reversed = reverse_keys(&args);
        prop_assert_eq!(
            request_digest("s", "tools/call", Some("t"), &args),
            request_digest("s", "tools/call", Some("t"), &reversed)
        );
        // Canonical output is itself valid JSON with the same value.
        let back: Value = serde_json::from_str(&canonical_json(&args)).unwrap();
        prop_assert_eq!(canonical_json(&back), canonical_json(&args));
    }
}

fn reverse_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reverse_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(reverse_keys).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The server/tool index and the prefilters must never hide a rule: a rule with random
    /// tool globs decides exactly when globset says one of its globs matches the target.
    #[test]
    fn indexed_matching_agrees_with_globset(
        patterns in prop::collection::vec(
            prop::collection::vec(
                prop::sample::select(vec!["a", "b", "é", "-", "*", "?", "[ab]", "[!a]", "{a,é}", "\\*"]),
                1..5,
            ).prop_map(|parts| parts.concat()),
            1..4,
        ),
        tool in "[abé,-]{0,9}",
        users in prop::collection::vec("[a-c]{1,2}", 0..3),
        user in "[a-c]{1,2}",
    ) {
        let globs: Result<Vec<globset::GlobMatcher>, _> = patterns
            .iter()
            .map(|p| globset::GlobBuilder::new(p).literal_separator(false).backslash_escape(true).build().map(|g| g.compile_matcher()))
            .collect();
        prop_assume!(globs.is_ok());
        let globs = globs.unwrap();
        let quoted: Vec<String> = patterns.iter().map(|p| serde_json::to_string(p).unwrap()).collect();
        let principals = if users.is_empty() {
            String::new()
        } else {
            format!("principals: {{users: [{}]}}, ", users.join(", "))
        };
        let src = format!(
            "version: 1\nrules:\n  - {{name: r, {principals}tools: [{}], effect: allow}}\n",
            quoted.join(", ")
        );
        let policy = Policy::from_yaml(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let request = Request {
            principal: Principal::new(user.clone(), ["g"]),
            server: "s".into(),
            method: "tools/call".into(),
            tool: Some(tool.clone()),
            arguments: Value::Null,
        };
        let expected = globs.iter().any(|g| g.is_match(&tool)) && (users.is_empty() || users.contains(&user));
        prop_assert_eq!(policy.evaluate(&request).effect.kind() == EffectKind::Allow, expected, "{}", src);
    }
}
