//! The tray app's core, headless, against real peers:
//! * sign-in with Authorization Code + PKCE and a loopback redirect at the real OpenID
//!   provider (npm `oidc-provider`), the token working on the gateway, refresh shared
//!   between processes, sign-out;
//! * local capture (`gatehouse connect --local`, a real process running the MCP reference
//!   server): kill -9 mid-session, the control plane down then up, a restart — every
//!   spooled message reaches the audit log exactly once, and a re-upload changes nothing;
//!   the pushed policy applies locally and responses are masked;
//! * local servers admins configure per group (`[[local_servers]]`): served by group with
//!   their own masking profile and the policy in force, cached for offline use (none and
//!   offline: refused), `gatehouse connect NAME` handed to the tray's capture host over its
//!   socket or captured by itself; local calls held for approval at the real control plane
//!   (approve forwards, deny returns the reason, timeout and offline refuse), the decision
//!   in the uploaded record; and the tray window's approve call releasing a held gateway call.

use gatehouse_client::account::{Account, Profile};
use gatehouse_client::api::ControlPlane;
use gatehouse_client::secrets::{Backend, KeyringMode, StoredTokens, TokenStore};
use gatehouse_client::signin::State;
use gatehouse_client::spool::Spool;
use gatehouse_client::upload::Uploader;
use gatehouse_e2e::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const CLIENT: &str = "gatehouse-desktop";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_pkce_at_the_real_provider_gives_a_token_the_gateway_takes() {
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let g = Gatehouse::start_with(
        &stdio_server("everything", &everything_stdio()),
        &format!("[oidc]\nissuer = \"{issuer}\"\n"),
        Some(listener),
    )
    .await;
    let resource = format!("{}/mcp", g.base);
    let script = peers().join("oidc-provider.mjs").display().to_string();
    let _op = Command::new(node22())
        .args([
            &script,
            "--port",
            &op_port.to_string(),
            "--resource",
            &resource,
            "--native-client",
            CLIENT,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_port(op_port).await;

    let home = tempfile::tempdir().unwrap();
    let profile = Profile::new(&g.base, &issuer, CLIENT);
    profile.save(home.path()).unwrap();
    let account = Arc::new(Account::new(home.path(), profile.clone(), KeyringMode::Off));
    assert_eq!(account.state(), State::SignedOut);
    assert!(
        account.access_token().await.is_err(),
        "no token before sign-in"
    );

    let pending = account.begin_sign_in().await.unwrap();
    assert_eq!(account.state().label(), "authorizing");
    let url = pending.url.clone();
    assert!(
        url.contains("code_challenge_method=S256")
            && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    let waiting = {
        let a = account.clone();
        tokio::spawn(async move { a.finish_sign_in(pending, Duration::from_secs(60)).await })
    };
    // The browser part, scripted: the provider's login form as eve, consent, then the
    // redirect to the app's loopback port, which answers the browser.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = browser_login(&browser, &url, "eve", &redirect_uri(&url)).await;
    assert!(!back.starts_with(&issuer), "{back}");
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));
    let backend = waiting.await.unwrap().unwrap();
    assert_eq!(backend, Backend::File(home.path().join("tokens.json")));
    match account.state() {
        State::SignedIn { user, expires_at } => {
            assert_eq!(user, "eve");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!(expires_at.timestamp() > now);
        }
        other => panic!("not signed in: {other:?}"),
    }

    // The access token is a bearer token on the gateway: the control plane knows eve.
    let api = ControlPlane::new(&g.base);
    let token = account.access_token().await.unwrap();
    let me = api.me(&token).await.unwrap();
    assert_eq!(me.user, "eve");
    assert_eq!(me.groups, ["engineers"]);

    // Another process (`gatehouse connect`) picks the sign-in up from the same folder;
    // with the access token expired it refreshes (once), and the new token works.
    let store = TokenStore::new(home.path(), &format!("{issuer}|{CLIENT}"), KeyringMode::Off);
    let (mut kept, _) = store.load().await.unwrap().unwrap();
    assert!(
        kept.refresh_token.is_some(),
        "offline_access gave a refresh token"
    );
    kept.expires_at = 0;
    store.save(&kept).await.unwrap();
    let other = Account::new(home.path(), profile.clone(), KeyringMode::Off);
    let fresh = other.access_token().await.unwrap();
    assert_ne!(fresh, token, "a new access token");
    assert_eq!(api.me(&fresh).await.unwrap().user, "eve");
    let (after, _) = store.load().await.unwrap().unwrap();
    assert_eq!(
        after.access_token.as_deref(),
        Some(fresh.as_str()),
        "shared with every process"
    );
    // The first process takes the shared token instead of refreshing with a spent one.
    let third = Account::new(home.path(), profile.clone(), KeyringMode::Off);
    assert_eq!(third.access_token().await.unwrap(), fresh);

    // What a client config entry runs: `gatehouse connect everything` with no secret in
    // its environment takes the tray's sign-in and reaches the server through the gateway.
    let mut connect = Command::new(gatehouse_bin())
        .args(["connect", "everything"])
        .env("GATEHOUSE_DESKTOP_HOME", home.path())
        .env("GATEHOUSE_URL", &g.base)
        .env("GATEHOUSE_KEYRING", "off")
        .env_remove("GATEHOUSE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = connect.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"claude\",\"version\":\"1\"}}}\n")
        .await
        .unwrap();
    let mut out = BufReader::new(connect.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let init: Value = serde_json::from_str(&line).unwrap();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    drop(stdin);
    let _ = connect.wait().await;
    let sessions = g.gw.store.list_sessions(10).await.unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.principal == "eve" && s.server == "everything"),
        "recorded as eve's session"
    );

    // A refresh token the provider no longer honours asks for a new sign-in.
    store
        .save(&StoredTokens {
            refresh_token: Some("not-a-refresh-token".into()),
            access_token: None,
            expires_at: 0,
        })
        .await
        .unwrap();
    let stale = Account::new(home.path(), profile.clone(), KeyringMode::Off);
    let err = stale.access_token().await.unwrap_err().to_string();
    assert!(err.contains("sign in again"), "{err}");

    account.sign_out().await;
    assert_eq!(account.state(), State::SignedOut);
    assert!(!home.path().join("tokens.json").exists());
}

