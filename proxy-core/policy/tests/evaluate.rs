//! Evaluation: precedence, defaults, matching conditions, masking, visibility and diffs.

use gatehouse_policy::{
    DefaultSource, EffectKind, ItemKind, Policy, Principal, Request, diff_decisions,
};
use serde_json::{Value, json};

fn policy(src: &str) -> Policy {
    Policy::from_yaml(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn req(
    user: &str,
    groups: &[&str],
    server: &str,
    method: &str,
    tool: Option<&str>,
    args: Value,
) -> Request {
    Request {
        principal: Principal::new(user, groups.iter().copied()),
        server: server.into(),
        method: method.into(),
        tool: tool.map(Into::into),
        arguments: args,
    }
}

fn call(tool: &str, args: Value) -> Request {
    req("alice", &["eng"], "db", "tools/call", Some(tool), args)
}

/// Every combination of matching rule effects and configured defaults.
#[test]
fn precedence_table() {
    let defaults = [None, Some("allow"), Some("deny")];
    for mask in 0u8..8 {
        let (deny, approve, allow) = (mask & 4 != 0, mask & 2 != 0, mask & 1 != 0);
        for server_default in defaults {
            for doc_default in defaults {
                let mut src = String::from("version: 1\n");
                if let Some(d) = doc_default {
                    src += &format!("default: {d}\n");
                }
                if let Some(d) = server_default {
                    src += &format!("servers:\n  db: {{default: {d}}}\n");
                }
                src += "rules:\n";
                // A rule of every effect that does NOT match, to prove they are ignored.
                src += "  - {name: other-deny, tools: [other], effect: deny}\n";
                src += "  - {name: other-allow, servers: [elsewhere], effect: allow}\n";
                // The effect order is the reverse of specificity: precedence by effect comes first.
                if allow {
                    src += "  - {name: allow, principals: {groups: [eng]}, servers: [db], tools: [t], effect: allow}\n";
                }
                if approve {
                    src += "  - {name: approve, tools: [\"t*\"], effect: require_approval, approval: {approvers: [ops]}}\n";
                }
                if deny {
                    src += "  - {name: deny, effect: deny, message: no}\n";
                }
                let d = policy(&src).evaluate(&call("t", json!({})));
                let (kind, rule, source) = if deny {
                    (EffectKind::Deny, Some("deny"), None)
                } else if approve {
                    (EffectKind::RequireApproval, Some("approve"), None)
                } else if allow {
                    (EffectKind::Allow, Some("allow"), None)
                } else {
                    match (server_default, doc_default) {
                        (Some(s), _) => (kind_of(s), None, Some(DefaultSource::Server)),
                        (None, Some(s)) => (kind_of(s), None, Some(DefaultSource::Document)),
                        (None, None) => (EffectKind::Deny, None, Some(DefaultSource::Implicit)),
                    }
                };
                let case = format!(
                    "rules deny={deny} approve={approve} allow={allow}, server default {server_default:?}, document default {doc_default:?}"
                );
                assert_eq!(d.effect.kind(), kind, "{case}");
                assert_eq!(d.rule.as_deref(), rule, "{case}");
                assert_eq!(d.default_source, source, "{case}");
            }
        }
    }
}

fn kind_of(default: &str) -> EffectKind {
    match default {
        "allow" => EffectKind::Allow,
        _ => EffectKind::Deny,
    }
}

#[test]
fn default_deny_message_tells_the_user_what_to_do() {
    let d = policy("version: 1\n").evaluate(&call("query", json!({})));
    let gatehouse_policy::Effect::Deny { message } = d.effect else {
        panic!()
    };
    assert_eq!(
        message,
        "denied: no policy rule lets you use `tools/call` on `query` on server `db`; ask a Gatehouse administrator for access"
    );
    let d =
        policy("version: 1\nrules:\n  - {name: x, effect: deny}\n").evaluate(&call("q", json!({})));
    assert_eq!(
        d.effect,
        gatehouse_policy::Effect::Deny {
            message: "denied by policy rule `x`".into()
        }
    );
}

#[test]
fn most_specific_rule_of_the_winning_effect_decides_then_document_order() {
    let p = policy(
        r#"
version: 1
rules:
  - {name: any-tool, effect: allow, masking_profile: loose}
  - {name: glob-tool, tools: ["q*"], effect: allow, masking_profile: medium}
  - {name: exact-tool, tools: [query], effect: allow, masking_profile: strict}
  - {name: exact-tool-later, tools: [query, zzz], effect: allow, masking_profile: other}
  - {name: user-deny, principals: {users: [bob]}, effect: deny}
  - {name: group-deny, principals: {groups: [eng]}, effect: deny}
"#,
    );
    let d = p.evaluate(&req(
        "carol",
        &[],
        "db",
        "tools/call",
        Some("query"),
        json!({}),
    ));
    assert_eq!(d.rule.as_deref(), Some("exact-tool"));
    assert_eq!(d.masking_profile.as_deref(), Some("strict"));
    let d = p.evaluate(&req(
        "carol",
        &[],
        "db",
        "tools/call",
        Some("quux"),
        json!({}),
    ));
    assert_eq!(d.rule.as_deref(), Some("glob-tool"));
    let d = p.evaluate(&req(
        "bob",
        &["eng"],
        "db",
        "tools/call",
        Some("query"),
        json!({}),
    ));
    assert_eq!(d.rule.as_deref(), Some("user-deny"));
    assert_eq!(d.masking_profile, None);
}

#[test]
fn masking_comes_from_the_decider_else_most_specific_allow_else_server_then_document() {
    let p = policy(
        r#"
version: 1
default: allow
masking_profile: doc-profile
servers:
  db: {masking_profile: server-profile}
rules:
  - {name: allow-all, effect: allow, masking_profile: broad}
  - {name: allow-query, tools: [query], effect: allow, masking_profile: narrow}
  - {name: approve-query, tools: [query], principals: {groups: [ext]}, effect: require_approval, approval: {approvers: [ops]}}
  - {name: approve-other, tools: [report], effect: require_approval, approval: {approvers: [ops]}, masking_profile: own}
"#,
    );
    let d = p.evaluate(&req(
        "x",
        &["ext"],
        "db",
        "tools/call",
        Some("query"),
        json!({}),
    ));
    assert_eq!(d.rule.as_deref(), Some("approve-query"));
    assert_eq!(
        d.masking_profile.as_deref(),
        Some("narrow"),
        "most specific allow"
    );
    let d = p.evaluate(&req(
        "x",
        &[],
        "db",
        "tools/call",
        Some("report"),
        json!({}),
    ));
    assert_eq!(
        d.masking_profile.as_deref(),
        Some("own"),
        "deciding rule's own"
    );

    let p = policy(
        "version: 1\ndefault: allow\nmasking_profile: doc-profile\nservers:\n  db: {masking_profile: server-profile}\n",
    );
    let d = p.evaluate(&call("q", json!({})));
    assert_eq!(
        (d.rule, d.masking_profile.as_deref()),
        (None, Some("server-profile"))
    );
    let d = p.evaluate(&req("a", &[], "wiki", "tools/call", Some("q"), json!({})));
    assert_eq!(d.masking_profile.as_deref(), Some("doc-profile"));
    assert_eq!(d.default_source, Some(DefaultSource::Document));
}

#[test]
fn principals_servers_methods_and_tools_all_have_to_match() {
    let p = policy(
        r#"
version: 1
rules:
  - name: r
    principals: {users: [alice], groups: [dba]}
    servers: ["prod-*", staging]
    methods: [tools/call]
    tools: ["read_*"]
    effect: allow
"#,
    );
    let allowed = |user: &str, groups: &[&str], server: &str, method: &str, tool: Option<&str>| {
        p.evaluate(&req(user, groups, server, method, tool, Value::Null))
            .effect
            .kind()
            == EffectKind::Allow
    };
    assert!(allowed(
        "alice",
        &[],
        "prod-eu",
        "tools/call",
        Some("read_rows")
    ));
    assert!(allowed(
        "zed",
        &["x", "dba"],
        "staging",
        "tools/call",
        Some("read_rows")
    ));
    assert!(
        !allowed("zed", &["eng"], "staging", "tools/call", Some("read_rows")),
        "principal"
    );
    assert!(
        !allowed("alice", &[], "dev", "tools/call", Some("read_rows")),
        "server"
    );
    assert!(
        !allowed("alice", &[], "prod-eu", "prompts/get", Some("read_rows")),
        "method"
    );
    assert!(
        !allowed("alice", &[], "prod-eu", "tools/call", Some("write_rows")),
        "tool"
    );
    assert!(
        !allowed("alice", &[], "prod-eu", "tools/call", None),
        "no target"
    );
}

#[test]
fn argument_conditions_use_json_pointers_and_all_must_hold() {
    let p = policy(
        r#"
version: 1
default: allow
rules:
  - name: ddl
    arguments:
      - {pointer: /sql, matches: '(?i)\b(drop|truncate|alter)\b'}
      - {pointer: /db, matches: '^prod$'}
    effect: deny
  - name: nested
    arguments: [{pointer: /opts/a~1b/0, matches: secret}]
    effect: deny
  - name: anywhere
    arguments: [{pointer: "", matches: rm -rf}]
    effect: deny
"#,
    );
    let rule = |args: Value| p.evaluate(&call("query", args)).rule;
    assert_eq!(
        rule(json!({"sql": "DROP table x", "db": "prod"})).as_deref(),
        Some("ddl")
    );
    assert_eq!(
        rule(json!({"sql": "DROP table x", "db": "dev"})),
        None,
        "both must hold"
    );
    assert_eq!(rule(json!({"sql": "select 1", "db": "prod"})), None);
    assert_eq!(
        rule(json!({"db": "prod"})),
        None,
        "missing value never matches"
    );
    assert_eq!(
        rule(json!({"sql": ["x", "drop y"], "db": "prod"})).as_deref(),
        Some("ddl"),
        "non-strings match as JSON text"
    );
    assert_eq!(
        rule(json!({"opts": {"a/b": ["secret"]}})).as_deref(),
        Some("nested")
    );
    assert_eq!(
        rule(json!({"cmd": {"deep": ["rm -rf /"]}})).as_deref(),
        Some("anywhere")
    );
    assert_eq!(rule(Value::Null), None);
    assert_eq!(rule(json!("just a string")), None);
}

#[test]
fn visibility_follows_what_could_be_allowed_or_approved() {
    let p = policy(
        r#"
version: 1
rules:
  - {name: eng-tools, principals: {groups: [eng]}, methods: [tools/call], tools: ["*"], effect: allow}
  - {name: no-admin, methods: [tools/call], tools: ["admin_*"], effect: deny}
  - {name: guarded, methods: [tools/call], tools: [exec], arguments: [{pointer: /cmd, matches: rm}], effect: deny}
  - {name: approve-delete, principals: {groups: [ops]}, methods: [tools/call], tools: [delete], effect: require_approval, approval: {approvers: [dba]}}
  - {name: docs, methods: [resources/read], tools: ["file:///docs/*"], effect: allow}
"#,
    );
    let eng = Principal::new("a", ["eng"]);
    let ops = Principal::new("o", ["ops"]);
    assert!(p.visible(&eng, "db", ItemKind::Tool, "query"));
    assert!(
        !p.visible(&eng, "db", ItemKind::Tool, "admin_reset"),
        "unconditional deny hides"
    );
    assert!(
        p.visible(&eng, "db", ItemKind::Tool, "exec"),
        "conditional deny does not hide"
    );
    assert!(!p.visible(&ops, "db", ItemKind::Tool, "query"));
    assert!(
        p.visible(&ops, "db", ItemKind::Tool, "delete"),
        "approval makes it visible"
    );
    assert!(p.visible(&ops, "db", ItemKind::Resource, "file:///docs/a/b.md"));
    assert!(!p.visible(&ops, "db", ItemKind::Resource, "file:///etc/passwd"));
    assert!(
        !p.visible(&eng, "db", ItemKind::Prompt, "query"),
        "tools/call rules say nothing about prompts"
    );

    let open =
        policy("version: 1\ndefault: allow\nrules:\n  - {name: no, tools: [x], effect: deny}\n");
    assert!(open.visible(&ops, "db", ItemKind::Prompt, "anything"));
    assert!(!open.visible(&ops, "db", ItemKind::Prompt, "x"));
}

#[test]
fn may_connect_needs_something_usable_and_no_blanket_deny() {
    let p = policy(
        r#"
version: 1
rules:
  - {name: eng, principals: {groups: [eng]}, tools: [query], effect: allow}
  - {name: banned, principals: {users: [mallory]}, servers: [db], effect: deny}
"#,
    );
    assert!(p.may_connect(&Principal::new("a", ["eng"]), "db"));
    assert!(!p.may_connect(&Principal::new("mallory", ["eng"]), "db"));
    assert!(p.may_connect(&Principal::new("mallory", ["eng"]), "wiki"));
    assert!(!p.may_connect(&Principal::new("b", ["sales"]), "db"));
}

#[test]
fn diff_reports_only_changed_outcomes() {
    let old = policy(
        "version: 1\nrules:\n  - {name: all, principals: {groups: [eng]}, effect: allow, masking_profile: default}\n",
    );
    let new = policy(
        r#"
version: 1
rules:
  - {name: all-renamed, principals: {groups: [eng]}, effect: allow, masking_profile: default}
  - {name: no-ddl, tools: [query], arguments: [{pointer: /sql, matches: "(?i)drop"}], effect: deny}
  - {name: del, tools: [delete], effect: require_approval, approval: {approvers: [dba]}}
  - {name: ops, principals: {groups: [ops]}, tools: [query], effect: allow}
"#,
    );
    let requests = [
        call("query", json!({"sql": "select 1"})),
        call("query", json!({"sql": "drop table t"})),
        call("delete", json!({"id": 1})),
        req("o", &["ops"], "db", "tools/call", Some("query"), json!({})),
    ];
    let changes = diff_decisions(&old, &new, requests.iter());
    let summary: Vec<(usize, EffectKind, EffectKind)> = changes
        .iter()
        .map(|c| (c.index, c.transition().0, c.transition().1))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, EffectKind::Allow, EffectKind::Deny),
            (2, EffectKind::Allow, EffectKind::RequireApproval),
            (3, EffectKind::Deny, EffectKind::Allow),
        ]
    );
    assert_eq!(
        changes[0].to_string(),
        r#"alice tools/call db/query {"sql":"drop table t"}: allowed → denied (rule `no-ddl`)"#
    );
    assert_eq!(
        changes[2].to_string(),
        "o tools/call db/query: denied → allowed (rule `ops`)"
    );
    assert!(diff_decisions(&old, &old, requests.iter()).is_empty());
}

