//! Just-in-time access end to end, through the real `gatehouse` CLI and the gateway with
//! the demo server: a server without standing access refuses a call; a request approved
//! by someone else lets the same call pass (and the call's record names the grant); the
//! grant ends by itself and the call is refused with the grant's end; a grant can be
//! ended early by its holder (not by another engineer); bad requests are refused with a
//! clear error and grant nothing; every step is in the audit log; and two replicas on one
//! PostgreSQL database see a grant and a revocation at once.

mod common;

use gatehouse_control_plane::gateway::Gateway;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("GATEHOUSE_BIN");

const POLICY: &str = r#"version: 1
default: deny
servers:
  customers: {standing_access: false}
rules:
  - name: dba-write-on-request
    principals:
      groups: [engineers]
      request: {role: dba-write, max: 4h, approval: {approvers: [dba], quorum: 1, ttl: 30m}}
    servers: [customers]
    tools: [query, describe_table]
    effect: allow
"#;

fn config(policy: &std::path::Path) -> String {
    format!(
        "policy_file = \"{}\"\n[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n[dev]\ntokens = [\
         {{ token = \"erin\", user = \"erin\", groups = [\"engineers\"] }}, {{ token = \"ed\", user = \"ed\", groups = [\"engineers\"] }}, \
         {{ token = \"dave\", user = \"dave\", groups = [\"dba\"] }}, {{ token = \"sam\", user = \"sam\", groups = [\"sales\"] }}, \
         {{ token = \"root\", user = \"root\", groups = [\"gatehouse-admins\"] }}]\n",
        policy.display()
    )
}

