//! One signed-in person on this laptop: the provider settings (`profile.json`, no
//! secrets), the tokens (keyring or 0600 file), the sign-in [`State`], and access tokens
//! on demand for the tray and every `gatehouse connect` process.
//!
//! Refresh tokens rotate at most providers and a reused one revokes the whole grant, so
//! refreshing is serialised across processes by a lock file and the fresh access token is
//! shared through the store: one refresh per expiry, however many clients run.

use crate::secrets::{Backend, KeyringMode, StoredTokens, TokenStore};
use crate::signin::{Event, Oidc, Pending, ProviderSettings, SignInError, State, Tokens};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// Settings kept in `profile.json`: where to sign in and which gateway to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The control plane's base URL (e.g. `https://gatehouse.example`).
    pub gateway_url: String,
    /// The identity provider.
    pub provider: ProviderSettings,
    /// Who signed in last (from the control plane's `/api/v1/me`), for offline use.
    #[serde(default)]
    pub user: Option<String>,
    /// Their groups, for local policy decisions while offline.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Profile {
    /// A profile for a gateway whose sign-in is at `issuer` with the public client `client_id`;
    /// tokens are asked for the gateway's resource `{gateway_url}/mcp`.
    pub fn new(gateway_url: &str, issuer: &str, client_id: &str) -> Profile {
        let gateway_url = gateway_url.trim_end_matches('/').to_string();
        Profile {
            provider: ProviderSettings {
                issuer: issuer.trim_end_matches('/').to_string(),
                client_id: client_id.to_string(),
                resource: Some(format!("{gateway_url}/mcp")),
                scopes: vec!["openid".into(), "offline_access".into(), "mcp".into()],
            },
            gateway_url,
            user: None,
            groups: Vec::new(),
        }
    }

    fn path(dir: &Path) -> PathBuf {
        dir.join("profile.json")
    }

    /// The saved profile, if any.
    pub fn load(dir: &Path) -> Result<Option<Profile>, AccountError> {
        match std::fs::read_to_string(Self::path(dir)) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
                AccountError::Setup(format!(
                    "{} is damaged ({e}); delete it and set the gateway up again",
                    Self::path(dir).display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AccountError::Setup(format!(
                "{}: {e}",
                Self::path(dir).display()
            ))),
        }
    }

    /// Saves it (0600: it says who you are).
    pub fn save(&self, dir: &Path) -> Result<(), AccountError> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        crate::secrets::write_private(&Self::path(dir), &text)
            .map_err(|e| AccountError::Setup(format!("{}: {e}", Self::path(dir).display())))
    }

    fn store_account(&self) -> String {
        format!("{}|{}", self.provider.issuer, self.provider.client_id)
    }
}

/// Why no access token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AccountError {
    /// Nobody is signed in.
    #[error("not signed in to Gatehouse: sign in from the tray app (or set GATEHOUSE_TOKEN)")]
    SignedOut,
    /// Signed in, but the provider cannot be reached to refresh.
    #[error("offline: {0}")]
    Offline(String),
    /// The provider refused; the stored sign-in was dropped.
    #[error("{0}; sign in again from the tray app")]
    Refused(String),
    /// Files or settings are unusable.
    #[error("{0}")]
    Setup(String),
}

/// Refresh this long before expiry.
const MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// The signed-in person.
pub struct Account {
    dir: PathBuf,
    profile: Mutex<Profile>,
    store: TokenStore,
    oidc: tokio::sync::Mutex<Option<Oidc>>,
    cached: Mutex<Option<StoredTokens>>,
    state: watch::Sender<State>,
}

impl Account {
    /// The account of `profile`, keeping its files in `dir`.
    pub fn new(dir: &Path, profile: Profile, mode: KeyringMode) -> Account {
        let store = TokenStore::new(dir, &profile.store_account(), mode);
        Account {
            dir: dir.to_path_buf(),
            profile: Mutex::new(profile),
            store,
            oidc: tokio::sync::Mutex::new(None),
            cached: Mutex::new(None),
            state: watch::channel(State::SignedOut).0,
        }
    }

