//! The app's state, its background work (sign-in restore, refreshes, watch streams,
//! the capture host for local servers, spool upload) and the commands the window calls.

use crate::menu::{self, Action};
use crate::snapshot::Snapshot;
use gatehouse_client::account::{Account, Profile};
use gatehouse_client::api::{ApiError, ControlPlane, PolicyVersion};
use gatehouse_client::clients::{self, Client, Entry};
use gatehouse_client::host::CaptureHost;
use gatehouse_client::local_servers::{Catalog, Freshness};
use gatehouse_client::paths;
use gatehouse_client::policy::LocalPolicy;
use gatehouse_client::runtime::Runtime;
use gatehouse_client::signin::State as SignIn;
use gatehouse_client::upload::{TokenSource, Uploader};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_opener::OpenerExt;

/// The app.
pub struct App {
    home: PathBuf,
    account: Mutex<Option<Arc<Account>>>,
    snapshot: Mutex<Snapshot>,
    policy: LocalPolicy,
    notified: Mutex<BTreeSet<String>>,
    /// Runs local servers for `gatehouse connect NAME` (set once signed-in set-up exists).
    runtime: Mutex<Option<Runtime>>,
    /// The socket `gatehouse connect` hands sessions over on.
    host: Mutex<Option<CaptureHost>>,
}

impl App {
    /// State from `paths::home()` (profile, tokens, spool).
    pub fn new() -> App {
        let home = paths::home();
        let mut account = Account::open(&home).ok().flatten().map(Arc::new);
        // First run set up by the environment (e.g. an installer):
        // GATEHOUSE_URL, GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID.
        if account.is_none()
            && let (Ok(url), Ok(issuer), Ok(client)) = (
                std::env::var("GATEHOUSE_URL"),
                std::env::var("GATEHOUSE_ISSUER"),
                std::env::var("GATEHOUSE_CLIENT_ID"),
            )
        {
            let profile = Profile::new(&url, &issuer, &client);
            if let Err(e) = profile.save(&home) {
                tracing::warn!(error = %e, "cannot save the profile");
            }
            account = Some(Arc::new(Account::new(
                &home,
                profile,
                gatehouse_client::secrets::KeyringMode::from_env(),
            )));
        }
        let policy = LocalPolicy::load(&home);
        App {
            account: Mutex::new(account),
            snapshot: Mutex::new(Snapshot::default()),
            policy,
            notified: Mutex::new(BTreeSet::new()),
            runtime: Mutex::new(None),
            host: Mutex::new(None),
            home,
        }
    }

    fn account(&self) -> Option<Arc<Account>> {
        self.account.lock().ok().and_then(|a| a.clone())
    }

    /// The snapshot now.
    pub fn current(&self) -> Snapshot {
        let mut s = self.snapshot.lock().map(|s| s.clone()).unwrap_or_default();
        match self.account() {
            Some(a) => {
                s.configured = true;
                s.gateway_url = Some(a.profile().gateway_url);
                s.signin = Some(a.state());
            }
            None => {
                s.configured = false;
                s.signin = Some(SignIn::SignedOut);
            }
        }
        s
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        if let Ok(mut s) = self.snapshot.lock() {
            f(&mut s);
        }
    }

    fn token_source(self: &Arc<Self>) -> TokenSource {
        let me = self.clone();
        Arc::new(move || {
            let account = me.account();
            Box::pin(async move {
                match account {
                    Some(a) => a.access_token().await.ok(),
                    None => None,
                }
            })
        })
    }

    fn runtime(&self) -> Option<Runtime> {
        self.runtime.lock().ok().and_then(|r| r.clone())
    }

    fn api(&self) -> Option<ControlPlane> {
        self.account()
            .map(|a| ControlPlane::new(&a.profile().gateway_url))
    }
}

/// Tells the tray and the window that something changed.
pub fn changed(handle: &AppHandle) {
    let app = handle.state::<Arc<App>>();
    let snap = app.current();
    menu::refresh(handle, &snap);
    let _ = handle.emit("snapshot", &snap);
    write_test_state(&app.home, &snap);
}

/// With `GATEHOUSE_DESKTOP_TEST_HOOKS=1`, the snapshot is mirrored to `state.json` so the
/// GUI smoke test can see what the tray shows.
fn write_test_state(home: &std::path::Path, snap: &Snapshot) {
    if std::env::var_os("GATEHOUSE_DESKTOP_TEST_HOOKS").is_some() {
        let _ = std::fs::write(
            home.join("state.json"),
            serde_json::to_string_pretty(snap).unwrap_or_default(),
        );
    }
}