async fn wait_port(port: u16) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("port {port} did not open");
}

/// A `gatehouse connect --local everything -- <reference server>` process.
struct Local {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
    sent: usize,
    received: Vec<Value>,
}

impl Local {
    fn spawn(home: &Path, url: &str) -> Local {
        let mut args = vec![
            "connect".to_string(),
            "--local".into(),
            "everything".into(),
            "--".into(),
        ];
        args.extend(everything_stdio());
        Local::spawn_args(&args, home, url, Some(TOKEN))
    }

    /// `gatehouse connect NAME` (a configured local server), as `token` or, with none,
    /// as the tray's sign-in.
    fn named(name: &str, home: &Path, url: &str, token: Option<&str>) -> Local {
        Local::spawn_args(&["connect".to_string(), name.to_string()], home, url, token)
    }

    fn spawn_args(args: &[String], home: &Path, url: &str, token: Option<&str>) -> Local {
        let mut cmd = Command::new(gatehouse_bin());
        cmd.args(args)
            .env("GATEHOUSE_DESKTOP_HOME", home)
            .env("GATEHOUSE_URL", url)
            .env_remove("GATEHOUSE_TOKEN")
            .env("GATEHOUSE_KEYRING", "off");
        if let Some(t) = token {
            cmd.env("GATEHOUSE_TOKEN", t);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Local {
            child,
            stdin,
            out,
            sent: 0,
            received: Vec::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(format!("{v}\n").as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        self.sent += 1;
    }

    async fn answer(&mut self, id: i64) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.out.next_line())
                .await
                .expect("an answer within 30 s")
                .unwrap()
                .expect("the capture closed its output");
            let v: Value = serde_json::from_str(&line).unwrap();
            self.received.push(v.clone());
            if v["id"] == json!(id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return v;
            }
        }
    }

    async fn session(&mut self) {
        self.send(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}})).await;
        let init = self.answer(1).await;
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        self.send(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
            .await;
    }

    async fn echo(&mut self, id: i64, text: &str) -> Value {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":text}}})).await;
        self.answer(id).await
    }

    /// Closes stdin and reads everything until the process exits.
    async fn finish(mut self) -> (usize, Vec<Value>) {
        drop(self.stdin.take());
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(30), self.out.next_line()).await
        {
            self.received.push(serde_json::from_str(&line).unwrap());
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "connect --local exited with {status}");
        (self.sent, self.received)
    }
}

async fn local_events(g: &Gatehouse) -> Vec<(String, String, String, String)> {
    sqlx_rows(
        g,
        "SELECT e.session_id, e.direction, e.kind, e.payload FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE s.server = 'local:everything' ORDER BY e.seq",
    )
    .await
}

async fn sqlx_rows(g: &Gatehouse, sql: &str) -> Vec<(String, String, String, String)> {
    sqlx::query_as(sql)
        .fetch_all(g.gw.store.pool())
        .await
        .unwrap()
}

