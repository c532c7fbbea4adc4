//! The API behind the dashboard, over HTTP with the demo server and the demo policy: an
//! engineer works, then an auditor finds the session by its filters, reads each call with
//! its decision and masked result, verifies the log and downloads the evidence. People
//! see only what their role allows; bad filters get clear errors.

mod common;

use serde_json::{Value, json};

const BIN: &str = env!("GATEHOUSE_BIN");
const POLICY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../proxy-core/policy/examples/demo-policy.yaml"
);

struct Api {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "policy_file = \"{POLICY}\"\n[[servers]]\nname = \"customers\"\ncommand = \"{BIN}\"\nargs = [\"demo-server\"]\n\
             [dev]\ntokens = [{{ token = \"eng\", user = \"erin\", groups = [\"engineers\"] }}, \
             {{ token = \"eng2\", user = \"ed\", groups = [\"engineers\"] }}, \
             {{ token = \"aud\", user = \"ann\", groups = [\"gatehouse-auditors\"] }}]\n"
        );
        let served = common::serve(
            &text,
            &dir.path().join("d.db"),
            true,
            std::future::pending(),
        )
        .await;
        Api {
            base: served.base,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// A session by `token` that runs `calls` (tool, arguments); returns its id.
    async fn work(&self, token: &str, calls: &[(&str, Value)]) -> String {
        let endpoint = format!("{}/mcp/customers", self.base);
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let (_, sid, _) = common::mcp_post(&self.http, &endpoint, token, None, init).await;
        let sid = sid.unwrap();
        for (i, (tool, args)) in calls.iter().enumerate() {
            let call = json!({"jsonrpc":"2.0","id":i + 1,"method":"tools/call","params":{"name":tool,"arguments":args}});
            common::mcp_post(&self.http, &endpoint, token, Some(&sid), call).await;
        }
        sid
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_auditor_finds_a_session_by_its_filters_and_reads_every_call() {
    let api = Api::start().await;
    let masked = api
        .work(
            "eng",
            &[
                ("query", json!({"sql": "select * from customers"})),
                ("query", json!({"sql": "drop table customers"})),
            ],
        )
        .await;
    let plain = api
        .work("eng2", &[("describe_table", json!({"table": "orders"}))])
        .await;

    // Filters: each narrows to what it names.
    let (s, all) = api.get("aud", "/api/v1/sessions").await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(ids(&all), [plain.clone(), masked.clone()], "newest first");
    for (query, expect) in [
        ("masked=true", vec![masked.clone()]),
        ("decision=denied", vec![masked.clone()]),
        ("decision=allowed", vec![plain.clone()]),
        ("tool=describe_table", vec![plain.clone()]),
        ("user=erin", vec![masked.clone()]),
        ("server=customers&user=ed", vec![plain.clone()]),
        ("since=2999-01-01T00:00:00Z", vec![]),
    ] {
        let (s, page) = api.get("aud", &format!("/api/v1/sessions?{query}")).await;
        assert_eq!((s, ids(&page)), (200, expect), "{query}");
    }
    let summary = &all["sessions"][1];
    assert_eq!(summary["user"], "erin");
    assert_eq!(summary["denied"], 1);
    assert!(summary["masked_total"].as_i64().unwrap() > 0, "{summary}");
    assert_eq!(summary["tools"], json!(["query"]));

    // Keyset pages never overlap and end with no cursor.
    let (_, first) = api.get("aud", "/api/v1/sessions?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = api
        .get("aud", &format!("/api/v1/sessions?limit=1&cursor={cursor}"))
        .await;
    assert_eq!([ids(&first), ids(&second)].concat(), ids(&all));
    assert!(second["next_cursor"].is_null(), "{second}");

    // Bad filters say what is wrong.
    let (s, e) = api.get("aud", "/api/v1/sessions?since=yesterday").await;
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("RFC 3339"), "{e}");
    let (s, e) = api.get("aud", "/api/v1/sessions?decision=maybe").await;
    assert_eq!(s, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("denied, held or allowed"),
        "{e}"
    );

    // The session page: each call with its decision, rule, version and masked result.
    let (s, detail) = api.get("aud", &format!("/api/v1/sessions/{masked}")).await;
    assert_eq!(s, 200);
    let calls = detail["calls"].as_array().unwrap();
    let tools_calls: Vec<&Value> = calls
        .iter()
        .filter(|c| c["method"] == "tools/call")
        .collect();
    assert_eq!(tools_calls.len(), 2, "{detail}");
    let (read, drop) = (tools_calls[0], tools_calls[1]);
    assert_eq!(read["decision"]["effect"], "allow");
    assert_eq!(read["decision"]["rule"], "engineers-read");
    assert!(
        read["decision"]["policy_version"]
            .as_str()
            .unwrap()
            .starts_with("v1-")
    );
    let result = read["result"].to_string();
    assert!(
        result.contains("[CREDIT_CARD"),
        "masked token shown: {result}"
    );
    assert!(!result.contains("4111"), "no card number: {result}");
    assert!(
        read["masked"]["credit_card"].as_i64().unwrap() > 0,
        "{read}"
    );
    assert!(read["duration_ms"].as_i64().is_some());
    assert_eq!(drop["decision"]["effect"], "deny");
    assert_eq!(drop["decision"]["rule"], "no-destructive-sql");
    assert!(
        drop["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{detail}"))
            .contains("read-only"),
        "{drop}"
    );

    // Overview counts what happened.
    let (s, o) = api.get("aud", "/api/v1/overview?days=7").await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["days"].as_array().unwrap().len(), 7);
    assert_eq!(o["decisions"]["denied"], 1, "{o}");
    assert_eq!(o["decisions"]["allowed"], 2, "{o}");
    assert!(
        o["masked_by_type"]["credit_card"].as_i64().unwrap() > 0,
        "{o}"
    );
    assert_eq!(o["calls_per_day"][0]["server"], "customers");
}