/// Starts the background work.
pub fn start(handle: AppHandle, app: Arc<App>) {
    tauri::async_runtime::spawn(async move {
        if let Some(a) = app.account() {
            a.restore().await;
        }
        changed(&handle);
        run_test_scripts(handle.clone(), app.clone());
        follow_signin(handle.clone(), app.clone());
        spawn_streams(handle.clone(), app.clone());
        spawn_uploader(handle.clone(), app.clone());
        if std::env::var_os("GATEHOUSE_DESKTOP_AUTOSIGNIN").is_some()
            && app.account().is_some_and(|a| a.state().user().is_none())
        {
            let _ = begin_sign_in(&handle, &app).await;
        }
        loop {
            refresh(&handle, &app).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
}

/// With `GATEHOUSE_DESKTOP_TEST_HOOKS=1`, a script the GUI smoke test drops at
/// `ui-script.js` runs in the window (then is removed), so the test can fill in and submit a
/// form through the window's own handlers, as a person's clicks would. What the window then
/// shows in its notice line is mirrored to `notice.txt`. Debug builds only: a release build
/// has no way to run a script from a file, whatever its environment says.
fn run_test_scripts(handle: AppHandle, app: Arc<App>) {
    if !cfg!(debug_assertions) || std::env::var_os("GATEHOUSE_DESKTOP_TEST_HOOKS").is_none() {
        return;
    }
    tauri::async_runtime::spawn(async move {
        let path = app.home.join("ui-script.js");
        loop {
            if let Ok(script) = std::fs::read_to_string(&path) {
                let _ = std::fs::remove_file(&path);
                if let Some(w) = handle.get_webview_window("main") {
                    let _ = w.eval(&script);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

/// The window's notice line, mirrored for the GUI smoke test (see `run_test_scripts`).
#[tauri::command]
pub fn test_notice(app: tauri::State<'_, Arc<App>>, text: String) {
    if cfg!(debug_assertions) && std::env::var_os("GATEHOUSE_DESKTOP_TEST_HOOKS").is_some() {
        let _ = std::fs::write(app.home.join("notice.txt"), text);
    }
}

/// Re-renders whenever the sign-in state moves.
fn follow_signin(handle: AppHandle, app: Arc<App>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let Some(a) = app.account() else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            let mut rx = a.watch();
            while rx.changed().await.is_ok() {
                changed(&handle);
            }
        }
    });
}

/// Reloads who, servers, approvals and sessions from the control plane.
async fn refresh(handle: &AppHandle, app: &Arc<App>) {
    let (Some(account), Some(api)) = (app.account(), app.api()) else {
        return;
    };
    if account.state().user().is_none() {
        return;
    }
    let token = match account.access_token().await {
        Ok(t) => t,
        Err(e) => {
            app.update(|s| s.message = Some(e.to_string()));
            changed(handle);
            return;
        }
    };
    let result: Result<(), ApiError> = async {
        let me = api.me(&token).await?;
        let _ = account.set_identity(&me.user, &me.groups);
        let servers = api.servers(&token).await?;
        let approvals = api.approvals(&token).await?;
        let sessions = api.sessions(&token, &me.user, 8).await.unwrap_or_default();
        let local = local_servers(app).await;
        let usable: Vec<Value> = servers
            .into_iter()
            .filter(|s| {
                s["name"]
                    .as_str()
                    .is_some_and(|n| app.policy.may_connect(&me.user, &me.groups, n))
            })
            .collect();
        app.update(|s| {
            s.user = Some(me.user.clone());
            s.groups = me.groups.clone();
            s.servers = usable;
            if let Some(local) = local {
                s.local_servers = local;
            }
            s.set_approvals(approvals);
            s.sessions = sessions;
            s.offline = false;
            s.message = None;
        });
        Ok(())
    }
    .await;
    match result {
        Ok(()) => account.set_reachable(true, ""),
        Err(ApiError::Unreachable(r)) => {
            account.set_reachable(false, &r);
            app.update(|s| s.offline = true);
        }
        Err(e) => app.update(|s| s.message = Some(e.to_string())),
    }
    changed(handle);
}

/// The local servers for the menu (fetched and cached by the runtime, which also puts
/// their policy in force); None when the list cannot be had now (the last one stays).
async fn local_servers(app: &Arc<App>) -> Option<Vec<Value>> {
    let rt = app.runtime()?;
    match rt.catalog().await {
        Ok((c, fresh)) => {
            if let Freshness::Cached(why) = fresh {
                tracing::info!(%why, "local servers from the cache");
            }
            Some(
                c.servers
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "name": s.name,
                            "description": s.description,
                            "masking_profile": s.masking_profile,
                        })
                    })
                    .collect(),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "no local servers");
            None
        }
    }
}

/// The policy and approvals watch streams.
fn spawn_streams(handle: AppHandle, app: Arc<App>) {
    let Some(api) = app.api() else { return };
    let (ptx, mut prx) = tokio::sync::mpsc::channel::<Value>(4);
    let (atx, mut arx) = tokio::sync::mpsc::channel::<Value>(16);
    for (path, event, tx) in [
        ("/api/v1/policies/watch", "policy", ptx),
        ("/api/v1/approvals/watch", "approvals", atx),
    ] {
        let api = api.clone();
        let tokens = app.token_source();
        let h = handle.clone();
        let a = app.clone();
        tauri::async_runtime::spawn(async move {
            api.watch(
                path,
                event,
                move || (tokens)(),
                tx,
                move |up, _| {
                    let was = a.current().offline;
                    if was == up {
                        a.update(|s| s.offline = !up);
                        changed(&h);
                    }
                },
            )
            .await
        });
    }
    let a = app.clone();
    tauri::async_runtime::spawn(async move {
        while let Some(v) = prx.recv().await {
            if let Ok(v) = serde_json::from_value::<PolicyVersion>(v) {
                if let Err(e) = a.policy.apply(&v) {
                    tracing::warn!(error = %e, "a pushed policy does not load");
                }
                // Local sessions decide with the same version at once.
                if let Some(rt) = a.runtime() {
                    let _ = rt.policy().apply(&v);
                }
            }
        }
    });
    tauri::async_runtime::spawn(async move {
        while let Some(v) = arx.recv().await {
            let pending = v["approvals"].as_array().cloned().unwrap_or_default();
            notify_new(&handle, &app, &pending);
            app.update(|s| s.set_approvals(pending));
            changed(&handle);
        }
    });
}

/// A desktop notification for each approval this person has not been told about yet.
fn notify_new(handle: &AppHandle, app: &App, pending: &[Value]) {
    let me = app.current().user.unwrap_or_default();
    let Ok(mut seen) = app.notified.lock() else {
        return;
    };
    for a in pending {
        let id = a["id"].as_str().unwrap_or_default().to_string();
        if id.is_empty() || seen.contains(&id) || a["requester"].as_str() == Some(me.as_str()) {
            continue;
        }
        seen.insert(id);
        let body = format!(
            "{} wants {} on {}",
            a["requester"].as_str().unwrap_or("someone"),
            a["tool"]
                .as_str()
                .or(a["method"].as_str())
                .unwrap_or("a call"),
            a["server"].as_str().unwrap_or("a server")
        );
        if let Err(e) = handle
            .notification()
            .builder()
            .title("Gatehouse: approval waiting")
            .body(body)
            .show()
        {
            tracing::info!(error = %e, "no desktop notification");
        }
    }
}

/// Local capture in the app: the runtime for local servers, the capture host that
/// `gatehouse connect NAME` hands sessions to, and the upload of the spool (which
/// `gatehouse connect` processes fill too).
fn spawn_uploader(handle: AppHandle, app: Arc<App>) {
    let Some(api) = app.api() else { return };
    let home = app.home.clone();
    let tokens = app.token_source();
    tauri::async_runtime::spawn(async move {
        let mut runtime =
            match Runtime::open(&home, api.clone(), tokens.clone(), None, "tray").await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "no local spool");
                    return;
                }
            };
        let counter = runtime.spool().clone();
        let uploader = Uploader::new(counter.clone(), api, tokens);
        runtime.set_uploader(uploader.clone());
        match CaptureHost::start(&home, runtime.clone()).await {
            Ok(host) => {
                tracing::info!(socket = %host.path().display(), "local servers run here");
                if let Ok(mut h) = app.host.lock() {
                    *h = Some(host);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "local servers run in `gatehouse connect` instead")
            }
        }
        if let Ok(mut r) = app.runtime.lock() {
            *r = Some(runtime);
        }
        let h = handle.clone();
        let a = app.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                let n = counter.pending().await.unwrap_or(0);
                if a.current().spool_pending != n {
                    a.update(|s| s.spool_pending = n);
                    changed(&h);
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        uploader.run(|_| {}).await;
    });
}