/// What the first local call sends that neither its client nor the record may see.
const PLAIN: [&str; 5] = [
    "4111 1111",
    "ada@example.com",
    "Ada Lovelace",
    "1815-12-10",
    "12 Baker Street",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_capture_survives_kill_9_and_an_outage_and_uploads_exactly_once() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let spool_path = home.path().join("spool.db");

    // 1. Control plane down. A session, then kill -9 right after an answer.
    let mut p1 = Local::spawn(home.path(), &url);
    p1.session().await;
    // The default profile's detectors, people's data included, run in the local capture.
    let call = p1
        .echo(
            2,
            "card 4111 1111 1111 1111 for ada@example.com, customer Ada Lovelace, born 1815-12-10, of 12 Baker Street, London NW1 6XE",
        )
        .await;
    let text = call["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.contains("Echo:") && !PLAIN.iter().any(|p| text.contains(p)),
        "masked before the client: {text}"
    );
    assert!(
        text.contains("[PERSON_NAME]")
            && text.contains("[DATE_OF_BIRTH]")
            && text.contains("[POSTAL_ADDRESS]"),
        "each value under its own type: {text}"
    );
    p1.child.start_kill().unwrap(); // SIGKILL
    let _ = p1.child.wait().await;
    let spool = Spool::open(&spool_path).await.unwrap();
    let n1 = spool.pending().await.unwrap();
    assert!(
        n1 >= 6,
        "start + initialize, answer, initialized, call, answer are durable: {n1}"
    );
    // A copy of the spool as it is now: replayed at the end as a crash between upload and delete would.
    let replay = tempfile::tempdir().unwrap();
    {
        sqlx::query(&format!(
            "VACUUM INTO '{}'",
            replay.path().join("spool.db").display()
        ))
        .execute(
            &sqlx::SqlitePool::connect(&format!("sqlite://{}", spool_path.display()))
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    }

    // 2. Restart while still down: a second session spools too.
    let mut p2 = Local::spawn(home.path(), &url);
    p2.session().await;
    p2.echo(2, "hello").await;
    assert!(spool.pending().await.unwrap() > n1);

    // 3. The control plane comes up on that address; the running capture uploads the
    // killed session's records and its own.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let g = Gatehouse::start_with(
        &stdio_server("everything", &everything_stdio()),
        "admin_groups = [\"engineers\"]\n",
        Some(listener),
    )
    .await;
    for _ in 0..600 {
        if spool.pending().await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        spool.pending().await.unwrap(),
        0,
        "uploaded within 60 s of the control plane coming back"
    );
    let events = local_events(&g).await;
    let s1 = events[0].0.clone();
    let in_s1: Vec<_> = events.iter().filter(|e| e.0 == s1).collect();
    assert_eq!(
        in_s1.len() as i64,
        n1,
        "every spooled record of the killed session, once"
    );
    assert!(
        in_s1
            .iter()
            .any(|e| e.2 == "request" && e.3.contains("\"tools/call\""))
    );
    assert!(
        !in_s1.iter().any(|e| PLAIN.iter().any(|p| e.3.contains(p))),
        "only masked data in the record"
    );

    // 4. More in the live session, then a clean end: its records arrive too.
    p2.echo(3, "again").await;
    let (sent2, received2) = p2.finish().await;
    assert_eq!(spool.pending().await.unwrap(), 0);
    let events = local_events(&g).await;
    let s2: Vec<_> = events.iter().filter(|e| e.0 != s1).collect();
    assert_eq!(
        s2.len(),
        1 + sent2 + received2.len() + 1,
        "session start + every message each way + session end"
    );
    let all = events.len();

    // 5. A re-upload of already stored records (the spool copy from step 1) stores nothing.
    let old = Spool::open(&replay.path().join("spool.db")).await.unwrap();
    assert_eq!(old.pending().await.unwrap(), n1);
    let token: gatehouse_client::upload::TokenSource =
        Arc::new(|| Box::pin(async { Some(TOKEN.to_string()) }));
    let again = Uploader::new(old.clone(), ControlPlane::new(&g.base), token)
        .upload_all()
        .await
        .unwrap();
    assert_eq!(again as i64, n1, "acknowledged again");
    assert_eq!(old.pending().await.unwrap(), 0);
    assert_eq!(local_events(&g).await.len(), all, "nothing duplicated");
    let ids: Vec<(String, String, String, String)> = sqlx_rows(
        &g,
        "SELECT id, session_id, CAST(seq AS TEXT), captured_at FROM spool_records",
    )
    .await;
    assert_eq!(ids.len(), all, "one spool record per audit event");

    // The local sessions are the person's, on `local:everything`, in the verified chain.
    let sessions = g.gw.store.list_sessions(10).await.unwrap();
    assert!(
        sessions
            .iter()
            .filter(|s| s.server == "local:everything")
            .all(|s| s.principal == "e2e")
    );
    match g.gw.store.verify_chain().await.unwrap() {
        gatehouse_control_plane::store::ChainReport::Intact { .. } => {}
        broken => panic!("the chain broke: {broken:?}"),
    }

    // 6. A policy pushed now applies to the next local session (via the watch stream).
    let pushed = reqwest::Client::new()
        .post(format!("{}/api/v1/policies", g.base))
        .bearer_auth(TOKEN)
        .body("version: 1\ndefault: allow\nrules:\n  - name: no-add-locally\n    servers: [\"local:everything\"]\n    tools: [add]\n    effect: deny\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pushed.status(),
        201,
        "{}",
        pushed.text().await.unwrap_or_default()
    );
    for _ in 0..100 {
        if g.gw.policy().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut p3 = Local::spawn(home.path(), &url);
    p3.session().await;
    p3.send(json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}})).await;
    let denied = p3.answer(5).await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    assert!(p3.echo(6, "still fine").await["result"].is_object());
    p3.finish().await;
    let decisions = sqlx_rows(
        &g,
        "SELECT e.session_id, e.kind, COALESCE(json_extract(e.decision, '$.effect'), ''), e.payload FROM audit_events e \
         JOIN sessions s ON s.id = e.session_id WHERE s.server = 'local:everything' AND e.tool = 'add'",
    )
    .await;
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0].2, "deny");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_with_the_reason() {
    let g = Gatehouse::start(&stdio_server("everything", &everything_stdio())).await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(format!("{}/api/v1/spool", g.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = post(json!({"records":[{"id":"a","session_id":"not-local","server":"x","at":"2026-01-01T00:00:00Z","direction":"gateway","kind":"k","payload":"{}"}]})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("local session"));
    let r = post(json!({"records":[{"id":"a","session_id":"local-1","server":"x","at":"2026-01-01T00:00:00Z","direction":"sideways","kind":"k","payload":"{}"}]})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/api/v1/spool", g.base))
        .json(&json!({"records":[]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "sign-in required");
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

// ---- local servers configured by admins, local approvals, the tray's approve call ----

/// The policy of the local-server tests: on `local:files` `echo` passes, `get-env` waits
/// for an engineer's approval, `get-tiny-image` too but only 10 s, `get-sum` is refused;
/// on the gateway's `everything`, `echo` waits for approval.
const LOCAL_POLICY: &str = "version: 1\ndefault: allow\nrules:\n  - name: env-needs-approval\n    servers: [\"local:files\"]\n    tools: [get-env]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 30m\n      mode: hold\n  - name: image-needs-quick-approval\n    servers: [\"local:files\"]\n    tools: [get-tiny-image]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 10s\n      mode: hold\n  - name: no-sums-locally\n    servers: [\"local:files\"]\n    tools: [get-sum]\n    effect: deny\n  - name: gateway-echo-needs-approval\n    servers: [everything]\n    tools: [echo]\n    effect: require_approval\n    approval:\n      approvers: [engineers]\n      quorum: 1\n      ttl: 30m\n      mode: hold\n";

/// A control plane with local servers `files` (engineers, profile `cards-last4`) and
/// `ops-tool` (ops), the policy above, and a real OpenID provider whose workload
/// `ci-engineer` (group engineers) is the approver. Returns it, the provider, and the
/// approver's token.
async fn local_servers_plane(policy_dir: &Path) -> (Gatehouse, Peer, String) {
    let policy = policy_dir.join("policy.yaml");
    std::fs::write(&policy, LOCAL_POLICY).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let op_port = free_port();
    let issuer = format!("http://127.0.0.1:{op_port}");
    let op = openid_provider(op_port, &format!("{base}/mcp")).await;
    let cmd = everything_stdio();
    let args: Vec<String> = cmd[1..].iter().map(|a| format!("{a:?}")).collect();
    let extra = format!(
        "policy_file = {:?}\n[oidc]\nissuer = \"{issuer}\"\n\
         [[local_servers]]\nname = \"files\"\ncommand = {:?}\nargs = [{}]\ngroups = [\"engineers\"]\nmasking_profile = \"cards-last4\"\ndescription = \"files on this laptop\"\n\
         [[local_servers]]\nname = \"ops-tool\"\ncommand = \"ops-tool\"\ngroups = [\"ops\"]\n\
         [masking.profiles.cards-last4]\nstrategy = {{ credit_card = \"last4\" }}\n",
        policy.display().to_string(),
        cmd[0],
        args.join(", ")
    );
    let g = Gatehouse::start_with(&stdio_server("everything", &cmd), &extra, Some(listener)).await;
    let approver = client_credentials(
        &issuer,
        "ci-engineer",
        "secret-engineer",
        &format!("{base}/mcp"),
        // The scope the gateway requires of provider tokens by default.
        "mcp",
    )
    .await;
    (g, op, approver)
}

fn token_of(t: &str) -> gatehouse_client::upload::TokenSource {
    let t = t.to_string();
    Arc::new(move || {
        let t = t.clone();
        Box::pin(async move { Some(t) })
    })
}

impl Local {
    async fn call(&mut self, id: i64, tool: &str, args: Value) -> Value {
        self.send(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}))
            .await;
        self.answer(id).await
    }
}

/// The pending approval of a local call on `local:files`, as the approver sees it.
async fn pending_local_approval(api: &ControlPlane, approver: &str, tool: &str) -> Value {
    for _ in 0..150 {
        let pending = api.approvals(approver).await.unwrap();
        if let Some(a) = pending
            .iter()
            .find(|a| a["server"] == "local:files" && a["tool"] == tool)
        {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no pending approval for {tool} within 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_servers_come_by_group_with_their_profile_and_run_in_the_tray_or_in_connect() {
    use gatehouse_client::clients::{Client, Entry, write_entry};
    use gatehouse_client::host::CaptureHost;
    use gatehouse_client::local_servers::{self, Freshness};
    use gatehouse_client::runtime::Runtime;
    use std::os::unix::fs::PermissionsExt;

    let policy_dir = tempfile::tempdir().unwrap();
    let (g, _op, _approver) = local_servers_plane(policy_dir.path()).await;
    let api = ControlPlane::new(&g.base);

    // 1. The catalog: only the servers of the caller's groups, each with its own masking
    // profile, and the policy in force; cached 0600 for offline use.
    let home = tempfile::tempdir().unwrap();
    let (catalog, fresh) = local_servers::resolve(&api, Some(TOKEN.into()), home.path())
        .await
        .unwrap();
    assert_eq!(fresh, Freshness::Online);
    assert_eq!(catalog.user, "e2e");
    let names: Vec<&str> = catalog.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["files"], "ops-tool is for the ops group only");
    let files = catalog.server("files").unwrap();
    assert_eq!(files.masking_profile, "cards-last4");
    assert_eq!(
        serde_json::to_value(&files.masking).unwrap()["strategy"]["credit_card"],
        "last4"
    );
    let policy = catalog.policy.as_ref().expect("the policy in force");
    assert!(policy.document.contains("env-needs-approval"));
    let cache = home.path().join(local_servers::CACHE_FILE);
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let anonymous = reqwest::get(format!("{}/api/v1/local-servers", g.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "sign-in required");

    // The config writers write its `gatehouse connect files` entry like any server's.
    let cfg = home.path().join("claude_desktop_config.json");
    write_entry(
        Client::Claude,
        &cfg,
        &Entry {
            server: "files".into(),
            program: "/usr/bin/gatehouse".into(),
            gateway_url: g.base.clone(),
        },
    )
    .unwrap();
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(
        written["mcpServers"]["gatehouse-files"]["args"],
        json!(["connect", "files"])
    );

    // 2. The tray's capture host (as the app starts it) takes `gatehouse connect files`
    // from a process without a token of its own, over a 0600 socket.
    let tray_home = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(tray_home.path(), api.clone(), token_of(TOKEN), None, "tray")
        .await
        .unwrap();
    let spool = runtime.spool().clone();
    let host = CaptureHost::start(tray_home.path(), runtime.clone())
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(host.path()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let second = CaptureHost::start(tray_home.path(), runtime.clone()).await;
    assert!(second.is_err(), "one host per folder");
    let mut p = Local::named("files", tray_home.path(), &g.base, None);
    p.session().await;
    let echoed = p
        .call(2, "echo", json!({"message": "card 4111 1111 1111 1111"}))
        .await;
    let text = echoed["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("1111") && !text.contains("4111 1111 1111 1111"),
        "masked with the server's last4 profile, not the default: {echoed}"
    );
    let refused = p.call(3, "get-sum", json!({"a": 1, "b": 2})).await;
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    p.finish().await;
    let n = Uploader::new(spool.clone(), api.clone(), token_of(TOKEN))
        .upload_all()
        .await
        .unwrap();
    assert!(n >= 8, "the tray's records uploaded: {n}");
    let rows = sqlx_rows(
        &g,
        "SELECT e.session_id, e.kind, COALESCE(e.tool, ''), e.payload FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE s.server = 'local:files' ORDER BY e.seq",
    )
    .await;
    let start = rows.iter().find(|r| r.1 == "session_start").unwrap();
    assert!(start.3.contains("\"host\":\"tray\""), "{start:?}");
    assert!(
        !rows.iter().any(|r| r.3.contains("4111 1111 1111 1111")),
        "only masked data in the record"
    );

    // A name that is not a local server goes to the gateway as before (the tray's list,
    // fetched a moment ago, says so).
    let mut relay = Local::named("everything", tray_home.path(), &g.base, Some(TOKEN));
    relay.session().await;
    relay.finish().await;

    // 3. No tray app: `gatehouse connect files` captures by itself, same rules.
    let solo = tempfile::tempdir().unwrap();
    let mut p = Local::named("files", solo.path(), &g.base, Some(TOKEN));
    p.session().await;
    let echoed = p
        .call(2, "echo", json!({"message": "card 4111 1111 1111 1111"}))
        .await;
    assert!(
        !echoed.to_string().contains("4111 1111 1111 1111"),
        "{echoed}"
    );
    p.finish().await;
    let rows = sqlx_rows(
        &g,
        "SELECT e.session_id, e.kind, '', e.payload FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE s.server = 'local:files' AND e.kind = 'session_start' ORDER BY e.seq",
    )
    .await;
    assert!(
        rows.iter().any(|r| r.3.contains("\"host\":\"connect\"")),
        "uploaded by connect at its end: {rows:?}"
    );

    // 4. Offline: with the cache it still runs under the cached rules; without a cache it
    // refuses, saying why.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let mut p = Local::named("files", solo.path(), &dead, Some(TOKEN));
    p.session().await;
    let refused = p.call(2, "get-sum", json!({"a": 1, "b": 2})).await;
    assert_eq!(
        refused["error"]["code"], -32003,
        "the cached policy applies"
    );
    let held = p.call(3, "get-env", json!({})).await;
    assert_eq!(held["error"]["code"], -32003, "{held}");
    assert!(
        held["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot ask for one"),
        "offline approvals refuse clearly: {held}"
    );
    p.finish().await;
    let empty = tempfile::tempdir().unwrap();
    let out = connect_files_offline(empty.path(), &dead).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no list of local servers is cached") && err.contains("nothing was started"),
        "{err}"
    );
    drop(host);
    assert!(!tray_home.path().join("capture.sock").exists());
}

/// `gatehouse connect files` (as `e2e`) with the control plane at `dead` unreachable.
async fn connect_files_offline(home: &Path, dead: &str) -> std::process::Output {
    Command::new(gatehouse_bin())
        .args(["connect", "files"])
        .env("GATEHOUSE_DESKTOP_HOME", home)
        .env("GATEHOUSE_URL", dead)
        .env("GATEHOUSE_TOKEN", TOKEN)
        .env("GATEHOUSE_KEYRING", "off")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

/// A TCP forwarder to `target` counting the requests for the list of local servers that
/// pass through it (what the control plane is asked, as its access log would show).
async fn counting_forwarder(target: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ASK: &[u8] = b"GET /api/v1/local-servers ";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                continue;
            };
            let count = counted.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                // Requests, counted across reads (a request line may be split).
                let mut tail: Vec<u8> = Vec::new();
                let mut buf = vec![0u8; 16 * 1024];
                use tokio::io::AsyncReadExt;
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    tail.extend_from_slice(&buf[..n]);
                    let found = tail.windows(ASK.len()).filter(|w| *w == ASK).count();
                    count.fetch_add(found, Ordering::SeqCst);
                    let keep = tail.len().saturating_sub(ASK.len() - 1);
                    tail.drain(..keep);
                }
            });
        }
    });
    (base, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_gateway_server_asks_for_the_local_list_once_per_few_minutes() {
    use gatehouse_client::local_servers::CACHE_FILE;
    use std::sync::atomic::Ordering;

    let cmd = everything_stdio();
    let args: Vec<String> = cmd[1..].iter().map(|a| format!("{a:?}")).collect();
    let extra = format!(
        "[[local_servers]]\nname = \"files\"\ncommand = {:?}\nargs = [{}]\ngroups = [\"engineers\"]\n",
        cmd[0],
        args.join(", ")
    );
    let g = Gatehouse::start_with(&stdio_server("everything", &cmd), &extra, None).await;
    let (via, asked) = counting_forwarder(g.base.trim_start_matches("http://").to_string()).await;
    let home = tempfile::tempdir().unwrap();
    let relay = |home: &Path| {
        let mut p = Local::named("everything", home, &via, Some(TOKEN));
        async move {
            p.session().await;
            let echoed = p.echo(2, "via the gateway").await;
            assert!(echoed.to_string().contains("via the gateway"), "{echoed}");
            p.finish().await;
        }
    };

    // The first relay asks (and caches the list); the next ones within minutes do not.
    relay(home.path()).await;
    assert_eq!(asked.load(Ordering::SeqCst), 1, "the first connect asks");
    relay(home.path()).await;
    relay(home.path()).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "a recent list answers for a gateway server"
    );

    // A local server always starts under a list fetched now.
    let mut p = Local::named("files", home.path(), &via, Some(TOKEN));
    p.session().await;
    p.finish().await;
    let after_local = asked.load(Ordering::SeqCst);
    assert_eq!(after_local, 2, "a local server asks every time, once");

    // A list older than a few minutes is asked for again.
    let cache = home.path().join(CACHE_FILE);
    let mut kept: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    kept["fetched_at"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&cache, kept.to_string()).unwrap();
    relay(home.path()).await;
    assert_eq!(
        asked.load(Ordering::SeqCst),
        after_local + 1,
        "stale: asked again"
    );

    // No list kept and the control plane unreachable: a local server still refuses.
    std::fs::remove_file(&cache).unwrap();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = connect_files_offline(home.path(), &dead).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing was started"),
        "fail closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_calls_wait_for_approvers_at_the_control_plane() {
    use gatehouse_client::approvals;

    let policy_dir = tempfile::tempdir().unwrap();
    let (g, _op, approver) = local_servers_plane(policy_dir.path()).await;
    let api = ControlPlane::new(&g.base);
    let home = tempfile::tempdir().unwrap();
    let mut p = Local::named("files", home.path(), &g.base, Some(TOKEN));
    p.session().await;

    // Approve: the call waits, an engineer approves, the call goes through.
    p.send(json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get-env","arguments":{}}}))
        .await;
    let a = pending_local_approval(&api, &approver, "get-env").await;
    assert_eq!(a["requester"], "e2e");
    assert_eq!(a["approvers"], json!(["engineers"]));
    let own = approvals::decide(&api, TOKEN, a["id"].as_str().unwrap(), true, "mine").await;
    assert!(
        own.unwrap_err().contains("asked for this call yourself"),
        "a requester never approves their own call"
    );
    approvals::decide(
        &api,
        &approver,
        a["id"].as_str().unwrap(),
        true,
        "needed for the release",
    )
    .await
    .unwrap();
    let done = p.answer(10).await;
    assert!(
        done["result"]["content"].is_array(),
        "forwarded once approved: {done}"
    );

    // Deny: the reason comes back to the client.
    p.send(json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"get-env","arguments":{}}}))
        .await;
    let a = pending_local_approval(&api, &approver, "get-env").await;
    approvals::decide(
        &api,
        &approver,
        a["id"].as_str().unwrap(),
        false,
        "not during the freeze",
    )
    .await
    .unwrap();
    let denied = p.answer(11).await;
    assert_eq!(denied["error"]["code"], -32003, "{denied}");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not during the freeze"),
        "{denied}"
    );

    // Timeout: nobody decides within the policy's 10 s; the call is refused.
    let late = p.call(12, "get-tiny-image", json!({})).await;
    assert_eq!(late["error"]["code"], -32003, "{late}");
    let why = late["error"]["message"].as_str().unwrap_or_default();
    assert!(
        why.contains("not approved within") || why.contains("not given within"),
        "{why}"
    );

    // Each decision is in the uploaded record.
    p.finish().await;
    let rows = sqlx_rows(
        &g,
        "SELECT COALESCE(e.rpc_id, ''), e.kind, COALESCE(json_extract(e.decision, '$.approval.outcome'), ''), e.payload \
         FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE s.server = 'local:files' AND e.kind = 'approval_decided' ORDER BY e.seq",
    )
    .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let outcome = |i: usize| serde_json::from_str::<Value>(&rows[i].3).unwrap();
    assert_eq!(rows[0].2, "approved");
    assert_eq!(outcome(0)["state"], "used");
    assert_eq!(outcome(0)["reason"], "needed for the release");
    assert_eq!(outcome(1)["state"], "denied");
    assert_eq!(outcome(1)["reason"], "not during the freeze");
    assert_eq!(outcome(2)["state"], "expired");
    // Who decided, and why, is in the record too (not only the state).
    let approver_name = api.me(&approver).await.unwrap().user;
    let vote = |i: usize| outcome(i)["votes"][0].clone();
    assert_eq!(
        vote(0)["approver"],
        approver_name.as_str(),
        "{}",
        outcome(0)
    );
    assert_eq!(vote(0)["vote"], "approve");
    assert_eq!(vote(0)["reason"], "needed for the release");
    assert_eq!(
        vote(1)["approver"],
        approver_name.as_str(),
        "{}",
        outcome(1)
    );
    assert_eq!(vote(1)["vote"], "deny");
    assert_eq!(vote(1)["reason"], "not during the freeze");
    assert_eq!(outcome(2)["votes"], json!([]), "nobody decided in time");
    let requests = sqlx_rows(
        &g,
        "SELECT COALESCE(e.rpc_id, ''), e.kind, COALESCE(json_extract(e.decision, '$.effect'), ''), '' \
         FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE s.server = 'local:files' AND e.kind = 'request' AND e.tool = 'get-env'",
    )
    .await;
    assert!(
        requests.iter().all(|r| r.2 == "require_approval"),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_windows_approve_call_releases_a_held_gateway_call() {
    use gatehouse_client::approvals;

    let policy_dir = tempfile::tempdir().unwrap();
    let (g, _op, approver) = local_servers_plane(policy_dir.path()).await;
    let api = ControlPlane::new(&g.base);
    let url = g.url("everything");
    let held = tokio::spawn(async move {
        let mut client = gatehouse_e2e::initialize_then_echo(&url, TOKEN, "held").await;
        client.pop().unwrap_or_default()
    });
    let mut pending = Vec::new();
    for _ in 0..150 {
        pending = api.approvals(&approver).await.unwrap();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a = pending
        .iter()
        .find(|a| a["server"] == "everything")
        .unwrap_or_else(|| panic!("the held call in the approver's list: {pending:?}"));
    let id = a["id"].as_str().unwrap();
    let empty = approvals::decide(&api, &approver, id, true, "  ").await;
    assert!(empty.unwrap_err().contains("reason is required"));
    let decided = approvals::decide(&api, &approver, id, true, "ok from the tray")
        .await
        .unwrap();
    assert_eq!(decided["state"], "approved");
    let answer = tokio::time::timeout(Duration::from_secs(30), held)
        .await
        .expect("the held call is released")
        .unwrap();
    assert!(answer.contains("Echo: held"), "{answer}");
}

/// The tray's capture decides each call with the groups of the token it runs under: a
/// person removed from `engineers` at the identity provider (here: the next dev token of
/// the same person, without the group) has the next call of the same session refused,
/// and the spooled record carries that decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_capture_decides_each_call_with_the_groups_of_the_current_token() {
    use gatehouse_client::api::PolicyVersion;
    use gatehouse_client::capture::{Capture, Identity};
    use gatehouse_client::policy::LocalPolicy;

    let g = Gatehouse::start("").await;
    let home = tempfile::tempdir().unwrap();
    let policy = LocalPolicy::load(home.path());
    policy
        .apply(&PolicyVersion {
            version: 1,
            digest: String::new(),
            document: "version: 1\ndefault: deny\nrules:\n  - name: engineers-here\n    principals: {groups: [engineers]}\n    servers: [\"local:files\"]\n    effect: allow\n".into(),
        })
        .unwrap();
    let spool = Spool::open(&home.path().join("spool.db")).await.unwrap();
    let current = Arc::new(std::sync::Mutex::new(TOKEN.to_string()));
    let tokens: gatehouse_client::upload::TokenSource = {
        let current = current.clone();
        Arc::new(move || {
            let t = current.lock().unwrap().clone();
            Box::pin(async move { Some(t) })
        })
    };
    let api = ControlPlane::new(&g.base);
    let capture = Capture {
        server: "files".into(),
        user: "e2e".into(),
        groups: vec!["engineers".into()],
        identity: Some(Identity::new(api.clone(), tokens)),
        policy,
        masker: Arc::new(
            gatehouse_mask::Masker::new(&gatehouse_mask::Profile::default(), None).unwrap(),
        ),
        spool: spool.clone(),
        uploader: None,
        approvals: None,
        host: "tray".into(),
    };
    let (client_side, capture_side) = tokio::io::duplex(1 << 16);
    let (capture_in, capture_out) = tokio::io::split(capture_side);
    let cmd = everything_stdio();
    let running = tokio::spawn(async move {
        capture
            .run(
                &cmd[0],
                &cmd[1..],
                Default::default(),
                capture_in,
                capture_out,
            )
            .await
    });
    let (client_in, mut client_out) = tokio::io::split(client_side);
    let mut lines = BufReader::new(client_in).lines();
    let mut ask = async |v: Value| -> Value {
        client_out
            .write_all(format!("{v}\n").as_bytes())
            .await
            .unwrap();
        let id = v["id"].clone();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            if m["id"] == id {
                return m;
            }
        }
    };
    let init = ask(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
    assert!(init["result"].is_object(), "{init}");
    let echo = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}});
    let ok = ask(echo(2)).await;
    assert!(ok["result"]["content"].is_array(), "an engineer may: {ok}");

    *current.lock().unwrap() = TOKEN_LEFT_ENGINEERS.to_string();
    let refused = ask(echo(3)).await;
    assert_eq!(
        refused["error"]["code"], -32003,
        "no longer an engineer: {refused}"
    );

    drop(client_out);
    drop(lines);
    running.await.unwrap().unwrap();
    let records = spool.oldest(100).await.unwrap();
    let decision = |id: &str| {
        records
            .iter()
            .find(|r| r.kind == "request" && r.rpc_id.as_deref() == Some(id))
            .and_then(|r| r.decision.clone())
            .unwrap_or_default()
    };
    assert!(
        decision("2").contains("engineers-here"),
        "{}",
        decision("2")
    );
    assert!(
        decision("3").contains("\"effect\":\"deny\""),
        "{}",
        decision("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tray_capture_honours_a_just_in_time_grant_until_it_ends() {
    use gatehouse_client::access::{AccessAsk, request};
    use gatehouse_client::api::PolicyVersion;
    use gatehouse_client::capture::{Capture, GRANTS_REFRESH, Identity};
    use gatehouse_client::policy::LocalPolicy;

    // `local:files` has no standing access: engineers may ask for role `files-admin`.
    let document = "version: 1\ndefault: deny\nservers:\n  \"local:files\": {standing_access: false}\nrules:\n  - name: files-on-request\n    principals:\n      groups: [engineers]\n      request: {role: files-admin, max: 1h, approval: {approvers: [dba], quorum: 1, ttl: 10m}}\n    servers: [\"local:files\"]\n    effect: allow\n";
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy.yaml");
    std::fs::write(&policy_file, document).unwrap();
    let g = Gatehouse::start_with(
        "",
        &format!("policy_file = {:?}\n", policy_file.display().to_string()),
        None,
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let policy = LocalPolicy::load(home.path());
    policy
        .apply(&PolicyVersion {
            version: 1,
            digest: String::new(),
            document: document.into(),
        })
        .unwrap();
    let spool = Spool::open(&home.path().join("spool.db")).await.unwrap();
    let api = ControlPlane::new(&g.base);
    let capture = Capture {
        server: "files".into(),
        user: "e2e".into(),
        groups: vec!["engineers".into()],
        identity: Some(Identity::new(api.clone(), token_of(TOKEN))),
        policy,
        masker: Arc::new(
            gatehouse_mask::Masker::new(&gatehouse_mask::Profile::default(), None).unwrap(),
        ),
        spool: spool.clone(),
        uploader: None,
        approvals: None,
        host: "tray".into(),
    };
    let (client_side, capture_side) = tokio::io::duplex(1 << 16);
    let (capture_in, capture_out) = tokio::io::split(capture_side);
    let cmd = everything_stdio();
    let running = tokio::spawn(async move {
        capture
            .run(
                &cmd[0],
                &cmd[1..],
                Default::default(),
                capture_in,
                capture_out,
            )
            .await
    });
    let (client_in, mut client_out) = tokio::io::split(client_side);
    let mut lines = BufReader::new(client_in).lines();
    let mut ask = async |v: Value| -> Value {
        client_out
            .write_all(format!("{v}\n").as_bytes())
            .await
            .unwrap();
        let id = v["id"].clone();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            let m: Value = serde_json::from_str(&line).unwrap();
            if m["id"] == id {
                return m;
            }
        }
    };
    let init = ask(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})).await;
    assert!(init["result"].is_object(), "{init}");
    let echo = |id: u64| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}});
    let refused = ask(echo(2)).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("has no standing access"),
        "no grant yet: {refused}"
    );

    // Asked for from the tray's form (the same client function), approved by someone else.
    let asked = request(
        &api,
        TOKEN,
        &AccessAsk {
            server: "local:files".into(),
            role: "files-admin".into(),
            duration: "12s".into(),
            reason: "INC-4411".into(),
        },
    )
    .await
    .unwrap();
    let id = asked["id"].as_str().unwrap();
    api.post_json(
        &format!("/api/v1/access/requests/{id}/approve"),
        TOKEN_APPROVER,
        &json!({"reason": "on call"}),
    )
    .await
    .unwrap();

    // The capture asks again within a few seconds; the same call then passes.
    let mut passed = Value::Null;
    for n in 0..(GRANTS_REFRESH.as_secs() * 10 + 50) {
        passed = ask(echo(100 + n)).await;
        if passed["result"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        passed["result"]["content"].is_array(),
        "under the grant: {passed}"
    );

    // When the grant ends, the capture refuses the call and says the grant ended.
    let mut refused = Value::Null;
    for n in 0..300 {
        refused = ask(echo(1000 + n)).await;
        if refused["error"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = refused["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        text.contains("access grant") && text.contains("ended"),
        "{text}"
    );

    drop(client_out);
    drop(lines);
    running.await.unwrap().unwrap();
    let records = spool.oldest(1000).await.unwrap();
    assert!(
        records
            .iter()
            .filter_map(|r| r.decision.as_deref())
            .any(|d| d.contains("\"grant\"") && d.contains("files-on-request")),
        "the local record names the grant"
    );
}
