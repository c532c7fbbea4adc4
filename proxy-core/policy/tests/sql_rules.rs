//! `sql:` conditions in allow, deny and require_approval rules, their validation errors, and
//! the limits that keep hostile text from costing more than a refusal.

use gatehouse_policy::{Effect, EffectKind, Policy, Principal, Request};
use serde_json::json;

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("{}", e.with_file("policy.yaml")))
}

fn query(sql: &str) -> Request {
    Request {
        principal: Principal::new("alice", ["engineers"]),
        server: "db".into(),
        method: "tools/call".into(),
        tool: Some("query".into()),
        arguments: json!({ "sql": sql }),
    }
}

fn errors(yaml: &str) -> Vec<String> {
    Policy::from_yaml(yaml)
        .expect_err("document must be rejected")
        .errors()
        .iter()
        .map(|e| e.with_file("policy.yaml").to_string())
        .collect()
}

const ALLOW_LIST: &str = "version: 1
rules:
  - name: reporting
    tools: [query]
    arguments:
      - pointer: /sql
        sql:
          dialect: postgres
          statements: [select, insert]
          tables: [\"public.*\", \"reporting.daily_*\"]
          max_statements: 2
    effect: allow
";

#[test]
fn an_allow_rule_permits_only_sql_that_meets_every_requirement() {
    let p = policy(ALLOW_LIST);
    for sql in [
        "SELECT * FROM customers",
        "select * from PUBLIC.Customers",
        "INSERT INTO reporting.daily_sales SELECT * FROM orders",
        "WITH x AS (SELECT 1) SELECT * FROM x, customers",
        "SELECT 1; SELECT 2",
    ] {
        assert_eq!(p.evaluate(&query(sql)).effect, Effect::Allow, "{sql}");
    }
    for (sql, why) in [
        ("SELECT * FROM hr.salaries", "uses table `hr.salaries`"),
        (
            "SELECT * FROM \"Public\".customers",
            "uses table `Public.customers`",
        ),
        (
            "DELETE FROM customers",
            "a `delete` statement; only select, insert statements pass",
        ),
        (
            "SELECT 1; SELECT 2; SELECT 3",
            "3 statements, more than the 2 allowed",
        ),
        (
            "WITH secret AS (SELECT * FROM hr.salaries) SELECT * FROM secret",
            "hr.salaries",
        ),
        (
            "SELECT * FROM customers, (WITH hr AS (SELECT 1) SELECT * FROM hr) s, hr.salaries",
            "hr.salaries",
        ),
        ("SELECT pg_read_file('/etc/passwd')", "dangerous function"),
        ("SELEC 1", "does not parse"),
    ] {
        let explained = p.explain(&query(sql));
        // No rule applies: the default (deny) decides; the allow rule did not match.
        assert_eq!(explained.decision.effect.kind(), EffectKind::Deny, "{sql}");
        assert_eq!(explained.decision.rule, None, "{sql}");
        let deny = policy(&ALLOW_LIST.replace("effect: allow", "effect: deny"));
        let Effect::Deny { message } = deny.evaluate(&query(sql)).effect else {
            panic!("{sql}: the deny form must catch it")
        };
        assert!(message.contains(why), "{sql}: {message}");
    }
}

#[test]
fn a_cte_name_shadows_a_table_only_where_the_standard_says() {
    let p = policy(&ALLOW_LIST.replace(
        "[\"public.*\", \"reporting.daily_*\"]",
        "[public.customers]",
    ));
    assert_eq!(
        p.evaluate(&query(
            "WITH s AS (SELECT * FROM customers) SELECT * FROM s"
        ))
        .effect,
        Effect::Allow
    );
    // Non-recursive: inside its own body `secret` is the real table.
    let d = p.evaluate(&query(
        "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret",
    ));
    assert_eq!(d.effect.kind(), EffectKind::Deny);
    // Recursive: inside its own body the name is the CTE.
    let d = p.evaluate(&query(
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t",
    ));
    assert_eq!(d.effect, Effect::Allow);
}

#[test]
fn require_approval_holds_what_is_not_read_only_and_says_why() {
    let p = policy(
        "version: 1
rules:
  - name: engineers-query
    principals: {groups: [engineers]}
    tools: [query]
    effect: allow
  - name: writes-need-dba
    tools: [query]
    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]
    effect: require_approval
    approval: {approvers: [dba]}
",
    );
    assert_eq!(p.evaluate(&query("SELECT 1")).effect, Effect::Allow);
    let explained = p.explain(&query("SELECT 1; UPDATE customers SET vip = true"));
    assert_eq!(
        explained.decision.effect.kind(),
        EffectKind::RequireApproval
    );
    assert_eq!(explained.decision.rule.as_deref(), Some("writes-need-dba"));
    assert_eq!(
        explained.reason.as_deref(),
        Some("statement 2 is UPDATE customers SET vip = true, which is not a read-only query")
    );
}

