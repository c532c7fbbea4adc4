//! `gatehouse login` / `gatehouse logout`: an engineer signs in once at the control
//! plane's authorization server (Authorization Code + PKCE with a loopback redirect,
//! RFC 8252: the browser comes back to a one-shot listener on 127.0.0.1; or, with
//! `--device` on a machine without a browser, the device authorization grant, RFC 8628:
//! the person types a short code on another machine). The refresh token is kept in the
//! OS keyring where there is one, else in a file only its owner can read (0600), by the
//! desktop core's token store (`GATEHOUSE_KEYRING=off` forces the file); the rest of the
//! sign-in (endpoints, client id) sits in `credentials.json` (0600, no secret).
//! `gatehouse connect` turns it into a short-lived access token when no
//! `GATEHOUSE_TOKEN` is set.

use super::Exit;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_client::secrets::{Backend, KeyringMode, StoredTokens, TokenStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long `login` waits for the browser to come back.
const WAIT_FOR_BROWSER: Duration = Duration::from_secs(300);

/// What `login` keeps between runs in `credentials.json` (the refresh token is kept
/// apart, in the token store).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The control plane's base URL.
    pub url: String,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// Its revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// The client id the sign-in used.
    pub client_id: String,
    /// The audience of the tokens (`{url}/mcp`: every server).
    pub resource: String,
    /// Who signed in (for messages only).
    pub user: String,
    /// A refresh token written here by an older `gatehouse login`: read once and moved
    /// to the token store, never written again.
    #[serde(default, rename = "refresh_token", skip_serializing)]
    pub legacy_refresh_token: Option<String>,
}

/// Where the refresh token lives: the keyring entry for this credentials file, or
/// `tokens.json` (0600) beside it.
fn token_store() -> Result<TokenStore, Exit> {
    let path = credentials_path()?;
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    Ok(TokenStore::new(
        &dir,
        &format!("gatehouse-cli:{}", path.display()),
        KeyringMode::from_env(),
    ))
}

/// Keeps the refresh token; says where it went.
async fn save_refresh_token(refresh: &str) -> Result<Backend, Exit> {
    token_store()?
        .save(&StoredTokens {
            refresh_token: Some(refresh.to_string()),
            access_token: None,
            expires_at: 0,
        })
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))
}

/// The saved sign-in and its refresh token.
async fn load_signin() -> Result<Option<(Credentials, String)>, Exit> {
    let Some(creds) = load()? else {
        return Ok(None);
    };
    let stored = token_store()?
        .load()
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
        .and_then(|(t, _)| t.refresh_token);
    match stored.or_else(|| creds.legacy_refresh_token.clone()) {
        Some(refresh) => Ok(Some((creds, refresh))),
        None => Err(Exit::Usage(format!(
            "the sign-in to {} has no refresh token in the keyring or {}: run `gatehouse login` again",
            creds.url,
            token_store()?.file().display()
        ))),
    }
}

