//! Periodic access reviews end to end, with the real `gatehouse` binary against a served
//! control plane: a period in which people used a server, never used it and lost access
//! (a policy version took a group's rule away; a just-in-time grant ended); an auditor
//! starts a review, bad input is refused with nothing recorded, the owners decide every
//! entry, the auditor closes it; the result is in the audit log, reviewers were reminded
//! on the webhook, and the evidence bundle carries the review and verifies offline.

mod common;

use common::tlog::{BIN, key};
use gatehouse_audit::public_key_hex;
use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};

const POLICY: &str = r#"version: 1
default: deny
servers:
  customers: {owners: [olga]}
rules:
  - name: engineers-use-customers
    principals: {groups: [engineers]}
    servers: [customers]
    effect: allow
  - name: contractors-use-customers
    principals: {groups: [contractors]}
    servers: [customers]
    effect: allow
  - name: no-deletes
    servers: [customers]
    tools: [delete_customer]
    effect: deny
  - name: writers-use-wiki
    principals: {groups: [writers]}
    servers: [wiki]
    effect: allow
"#;

/// Version 2: contractors lose the customers server.
fn without_contractors() -> String {
    POLICY.replace(
        "  - name: contractors-use-customers\n    principals: {groups: [contractors]}\n    servers: [customers]\n    effect: allow\n",
        "",
    )
}

struct Plane {
    base: String,
    gw: Arc<Gateway>,
    cfg: std::path::PathBuf,
    hooks: Arc<Mutex<Vec<Value>>>,
    _dir: tempfile::TempDir,
}

/// A webhook receiver that keeps every body it is sent.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

async fn start() -> Plane {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let key_file = dir.path().join("audit.key");
    std::fs::write(&key_file, "42".repeat(32)).unwrap();
    let (hook, hooks) = webhook().await;
    let db = dir.path().join("reviews.db");
    let url = common::pg::database_url(&db).await;
    let dev = [
        ("erin", "[\"engineers\"]"),
        ("nina", "[\"engineers\", \"writers\"]"),
        ("carl", "[\"contractors\"]"),
        ("gina", "[\"support\"]"),
        ("olga", "[\"dba\"]"),
        ("wendy", "[\"writers\"]"),
        ("audrey", "[\"gatehouse-auditors\"]"),
        ("adam", "[\"gatehouse-admins\"]"),
    ]
    .iter()
    .map(|(u, g)| format!("{{ token = \"{u}\", user = \"{u}\", groups = {g} }}"))
    .collect::<Vec<_>>()
    .join(", ");
    let text = format!(
        "policy_file = \"{}\"\n\
         [[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n\
         [[servers]]\nname = \"wiki\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\nowners = [\"wendy\"]\n\
         [approvals]\nwebhook_url = \"{hook}\"\nreview_reminder_every_secs = 1\n\
         [audit]\nsigning_key = \"file:{}\"\n\
         [dev]\ntokens = [{dev}]\n",
        policy.display(),
        key_file.display(),
    );
    // The CLI's config for the offline commands (evidence export): the same store and key.
    let cfg = dir.path().join("cli.toml");
    std::fs::write(
        &cfg,
        format!(
            "database = \"{url}\"\n[audit]\nsigning_key = \"file:{}\"\n",
            key_file.display()
        ),
    )
    .unwrap();
    let served = common::serve(&text, &db, true, std::future::pending()).await;
    Plane {
        base: served.base,
        gw: served.gw,
        cfg,
        hooks,
        _dir: dir,
    }
}