#[test]
fn index_does_not_hide_rules_with_globs_or_many_names() {
    // Rules in every index bucket: exact server + exact tool, exact server + glob tool,
    // glob server + exact tool, glob server + glob tool, and several names per list.
    let p = policy(
        r#"
version: 1
rules:
  - {name: a, servers: [s1, s2], tools: [t1, t2], effect: allow}
  - {name: b, servers: [s1], tools: ["x*"], effect: allow}
  - {name: c, servers: ["g*"], tools: [t1], effect: allow}
  - {name: d, servers: ["h*"], tools: ["y*"], effect: allow}
  - {name: e, servers: [s3, "k*"], tools: [t3, "z*"], effect: allow}
"#,
    );
    let rule = |server: &str, tool: &str| {
        p.evaluate(&req(
            "u",
            &[],
            server,
            "tools/call",
            Some(tool),
            Value::Null,
        ))
        .rule
    };
    for (server, tool, expected) in [
        ("s1", "t1", Some("a")),
        ("s2", "t2", Some("a")),
        ("s1", "x9", Some("b")),
        ("g1", "t1", Some("c")),
        ("h1", "y1", Some("d")),
        ("s3", "z1", Some("e")),
        ("k1", "t3", Some("e")),
        ("s2", "x9", None),
        ("g1", "t2", None),
        ("s3", "t1", None),
    ] {
        assert_eq!(rule(server, tool).as_deref(), expected, "{server}/{tool}");
    }
}