/// `$GATEHOUSE_CREDENTIALS`, else `$XDG_CONFIG_HOME/gatehouse/credentials.json`, else
/// `~/.config/gatehouse/credentials.json`.
pub fn credentials_path() -> Result<PathBuf, Exit> {
    if let Some(p) = std::env::var_os("GATEHOUSE_CREDENTIALS") {
        return Ok(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or_else(|| {
            Exit::Usage(
                "cannot tell where to keep credentials: set HOME or GATEHOUSE_CREDENTIALS".into(),
            )
        })?;
    Ok(base.join("gatehouse").join("credentials.json"))
}

fn load() -> Result<Option<Credentials>, Exit> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Exit::Runtime(format!(
                "{} is damaged ({e}); run `gatehouse login` again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Exit::Runtime(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the credentials readable by their owner only (0600), atomically.
fn save(c: &Credentials) -> Result<PathBuf, Exit> {
    let path = credentials_path()?;
    let fail = |e: std::io::Error| Exit::Runtime(format!("cannot write {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(fail)?;
    std::io::Write::write_all(
        &mut f,
        serde_json::to_string_pretty(c)
            .unwrap_or_default()
            .as_bytes(),
    )
    .map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(path)
}

fn random() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// A response's status and JSON body (`null` when it has none).
async fn status_and_body(r: reqwest::Response) -> (reqwest::StatusCode, serde_json::Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn json_or_error(r: reqwest::Response, what: &str) -> Result<serde_json::Value, Exit> {
    let (status, body) = status_and_body(r).await;
    if status.is_success() {
        Ok(body)
    } else {
        Err(failed(what, status, &body))
    }
}

/// `what` was refused with `status`: the OAuth error body's reason.
fn failed(what: &str, status: reqwest::StatusCode, body: &serde_json::Value) -> Exit {
    Exit::Runtime(format!(
        "{what} failed ({status}): {}",
        body["error_description"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("no reason given")
    ))
}

/// The control plane's sign-in metadata (RFC 8414) and the endpoints `keys` named in
/// it; a missing one is refused with `missing(key)` (what to do instead).
async fn discover<const N: usize>(
    http: &reqwest::Client,
    url: &str,
    keys: [&str; N],
    missing: impl Fn(&str) -> String,
) -> Result<(serde_json::Value, [String; N]), Exit> {
    let meta = json_or_error(
        http.get(format!("{url}/.well-known/oauth-authorization-server"))
            .send()
            .await
            .map_err(|e| Exit::Runtime(format!("cannot reach {url}: {e}")))?,
        "reading the control plane's sign-in metadata",
    )
    .await?;
    let mut endpoints: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, k) in endpoints.iter_mut().zip(keys) {
        *slot = meta[k]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Exit::Runtime(missing(k)))?;
    }
    Ok((meta, endpoints))
}

/// The command line's client id: Gatehouse's built-in client, whose tokens also reach
/// the management API (those of dynamically registered MCP clients do not).
fn client_id() -> String {
    gatehouse_control_plane::identity::authz::first_party::CLI_CLIENT_ID.to_string()
}

/// The person a Gatehouse access token names (not verified: for messages only).
fn token_user(access: &str) -> String {
    access
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|v| {
            let groups: Vec<&str> = v["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            format!(
                "{} (groups: {})",
                v["sub"].as_str().unwrap_or("?"),
                groups.join(", ")
            )
        })
        .unwrap_or_else(|| "?".into())
}

/// Waits for the browser's redirect on `listener`; returns the callback's query pairs.
async fn wait_for_callback(
    listener: tokio::net::TcpListener,
) -> Result<Vec<(String, String)>, Exit> {
    loop {
        let (mut sock, _) = listener
            .accept()
            .await
            .map_err(|e| Exit::Runtime(format!("the sign-in listener failed: {e}")))?;
        let mut buf = vec![0u8; 8192];
        let mut n = 0;
        while n < buf.len() {
            match sock.read(&mut buf[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..n]);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        if !target.starts_with("/callback?") {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{target}"))
            .map(|u| u.query_pairs().map(|(k, v)| (k.into(), v.into())).collect())
            .unwrap_or_default();
        let ok = pairs.iter().any(|(k, _)| k == "code");
        let page = if ok {
            "<!doctype html><title>Gatehouse</title><h1>Signed in</h1><p>You can close this tab and return to the terminal.</p>"
        } else {
            "<!doctype html><title>Gatehouse</title><h1>Sign-in failed</h1><p>See the terminal for why.</p>"
        };
        let _ = sock
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
            .await;
        return Ok(pairs);
    }
}

/// `gatehouse login --url URL [--no-browser]`
pub async fn login(url: String, open_browser: bool) -> Result<(), Exit> {
    let url = url.trim_end_matches('/').to_string();
    let http = http();
    let (meta, [authorize, token, issuer]) = discover(
        &http,
        &url,
        ["authorization_endpoint", "token_endpoint", "issuer"],
        |k| {
            format!(
                "{url} does not offer sign-in for clients (no {k}); is [oidc] client_id configured?"
            )
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Exit::Runtime(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Exit::Runtime(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let client_id = client_id();
    let verifier = random();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random();
    let resource = format!("{url}/mcp");
    let mut auth_url =
        reqwest::Url::parse(&authorize).map_err(|e| Exit::Runtime(format!("{authorize}: {e}")))?;
    auth_url
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state)
        .append_pair("resource", &resource)
        .append_pair("scope", "mcp");
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("Open this address in your browser to sign in:\n{auth_url}\n").as_bytes(),
    );
    if open_browser {
        for opener in ["xdg-open", "open"] {
            if std::process::Command::new(opener)
                .arg(auth_url.as_str())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .is_ok()
            {
                break;
            }
        }
    }
    let pairs = tokio::time::timeout(WAIT_FOR_BROWSER, wait_for_callback(listener))
        .await
        .map_err(|_| {
            Exit::Runtime("no sign-in within 5 minutes; run `gatehouse login` again".into())
        })??;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(err) = get("error") {
        return Err(Exit::Runtime(format!(
            "sign-in refused: {err}: {}",
            get("error_description").unwrap_or("")
        )));
    }
    if get("state") != Some(state.as_str()) {
        return Err(Exit::Runtime(
            "the browser came back with another sign-in's state; run `gatehouse login` again"
                .into(),
        ));
    }
    if get("iss") != Some(issuer.as_str()) {
        return Err(Exit::Runtime(format!(
            "the answer names issuer {:?}, not {issuer} (RFC 9207 mix-up protection)",
            get("iss")
        )));
    }
    let code = get("code").unwrap_or_default();
    let tokens = json_or_error(
        http.post(&token)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &redirect_uri),
                ("client_id", &client_id),
                ("code_verifier", &verifier),
                ("resource", &resource),
            ])
            .send()
            .await
            .map_err(|e| Exit::Runtime(format!("{token}: {e}")))?,
        "redeeming the sign-in",
    )
    .await?;
    keep_signin(&url, &meta, token, client_id, resource, &tokens).await
}

/// Saves a finished sign-in: the refresh token in the token store, the rest in
/// `credentials.json`; tells the person where.
async fn keep_signin(
    url: &str,
    meta: &serde_json::Value,
    token_endpoint: String,
    client_id: String,
    resource: String,
    tokens: &serde_json::Value,
) -> Result<(), Exit> {
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let refresh = tokens["refresh_token"]
        .as_str()
        .ok_or_else(|| Exit::Runtime("the control plane returned no refresh token".into()))?;
    let creds = Credentials {
        url: url.to_string(),
        token_endpoint,
        revocation_endpoint: meta["revocation_endpoint"].as_str().map(String::from),
        client_id,
        resource,
        user: token_user(access),
        legacy_refresh_token: None,
    };
    let backend = save_refresh_token(refresh).await?;
    let path = save(&creds)?;
    let kept = match backend {
        Backend::Keyring => "the refresh token in the OS keyring".to_string(),
        Backend::File(f) => format!(
            "the refresh token in {} (readable only by you)",
            f.display()
        ),
    };
    super::out(&format!(
        "Signed in to {url} as {}.\nSign-in saved in {}; {kept}.\n",
        creds.user,
        path.display()
    ));
    Ok(())
}

/// `gatehouse login --device --url URL`: the device authorization grant (RFC 8628). The
/// address and code go to stderr; the sign-in is saved as `login` saves it.
pub async fn login_device(url: String) -> Result<(), Exit> {
    let url = url.trim_end_matches('/').to_string();
    let http = http();
    let (meta, [device, token]) = discover(
        &http,
        &url,
        ["device_authorization_endpoint", "token_endpoint"],
        |k| {
            format!(
                "{url} does not offer device sign-in (no {k} in its metadata); use `gatehouse login` with a browser"
            )
        },
    )
    .await?;
    let resource = format!("{url}/mcp");
    let client_id = client_id();
    let ask = |client_id: String| {
        let (http, device, resource) = (http.clone(), device.clone(), resource.clone());
        async move {
            let r = http
                .post(&device)
                .form(&[
                    ("client_id", client_id.as_str()),
                    ("scope", "mcp"),
                    ("resource", resource.as_str()),
                ])
                .send()
                .await
                .map_err(|e| Exit::Runtime(format!("{device}: {e}")))?;
            Ok::<_, Exit>(status_and_body(r).await)
        }
    };
    let (status, answer) = ask(client_id.clone()).await?;
    if !status.is_success() {
        return Err(failed("starting the device sign-in", status, &answer));
    }
    let field = |k: &str| {
        answer[k]
            .as_str()
            .map(String::from)
            .ok_or_else(|| Exit::Runtime(format!("the device sign-in answer has no {k}: {answer}")))
    };
    let device_code = field("device_code")?;
    let user_code = field("user_code")?;
    let verification_uri = field("verification_uri")?;
    let expires_in = answer["expires_in"].as_u64().unwrap_or(600);
    let mut interval = answer["interval"].as_u64().unwrap_or(5).max(1);
    let mut shown = format!(
        "To sign in, open {verification_uri} on any device with a browser and enter the code\n\n    {user_code}\n\n"
    );
    if let Some(complete) = answer["verification_uri_complete"].as_str() {
        shown.push_str(&format!(
            "or open this address, which carries the code:\n{complete}\n"
        ));
    }
    shown.push_str(&format!(
        "Waiting for the sign-in (the code expires in {} minutes)...\n",
        expires_in.div_ceil(60)
    ));
    let _ = std::io::Write::write_all(&mut std::io::stderr(), shown.as_bytes());
    let deadline = std::time::Instant::now() + Duration::from_secs(expires_in);
    let tokens = loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let r = http
            .post(&token)
            .form(&[
                (
                    "grant_type",
                    gatehouse_control_plane::identity::authz::device_codes::GRANT_TYPE,
                ),
                ("device_code", device_code.as_str()),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await;
        let r = match r {
            Ok(r) => r,
            // A network blip while waiting: keep polling until the code expires.
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "polling the token endpoint failed; retrying");
                continue;
            }
            Err(e) => return Err(Exit::Runtime(format!("{token}: {e}"))),
        };
        let (status, body) = status_and_body(r).await;
        if status.is_success() {
            break body;
        }
        let why = body["error_description"].as_str().unwrap_or("");
        match body["error"].as_str() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += 5,
            Some("access_denied") => {
                return Err(Exit::Runtime(
                    "the sign-in was denied in the browser; nothing was saved".into(),
                ));
            }
            Some("expired_token") => {
                return Err(Exit::Runtime(format!(
                    "the code {user_code} expired before anyone approved it; run `gatehouse login --device` again"
                )));
            }
            other => {
                return Err(Exit::Runtime(format!(
                    "the device sign-in failed: {}: {why}",
                    other.unwrap_or("no error code")
                )));
            }
        }
    };
    keep_signin(&url, &meta, token, client_id, resource, &tokens).await
}

/// A fresh access token for `url` from the saved sign-in (the refresh token rotates and
/// the new one is saved).
pub async fn access_token(url: &str) -> Result<String, Exit> {
    let url = url.trim_end_matches('/');
    let Some((creds, refresh)) = load_signin().await? else {
        return Err(Exit::Usage(format!(
            "not signed in: run `gatehouse login --url {url}` (or set GATEHOUSE_TOKEN)"
        )));
    };
    if creds.url != url {
        return Err(Exit::Usage(format!(
            "you are signed in to {}, not {url}: run `gatehouse login --url {url}`",
            creds.url
        )));
    }
    let tokens = json_or_error(
        http()
            .post(&creds.token_endpoint)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", creds.client_id.as_str()),
                ("resource", creds.resource.as_str()),
            ])
            .send()
            .await
            .map_err(|e| Exit::Runtime(format!("cannot reach {url}: {e}")))?,
        "renewing your sign-in (run `gatehouse login` again if it was revoked)",
    )
    .await?;
    if let Some(r) = tokens["refresh_token"].as_str() {
        save_refresh_token(r).await?;
        if creds.legacy_refresh_token.is_some() {
            // The old file's copy is spent: rewrite it without one.
            save(&creds)?;
        }
    }
    tokens["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Exit::Runtime("the control plane returned no access token".into()))
}

/// `gatehouse logout`: revokes the sign-in at the control plane and forgets it here.
pub async fn logout() -> Result<(), Exit> {
    let Some((creds, refresh)) = load_signin().await? else {
        super::out("Not signed in.\n");
        return Ok(());
    };
    if let Some(endpoint) = &creds.revocation_endpoint {
        let r = http()
            .post(endpoint)
            .form(&[("token", refresh.as_str())])
            .send()
            .await;
        if let Err(e) = r.and_then(|r| r.error_for_status()) {
            return Err(Exit::Runtime(format!(
                "could not revoke the sign-in at {} ({e}); the credentials file was kept",
                creds.url
            )));
        }
    }
    token_store()?.clear().await;
    let path = credentials_path()?;
    std::fs::remove_file(&path)
        .map_err(|e| Exit::Runtime(format!("cannot remove {}: {e}", path.display())))?;
    super::out(&format!("Signed out of {}.\n", creds.url));
    Ok(())
}