impl Plane {
    /// `gatehouse access review ARGS` as the person whose dev token is `who`.
    fn review(&self, who: &str, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(BIN)
            .args(["access", "review"])
            .args(args)
            .env("GATEHOUSE_URL", &self.base)
            .env("GATEHOUSE_TOKEN", who)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn offline(&self, args: &[&str]) -> (i32, String, String) {
        common::tlog::gatehouse(&self.cfg, args)
    }

    /// A real session through the gateway: initialize, then each tool call.
    async fn use_server(&self, who: &str, server: &str, calls: &[(&str, Value)]) -> Vec<Value> {
        let http = reqwest::Client::new();
        let endpoint = format!("{}/mcp/{server}", self.base);
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let (status, sid, _) = common::mcp_post(&http, &endpoint, who, None, init).await;
        assert_eq!(status, 200, "{who} opens {server}");
        let sid = sid.unwrap();
        let mut answers = Vec::new();
        for (i, (tool, args)) in calls.iter().enumerate() {
            let body = json!({"jsonrpc":"2.0","id":i + 1,"method":"tools/call","params":{"name":tool,"arguments":args}});
            answers.push(
                common::mcp_post(&http, &endpoint, who, Some(&sid), body)
                    .await
                    .2,
            );
        }
        answers
    }

    async fn notes(&self, kind: &str) -> Vec<Value> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT payload FROM audit_events WHERE kind = $1 ORDER BY seq")
                .bind(kind)
                .fetch_all(self.gw.store.pool())
                .await
                .unwrap();
        rows.iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect()
    }
}

/// A just-in-time grant as the grants code stores one: an approved `access/request`
/// approval and its grant row; this one ended a moment ago.
async fn ended_grant(p: &Plane, person: &str, server: &str) {
    let store = &p.gw.store;
    let now = chrono::Utc::now();
    let t = |d: chrono::Duration| (now + d).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let control = format!("control-{}", now.format("%Y-%m-%d"));
    store.ensure_control_session(&control).await.unwrap();
    sqlx::query(
        "INSERT INTO approvals (id, session_id, requester, server, method, tool, digest, arguments, approvers, quorum, mode, rule, \
         state, created_at, expires_at, decided_at, reason) VALUES ('ap-gina', $1, $2, $3, 'access/request', 'dba-read', 'd', '{}', \
         '[\"dba\"]', 1, 'retry', 'dba-on-request', 'used', $4, $5, $6, 'INC-4411')",
    )
    .bind(&control)
    .bind(person)
    .bind(server)
    .bind(t(chrono::Duration::seconds(-90)))
    .bind(t(chrono::Duration::seconds(600)))
    .bind(t(chrono::Duration::seconds(-80)))
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO access_grants (id, approval_id, person, server, role, rule, reason, starts_at, ends_at, ended_at, end_reason) \
         VALUES ('gr-gina', 'ap-gina', $1, $2, 'dba-read', 'dba-on-request', 'INC-4411', $3, $4, $5, 'expired')",
    )
    .bind(person)
    .bind(server)
    .bind(t(chrono::Duration::seconds(-80)))
    .bind(t(chrono::Duration::seconds(-2)))
    .bind(t(chrono::Duration::seconds(-2)))
    .execute(store.pool())
    .await
    .unwrap();
}