#[tokio::test]
async fn engineers_see_only_their_own_sessions() {
    let api = Api::start().await;
    let erins = api
        .work("eng", &[("query", json!({"sql": "select 1"}))])
        .await;
    let eds = api
        .work("eng2", &[("query", json!({"sql": "select 2"}))])
        .await;
    let (_, mine) = api.get("eng2", "/api/v1/sessions").await;
    assert_eq!(ids(&mine), std::slice::from_ref(&eds));
    // Asking for someone else's by filter or by id shows nothing of theirs.
    let (_, filtered) = api.get("eng2", "/api/v1/sessions?user=erin").await;
    assert_eq!(ids(&filtered), [eds]);
    let (s, _) = api.get("eng2", &format!("/api/v1/sessions/{erins}")).await;
    assert_eq!(s, 404);
    // The audit pages are for auditors.
    for path in [
        "/api/v1/audit/status",
        "/api/v1/overview",
        "/api/v1/evidence?since=2026-01-01&until=2026-12-31",
    ] {
        let (s, e) = api.get("eng2", path).await;
        assert_eq!(s, 403, "{path}: {e}");
        assert!(
            e["error"].as_str().unwrap().contains("gatehouse-auditors"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn an_auditor_verifies_the_log_and_downloads_the_evidence() {
    let api = Api::start().await;
    api.work(
        "eng",
        &[("query", json!({"sql": "select * from customers"}))],
    )
    .await;
    let (s, status) = api.get("aud", "/api/v1/audit/status").await;
    assert_eq!(s, 200);
    assert!(status["events"].as_i64().unwrap() >= 4, "{status}");
    assert_eq!(status["chain_head"].as_str().unwrap().len(), 64);

    let r = api
        .http
        .post(format!("{}/api/v1/audit/verify", api.base))
        .bearer_auth("aud")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["events"], status["events"]);

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let r = api
        .http
        .get(format!(
            "{}/api/v1/evidence?since={today}&until={today}",
            api.base
        ))
        .bearer_auth("aud")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/gzip");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("gatehouse-evidence-{today}-{today}.tar.gz"))
    );
    let bytes = r.bytes().await.unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    for file in [
        "manifest.json",
        "report.html",
        "audit_events.jsonl",
        "sessions.jsonl",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(file)),
            "{file} in {names:?}"
        );
    }
    let (s, e) = api
        .get("aud", "/api/v1/evidence?since=2026-12-31&until=2026-01-01")
        .await;
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().contains("after its end"),
        "{e}"
    );
}

#[tokio::test]
async fn auditors_get_proofs_that_verify_and_bad_sizes_get_clear_errors() {
    let api = Api::start().await;
    api.work(
        "eng",
        &[("query", json!({"sql": "select * from customers"}))],
    )
    .await;
    let (_, status) = api.get("aud", "/api/v1/audit/status").await;
    let n = status["events"].as_u64().unwrap();
    let (s, p) = api
        .get(
            "aud",
            &format!("/api/v1/audit/proofs/inclusion?seq=2&size={n}"),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let p: gatehouse_audit::InclusionProof = serde_json::from_value(p).unwrap();
    assert_eq!(p.verify(None), Ok(false));
    let (s, c) = api
        .get(
            "aud",
            &format!("/api/v1/audit/proofs/consistency?from=1&to={n}"),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let c: gatehouse_audit::ConsistencyProof = serde_json::from_value(c).unwrap();
    assert!(c.verify(None).is_ok());
    for (path, says) in [
        (
            format!("/api/v1/audit/proofs/inclusion?seq={}&size={n}", n + 1),
            "is not in a tree of",
        ),
        (
            format!("/api/v1/audit/proofs/inclusion?seq=1&size={}", n + 100),
            "cannot be proven",
        ),
        (
            format!("/api/v1/audit/proofs/consistency?from={n}&to=1"),
            "1 <= from <= to",
        ),
    ] {
        let (s, e) = api.get("aud", &path).await;
        assert_eq!(s, 400, "{path}: {e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{path}: {e}");
    }
    let (s, _) = api
        .get("eng2", "/api/v1/audit/proofs/inclusion?seq=1&size=1")
        .await;
    assert_eq!(s, 403);
}
