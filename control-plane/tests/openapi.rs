//! The OpenAPI document against the running control plane: every documented operation is
//! served, every `/api/v1` route in the source is documented, no undocumented method
//! answers on a documented path, the document is valid OpenAPI 3.1, and real answers
//! have the documented shape.

mod common;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

struct Served {
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[servers]]\nname = \"docs\"\nurl = \"http://127.0.0.1:9/mcp\"\n\
                [dev]\ntokens = [{ token = \"aud\", user = \"ann\", groups = [\"gatehouse-auditors\"] }]\n";
    let served = common::serve(text, &dir.path().join("d.db"), true, std::future::pending()).await;
    Served {
        base: served.base,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Served {
    async fn document(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/openapi.json", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the document is served without sign-in");
        r.json().await.unwrap()
    }

    /// Status of `method path` without sign-in, and whether the answer is the router's
    /// own "no such endpoint" (rather than a handler's 404).
    async fn probe(&self, method: &str, path: &str) -> (u16, bool) {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = self
            .http
            .request(m, format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let unrouted = body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no such endpoint"));
        (status, unrouted)
    }
}

/// A concrete path for a templated one: each `{param}` by its example, else `x`.
fn concrete(path: &str, op: &Value) -> String {
    let mut out = path.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let value = match &p["example"] {
                Value::String(s) => s.clone(),
                Value::Null => "x".to_string(),
                v => v.to_string(),
            };
            out = out.replace(&format!("{{{name}}}"), &value);
        }
    }
    assert!(
        !out.contains('{'),
        "{path}: a path parameter is not documented"
    );
    out
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

/// Every `"/api/v1..."` string literal in the control plane's source: route paths are
/// literals, so a route added anywhere (with `.route` or otherwise) shows up here.
fn api_literals(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            api_literals(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (i, piece) in line.split('"').enumerate() {
                    if i % 2 == 1 && piece.starts_with("/api/v1") {
                        found.insert(piece.split('?').next().unwrap().to_string());
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else() {
    let app = start().await;
    let doc = app.document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(gatehouse_control_plane::api::openapi::json()).unwrap(),
        "the served document is the one `gatehouse openapi` prints"
    );
    let ops = operations(&doc);
    for (path, method, op) in &ops {
        assert!(path.starts_with("/api/v1/"), "{path} is outside the API");
        let url = concrete(path, op);
        let (status, unrouted) = app.probe(method, &url).await;
        assert!(
            status != 405 && !unrouted,
            "{method} {url} is documented but not served ({status})"
        );
        let public = op["security"] == json!([{}]);
        // Without sign-in: 401, or 400/415 when a query or body extractor refuses the
        // empty request before the handler checks who is calling.
        assert!(
            public || [401, 400, 415].contains(&status),
            "{method} {url} answers {status} without sign-in; documented as needing it"
        );
        // A path's other methods are not served: each method the router knows is documented.
        for other in METHODS.iter().filter(|m| doc["paths"][path][**m].is_null()) {
            let (status, _) = app.probe(other, &url).await;
            assert_eq!(status, 405, "{other} {url} is served but not documented");
        }
    }
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let mut in_source = BTreeSet::new();
    api_literals(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut in_source,
    );
    let undocumented: Vec<_> = in_source.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes in the source missing from the document: {undocumented:?}"
    );
    let routes_in_source: Vec<_> = documented.difference(&in_source).collect();
    assert!(
        routes_in_source.is_empty(),
        "documented paths with no route in the source: {routes_in_source:?}"
    );
    eprintln!(
        "{} operations on {} paths documented and served",
        ops.len(),
        documented.len()
    );
}

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.test-deps/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        python.display()
    );
    python
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, gatehouse_control_plane::api::openapi::json()).unwrap();
    let out = std::process::Command::new(venv_python())
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
