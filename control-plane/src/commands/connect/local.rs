//! `gatehouse connect --local NAME -- COMMAND ARGS...`: local capture without the tray
//! app. Runs COMMAND as a stdio MCP server for the client on stdin/stdout, under the
//! policy the control plane pushed last (watched live, cached for offline use) and the
//! default masking, records every message in the spool shared with the tray app
//! (`$GATEHOUSE_DESKTOP_HOME/spool.db`), and uploads it whenever the control plane answers.

use super::{Exit, env_token};
use gatehouse_desktop_core::account::Account;
use gatehouse_desktop_core::api::{ControlPlane, PolicyVersion};
use gatehouse_desktop_core::capture::Capture;
use gatehouse_desktop_core::paths;
use gatehouse_desktop_core::policy::LocalPolicy;
use gatehouse_desktop_core::spool::Spool;
use gatehouse_desktop_core::upload::{TokenSource, Uploader};
use gatehouse_mask::{Masker, Profile};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// An access token from the tray app's sign-in (refreshed when needed).
pub(super) async fn tray_token() -> Result<String, String> {
    let home = paths::home();
    let account = Account::open(&home)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "not signed in: sign in from the Gatehouse tray app first (nothing in {})",
                home.display()
            )
        })?;
    account.access_token().await.map_err(|e| e.to_string())
}

/// Where tokens come from: `GATEHOUSE_TOKEN`, else the tray's sign-in.
fn token_source(account: Option<Arc<Account>>) -> TokenSource {
    Arc::new(move || {
        let account = account.clone();
        Box::pin(async move {
            if let Some(t) = env_token() {
                return Some(t);
            }
            match account {
                Some(a) => a.access_token().await.ok(),
                None => None,
            }
        })
    })
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
    let account = Account::open(&home)
        .map_err(|e| Exit::Usage(e.to_string()))?
        .map(Arc::new);
    let url = account
        .as_ref()
        .filter(|_| std::env::var_os("GATEHOUSE_URL").is_none())
        .map(|a| a.profile().gateway_url)
        .unwrap_or(url);
    let api = ControlPlane::new(&url);
    let tokens = token_source(account.clone());
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
    let applier = {
        let policy = policy.clone();
        let first_wait = me.is_some() && policy.current().is_none();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
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
        if first_wait {
            // Online without a cached policy: wait briefly for the one in force.
            let _ = tokio::time::timeout(Duration::from_secs(3), first_rx).await;
        }
        task
    };

    let uploader = Uploader::new(spool.clone(), api.clone(), tokens.clone());
    let uploading = tokio::spawn(uploader.clone().run(|_| {}));
    let masker = Masker::new(&Profile::default(), None)
        .map_err(|e| Exit::Runtime(format!("the default masking profile: {e}")))?;
    let capture = Capture {
        server: name,
        user,
        groups,
        policy,
        masker: Arc::new(masker),
        spool,
        uploader: Some(uploader.clone()),
    };
    let result = capture
        .run(
            program,
            args,
            BTreeMap::new(),
            tokio::io::stdin(),
            tokio::io::stdout(),
        )
        .await;
    uploading.abort();
    watcher.abort();
    applier.abort();
    match tokio::time::timeout(Duration::from_secs(5), uploader.upload_all()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::info!(error = %e, "records stay in the spool until the next upload"),
        Err(_) => tracing::info!("upload timed out; records stay in the spool"),
    }
    result.map_err(|e| Exit::Runtime(e.to_string()))
}
