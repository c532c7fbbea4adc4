//! GUI smoke test of the tray app (desktop/app): launches the built app under Xvfb with a
//! D-Bus session, signs in at the real OpenID provider (the browser part scripted), waits
//! until the app shows the person and their servers, and takes a screenshot of its window
//! into desktop/app/screenshots/.
//!
//! Needs the built app and an X display, so it is ignored by default; run it with
//! `scripts/desktop-smoke.sh` (builds the app, then runs this under
//! `xvfb-run -a dbus-run-session --`).

use gatehouse_e2e::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

fn app_bin() -> PathBuf {
    let p = std::env::var_os("GATEHOUSE_DESKTOP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("desktop/app/target/debug/gatehouse-desktop"));
    assert!(
        p.exists(),
        "{} is missing: build desktop/app first (scripts/desktop-smoke.sh does)",
        p.display()
    );
    p
}

async fn wait_for<T>(what: &str, secs: u64, f: impl FnMut() -> Option<T>) -> T {
    wait_for_or(what, secs, f, String::new).await
}

async fn wait_for_or<T>(
    what: &str,
    secs: u64,
    mut f: impl FnMut() -> Option<T>,
    detail: impl Fn() -> String,
) -> T {
    for _ in 0..secs * 10 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within {secs} s {}", detail());
}

fn screenshot(name: &str) -> PathBuf {
    let dir = repo().join("desktop/app/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let ok = std::process::Command::new("import")
        .args(["-window", "root"])
        .arg(&path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "imagemagick `import` failed (is DISPLAY set? run under xvfb-run)"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built tray app and Xvfb: scripts/desktop-smoke.sh"]
async fn the_tray_app_signs_in_and_shows_its_window() {
    assert!(
        std::env::var_os("DISPLAY").is_some(),
        "no DISPLAY: run under xvfb-run"
    );
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stdio = everything_stdio();
    // Calls of `echo` wait for an engineer's approval (eve, in the tray, is one).
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\ndefault: allow\nrules:\n  - name: echo-needs-approval\n    servers: [everything]\n    tools: [echo]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 30m\n      mode: hold\n",
    )
    .unwrap();
    let g = Gatehouse::start_with(
        &format!(
            "{}{}",
            stdio_server("everything", &stdio),
            stdio_server("postgres-prod", &stdio)
        ),
        &format!(
            "policy_file = {:?}\n[oidc]\nissuer = \"{issuer}\"\n",
            policy.display().to_string()
        ),
        Some(listener),
    )
    .await;
    let script = peers().join("oidc-provider.mjs").display().to_string();
    let resource = format!("{}/mcp", g.base);
    let _op = Command::new(node22())
        .args([
            &script,
            "--port",
            &op_port.to_string(),
            "--resource",
            &resource,
            "--native-client",
            "gatehouse-desktop",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", op_port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let home = tempfile::tempdir().unwrap();
    let mut app = Command::new(app_bin())
        .env("GATEHOUSE_DESKTOP_HOME", home.path())
        .env("GATEHOUSE_URL", &g.base)
        .env("GATEHOUSE_ISSUER", &issuer)
        .env("GATEHOUSE_CLIENT_ID", "gatehouse-desktop")
        .env("GATEHOUSE_DESKTOP_TEST_HOOKS", "1")
        .env("GATEHOUSE_DESKTOP_AUTOSIGNIN", "1")
        .env("GATEHOUSE_DESKTOP_SHOW", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The app sends the "browser" to the provider; the test hook hands us that URL.
    let url_file = home.path().join("signin-url.txt");
    let url = wait_for("the sign-in URL", 60, || {
        std::fs::read_to_string(&url_file).ok()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    screenshot("signing-in.png");
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = browser_login(&browser, &url, "eve", &redirect_uri(&url)).await;
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(
        page.status(),
        200,
        "the app's loopback answered the browser"
    );

    let state_file = home.path().join("state.json");
    let last = std::cell::RefCell::new(String::new());
    let state: Value = wait_for_or(
        "signed in with servers listed",
        60,
        || {
            *last.borrow_mut() = std::fs::read_to_string(&state_file).unwrap_or_default();
            let v: Value = serde_json::from_str(&last.borrow()).ok()?;
            (v["signin"]["state"] == "signed_in"
                && v["user"] == "eve"
                && v["servers"].as_array()?.len() == 2)
                .then_some(v)
        },
        || last.borrow().clone(),
    )
    .await;
    assert_eq!(state["groups"][0], "engineers");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shot = screenshot("signed-in.png");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 5_000,
        "a real screenshot"
    );
    assert!(
        app.try_wait().unwrap().is_none(),
        "the app is still running"
    );

    // Someone else's call waits for approval: the tray (watch stream) shows it.
    let held = tokio::spawn(held_call(g.url("everything")));
    let waiting: Value = wait_for_or(
        "the approval in the tray",
        30,
        || {
            *last.borrow_mut() = std::fs::read_to_string(&state_file).unwrap_or_default();
            let v: Value = serde_json::from_str(&last.borrow()).ok()?;
            (v["approvals"].as_array()?.len() == 1).then_some(v)
        },
        || last.borrow().clone(),
    )
    .await;
    assert_eq!(waiting["approvals"][0]["requester"], "e2e");
    tokio::time::sleep(Duration::from_secs(2)).await;
    screenshot("approval-waiting.png");
    held.abort();
    let _ = app.start_kill();
}

/// The loopback redirect URI a sign-in URL names (where the scripted browser stops).
fn redirect_uri(url: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("a redirect_uri in the sign-in URL")
}

/// A `tools/call echo` by the dev user `e2e` that the policy holds for approval.
async fn held_call(url: String) {
    let http = reqwest::Client::new();
    let post = |body: Value, sid: Option<String>| {
        let mut r = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = post(serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"requester","version":"1"}}}), None)
        .await
        .unwrap();
    let sid = init
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let _ = init.text().await;
    let _ = post(
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        sid.clone(),
    )
    .await;
    let r = post(serde_json::json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}), sid).await;
    if let Ok(r) = r {
        let _ = r.text().await;
    }
}
