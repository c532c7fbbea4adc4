//! Table-driven SQL corpora (tests/corpus/*.tsv): classic bypasses and benign look-alikes, each
//! with the decision the policy must reach. The policy is the demo's shape: engineers may use
//! `query`, and a deny rule refuses any text that is not read-only in the dialect.

use gatehouse_policy::{Effect, Policy, Principal, Request};
use serde_json::json;

/// One corpus line: the expected effect, the SQL, and a fragment the denial must mention.
struct Case {
    line: usize,
    allow: bool,
    sql: String,
    fragment: Option<String>,
}

fn corpus(file: &str) -> Vec<Case> {
    let path = format!("{}/tests/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("corpus file ships with the crate");
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        .map(|(n, l)| {
            let mut cols = l.splitn(3, '\t');
            let expected = cols.next().unwrap_or_default();
            let sql = cols.next().unwrap_or_default().replace("\\n", "\n");
            let fragment = cols.next().map(str::to_owned);
            assert!(
                matches!(expected, "allow" | "deny"),
                "{file}:{}: expected `allow` or `deny`",
                n + 1
            );
            Case {
                line: n + 1,
                allow: expected == "allow",
                sql,
                fragment,
            }
        })
        .collect()
}

fn read_only_policy(dialect: &str) -> Policy {
    Policy::from_yaml(&format!(
        "version: 1
rules:
  - name: engineers-query
    principals: {{groups: [engineers]}}
    tools: [query]
    effect: allow
  - name: read-only
    tools: [query]
    arguments:
      - pointer: /sql
        sql: {{dialect: {dialect}, read_only: true}}
    effect: deny
    message: query is read-only
"
    ))
    .expect("corpus policy is valid")
}

pub fn query(sql: &str) -> Request {
    Request {
        principal: Principal::new("alice", ["engineers"]),
        server: "db".into(),
        method: "tools/call".into(),
        tool: Some("query".into()),
        arguments: json!({ "sql": sql }),
    }
}

pub fn run(file: &str, dialect: &str, minimum: usize) {
    let policy = read_only_policy(dialect);
    let cases = corpus(file);
    assert!(cases.len() >= minimum, "{file} holds {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let decision = policy.evaluate(&query(&case.sql));
        let ok = match (&decision.effect, case.allow) {
            (Effect::Allow, true) => true,
            (Effect::Deny { message }, false) => case
                .fragment
                .as_ref()
                .is_none_or(|f| message.contains(f.as_str())),
            _ => false,
        };
        if std::env::var_os("CORPUS_DUMP").is_some() {
            eprintln!(
                "{file}:{} {:?} => {:?}",
                case.line, case.sql, decision.effect
            );
        }
        if !ok {
            wrong.push(format!(
                "{file}:{}: {:?} → {:?}",
                case.line, case.sql, decision.effect
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases decided wrongly:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn postgres_corpus() {
    run("postgres.tsv", "postgres", 150);
}

#[test]
fn mssql_corpus() {
    run("mssql.tsv", "mssql", 150);
}

#[test]
fn unicode_escapes_in_the_json_request_are_seen_decoded() {
    // The gateway hands the policy the decoded JSON, so an escaped keyword is still a keyword.
    let body = r#"{"sql": "SELECT 1; \u0044ROP\u0020TABLE customers"}"#;
    let arguments: serde_json::Value = serde_json::from_str(body).unwrap();
    let mut request = query("");
    request.arguments = arguments;
    let decision = read_only_policy("postgres").evaluate(&request);
    let Effect::Deny { message } = decision.effect else {
        panic!("expected a denial, got {decision:?}")
    };
    assert!(
        message.contains("statement 2 is DROP TABLE customers"),
        "{message}"
    );
    // A non-breaking space is not SQL whitespace: the text does not parse and is refused.
    let decision = read_only_policy("postgres").evaluate(&query("DROP\u{a0}TABLE customers"));
    assert!(
        matches!(decision.effect, Effect::Deny { .. }),
        "{decision:?}"
    );
}