async fn begin_sign_in(handle: &AppHandle, app: &Arc<App>) -> Result<(), String> {
    let account = app
        .account()
        .ok_or("set up the gateway and identity provider first")?;
    let pending = account.begin_sign_in().await.map_err(|e| e.to_string())?;
    changed(handle);
    if std::env::var_os("GATEHOUSE_DESKTOP_TEST_HOOKS").is_some() {
        // The GUI smoke test drives this URL with a scripted browser.
        let _ = std::fs::write(app.home.join("signin-url.txt"), &pending.url);
    } else if let Err(e) = handle.opener().open_url(&pending.url, None::<&str>) {
        return Err(format!(
            "cannot open the browser ({e}); open this URL: {}",
            pending.url
        ));
    }
    let h = handle.clone();
    let a = app.clone();
    tauri::async_runtime::spawn(async move {
        let r = account
            .finish_sign_in(pending, Duration::from_secs(300))
            .await;
        if let Err(e) = r {
            a.update(|s| s.message = Some(e.to_string()));
        }
        changed(&h);
        refresh(&h, &a).await;
    });
    Ok(())
}

/// Does what the person chose in the tray menu.
pub fn on_menu(handle: &AppHandle, action: Action) {
    let report = |r: Result<String, String>| {
        let text = r.unwrap_or_else(|e| e);
        tracing::info!(%text, "menu action");
        let _ = handle.emit("notice", text);
    };
    match action {
        Action::SignIn => menu_sign_in(handle),
        Action::SignOut => menu_sign_out(handle),
        Action::ShowWindow { approval } => show_window(handle, approval.as_deref()),
        Action::OpenDashboard { path } => open_dashboard_in_browser(handle, &path),
        Action::AddToClient { client, server } => report(write_client(handle, client, &server)),
        Action::CopyEntry { client, server } => report(copy_client(handle, client, &server)),
        Action::Quit => handle.exit(0),
    }
}