#[test]
fn a_denial_names_the_statement_that_matched() {
    let p = policy(
        "version: 1
default: allow
rules:
  - name: read-only
    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]
    effect: deny
",
    );
    let d = p.evaluate(&query("SELECT 1; DROP TABLE customers"));
    assert_eq!(
        d.effect,
        Effect::Deny {
            message: "denied by policy rule `read-only` (statement 2 is DROP TABLE customers, \
                      which is not a read-only query)"
                .into()
        }
    );
    // A value that is not text is not SQL: refused, never waved through.
    let mut r = query("");
    r.arguments = json!({"sql": ["DROP TABLE customers"]});
    assert_eq!(p.evaluate(&r).effect.kind(), EffectKind::Deny);
}

#[test]
fn dangerous_functions_are_configurable() {
    let p = policy(
        "version: 1
rules:
  - name: q
    arguments: [{pointer: /sql, sql: {dialect: postgres, dangerous_functions: [default, \"audit_*\"]}}]
    effect: allow
  - name: none
    tools: [free]
    arguments: [{pointer: /sql, sql: {dialect: postgres, dangerous_functions: []}}]
    effect: allow
",
    );
    let mut free = query("SELECT pg_sleep(1)");
    free.tool = Some("free".into());
    assert_eq!(p.evaluate(&free).effect, Effect::Allow);
    for sql in ["SELECT pg_sleep(1)", "SELECT Audit_Purge()"] {
        let mut r = query(sql);
        r.tool = Some("other".into());
        assert_eq!(p.evaluate(&r).effect.kind(), EffectKind::Deny, "{sql}");
    }
}

#[test]
fn case_folds_as_each_dialect_folds_it() {
    let yaml = |dialect: &str, glob: &str| {
        format!(
            "version: 1\nrules:\n  - name: t\n    arguments: [{{pointer: /sql, sql: {{dialect: {dialect}, tables: [\"{glob}\"]}}}}]\n    effect: allow\n"
        )
    };
    let allowed = |dialect: &str, glob: &str, sql: &str| {
        policy(&yaml(dialect, glob)).evaluate(&query(sql)).effect == Effect::Allow
    };
    assert!(allowed(
        "mssql",
        "dbo.Customers",
        "SELECT * FROM [CUSTOMERS]"
    ));
    assert!(allowed(
        "snowflake",
        "PUBLIC.CUSTOMERS",
        "SELECT * FROM customers"
    ));
    assert!(!allowed(
        "snowflake",
        "PUBLIC.CUSTOMERS",
        "SELECT * FROM \"customers\""
    ));
    assert!(allowed(
        "postgres",
        "public.customers",
        "SELECT * FROM Customers"
    ));
    assert!(!allowed(
        "postgres",
        "public.customers",
        "SELECT * FROM \"Customers\""
    ));
    assert!(allowed("sqlite", "customers", "SELECT * FROM CUSTOMERS"));
    assert!(allowed(
        "mysql",
        "shop.orders",
        "SELECT * FROM `shop`.`ORDERS`"
    ));
}

#[test]
fn errors_point_at_the_value_and_suggest_the_name() {
    let got = errors(
        "version: 1
rules:
  - name: q
    tools: [query]
    arguments:
      - pointer: /sql
        sql: {dialect: postgress, statements: [select, delet, frobnicate], max_statements: 0}
    effect: allow
",
    );
    assert_eq!(
        got,
        [
            "policy.yaml:7:24: rule `q`: unknown SQL dialect `postgress` (did you mean `postgres`?); use one of postgres, mssql, mysql, sqlite, snowflake, bigquery, generic",
            "policy.yaml:7:56: rule `q`: unknown statement kind `delet` (did you mean `delete`?); use any of select, insert, update, delete, merge, create, alter, drop, truncate, grant, revoke, copy, explain, show, set, transaction, call, execute, prepare, declare, use, lock, comment, maintenance, other",
            "policy.yaml:7:63: rule `q`: unknown statement kind `frobnicate`; use any of select, insert, update, delete, merge, create, alter, drop, truncate, grant, revoke, copy, explain, show, set, transaction, call, execute, prepare, declare, use, lock, comment, maintenance, other",
            "policy.yaml:7:92: rule `q`: max_statements must be a whole number of at least 1, not a number",
        ]
    );
    let got = errors(
        "version: 1
rules:
  - name: q
    arguments:
      - pointer: /sql
        sql: {read_only: yes, table: [x]}
      - pointer: /cmd
        matches: rm
        command: {programs: [ls]}
      - pointer: /cmd
        command: {program: [ls], flags: [l], allow_metacharacters: 1}
    effect: deny
",
    );
    assert_eq!(
        got,
        [
            "policy.yaml:6:14: the sql condition of rule `q` has no `dialect`; name the database's SQL: postgres, mssql, mysql, sqlite, snowflake, bigquery, generic",
            "policy.yaml:6:26: read_only of rule `q` must be true or false, not text",
            "policy.yaml:6:31: unknown key `table` in the sql condition of rule `q`; did you mean `tables`?",
            "policy.yaml:9:9: an argument condition of rule `q` has more than one of `matches`, `sql` and `command`; write each as its own condition (all conditions must hold)",
            "policy.yaml:11:19: unknown key `program` in the command condition of rule `q`; did you mean `programs`?",
            "policy.yaml:11:42: rule `q`: `l` is not a flag; write flags as `-l` or `--all` (a value after `=` is not part of the flag)",
            "policy.yaml:11:68: allow_metacharacters of rule `q` must be true or false, not a number",
        ]
    );
}

/// Runs `f` on a thread with the stack of a tokio worker (2 MiB), where the gateway decides.
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic, no stack overflow")
}

#[test]
fn huge_or_deeply_nested_text_is_refused_not_crashed_on() {
    let texts = [
        // 1 MB: refused unread.
        format!("SELECT {}1", "1 + ".repeat(256 * 1024)),
        // Just under the size limit: a chain the parser builds without recursing, one tree
        // level per operator.
        format!("SELECT {}1", "1 + ".repeat(16 * 1024 - 4)),
        format!("SELECT {}1", "1 UNION SELECT ".repeat(4000)),
        // Nesting that the parser's recursion limit stops.
        format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!(
            "SELECT * FROM {}t{}",
            "(SELECT * FROM ".repeat(500),
            ")".repeat(500)
        ),
        format!(
            "SELECT {}1{}",
            "CASE WHEN ".repeat(2000),
            " THEN 1 END".repeat(2000)
        ),
        "[".repeat(60_000),
    ];
    let decisions = on_worker_stack(move || {
        let p = policy(
            "version: 1\nrules:\n  - name: ro\n    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]\n    effect: allow\n",
        );
        texts
            .iter()
            .map(|t| (t.len(), p.explain(&query(t)).decision.effect.kind()))
            .collect::<Vec<_>>()
    });
    for (len, kind) in decisions {
        // Either refused (too long, too deep, does not parse) or, for the long but valid
        // chains, allowed as the read-only queries they are: never a crash.
        assert!(
            kind == EffectKind::Deny || len < 64 * 1024,
            "{len}-byte text: {kind}"
        );
    }
    let p = policy(
        "version: 1\nrules:\n  - name: ro\n    arguments: [{pointer: /sql, sql: {dialect: postgres, read_only: true}}]\n    effect: deny\n",
    );
    let big = format!("SELECT {}1", "1 + ".repeat(256 * 1024));
    let Effect::Deny { message } = p.evaluate(&query(&big)).effect else {
        panic!("1 MB text must be refused")
    };
    assert!(message.contains("over the 65536-byte limit"), "{message}");
    let deep = format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100));
    let Effect::Deny { message } = p.evaluate(&query(&deep)).effect else {
        panic!("deep text must be refused")
    };
    assert!(
        message.contains("nested more than 48 levels deep"),
        "{message}"
    );
}
