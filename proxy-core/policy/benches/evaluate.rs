//! Decision cost with 1,000 rules (target: ≤ 5 µs per decision).
//!
//! `indexed`: 1,000 rules spread over 50 servers with exact tool names, group principals,
//! argument regexes and approvals, plus global glob rules — the shape of a real estate.
//! `all_globs`: 1,000 rules whose servers and tools are all globs, so the server/tool index
//! cannot narrow anything: `team_scoped` (each rule for one of 7 groups, narrowed by the
//! principal prefilter) and `everyone` (no principals; narrowed by the tool-prefix prefilter).
//! `suffix_globs`: 1,000 `*_N` rules for everyone (narrowed by the tool-suffix prefilter).
//! `contains_globs`: 1,000 `*_N_*` rules for everyone (narrowed by the byte-pair prefilter).
//! `unfilterable`: 1,000 rules differing only in an argument regex: every regex runs (worst case).

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_policy::{ItemKind, Policy, Principal, Request, request_digest};
use serde_json::json;
use std::fmt::Write;
use std::hint::black_box;

fn indexed_policy() -> Policy {
    let mut src = String::from("version: 1\ndefault: deny\nrules:\n");
    for i in 0..990 {
        let server = format!("srv{}", i % 50);
        let tool = format!("tool{}", i / 50);
        let group = format!("team{}", i % 7);
        let rule = match i % 5 {
            0 => format!(
                "  - {{name: r{i}, servers: [{server}], tools: [{tool}], arguments: [{{pointer: /sql, matches: '(?i)\\b(drop|truncate|alter|delete|update)\\b'}}], effect: deny, message: no}}\n"
            ),
            1 => format!(
                "  - {{name: r{i}, principals: {{groups: [{group}]}}, servers: [{server}], tools: [{tool}], effect: require_approval, approval: {{approvers: [dba], quorum: 1, ttl: 30m}}}}\n"
            ),
            _ => format!(
                "  - {{name: r{i}, principals: {{groups: [{group}, eng]}}, servers: [{server}], methods: [tools/call], tools: [{tool}], effect: allow, masking_profile: default}}\n"
            ),
        };
        src.push_str(&rule);
    }
    for i in 0..10 {
        writeln!(
            src,
            "  - {{name: g{i}, servers: [\"prod-{i}*\"], tools: [\"admin_*\"], effect: deny}}"
        )
        .unwrap();
    }
    Policy::from_yaml(&src).expect("bench policy is valid")
}

/// 1,000 rules with glob servers and tools; `scoped` gives each rule one of 7 teams,
/// otherwise every rule applies to everyone (nothing narrows the scan).
fn all_globs_policy(scoped: bool) -> Policy {
    let mut src = String::from("version: 1\ndefault: deny\nrules:\n");
    for i in 0..1000 {
        let effect = if i % 10 == 0 { "deny" } else { "allow" };
        let principals = if scoped {
            format!("principals: {{groups: [team{}]}}, ", i % 7)
        } else {
            String::new()
        };
        writeln!(
            src,
            "  - {{name: r{i}, {principals}servers: [\"srv*\"], tools: [\"tool{i}_*\"], effect: {effect}}}"
        )
        .unwrap();
    }
    Policy::from_yaml(&src).expect("bench policy is valid")
}

/// 1,000 rules for everyone with glob servers and tool globs `PREFIX N SUFFIX` (e.g. `*_7` or
/// `*_7_*`); with `*_N_*` no literal prefix or suffix exists, so nothing can skip a rule.
fn glob_family_policy(prefix: &str, suffix: &str) -> Policy {
    let mut src = String::from("version: 1\ndefault: deny\nrules:\n");
    for i in 0..1000 {
        writeln!(
            src,
            "  - {{name: r{i}, servers: [\"srv*\"], tools: [\"{prefix}{i}{suffix}\"], effect: allow}}"
        )
        .unwrap();
    }
    Policy::from_yaml(&src).expect("bench policy is valid")
}

/// The residual worst case: 1,000 rules for every principal, server and tool, differing only
/// in an argument regex, so each regex runs on every request.
fn argument_regex_policy() -> Policy {
    let mut src = String::from("version: 1\ndefault: allow\nrules:\n");
    for i in 0..1000 {
        writeln!(
            src,
            "  - {{name: r{i}, arguments: [{{pointer: /sql, matches: '(?i)\\bword{i}\\b'}}], effect: deny}}"
        )
        .unwrap();
    }
    Policy::from_yaml(&src).expect("bench policy is valid")
}

fn request(server: &str, tool: &str, sql: &str) -> Request {
    Request {
        principal: Principal::new("alice", ["eng", "team3", "readers"]),
        server: server.into(),
        method: "tools/call".into(),
        tool: Some(tool.into()),
        arguments: json!({"sql": sql, "limit": 100}),
    }
}

fn bench(c: &mut Criterion) {
    let indexed = indexed_policy();
    let globs = all_globs_policy(true);
    let globs_everyone = all_globs_policy(false);
    let suffixes = glob_family_policy("*_", "");
    let contains = glob_family_policy("*_", "_*");
    let regexes = argument_regex_policy();
    let select = "SELECT id, name, email FROM customers WHERE region = 'eu' ORDER BY id LIMIT 100";
    let drop = "select 1; DROP TABLE customers";

    let mut g = c.benchmark_group("evaluate_1000_rules");
    let allow = request("srv7", "tool7", select);
    g.bench_function("indexed/allow", |b| {
        b.iter(|| indexed.evaluate(black_box(&allow)))
    });
    let deny = request("srv5", "tool5", drop);
    g.bench_function("indexed/deny_by_argument_regex", |b| {
        b.iter(|| indexed.evaluate(black_box(&deny)))
    });
    let miss = request("unknown", "nothing", select);
    g.bench_function("indexed/default_deny", |b| {
        b.iter(|| indexed.evaluate(black_box(&miss)))
    });
    let worst = request("srv1", "tool997_x", select);
    g.bench_function("all_globs/team_scoped", |b| {
        b.iter(|| globs.evaluate(black_box(&worst)))
    });
    g.bench_function("all_globs/everyone_scan_every_rule", |b| {
        b.iter(|| globs_everyone.evaluate(black_box(&worst)))
    });
    let last = request("srv1", "tool_999", select);
    g.bench_function("suffix_globs/everyone", |b| {
        b.iter(|| suffixes.evaluate(black_box(&last)))
    });
    let inner = request("srv1", "tool_999_x", select);
    g.bench_function("contains_globs/everyone", |b| {
        b.iter(|| contains.evaluate(black_box(&inner)))
    });
    g.bench_function("unfilterable/argument_regex_rules_everyone", |b| {
        b.iter(|| regexes.evaluate(black_box(&allow)))
    });
    g.finish();

    let who = Principal::new("alice", ["eng", "team3"]);
    c.bench_function("visible_1000_rules", |b| {
        b.iter(|| indexed.visible(black_box(&who), "srv7", ItemKind::Tool, black_box("tool7")))
    });
    let args = json!({"sql": select, "limit": 100, "options": {"timeout": 30, "explain": false}});
    c.bench_function("request_digest", |b| {
        b.iter(|| request_digest("customers", "tools/call", Some("query"), black_box(&args)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