/// Starts a sign-in from the menu.
fn menu_sign_in(handle: &AppHandle) {
    let app = handle.state::<Arc<App>>().inner().clone();
    let h = handle.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = begin_sign_in(&h, &app).await {
            app.update(|s| s.message = Some(e));
            changed(&h);
        }
    });
}

/// Signs out from the menu.
fn menu_sign_out(handle: &AppHandle) {
    let app = handle.state::<Arc<App>>().inner().clone();
    let h = handle.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(a) = app.account() {
            a.sign_out().await;
        }
        Catalog::forget(&app.home);
        app.update(|s| {
            s.user = None;
            s.servers.clear();
            s.local_servers.clear();
            s.approvals.clear();
            s.own_requests.clear();
            s.sessions.clear();
        });
        changed(&h);
    });
}

fn entry_for(app: &App, server: &str) -> Result<Entry, String> {
    let gateway_url = app
        .account()
        .map(|a| a.profile().gateway_url)
        .ok_or("not set up")?;
    Ok(Entry {
        server: server.to_string(),
        program: gatehouse_program(),
        gateway_url,
    })
}

/// The `gatehouse` CLI clients should launch: `$GATEHOUSE_BIN`, else next to this app,
/// else on PATH.
fn gatehouse_program() -> String {
    if let Ok(p) = std::env::var("GATEHOUSE_BIN") {
        return p;
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("gatehouse")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "gatehouse".into())
}

/// Writes a client config entry; the message to show.
pub fn write_client(handle: &AppHandle, client: Client, server: &str) -> Result<String, String> {
    let app = handle.state::<Arc<App>>();
    let entry = entry_for(&app, server)?;
    let w =
        clients::write_entry(client, &client.default_path(), &entry).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} {} in {}{}",
        if w.replaced { "Updated" } else { "Added" },
        entry.key(),
        w.path.display(),
        w.backup
            .map(|b| format!(" (backup: {})", b.display()))
            .unwrap_or_default()
    ))
}

/// Puts a client config entry on the clipboard.
pub fn copy_client(handle: &AppHandle, client: Client, server: &str) -> Result<String, String> {
    let app = handle.state::<Arc<App>>();
    let entry = entry_for(&app, server)?;
    handle
        .clipboard()
        .write_text(entry.snippet(client))
        .map_err(|e| format!("cannot use the clipboard: {e}"))?;
    Ok(format!("Copied the {} entry for {server}", client.label()))
}

/// Shows the window (optionally at one approval).
pub fn show_window(handle: &AppHandle, focus: Option<&str>) {
    if let Some(w) = handle.get_webview_window("main") {
        let _ = w.show();
        let _ = w.set_focus();
        if let Some(id) = focus {
            let _ = handle.emit("focus-approval", id);
        }
    }
}