    /// The account saved in `dir` (`paths::home()` normally), if one was set up.
    pub fn open(dir: &Path) -> Result<Option<Account>, AccountError> {
        Ok(Profile::load(dir)?.map(|p| Account::new(dir, p, KeyringMode::from_env())))
    }

    /// The profile now.
    pub fn profile(&self) -> Profile {
        self.profile
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Records who the control plane says this is (user, groups) for offline use.
    pub fn set_identity(&self, user: &str, groups: &[String]) -> Result<(), AccountError> {
        let p = {
            let mut p = self.profile.lock().unwrap_or_else(|p| p.into_inner());
            p.user = Some(user.to_string());
            p.groups = groups.to_vec();
            p.clone()
        };
        p.save(&self.dir)
    }

    /// The sign-in state, live.
    pub fn watch(&self) -> watch::Receiver<State> {
        self.state.subscribe()
    }

    /// The sign-in state now.
    pub fn state(&self) -> State {
        self.state.borrow().clone()
    }

    fn apply(&self, event: Event) {
        self.state.send_modify(|s| match s.next(event.clone()) {
            Ok(n) => *s = n,
            Err(e) => tracing::debug!(error = %e, "ignored sign-in event"),
        });
    }

    async fn oidc(&self) -> Result<Oidc, SignInError> {
        let mut guard = self.oidc.lock().await;
        if let Some(o) = guard.as_ref() {
            return Ok(o.clone());
        }
        let o = Oidc::discover(self.profile().provider).await?;
        *guard = Some(o.clone());
        Ok(o)
    }

    /// Starts a browser sign-in: the caller opens [`Pending::url`] in the browser.
    pub async fn begin_sign_in(&self) -> Result<Pending, AccountError> {
        let oidc = match self.oidc().await {
            Ok(o) => o,
            Err(e) => {
                self.apply(Event::Begin { url: String::new() });
                self.fail(&e);
                return Err(map_err(e));
            }
        };
        let pending = oidc.begin().await.map_err(map_err)?;
        self.apply(Event::Begin {
            url: pending.url.clone(),
        });
        Ok(pending)
    }

    /// Waits for the browser to come back and keeps the tokens.
    pub async fn finish_sign_in(
        &self,
        pending: Pending,
        wait: Duration,
    ) -> Result<Backend, AccountError> {
        let oidc = self.oidc().await.map_err(map_err)?;
        match oidc.finish(pending, wait).await {
            Ok(t) => self.keep(t).await,
            Err(e) => {
                self.fail(&e);
                Err(map_err(e))
            }
        }
    }

    fn fail(&self, e: &SignInError) {
        let event = match e {
            SignInError::Unreachable(r) => Event::Unreachable { reason: r.clone() },
            other => Event::Refused {
                reason: other.to_string(),
            },
        };
        self.apply(event);
    }

    async fn keep(&self, t: Tokens) -> Result<Backend, AccountError> {
        let stored = StoredTokens {
            refresh_token: t.refresh_token.clone(),
            access_token: Some(t.access_token.clone()),
            expires_at: t.expires_at.timestamp(),
        };
        let backend = self
            .store
            .save(&stored)
            .await
            .map_err(|e| AccountError::Setup(e.to_string()))?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
        let user = self
            .profile()
            .user
            .or_else(|| {
                crate::signin::unverified_claims(&t.access_token).and_then(|c| {
                    c["preferred_username"]
                        .as_str()
                        .or_else(|| c["sub"].as_str())
                        .map(String::from)
                })
            })
            .unwrap_or_else(|| "you".into());
        self.apply(Event::Authorized {
            user,
            expires_at: t.expires_at,
        });
        Ok(backend)
    }

    /// Picks up a sign-in kept from an earlier run (no browser).
    pub async fn restore(&self) -> State {
        if let Ok(Some((t, _))) = self.store.load().await
            && t.refresh_token.is_some()
        {
            let user = self.profile().user.unwrap_or_else(|| "you".into());
            // Enter the machine as if the sign-in had just finished, then check the token.
            self.state
                .send_replace(State::Refreshing { user: user.clone() });
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.clone());
            match self.access_token().await {
                Ok(_) => {
                    let expires_at = chrono::DateTime::from_timestamp(
                        self.cached_tokens().map(|t| t.expires_at).unwrap_or(0),
                        0,
                    )
                    .unwrap_or_else(Utc::now);
                    self.apply(Event::Authorized { user, expires_at });
                }
                Err(e) => tracing::info!(error = %e, "the kept sign-in is not usable right now"),
            }
        }
        self.state()
    }

