//! Decision cost with `sql:` and `command:` conditions (target: ≤ 20 µs p50 for 1 KB of SQL),
//! for a text seen for the first time (parsed) and for one seen before (remembered).
//!
//! The policy has the demo's shape: an allow rule for `query` and a deny rule whose `sql:`
//! condition requires read-only PostgreSQL. Cases: a realistic 1 KB read-only query (allowed),
//! the same followed by a DROP (denied, with the reason), a 1 MB text (refused unread), a
//! shell command line checked by a `command:` rule.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gatehouse_policy::{Policy, Principal, Request};
use serde_json::json;
use std::hint::black_box;

const POLICY: &str = "version: 1
rules:
  - name: engineers-query
    principals: {groups: [engineers]}
    tools: [query, shell]
    effect: allow
  - name: read-only
    tools: [query]
    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]
    effect: deny
  - name: safe-shell
    tools: [shell]
    arguments: [{pointer: /command, command: {programs: [git, ls, grep], allow_metacharacters: true}}]
    effect: deny
";

/// About 1 KB of the SQL an analyst runs: a CTE, joins, filters, grouping, a window.
fn one_kb_query() -> String {
    let sql = "WITH recent_orders AS (
    SELECT o.id, o.customer_id, o.total, o.created_at, o.status
    FROM public.orders o
    WHERE o.created_at > now() - interval '30 days' AND o.status IN ('paid', 'shipped', 'delivered')
), customer_totals AS (
    SELECT r.customer_id, count(*) AS order_count, sum(r.total) AS revenue, max(r.created_at) AS last_order
    FROM recent_orders r
    GROUP BY r.customer_id
    HAVING sum(r.total) > 100
)
SELECT c.id, c.name, c.email, c.country, t.order_count, t.revenue, t.last_order,
       rank() OVER (PARTITION BY c.country ORDER BY t.revenue DESC) AS country_rank,
       CASE WHEN t.revenue > 10000 THEN 'platinum' WHEN t.revenue > 1000 THEN 'gold' ELSE 'standard' END AS tier
FROM public.customers c
JOIN customer_totals t ON t.customer_id = c.id
LEFT JOIN public.customer_notes n ON n.customer_id = c.id AND n.note <> 'please update me'
WHERE c.deleted_at IS NULL AND c.country = ANY(ARRAY['DE', 'FR', 'NL', 'BE', 'AT', 'CH'])
  AND lower(c.email) NOT LIKE '%@example.com'
ORDER BY t.revenue DESC, c.name
LIMIT 100";
    assert!((900..1200).contains(&sql.len()), "{} bytes", sql.len());
    sql.to_owned()
}

fn request(tool: &str, arguments: serde_json::Value) -> Request {
    Request {
        principal: Principal::new("alice", ["engineers"]),
        server: "customers".into(),
        method: "tools/call".into(),
        tool: Some(tool.into()),
        arguments,
    }
}

fn bench(c: &mut Criterion) {
    let policy = Policy::from_yaml(POLICY).expect("bench policy is valid");
    let read = request("query", json!({"sql": one_kb_query()}));
    let drop = request(
        "query",
        json!({"sql": format!("{}; DROP TABLE customers", one_kb_query())}),
    );
    let huge = request("query", json!({"sql": "SELECT 1 + ".repeat(100_000)}));
    let shell = request(
        "shell",
        json!({"command": "git log --oneline -20 | grep -i 'fix' | grep -v wip"}),
    );
    let mut g = c.benchmark_group("sql");
    // For reference: sqlparser alone on the same text (where the time goes).
    let text = one_kb_query();
    g.bench_function("1kb_parse_only_for_reference", |b| {
        b.iter(|| {
            sqlparser::parser::Parser::parse_sql(
                &sqlparser::dialect::PostgreSqlDialect {},
                black_box(&text),
            )
            .map(|s| s.len())
        })
    });
    // Every text new: what the first call with a statement costs (the parse).
    let mut n = 0u64;
    g.bench_function("1kb_read_only_query_allowed_first_seen", |b| {
        b.iter_batched(
            || {
                n += 1;
                request(
                    "query",
                    json!({"sql": one_kb_query().replace("LIMIT 100", &format!("LIMIT {n}"))}),
                )
            },
            |r| policy.evaluate(black_box(&r)),
            BatchSize::SmallInput,
        )
    });
    // The same text again (an agent re-running its query): the remembered outcome.
    g.bench_function("1kb_read_only_query_allowed_repeated", |b| {
        b.iter(|| policy.evaluate(black_box(&read)))
    });
    g.bench_function("1kb_query_then_drop_denied", |b| {
        b.iter(|| policy.evaluate(black_box(&drop)))
    });
    g.bench_function("1mb_text_refused_unread", |b| {
        b.iter(|| policy.evaluate(black_box(&huge)))
    });
    g.bench_function("command_line_with_pipes_allowed", |b| {
        b.iter(|| policy.evaluate(black_box(&shell)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