struct Gate {
    base: String,
    gw: Arc<Gateway>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Gate {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let served = common::serve(
        &config(&policy),
        &dir.path().join("a.db"),
        true,
        std::future::pending(),
    )
    .await;
    Gate {
        base: served.base,
        gw: served.gw,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

/// What the CLI printed and whether it succeeded.
struct Ran {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `gatehouse ARGS` as `who` against `base`.
async fn gatehouse(base: &str, who: &str, args: &[&str]) -> Ran {
    let (base, who) = (base.to_string(), who.to_string());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .env("GATEHOUSE_URL", &base)
            .env("GATEHOUSE_TOKEN", &who)
            .output()
            .unwrap();
        Ran {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// `gatehouse access request customers --role ROLE --for FOR` as `who`; the request id.
async fn request(base: &str, who: &str, role: &str, duration: &str) -> Result<String, Ran> {
    let r = gatehouse(
        base,
        who,
        &[
            "access",
            "request",
            "customers",
            "--role",
            role,
            "--for",
            duration,
            "--reason",
            "INC-4411",
        ],
    )
    .await;
    if !r.ok {
        return Err(r);
    }
    let id = r
        .stdout
        .strip_prefix("access request ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no request id in: {}", r.stdout))
        .to_string();
    Ok(id)
}

/// The grant id in `gatehouse access approve`'s output.
fn grant_id(approved: &Ran) -> String {
    approved
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("grant "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no grant in: {} {}", approved.stdout, approved.stderr))
        .to_string()
}

impl Gate {
    async fn mcp(
        &self,
        base: &str,
        who: &str,
        sid: Option<&str>,
        body: Value,
    ) -> (u16, Option<String>, Value) {
        common::mcp_post(&self.http, &format!("{base}/mcp/customers"), who, sid, body).await
    }

    async fn open(&self, base: &str, who: &str) -> Result<String, Value> {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        match self.mcp(base, who, None, init).await {
            (200, Some(sid), _) => Ok(sid),
            (_, _, body) => Err(body),
        }
    }

    async fn query(&self, base: &str, who: &str, sid: &str) -> Value {
        let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"select 1"}}});
        self.mcp(base, who, Some(sid), call).await.2
    }

    async fn access(&self, who: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/access?all=true", self.base))
            .bearer_auth(who)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every event kind recorded in the sessions whose id starts with `access-`, and the
    /// request decisions of MCP session `sid`.
    async fn kinds_of_request(&self, request: &str) -> Vec<String> {
        let a = self.gw.store.approval(request).await.unwrap().unwrap();
        self.gw
            .store
            .session_events(&a.session_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn error_text(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {answer}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_lets_the_call_pass_until_it_ends_by_itself() {
    let g = start().await;
    let base = g.base.clone();

    // No standing access: the session is refused, and the refusal says how to ask.
    let refused = g.open(&base, "erin").await.unwrap_err();
    assert!(
        error_text(&refused).contains("gatehouse access request customers --role dba-write"),
        "{refused}"
    );

    let id = request(&base, "erin", "dba-write", "10s")
        .await
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    let own = gatehouse(
        &base,
        "erin",
        &["access", "approve", &id, "--reason", "mine"],
    )
    .await;
    assert_eq!(own.code, Some(2));
    assert!(
        own.stderr.contains("you asked for this call yourself"),
        "{}",
        own.stderr
    );
    let not_approver = gatehouse(&base, "sam", &["access", "approve", &id, "--reason", "ok"]).await;
    assert!(
        not_approver.stderr.contains("only members of dba"),
        "{}",
        not_approver.stderr
    );

    // The approvals queue shows the request with the requester's reason.
    let listed = gatehouse(&base, "dave", &["approvals", "list"]).await;
    assert!(
        listed
            .stdout
            .contains("erin wants role dba-write on customers for 10s")
            && listed.stdout.contains("reason: INC-4411")
            && listed.stdout.contains("rule: dba-write-on-request"),
        "{}",
        listed.stdout
    );

    let approved = gatehouse(
        &base,
        "dave",
        &["access", "approve", &id, "--reason", "on call for INC-4411"],
    )
    .await;
    assert!(approved.ok, "{}", approved.stderr);
    let grant = grant_id(&approved);
    let twice = gatehouse(
        &base,
        "dave",
        &["access", "approve", &id, "--reason", "again"],
    )
    .await;
    assert_eq!(twice.code, Some(2));
    assert!(twice.stderr.contains("is already"), "{}", twice.stderr);

    // The same call now passes, and its record names the grant.
    let sid = g.open(&base, "erin").await.unwrap();
    let answer = g.query(&base, "erin", &sid).await;
    assert!(answer["result"].is_object(), "{answer}");
    let events = g.gw.store.session_events(&sid).await.unwrap();
    let decided = events
        .iter()
        .filter_map(|e| e.decision.as_deref())
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|d| d["rule"] == "dba-write-on-request")
        .expect("the call's decision is recorded");
    assert_eq!(decided["grant"], grant.as_str());

    // The grant ends by itself; from then on the same call is refused, saying so.
    let listed = gatehouse(&base, "erin", &["access", "list"]).await;
    assert!(
        listed.stdout.contains(&format!("{grant}  live")),
        "{}",
        listed.stdout
    );
    let mut refused = Value::Null;
    for _ in 0..300 {
        refused = g.query(&base, "erin", &sid).await;
        if refused["error"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = error_text(&refused);
    assert!(
        text.contains(&format!("access grant `{grant}`")) && text.contains("expired at"),
        "{text}"
    );
    let listed = gatehouse(&base, "erin", &["access", "list", "--json"]).await;
    let body: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(body["grants"][0]["state"], "expired");

    // Every step is in the audit log, in the request's own session.
    let mut kinds = Vec::new();
    for _ in 0..50 {
        kinds = g.kinds_of_request(&id).await;
        if kinds.iter().any(|k| k == "access_expired") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for step in [
        "access_requested",
        "approval_vote",
        "access_granted",
        "access_expired",
    ] {
        assert!(
            kinds.iter().any(|k| k == step),
            "{step} missing from {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_ends_early_when_its_holder_revokes_it() {
    let g = start().await;
    let base = g.base.clone();
    let id = request(&base, "erin", "dba-write", "2h")
        .await
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    let approved = gatehouse(&base, "dave", &["access", "approve", &id, "--reason", "ok"]).await;
    let grant = grant_id(&approved);
    let sid = g.open(&base, "erin").await.unwrap();
    assert!(g.query(&base, "erin", &sid).await["result"].is_object());

    let other = gatehouse(&base, "ed", &["access", "revoke", &grant]).await;
    assert_eq!(other.code, Some(2));
    assert!(other.stderr.contains("someone else's"), "{}", other.stderr);
    assert!(
        g.query(&base, "erin", &sid).await["result"].is_object(),
        "still live"
    );

    let own = gatehouse(
        &base,
        "erin",
        &["access", "revoke", &grant, "--reason", "done with INC-4411"],
    )
    .await;
    assert!(
        own.ok && own.stdout.contains("revoked"),
        "{} {}",
        own.stdout,
        own.stderr
    );
    let text = error_text(&g.query(&base, "erin", &sid).await);
    assert!(
        text.contains(&format!("grant `{grant}`"))
            && text.contains("was revoked at")
            && text.contains("by erin"),
        "{text}"
    );
    let again = gatehouse(&base, "erin", &["access", "revoke", &grant]).await;
    assert!(again.stderr.contains("already ended"), "{}", again.stderr);
    assert!(
        g.kinds_of_request(&id)
            .await
            .iter()
            .any(|k| k == "access_revoked")
    );

    // An admin may end anyone's grant.
    let id = request(&base, "ed", "dba-write", "1h")
        .await
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    let grant =
        grant_id(&gatehouse(&base, "dave", &["access", "approve", &id, "--reason", "ok"]).await);
    let by_admin = gatehouse(
        &base,
        "root",
        &["access", "revoke", &grant, "--reason", "leaver"],
    )
    .await;
    assert!(by_admin.ok, "{}", by_admin.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_grant_nothing() {
    let g = start().await;
    let base = g.base.clone();
    let no_role = request(&base, "erin", "root", "1h").await.unwrap_err();
    assert_eq!(no_role.code, Some(2));
    assert!(
        no_role.stderr.contains("no policy rule offers role `root` on server `customers`; roles offered there: dba-write"),
        "{}",
        no_role.stderr
    );
    let too_long = request(&base, "erin", "dba-write", "5h").await.unwrap_err();
    assert!(
        too_long.stderr.contains("at most 4h"),
        "{}",
        too_long.stderr
    );
    let not_covered = request(&base, "sam", "dba-write", "1h").await.unwrap_err();
    assert!(
        not_covered
            .stderr
            .contains("only to group engineers; you are not among them"),
        "{}",
        not_covered.stderr
    );
    let bad_duration = request(&base, "erin", "dba-write", "soon")
        .await
        .unwrap_err();
    assert!(
        bad_duration.stderr.contains("duration"),
        "{}",
        bad_duration.stderr
    );
    let denied_id = request(&base, "erin", "dba-write", "1h")
        .await
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    let denied = gatehouse(
        &base,
        "dave",
        &[
            "access",
            "deny",
            &denied_id,
            "--reason",
            "use the read replica",
        ],
    )
    .await;
    assert!(
        denied.ok && denied.stdout.contains("denied"),
        "{}",
        denied.stderr
    );
    let twice = gatehouse(
        &base,
        "dave",
        &[
            "access",
            "approve",
            &denied_id,
            "--reason",
            "changed my mind",
        ],
    )
    .await;
    assert!(twice.stderr.contains("already denied"), "{}", twice.stderr);

    // Nothing was granted, and the only request on record is the denied one.
    let all = g.access("root").await;
    assert_eq!(all["grants"], json!([]), "{all}");
    let requests = all["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{all}");
    assert_eq!(requests[0]["state"], "denied");
    assert!(g.open(&base, "erin").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgresql_see_a_grant_and_its_revocation_at_once() {
    let pg = common::pg::Cluster::start();
    let url = common::pg::fresh_database(&pg.url("postgres")).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let a = common::serve_url(&config(&policy), &url, true, std::future::pending()).await;
    let b = common::serve_url(&config(&policy), &url, true, std::future::pending()).await;
    let g = Gate {
        base: a.base.clone(),
        gw: a.gw.clone(),
        http: reqwest::Client::new(),
        _dir: dir,
    };
    let sid_b = g.open(&b.base, "erin").await;
    assert!(sid_b.is_err(), "no standing access on replica b");

    let id = request(&a.base, "erin", "dba-write", "1h")
        .await
        .unwrap_or_else(|r| panic!("{}", r.stderr));
    let grant = grant_id(
        &gatehouse(
            &a.base,
            "dave",
            &["access", "approve", &id, "--reason", "ok"],
        )
        .await,
    );
    // Approved on replica a; replica b lets the call pass at once (no waiting, no cache).
    let sid_b = g.open(&b.base, "erin").await.unwrap();
    assert!(g.query(&b.base, "erin", &sid_b).await["result"].is_object());

    // Revoked on replica b; replica a refuses at once.
    let sid_a = g.open(&a.base, "erin").await.unwrap();
    assert!(
        gatehouse(&b.base, "erin", &["access", "revoke", &grant])
            .await
            .ok
    );
    let text = error_text(&g.query(&a.base, "erin", &sid_a).await);
    assert!(text.contains("was revoked at"), "{text}");
}
