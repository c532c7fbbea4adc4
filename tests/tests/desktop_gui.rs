//! GUI smoke test of the tray app (desktop/app): launches the built app under Xvfb with a
//! D-Bus session, signs in at the real OpenID provider (the browser part scripted), waits
//! until the app shows the person and their servers (gateway and local), runs a local
//! server for a `gatehouse connect NAME` handed to it, shows approvals waiting (a held
//! gateway call, a held local call and an access request, each with what is approved),
//! submits its "Request access" form, and takes screenshots of its window into
//! desktop/app/screenshots/.
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
        "version: 1\ndefault: allow\nrules:\n  - name: echo-needs-approval\n    servers: [everything]\n    tools: [echo]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 30m\n      mode: hold\n  - name: local-env-needs-approval\n    servers: [\"local:files\"]\n    tools: [get-env]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 30m\n      mode: hold\n  - name: dba-write-on-request\n    principals:\n      groups: [engineers]\n      request: {role: dba-write, max: 4h, approval: {approvers: [engineers], quorum: 1, ttl: 30m}}\n    servers: [postgres-prod]\n    effect: allow\nservers:\n  postgres-prod: {standing_access: false}\n",
    )
    .unwrap();
    let g = Gatehouse::start_with(
        &format!(
            "{}{}",
            stdio_server("everything", &stdio),
            stdio_server("postgres-prod", &stdio)
        ),
        &format!(
            "policy_file = {:?}\n[oidc]\nissuer = \"{issuer}\"\n[[local_servers]]\nname = \"files\"\ncommand = {:?}\nargs = [{}]\ngroups = [\"engineers\"]\nmasking_profile = \"cards-last4\"\ndescription = \"files on this laptop\"\n[masking.profiles.cards-last4]\nstrategy = {{ credit_card = \"last4\" }}\n",
            policy.display().to_string(),
            stdio[0],
            stdio[1..].iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ")
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
                && v["servers"].as_array()?.len() == 2
                && v["local_servers"].as_array()?.len() == 1)
                .then_some(v)
        },
        || last.borrow().clone(),
    )
    .await;
    assert_eq!(state["groups"][0], "engineers");
    assert_eq!(state["local_servers"][0]["name"], "files");
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

    // `gatehouse connect files` (no token of its own) hands the session to the running app,
    // which runs the local server under the server's masking profile.
    let echoed = local_session(
        home.path(),
        &g.base,
        None,
        serde_json::json!({"name": "echo", "arguments": {"message": "card 4111 1111 1111 1111"}}),
    )
    .await;
    assert!(
        echoed.contains("1111") && !echoed.contains("4111 1111 1111 1111"),
        "run in the tray, masked last4: {echoed}"
    );

    // The window's "Request access" form, filled in and submitted through its own handler:
    // the request reaches the control plane and the window says who must approve it.
    std::fs::write(
        home.path().join("ui-script.js"),
        r##"for (const [id, v] of [["access-server", "postgres-prod"], ["access-role", "dba-write"],
                                ["access-for", "2h"], ["access-reason", "INC-4411 vacuum"]]) {
             document.getElementById(id).value = v;
           }
           document.querySelector("#access-form button[type=submit]").click();"##,
    )
    .unwrap();
    let notice_file = home.path().join("notice.txt");
    let notice = wait_for_or(
        "the access request's answer in the window",
        30,
        || {
            let n = std::fs::read_to_string(&notice_file).ok()?;
            n.contains("Access request").then_some(n)
        },
        || std::fs::read_to_string(&notice_file).unwrap_or_default(),
    )
    .await;
    assert!(
        notice.contains("role dba-write on postgres-prod for 2h")
            && notice.contains("from engineers"),
        "{notice}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    screenshot("request-access.png");
    let queue: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/approvals", g.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        queue.to_string().contains("INC-4411 vacuum"),
        "eve's request waits for another engineer: {queue}"
    );

    // Someone else's calls wait for approval, on the gateway and on their laptop, and so
    // does their access request: the tray (watch stream) shows all three, each with what
    // is approved (arguments, rule, reason).
    let asked = reqwest::Client::new()
        .post(format!("{}/api/v1/access/requests", g.base))
        .bearer_auth(TOKEN)
        .json(
            &serde_json::json!({"server": "postgres-prod", "role": "dba-write",
                                  "duration": "1h", "reason": "INC-4412 reindex"}),
        )
        .send()
        .await
        .unwrap();
    assert!(asked.status().is_success(), "{:?}", asked.text().await);
    let url = g.url("everything");
    let held =
        tokio::spawn(async move { gatehouse_e2e::initialize_then_echo(&url, TOKEN, "hi").await });
    let other_home = tempfile::tempdir().unwrap();
    let other = other_home.path().to_path_buf();
    let base = g.base.clone();
    let held_local = tokio::spawn(async move {
        local_session(
            &other,
            &base,
            Some(TOKEN),
            serde_json::json!({"name": "get-env", "arguments": {}}),
        )
        .await
    });
    let waiting: Value = wait_for_or(
        "the held calls and the access requests in the tray",
        30,
        || {
            *last.borrow_mut() = std::fs::read_to_string(&state_file).unwrap_or_default();
            let v: Value = serde_json::from_str(&last.borrow()).ok()?;
            // Two held calls and e2e's access request to decide; eve's own request apart.
            (v["approvals"].as_array()?.len() == 3 && v["own_requests"].as_array()?.len() == 1)
                .then_some(v)
        },
        || last.borrow().clone(),
    )
    .await;
    let cards = waiting["approvals"].as_array().unwrap();
    let echo = cards
        .iter()
        .find(|a| a["tool"] == "echo")
        .expect("the echo card");
    assert_eq!(echo["arguments"]["message"], "hi", "{echo}");
    assert_eq!(echo["rule"], "echo-needs-approval", "{echo}");
    let access = cards
        .iter()
        .find(|a| a["method"] == "access/request" && a["requester"] == "e2e")
        .expect("the access request card");
    assert_eq!(access["why"], "INC-4412 reindex", "{access}");
    assert_eq!(access["tool"], "dba-write", "{access}");
    let servers: Vec<&str> = waiting["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["server"].as_str())
        .collect();
    assert!(
        servers.contains(&"everything")
            && servers.contains(&"local:files")
            && servers.contains(&"postgres-prod"),
        "{waiting}"
    );
    assert!(
        waiting["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["requester"] == "e2e"),
        "{waiting}"
    );
    assert_eq!(
        waiting["own_requests"][0]["why"], "INC-4411 vacuum",
        "eve's own request waits apart, not as one she could approve: {waiting}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    screenshot("approval-waiting.png");
    held.abort();
    held_local.abort();
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

/// One `gatehouse connect files` session: initialize, then one `tools/call` with
/// `params`; returns the call's answer as text. With `token` None it runs as the tray's
/// sign-in (handed to the app in `home`).
async fn local_session(
    home: &std::path::Path,
    base: &str,
    token: Option<&str>,
    params: Value,
) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut cmd = Command::new(gatehouse_bin());
    cmd.args(["connect", "files"])
        .env("GATEHOUSE_DESKTOP_HOME", home)
        .env("GATEHOUSE_URL", base)
        .env("GATEHOUSE_KEYRING", "off")
        .env_remove("GATEHOUSE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(t) = token {
        cmd.env("GATEHOUSE_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for msg in [
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"gui-test","version":"1"}}}),
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        serde_json::json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":params}),
    ] {
        stdin
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
    }
    stdin.flush().await.unwrap();
    loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the local session closed before answering");
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["id"] == 2 {
            return line;
        }
    }
}
