//! The SQL matcher through the running gateway, in front of a real PostgreSQL behind the
//! real `@modelcontextprotocol/server-postgres`: every line of the PostgreSQL corpus
//! (proxy-core/policy/tests/corpus/postgres.tsv) is sent as a `query` call. Each refused
//! call is answered by the gateway with the matcher's reason and never reaches the
//! database (the data is the same after each one); each allowed call reaches the server,
//! whose answer (rows, or the database's own error for a table that does not exist) comes
//! back. The decision on the record names the matching condition.

mod common;

use common::pg::{Cluster, fresh_database};
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::PathBuf;

const TOKEN: &str = "t";

const POLICY: &str = "version: 1
default: deny
rules:
  - name: engineers-query
    principals: {groups: [engineers]}
    tools: [query]
    effect: allow
  - name: read-only
    tools: [query]
    arguments:
      - pointer: /sql
        sql: {dialect: postgres, read_only: true}
    effect: deny
    message: query is read-only
";

const SEED: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, note text, status text,
                        data jsonb DEFAULT '{}', created_at timestamptz DEFAULT now(),
                        updated_at timestamptz, deleted_at timestamptz, country text);
CREATE TABLE \"Customers\" (id int PRIMARY KEY);
CREATE TABLE suppliers (id int PRIMARY KEY, name text);
CREATE TABLE events (id int PRIMARY KEY, data jsonb);
CREATE TABLE audit_words (id int PRIMARY KEY, \"update\" text);
CREATE TABLE words (id int PRIMARY KEY, \"delete\" text, \"drop\" text);
CREATE TABLE updates (id int PRIMARY KEY);
CREATE TABLE deleted_customers (id int PRIMARY KEY);
CREATE TABLE drop_log (id int PRIMARY KEY);
CREATE TABLE t (id int PRIMARY KEY, a int, b int);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric, created_at timestamptz DEFAULT now());
INSERT INTO customers (id, name, email, note, country) VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 'please update me', 'UK'),
  (2, 'Alan Turing', 'alan@example.com', 'drop table customers', 'UK'),
  (3, 'Grace Hopper', 'grace@example.com', NULL, 'US');
INSERT INTO orders (id, customer_id, total) VALUES (1, 1, 10), (2, 1, 20), (3, 3, 5);
";

/// One line of the corpus: expected decision, SQL, the fragment a refusal must name.
struct Case {
    line: usize,
    allow: bool,
    sql: String,
    fragment: Option<String>,
}

fn corpus() -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../proxy-core/policy/tests/corpus/postgres.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        .map(|(n, l)| {
            let mut cols = l.splitn(3, '\t');
            let allow = cols.next() == Some("allow");
            let sql = cols.next().unwrap_or_default().replace("\\n", "\n");
            Case {
                line: n + 1,
                allow,
                sql,
                fragment: cols.next().map(str::to_owned),
            }
        })
        .collect()
}

fn server_postgres() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/peers/node_modules/@modelcontextprotocol/server-postgres/dist/index.js");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        p.display()
    );
    p
}

/// Every row of both tables, as text: what "the data is unchanged" compares.
async fn fingerprint(db: &mut sqlx::PgConnection) -> String {
    let (c,): (String,) = sqlx::query_as(
        "SELECT coalesce((SELECT string_agg(c::text, '|' ORDER BY id) FROM customers c), '') || '#' || \
         coalesce((SELECT string_agg(o::text, '|' ORDER BY id) FROM orders o), '') || '#' || \
         (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public') || '#' || \
         (SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles)",
    )
    .fetch_one(db)
    .await
    .unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_corpus_through_the_gateway_leaves_the_data_unchanged() {
    let pg = Cluster::start();
    let shop = fresh_database(&pg.url("postgres")).await;
    let mut db = sqlx::PgConnection::connect(&shop).await.unwrap();
    sqlx::raw_sql(SEED).execute(&mut db).await.unwrap();
    let before = fingerprint(&mut db).await;

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let toml = format!(
        "policy_file = {policy:?}\n\
         [[servers]]\nname = \"shop\"\ncommand = \"node\"\nargs = [{script:?}, {shop:?}]\n\
         [dev]\ntokens = [{{ token = \"{TOKEN}\", user = \"alice\", groups = [\"engineers\"] }}]\n",
        policy = policy.display().to_string(),
        script = server_postgres().display().to_string(),
    );
    let served = common::serve(
        &toml,
        &dir.path().join("g.db"),
        true,
        std::future::pending(),
    )
    .await;
    let endpoint = format!("{}/mcp/shop", served.base);
    let http = reqwest::Client::new();
    let (status, sid, init) = common::mcp_post(
        &http,
        &endpoint,
        TOKEN,
        None,
        json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{init}");
    let sid = sid.expect("a session id");
    common::mcp_post(
        &http,
        &endpoint,
        TOKEN,
        Some(&sid),
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .await;

    let cases = corpus();
    assert!(cases.len() >= 150, "the corpus holds {} cases", cases.len());
    let mut wrong = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let (_, _, answer) = common::mcp_post(
            &http,
            &endpoint,
            TOKEN,
            Some(&sid),
            json!({"jsonrpc":"2.0","id": n + 1,"method":"tools/call","params":{"name":"query","arguments":{"sql": case.sql}}}),
        )
        .await;
        let refusal = answer["error"]["message"].as_str().unwrap_or_default();
        let refused = answer["error"]["code"] == -32003;
        if case.allow {
            // The server ran it: rows, or PostgreSQL's own error (an unbound parameter, a
            // column the corpus spells with escapes), which the server answers as an
            // internal error.
            let from_postgres = refusal.contains("parameter") || refusal.contains("does not exist");
            let ran = answer["result"].is_object()
                || (answer["error"]["code"] == -32603 && from_postgres);
            if refused || !ran {
                wrong.push(format!(
                    "line {}: allowed SQL did not reach the database: {answer}\n  {}",
                    case.line, case.sql
                ));
            }
            continue;
        }
        if !refused {
            wrong.push(format!(
                "line {}: refused SQL was forwarded: {answer}\n  {}",
                case.line, case.sql
            ));
        } else if let Some(f) = &case.fragment
            && !refusal.contains(f.as_str())
        {
            wrong.push(format!(
                "line {}: the refusal does not say `{f}`: {refusal}",
                case.line
            ));
        }
        let now = fingerprint(&mut db).await;
        assert_eq!(
            now, before,
            "line {}: the data changed after a refused call: {}",
            case.line, case.sql
        );
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases went the wrong way:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );

    // A benign look-alike runs and returns the row the old word filter refused.
    let (_, _, benign) = common::mcp_post(
        &http,
        &endpoint,
        TOKEN,
        Some(&sid),
        json!({"jsonrpc":"2.0","id": 10_000,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT name FROM customers WHERE note = 'please update me'"}}}),
    )
    .await;
    let text = benign["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    // The row came back (its person's name masked).
    assert!(
        text.contains("[PERSON_NAME]") && !text.contains("Ada Lovelace"),
        "{benign}"
    );

    // The record says which condition refused a call.
    let events = served.gw.store.session_events(&sid).await.unwrap();
    let drop_decision = events
        .iter()
        .filter_map(|e| e.decision.as_deref())
        .find(|d| d.contains("deny") && d.to_ascii_lowercase().contains("drop"))
        .map(str::to_owned);
    let decision: Value = serde_json::from_str(
        drop_decision
            .as_deref()
            .unwrap_or_else(|| panic!("no recorded refusal names a DROP: {events:?}")),
    )
    .unwrap();
    assert_eq!(decision["rule"], "read-only", "{decision}");
}
