//! Local capture in `gatehouse connect`:
//!
//! * `gatehouse connect NAME` for a local server an admin configured (`[[local_servers]]`):
//!   handed to the running tray app over its 0600 socket when one runs (and no
//!   `GATEHOUSE_TOKEN` names another identity), else captured here with the same runtime:
//!   the server's command, masking profile and the pushed policy from the control plane
//!   (or the cache offline; neither: refused), approvals asked at the control plane.
//! * `gatehouse connect --local NAME -- COMMAND ARGS...`: an ad-hoc command under the
//!   pushed policy and the default masking.
//!
//! Either way every message is recorded in the spool shared with the tray app
//! (`$GATEHOUSE_DESKTOP_HOME/spool.db`) and uploaded whenever the control plane answers.

use super::{Exit, env_token};
use gatehouse_client::account::Account;
use gatehouse_client::api::{ControlPlane, PolicyVersion};
use gatehouse_client::approvals::LocalApprovals;
use gatehouse_client::capture::{Capture, Identity};
use gatehouse_client::host::{self, HandOff};
use gatehouse_client::local_servers::{self, CatalogError};
use gatehouse_client::paths;
use gatehouse_client::policy::LocalPolicy;
use gatehouse_client::runtime::Runtime;
use gatehouse_client::spool::Spool;
use gatehouse_client::upload::{TokenSource, Uploader};
use gatehouse_mask::{Masker, Profile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// An access token from the tray app's sign-in (refreshed when needed), for `url` only:
/// the tray's token goes to the gateway the tray signed in to and never to another URL
/// (`GATEHOUSE_URL` or `--url` may name any host).
pub(super) async fn tray_token(url: &str) -> Result<String, String> {
    let home = paths::home();
    let account = Account::open(&home)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "not signed in: sign in from the Gatehouse tray app first (nothing in {})",
                home.display()
            )
        })?;
    let own = account.profile().gateway_url;
    if !same_gateway(&own, url) {
        return Err(format!(
            "the tray app is signed in to {own}, not {url}: its token is not sent elsewhere"
        ));
    }
    account.access_token().await.map_err(|e| e.to_string())
}

/// Two base URLs name the same gateway (a trailing slash aside).
fn same_gateway(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Where tokens come from: `GATEHOUSE_TOKEN`, else the tray's sign-in, else (when
/// `login_url` is given) the sign-in `gatehouse login` saved.
fn token_source(account: Option<Arc<Account>>, login_url: Option<String>) -> TokenSource {
    Arc::new(move || {
        let account = account.clone();
        let login_url = login_url.clone();
        Box::pin(async move {
            if let Some(t) = env_token() {
                return Some(t);
            }
            if let Some(a) = account
                && let Ok(t) = a.access_token().await
            {
                return Some(t);
            }
            match login_url {
                Some(u) => super::super::login::access_token(&u).await.ok(),
                None => None,
            }
        })
    })
}

/// Keeps `policy` on the version the control plane pushes (watch stream) while the
/// session runs; the first version is awaited briefly when `wait_first`.
async fn follow_policy(
    api: &ControlPlane,
    tokens: &TokenSource,
    policy: &LocalPolicy,
    wait_first: bool,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let (policy_tx, mut policy_rx) = mpsc::channel(4);
    let watcher = {
        let api = api.clone();
        let tokens = tokens.clone();
        tokio::spawn(async move {
            api.watch(
                "/api/v1/policies/watch",
                "policy",
                move || (tokens)(),
                policy_tx,
                |_, _| {},
            )
            .await
        })
    };
    let policy = policy.clone();
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let applier = tokio::spawn(async move {
        let mut first = Some(first_tx);
        while let Some(v) = policy_rx.recv().await {
            match serde_json::from_value::<PolicyVersion>(v) {
                Ok(v) => match policy.apply(&v) {
                    Ok(()) => tracing::info!(version = v.version, "policy in force"),
                    Err(e) => {
                        tracing::warn!(error = %e, "a pushed policy does not load; keeping the previous one")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "unexpected policy event"),
            }
            if let Some(f) = first.take() {
                let _ = f.send(());
            }
        }
    });
    if wait_first {
        // Online without a cached policy: wait briefly for the one in force.
        let _ = tokio::time::timeout(Duration::from_secs(3), first_rx).await;
    }
    (watcher, applier)
}

/// Uploads what it can (5 s) before the process ends; the rest waits in the spool.
async fn final_upload(uploader: &Uploader) {
    match tokio::time::timeout(Duration::from_secs(5), uploader.upload_all()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::info!(error = %e, "records stay in the spool until the next upload"),
        Err(_) => tracing::info!("upload timed out; records stay in the spool"),
    }
}

/// Pipes stdin/stdout through a session the tray app took, until both ends close.
#[cfg(unix)]
async fn pipe(stream: tokio::net::UnixStream) -> Result<(), Exit> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut from_host, mut to_host) = stream.into_split();
    let up = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 || to_host.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_host.shutdown().await;
    });
    let mut stdout = tokio::io::stdout();
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from_host.read(&mut buf).await {
        if n == 0 || stdout.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let _ = stdout.flush().await;
    }
    up.abort();
    Ok(())
}

/// The tray's sign-in (if any) and the control plane to ask: the one the tray signed in
/// to, unless `GATEHOUSE_URL` names another (then without the tray's sign-in).
fn account_and_url(
    home: &std::path::Path,
    url: &str,
) -> Result<(Option<Arc<Account>>, String), Exit> {
    let account = Account::open(home)
        .map_err(|e| Exit::Usage(e.to_string()))?
        .map(Arc::new);
    let url = account
        .as_ref()
        .filter(|_| std::env::var_os("GATEHOUSE_URL").is_none())
        .map(|a| a.profile().gateway_url)
        .unwrap_or_else(|| url.to_string());
    // The tray's token goes only to the tray's own gateway, never to another URL.
    let account = account.filter(|a| same_gateway(&a.profile().gateway_url, &url));
    Ok((account, url))
}