    fn cached_tokens(&self) -> Option<StoredTokens> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A valid access token, refreshed when it is about to expire.
    pub async fn access_token(&self) -> Result<String, AccountError> {
        let fresh = |t: &StoredTokens| {
            t.access_token
                .clone()
                .filter(|_| t.expires_at > (Utc::now() + MARGIN).timestamp())
        };
        if let Some(a) = self.cached_tokens().as_ref().and_then(fresh) {
            return Ok(a);
        }
        // Another process may have refreshed already.
        let loaded = self
            .store
            .load()
            .await
            .map_err(|e| AccountError::Setup(e.to_string()))?;
        if let Some((t, _)) = &loaded
            && let Some(a) = fresh(t)
        {
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.clone());
            return Ok(a);
        }
        let lock = self.lock_refresh().await?;
        // Re-read under the lock: the holder before us may have refreshed.
        let stored = match self
            .store
            .load()
            .await
            .map_err(|e| AccountError::Setup(e.to_string()))?
        {
            Some((t, _)) => t,
            // Not signed in (or a sign-in is under way): asking changes nothing.
            None => return Err(AccountError::SignedOut),
        };
        if let Some(a) = fresh(&stored) {
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored);
            return Ok(a);
        }
        let Some(rt) = stored.refresh_token.clone() else {
            return Err(AccountError::SignedOut);
        };
        self.apply(Event::Refresh);
        let result = match self.oidc().await {
            Ok(o) => o.refresh(&rt).await,
            Err(e) => Err(e),
        };
        let out = match result {
            Ok(t) => {
                let a = t.access_token.clone();
                self.keep(t).await?;
                Ok(a)
            }
            Err(SignInError::Unreachable(r)) => {
                self.apply(Event::Unreachable { reason: r.clone() });
                Err(AccountError::Offline(r))
            }
            Err(e) => {
                self.fail(&e);
                self.store.clear().await;
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Err(AccountError::Refused(e.to_string()))
            }
        };
        drop(lock);
        out
    }

    /// Takes the cross-process refresh lock (`refresh.lock`), waiting for other holders.
    async fn lock_refresh(&self) -> Result<std::fs::File, AccountError> {
        let path = self.dir.join("refresh.lock");
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| AccountError::Setup(format!("{}: {e}", self.dir.display())))?;
        tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| AccountError::Setup(format!("{}: {e}", path.display())))?;
            f.lock()
                .map_err(|e| AccountError::Setup(format!("{}: {e}", path.display())))?;
            Ok(f)
        })
        .await
        .map_err(|e| AccountError::Setup(e.to_string()))?
    }

    /// Signs out: forgets the tokens (keyring and file).
    pub async fn sign_out(&self) {
        self.store.clear().await;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.apply(Event::SignOut);
    }

    /// Marks the account offline (the control plane stopped answering), or back online.
    pub fn set_reachable(&self, reachable: bool, reason: &str) {
        let state = self.state();
        match (reachable, &state) {
            (false, State::SignedIn { .. }) => self.apply(Event::Unreachable {
                reason: reason.to_string(),
            }),
            (true, State::Offline { user, .. }) => {
                let expires_at = chrono::DateTime::from_timestamp(
                    self.cached_tokens().map(|t| t.expires_at).unwrap_or(0),
                    0,
                )
                .unwrap_or_else(Utc::now);
                self.state.send_replace(State::SignedIn {
                    user: user.clone(),
                    expires_at,
                });
            }
            _ => {}
        }
    }
}

fn map_err(e: SignInError) -> AccountError {
    match e {
        SignInError::Unreachable(r) => {
            AccountError::Offline(format!("the identity provider at {r}"))
        }
        other => AccountError::Refused(other.to_string()),
    }
}