#[test]
fn principal_prefilter_never_drops_a_matching_rule() {
    // 300 rules, each for one group or one user; every one must still be found.
    let mut src = String::from("version: 1\nrules:\n");
    for i in 0..150 {
        src += &format!(
            "  - {{name: g{i}, principals: {{groups: [grp{i}]}}, tools: [t], effect: allow}}\n"
        );
        src += &format!(
            "  - {{name: u{i}, principals: {{users: [usr{i}]}}, tools: [t], effect: deny}}\n"
        );
    }
    let p = policy(&src);
    for i in 0..150 {
        let by_group = req(
            "nobody",
            &["other", &format!("grp{i}")],
            "db",
            "tools/call",
            Some("t"),
            Value::Null,
        );
        assert_eq!(p.evaluate(&by_group).rule, Some(format!("g{i}")));
        let by_user = req(
            &format!("usr{i}"),
            &[],
            "db",
            "tools/call",
            Some("t"),
            Value::Null,
        );
        assert_eq!(p.evaluate(&by_user).rule, Some(format!("u{i}")));
        // A group named like a user is not that user.
        let confused = req(
            "x",
            &[&format!("usr{i}")],
            "db",
            "tools/call",
            Some("t"),
            Value::Null,
        );
        assert_eq!(p.evaluate(&confused).rule, None);
    }
}