/// Asks for just-in-time access (the window's "Request access" form); the answer names
/// the pending request and who must approve it.
#[tauri::command]
pub async fn request_access(
    app: tauri::State<'_, Arc<App>>,
    server: String,
    role: String,
    duration: String,
    reason: String,
) -> Result<String, String> {
    let account = app.account().ok_or("not set up")?;
    let api = app.api().ok_or("not set up")?;
    let token = account.access_token().await.map_err(|e| e.to_string())?;
    let ask = gatehouse_client::access::AccessAsk {
        server,
        role,
        duration,
        reason,
    };
    let a = gatehouse_client::access::request(&api, &token, &ask)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "Access request {} sent: role {} on {} for {}; waiting for {} approval(s) from {}.",
        a["id"].as_str().unwrap_or("?"),
        ask.role,
        ask.server,
        ask.duration,
        a["quorum"],
        a["approvers"]
            .as_array()
            .map(|l| l
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    ))
}

/// Opens the dashboard in the browser.
pub fn open_dashboard_in_browser(handle: &AppHandle, path: &str) {
    let app = handle.state::<Arc<App>>();
    if let Some(url) = app.account().map(|a| a.profile().gateway_url) {
        let _ = handle
            .opener()
            .open_url(format!("{url}{path}"), None::<&str>);
    }
}

// ---- commands the window calls ----

/// The snapshot.
#[tauri::command]
pub fn snapshot(app: tauri::State<'_, Arc<App>>) -> Snapshot {
    app.current()
}

/// First-run set-up: gateway URL, issuer, client id.
#[tauri::command]
pub fn setup(
    handle: AppHandle,
    app: tauri::State<'_, Arc<App>>,
    gateway_url: String,
    issuer: String,
    client_id: String,
) -> Result<(), String> {
    for (name, v) in [("gateway URL", &gateway_url), ("issuer", &issuer)] {
        if !(v.starts_with("https://") || v.starts_with("http://")) {
            return Err(format!("the {name} must be an http(s) URL"));
        }
    }
    if client_id.trim().is_empty() {
        return Err("the client id is required".into());
    }
    let profile = Profile::new(&gateway_url, &issuer, client_id.trim());
    profile.save(&app.home).map_err(|e| e.to_string())?;
    let account = Account::new(
        &app.home,
        profile,
        gatehouse_client::secrets::KeyringMode::from_env(),
    );
    if let Ok(mut a) = app.account.lock() {
        *a = Some(Arc::new(account));
    }
    spawn_streams(handle.clone(), app.inner().clone());
    spawn_uploader(handle.clone(), app.inner().clone());
    changed(&handle);
    Ok(())
}

/// Starts a sign-in.
#[tauri::command]
pub async fn sign_in(handle: AppHandle, app: tauri::State<'_, Arc<App>>) -> Result<(), String> {
    begin_sign_in(&handle, app.inner()).await
}

/// Signs out.
#[tauri::command]
pub fn sign_out(handle: AppHandle) {
    menu_sign_out(&handle);
}

/// Adds a server to a client's config.
#[tauri::command]
pub fn add_to_client(handle: AppHandle, client: String, server: String) -> Result<String, String> {
    let c = Client::parse(&client).ok_or_else(|| format!("unknown client `{client}`"))?;
    write_client(&handle, c, &server)
}

/// Copies a client entry.
#[tauri::command]
pub fn copy_entry(handle: AppHandle, client: String, server: String) -> Result<String, String> {
    let c = Client::parse(&client).ok_or_else(|| format!("unknown client `{client}`"))?;
    copy_client(&handle, c, &server)
}

/// Approves or denies with a reason.
#[tauri::command]
pub async fn decide(
    handle: AppHandle,
    app: tauri::State<'_, Arc<App>>,
    id: String,
    approve: bool,
    reason: String,
) -> Result<(), String> {
    let account = app.account().ok_or("not set up")?;
    let api = app.api().ok_or("not set up")?;
    let token = account.access_token().await.map_err(|e| e.to_string())?;
    gatehouse_client::approvals::decide(&api, &token, &id, approve, &reason).await?;
    refresh(&handle, app.inner()).await;
    Ok(())
}

/// Opens the dashboard.
#[tauri::command]
pub fn open_dashboard(handle: AppHandle) {
    open_dashboard_in_browser(&handle, "/");
}