fn entry<'a>(review: &'a Value, person: &str, server: &str) -> &'a Value {
    review["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["person"] == person && e["server"] == server)
        .unwrap_or_else(|| panic!("no entry for {person} on {server}: {review:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_lists_use_and_disuse_is_decided_by_owners_and_closes_into_the_evidence() {
    let p = start().await;
    // The period: erin and carl use customers (erin is refused a delete), nina uses only
    // the wiki, gina had a grant she never used; then contractors lose customers.
    let answers = p
        .use_server(
            "erin",
            "customers",
            &[
                (
                    "query",
                    json!({"sql": "select name from customers where id = 1"}),
                ),
                ("delete_customer", json!({"id": 1})),
            ],
        )
        .await;
    assert!(answers[0]["result"].is_object(), "{}", answers[0]);
    assert!(answers[1]["error"].is_object(), "{}", answers[1]);
    p.use_server(
        "carl",
        "customers",
        &[("describe_table", json!({"table": "customers"}))],
    )
    .await;
    p.use_server(
        "nina",
        "wiki",
        &[("describe_table", json!({"table": "customers"}))],
    )
    .await;
    ended_grant(&p, "gina", "customers").await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/policies", p.base))
        .bearer_auth("adam")
        .header("content-type", "application/yaml")
        .body(without_contractors())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let events_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(p.gw.store.pool())
        .await
        .unwrap();

    // Bad input: each refused with a clear error, and nothing recorded.
    let (code, _, err) = p.review("audrey", &["start", "--period", "2026-Q5"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`2026-Q5` is not a period"), "{err}");
    let next_year = chrono::Utc::now()
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap()
        + 1;
    let (code, _, err) = p.review("audrey", &["start", "--period", &format!("{next_year}-Q1")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has not started"), "{err}");
    let (code, _, err) = p.review("erin", &["start", "--period", "2026-12"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("may not do this"), "{err}");
    let (code, out, _) = p.review("audrey", &["list"]);
    assert_eq!((code, out.as_str()), (0, "(no access reviews)\n"));

    // The auditor starts a review of this month.
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let (code, out, err) = p.review("audrey", &["start", "--period", &month, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let started: Value = serde_json::from_str(&out).unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let people: Vec<String> = started["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}@{}",
                e["person"].as_str().unwrap(),
                e["server"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            "carl@customers",
            "erin@customers",
            "gina@customers",
            "nina@customers",
            "nina@wiki"
        ]
    );
    let erin = entry(&started, "erin", "customers");
    assert_eq!(
        (
            erin["sessions"].as_i64(),
            erin["calls"].as_i64(),
            erin["refusals"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
    assert_eq!(erin["access"][0]["via"], "group:engineers");
    assert_eq!(erin["never_used"], false);
    assert_eq!(erin["reviewers"], json!(["olga"]));
    let nina = entry(&started, "nina", "customers");
    assert_eq!(nina["never_used"], true, "{nina}");
    assert!(nina["lost_at"].is_null());
    let carl = entry(&started, "carl", "customers");
    assert!(
        carl["lost_at"].is_string(),
        "carl lost access in the period: {carl}"
    );
    assert_eq!(carl["access"][0]["rule"], "contractors-use-customers");
    let gina = entry(&started, "gina", "customers");
    assert_eq!(gina["access"][0]["kind"], "grant");
    assert_eq!(gina["access"][0]["grant"], "gr-gina");
    assert!(
        gina["lost_at"].is_string() && gina["never_used"] == true,
        "{gina}"
    );
    assert_eq!(
        entry(&started, "nina", "wiki")["reviewers"],
        json!(["wendy"])
    );
    let n = |e: &Value| e["entry"].as_i64().unwrap().to_string();
    let (e_carl, e_erin, e_gina, e_nina) = (n(carl), n(erin), n(gina), n(nina));
    let e_wiki = n(entry(&started, "nina", "wiki"));

    let (code, out, _) = p.review("olga", &["show", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "nina on customers: rule engineers-use-customers (group:engineers); NEVER USED"
        ),
        "{out}"
    );

    // Bad decisions.
    let (code, _, err) = p.review(
        "erin",
        &["decide", &id, &e_nina, "revoke", "--comment", "x"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`erin` is not a reviewer of customers: its owners are olga"),
        "{err}"
    );
    let (code, _, err) = p.review("wendy", &["decide", &id, &e_nina, "keep", "--comment", "x"]);
    assert_eq!(code, 2, "a wiki owner does not decide customers: {err}");
    let (code, _, err) = p.review("audrey", &["close", &id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("5 of 5 entries are undecided"), "{err}");

    // Reviewers are chased on the webhook while entries wait.
    for _ in 0..100 {
        if !p.hooks.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let hook = p
        .hooks
        .lock()
        .unwrap()
        .first()
        .cloned()
        .expect("a reminder");
    assert_eq!(hook["access_review"], id.as_str());
    assert!(
        hook["text"]
            .as_str()
            .unwrap()
            .contains("`customers`: 4 undecided (reviewers: olga)"),
        "{hook}"
    );

    // The owners decide every entry; twice is refused.
    for (who, e, d, c) in [
        ("olga", &e_carl, "revoke", "contract ended in November"),
        ("olga", &e_erin, "keep", "on the customers team"),
        ("olga", &e_gina, "keep", "grant ended by itself"),
        ("olga", &e_nina, "revoke", "never used it this period"),
        ("wendy", &e_wiki, "keep", "writes the wiki"),
    ] {
        let (code, out, err) = p.review(who, &["decide", &id, e, d, "--comment", c]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, _, err) = p.review(
        "olga",
        &[
            "decide",
            &id,
            &e_erin,
            "revoke",
            "--comment",
            "changed my mind",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already decided: keep by olga"), "{err}");
    assert_eq!(
        p.notes("access_review_decision").await.len(),
        5,
        "the refused decisions left no record"
    );

    // A revoke names the change: the IdP group, and a policy draft that denies the person.
    let (code, out, _) = p.review("audrey", &["show", &id, "--json"]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert!(
        entry(&shown, "nina", "customers")["change"]["note"]
            .as_str()
            .unwrap()
            .starts_with("remove nina from the identity provider group engineers")
    );
    let (code, draft, _) = p.review("audrey", &["show", &id, "--draft"]);
    assert_eq!(code, 0);
    let policy = gatehouse_policy::Policy::from_yaml(&draft).expect("the draft is a valid policy");
    assert!(!policy.may_connect(
        &gatehouse_policy::Principal::new("nina", ["engineers"]),
        "customers"
    ));
    assert!(policy.may_connect(
        &gatehouse_policy::Principal::new("erin", ["engineers"]),
        "customers"
    ));

    // Close: only by an auditor or admin, then the result is in the audit log.
    let (code, _, err) = p.review("olga", &["close", &id]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = p.review("audrey", &["close", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = p.review("audrey", &["show", &id, "--json"]);
    let closed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["closed_by"], "audrey");
    let notes = p.notes("access_review_closed").await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["digest"], closed["result_digest"]);
    assert_eq!(
        notes[0]["result"]["never_used"].as_array().unwrap().len(),
        2
    );
    assert_eq!(notes[0]["result"]["revoked"], 2);
    let (code, _, err) = p.review("audrey", &["close", &id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already closed"), "{err}");
    let after: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE kind LIKE 'access_review%'")
            .fetch_one(p.gw.store.pool())
            .await
            .unwrap();
    assert_eq!(
        after,
        1 + 5 + 1,
        "started, five decisions, closed: {events_before} events before"
    );

    // The evidence of the day holds the review and verifies offline.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let bundle = p._dir.path().join("bundle");
    let (code, out, err) = p.offline(&[
        "evidence",
        "export",
        "--from",
        &today,
        "--to",
        &today,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 closed access reviews"), "{out}");
    let lines = std::fs::read_to_string(bundle.join("access_reviews.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1);
    let report = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(report.contains("<h3>Access reviews</h3>"), "{report}");
    assert!(report.contains("nina → customers") && report.contains("<b>never used</b>"));
    let pk = public_key_hex(&key());
    let verify = |dir: &Path| {
        p.offline(&[
            "audit",
            "verify",
            "--bundle",
            dir.to_str().unwrap(),
            "--public-key",
            &pk,
        ])
    };
    let (code, out, err) = verify(&bundle);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "access review {id}: its result is the one recorded in the log"
        )),
        "{out}"
    );

    // A review line changed after export, even with the manifest re-hashed, does not verify.
    let forged = lines.replace("never used it this period", "used it daily");
    std::fs::write(bundle.join("access_reviews.jsonl"), &forged).unwrap();
    let m = bundle.join("manifest.json");
    let mut manifest: Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    use sha2::Digest;
    manifest["files"]["access_reviews.jsonl"] =
        Value::String(hex::encode(sha2::Sha256::digest(forged.as_bytes())));
    std::fs::write(&m, manifest.to_string()).unwrap();
    let (code, out, err) = verify(&bundle);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("is not the result recorded in the log"),
        "{err}"
    );
}