/// `gatehouse connect NAME` when NAME is a local server: runs it (in the tray app, else
/// here) and returns true; false when NAME is not a local server (use the gateway).
pub async fn try_named(name: &str, url: &str) -> Result<bool, Exit> {
    let home = paths::home();
    let (account, url) = account_and_url(&home, url)?;
    let api = ControlPlane::new(&url);
    // A gateway server named by a list fetched minutes ago costs no request; a local
    // server always starts under a list fetched now (or the cache when offline).
    if local_servers::known_not_local(&api, &home, name) {
        tracing::debug!(
            server = name,
            "not a local server (recent list): relaying to the gateway"
        );
        return Ok(false);
    }
    // The tray's sign-in is the identity of a handed-over session: not with another token.
    if env_token().is_none() {
        match host::hand_off(&home, name).await {
            #[cfg(unix)]
            HandOff::Taken(stream) => return pipe(stream).await.map(|()| true),
            HandOff::NotLocal(why) => {
                tracing::debug!(%why, "not a local server: relaying to the gateway");
                return Ok(false);
            }
            HandOff::Refused(why) => return Err(Exit::Runtime(why)),
            HandOff::NoHost => {}
        }
    }
    let tokens = token_source(account, Some(url.clone()));
    let mut runtime = Runtime::open(&home, api.clone(), tokens.clone(), None, "connect")
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let uploader = Uploader::new(runtime.spool().clone(), api.clone(), tokens.clone());
    runtime.set_uploader(uploader.clone());
    let catalog = match runtime.catalog().await {
        Ok((c, _)) if c.server(name).is_some() => c,
        Ok(_) => return Ok(false),
        // Signed out, a token for one server only, an older control plane: the gateway
        // relay gives its own answer.
        Err(CatalogError::Refused(_)) => return Ok(false),
        // Not signed in at all: the relay says how to sign in.
        Err(CatalogError::FailClosed(_)) if (tokens)().await.is_none() => return Ok(false),
        Err(e) => return Err(Exit::Runtime(e.to_string())),
    };
    let (watcher, applier) = follow_policy(&api, &tokens, runtime.policy(), false).await;
    let uploading = tokio::spawn(uploader.clone().run(|_| {}));
    let result = runtime
        .run_under(&catalog, name, tokio::io::stdin(), tokio::io::stdout())
        .await;
    uploading.abort();
    watcher.abort();
    applier.abort();
    final_upload(&uploader).await;
    result
        .map(|()| true)
        .map_err(|e| Exit::Runtime(e.to_string()))
}

/// Runs the capture until the client closes stdin, then uploads what it can (5 s).
pub async fn run_local(name: String, url: String, command: Vec<String>) -> Result<(), Exit> {
    let Some((program, args)) = command.split_first() else {
        return Err(Exit::Usage(
            "give the local server's command after `--`, e.g. gatehouse connect --local files -- npx @modelcontextprotocol/server-filesystem ~/src".into(),
        ));
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Exit::Usage(format!(
            "`{name}` is not a server name: use letters, digits, `-`, `_`, `.`"
        )));
    }
    let home = paths::home();
    let (account, url) = account_and_url(&home, &url)?;
    let api = ControlPlane::new(&url);
    let tokens = token_source(account.clone(), None);
    let spool = Spool::open(&home.join("spool.db"))
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;

    // Who: the control plane's answer when it is reachable, else the last one kept.
    let me = match (tokens)().await {
        Some(t) => api.me(&t).await.ok(),
        None => None,
    };
    let (user, groups) = match (&me, &account) {
        (Some(me), acct) => {
            if let Some(a) = acct {
                let _ = a.set_identity(&me.user, &me.groups);
            }
            (me.user.clone(), me.groups.clone())
        }
        (None, Some(a)) => {
            let p = a.profile();
            (p.user.unwrap_or_else(|| "unknown".into()), p.groups)
        }
        (None, None) => ("unknown".into(), Vec::new()),
    };

    let policy = LocalPolicy::load(&home);
    let wait_first = me.is_some() && policy.current().is_none();
    let (watcher, applier) = follow_policy(&api, &tokens, &policy, wait_first).await;

    let uploader = Uploader::new(spool.clone(), api.clone(), tokens.clone());
    let uploading = tokio::spawn(uploader.clone().run(|_| {}));
    let masker = Masker::new(&Profile::default(), None)
        .map_err(|e| Exit::Runtime(format!("the default masking profile: {e}")))?;
    let capture = Capture {
        server: name,
        user,
        groups,
        identity: Some(Identity::new(api.clone(), tokens.clone())),
        policy,
        masker: Arc::new(masker),
        spool,
        uploader: Some(uploader.clone()),
        approvals: Some(LocalApprovals::new(api.clone(), tokens.clone())),
        host: "connect".into(),
    };
    let result = capture
        .run(
            program,
            args,
            client_env(),
            tokio::io::stdin(),
            tokio::io::stdout(),
        )
        .await;
    uploading.abort();
    watcher.abort();
    applier.abort();
    final_upload(&uploader).await;
    result.map_err(|e| Exit::Runtime(e.to_string()))
}

/// The environment the MCP client gave this command, for the local server it starts:
/// the client's configuration often passes the server's own settings this way. Gatehouse's
/// variables (`GATEHOUSE_TOKEN` above all) stay here; the server gets the rest, and the
/// capture adds nothing else of this process's environment.
fn client_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| !k.starts_with("GATEHOUSE_"))
        .collect()
}
