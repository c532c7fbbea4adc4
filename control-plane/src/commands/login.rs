//! `gatehouse login` / `gatehouse logout`: an engineer signs in once at the control
//! plane's authorization server (Authorization Code + PKCE with a loopback redirect,
//! RFC 8252: the browser comes back to a one-shot listener on 127.0.0.1), and the refresh
//! token is kept in a file only its owner can read (0600). `gatehouse connect` turns it
//! into a short-lived access token when no `GATEHOUSE_TOKEN` is set.

use super::Exit;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long `login` waits for the browser to come back.
const WAIT_FOR_BROWSER: Duration = Duration::from_secs(300);

/// What `login` keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// The control plane's base URL.
    pub url: String,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// Its revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// The client id this machine registered.
    pub client_id: String,
    /// The audience of the tokens (`{url}/mcp`: every server).
    pub resource: String,
    /// The current refresh token (rotated on every use).
    pub refresh_token: String,
    /// Who signed in (for messages only).
    pub user: String,
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

async fn json_or_error(r: reqwest::Response, what: &str) -> Result<serde_json::Value, Exit> {
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(Exit::Runtime(format!(
            "{what} failed ({status}): {}",
            body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given")
        )))
    }
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
    let meta = json_or_error(
        http.get(format!("{url}/.well-known/oauth-authorization-server"))
            .send()
            .await
            .map_err(|e| Exit::Runtime(format!("cannot reach {url}: {e}")))?,
        "reading the control plane's sign-in metadata",
    )
    .await?;
    let endpoint = |k: &str| {
        meta[k].as_str().map(String::from).ok_or_else(|| {
            Exit::Runtime(format!(
                "{url} does not offer sign-in for clients (no {k}); is [oidc] client_id configured?"
            ))
        })
    };
    let (authorize, token, register) = (
        endpoint("authorization_endpoint")?,
        endpoint("token_endpoint")?,
        endpoint("registration_endpoint")?,
    );
    let issuer = endpoint("issuer")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Exit::Runtime(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| Exit::Runtime(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    // A client registered earlier for this control plane is reused: its loopback
    // redirect URI matches on any port.
    let client_id = match load().ok().flatten().filter(|c| c.url == url) {
        Some(c) => c.client_id,
        None => {
            let reg = json_or_error(
                http.post(&register)
                    .json(&serde_json::json!({
                        "client_name": "gatehouse CLI",
                        "redirect_uris": ["http://127.0.0.1/callback"],
                        "grant_types": ["authorization_code", "refresh_token"],
                        "token_endpoint_auth_method": "none",
                    }))
                    .send()
                    .await
                    .map_err(|e| Exit::Runtime(format!("registering at {register}: {e}")))?,
                "registering this machine",
            )
            .await?;
            reg["client_id"]
                .as_str()
                .map(String::from)
                .ok_or_else(|| Exit::Runtime("the registration returned no client_id".into()))?
        }
    };
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
    let access = tokens["access_token"].as_str().unwrap_or_default();
    let creds = Credentials {
        url: url.clone(),
        token_endpoint: token,
        revocation_endpoint: meta["revocation_endpoint"].as_str().map(String::from),
        client_id,
        resource,
        refresh_token: tokens["refresh_token"]
            .as_str()
            .ok_or_else(|| Exit::Runtime("the control plane returned no refresh token".into()))?
            .to_string(),
        user: token_user(access),
    };
    let path = save(&creds)?;
    super::out(&format!(
        "Signed in to {url} as {}.\nCredentials saved in {} (readable only by you).\n",
        creds.user,
        path.display()
    ));
    Ok(())
}

/// A fresh access token for `url` from the saved sign-in (the refresh token rotates and
/// the new one is saved).
pub async fn access_token(url: &str) -> Result<String, Exit> {
    let url = url.trim_end_matches('/');
    let Some(mut creds) = load()? else {
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
                ("refresh_token", creds.refresh_token.as_str()),
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
        creds.refresh_token = r.to_string();
        save(&creds)?;
    }
    tokens["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Exit::Runtime("the control plane returned no access token".into()))
}

/// `gatehouse logout`: revokes the sign-in at the control plane and forgets it here.
pub async fn logout() -> Result<(), Exit> {
    let Some(creds) = load()? else {
        super::out("Not signed in.\n");
        return Ok(());
    };
    if let Some(endpoint) = &creds.revocation_endpoint {
        let r = http()
            .post(endpoint)
            .form(&[("token", creds.refresh_token.as_str())])
            .send()
            .await;
        if let Err(e) = r.and_then(|r| r.error_for_status()) {
            return Err(Exit::Runtime(format!(
                "could not revoke the sign-in at {} ({e}); the credentials file was kept",
                creds.url
            )));
        }
    }
    let path = credentials_path()?;
    std::fs::remove_file(&path)
        .map_err(|e| Exit::Runtime(format!("cannot remove {}: {e}", path.display())))?;
    super::out(&format!("Signed out of {}.\n", creds.url));
    Ok(())
}
