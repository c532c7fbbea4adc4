//! Any text, as SQL in every dialect and as a shell command line: a decision is reached without
//! a panic or a stack overflow, the same text always gets the same decision, and text the
//! read-only rule lets through stays refused once a DROP is stacked after it.
#![no_main]

use gatehouse_policy::{EffectKind, Policy, Principal, Request};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::sync::OnceLock;

const DIALECTS: &[&str] = &[
    "postgres",
    "mssql",
    "mysql",
    "sqlite",
    "snowflake",
    "bigquery",
    "generic",
];

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let mut src = String::from("version: 1\ndefault: allow\nrules:\n");
        for d in DIALECTS {
            src.push_str(&format!(
                "  - {{name: ro-{d}, tools: [{d}], arguments: [{{pointer: /sql, sql: {{dialect: {d}, read_only: true, tables: [\"*\"]}}}}], effect: deny}}\n"
            ));
        }
        src.push_str("  - {name: shell, tools: [shell], arguments: [{pointer: /command, command: {programs: [ls, git], flags: [-l, -a], allow_metacharacters: true}}], effect: deny}\n");
        Policy::from_yaml(&src).expect("fuzz policy is valid")
    })
}

fn decide(tool: &str, arguments: serde_json::Value) -> EffectKind {
    let request = Request {
        principal: Principal::new("fuzz", ["fuzzers"]),
        server: "db".into(),
        method: "tools/call".into(),
        tool: Some(tool.into()),
        arguments,
    };
    let first = policy().explain(&request);
    assert_eq!(first, policy().explain(&request), "decisions are deterministic");
    first.decision.effect.kind()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for d in DIALECTS {
        let kind = decide(d, json!({ "sql": text }));
        // Text that passed as read-only, then a statement separator on a fresh line and a DROP:
        // the DROP must be seen (unless the text left a comment or string open, in which
        // case it does not parse and is refused too).
        if kind == EffectKind::Allow {
            let stacked = format!("{text}\n;DROP TABLE fuzz_victim");
            assert_eq!(
                decide(d, json!({ "sql": stacked })),
                EffectKind::Deny,
                "{d}: a DROP after read-only text slipped through: {stacked:?}"
            );
        }
    }
    decide("shell", json!({ "command": text }));
});
