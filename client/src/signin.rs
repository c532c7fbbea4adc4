//! Signing a person in: OAuth 2.0 Authorization Code with PKCE (RFC 7636) and a loopback
//! redirect (RFC 8252 §7.3) against any OpenID provider found by discovery — the
//! company's IdP today, the control plane's own authorization server later. The app is
//! a public client: no secret ships with it.
//!
//! [`State`] is the sign-in state machine the tray shows; [`Oidc`] does the protocol.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Where the sign-in is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Nobody is signed in.
    SignedOut,
    /// The browser is at the provider; waiting for the redirect.
    Authorizing {
        /// The URL the browser was sent to.
        url: String,
    },
    /// Signed in with a valid access token.
    SignedIn {
        /// Who.
        user: String,
        /// When the access token expires.
        expires_at: DateTime<Utc>,
    },
    /// Getting a new access token with the refresh token.
    Refreshing {
        /// Who.
        user: String,
    },
    /// Signed in, but the provider or control plane cannot be reached; retried.
    Offline {
        /// Who.
        user: String,
        /// What failed.
        reason: String,
    },
    /// The last attempt failed; sign in again.
    Error {
        /// What failed, for the person.
        message: String,
    },
}

/// What happens to the sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The browser was sent to the provider.
    Begin {
        /// The authorization URL.
        url: String,
    },
    /// Tokens arrived (from the code or a refresh).
    Authorized {
        /// Who.
        user: String,
        /// Access token expiry.
        expires_at: DateTime<Utc>,
    },
    /// The access token is about to expire; refreshing.
    Refresh,
    /// The network is down (the refresh token is still good).
    Unreachable {
        /// What failed.
        reason: String,
    },
    /// The provider refused (bad code, revoked or reused refresh token, user cancelled).
    Refused {
        /// Why.
        reason: String,
    },
    /// The person signed out.
    SignOut,
}

/// An event that makes no sense in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sign-in: `{event}` cannot happen while {state}")]
pub struct InvalidTransition {
    /// The state.
    pub state: String,
    /// The event.
    pub event: String,
}

impl State {
    /// The person, when someone is signed in (also while refreshing or offline).
    pub fn user(&self) -> Option<&str> {
        match self {
            State::SignedIn { user, .. }
            | State::Refreshing { user }
            | State::Offline { user, .. } => Some(user),
            _ => None,
        }
    }

    /// A short label (`signed_out`, `signed_in`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            State::SignedOut => "signed_out",
            State::Authorizing { .. } => "authorizing",
            State::SignedIn { .. } => "signed_in",
            State::Refreshing { .. } => "refreshing",
            State::Offline { .. } => "offline",
            State::Error { .. } => "error",
        }
    }

    /// The state after `event`.
    pub fn next(&self, event: Event) -> Result<State, InvalidTransition> {
        let invalid = |e: &Event| InvalidTransition {
            state: self.label().to_string(),
            event: format!("{e:?}"),
        };
        Ok(match (self, event) {
            (_, Event::SignOut) => State::SignedOut,
            (
                State::SignedOut | State::Error { .. } | State::Authorizing { .. },
                Event::Begin { url },
            ) => State::Authorizing { url },
            (
                State::Authorizing { .. } | State::Refreshing { .. },
                Event::Authorized { user, expires_at },
            ) => State::SignedIn { user, expires_at },
            (State::SignedIn { user, .. } | State::Offline { user, .. }, Event::Refresh) => {
                State::Refreshing { user: user.clone() }
            }
            (
                State::Refreshing { user }
                | State::Offline { user, .. }
                | State::SignedIn { user, .. },
                Event::Unreachable { reason },
            ) => State::Offline {
                user: user.clone(),
                reason,
            },
            (State::Authorizing { .. }, Event::Unreachable { reason }) => State::Error {
                message: format!("the identity provider cannot be reached: {reason}"),
            },
            (State::Authorizing { .. } | State::Refreshing { .. }, Event::Refused { reason }) => {
                State::Error {
                    message: format!("sign-in refused: {reason}; sign in again"),
                }
            }
            (_, e) => return Err(invalid(&e)),
        })
    }
}

/// Why a protocol step failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignInError {
    /// The provider could not be reached (network, DNS, 5xx): worth retrying.
    #[error("the identity provider at {0}")]
    Unreachable(String),
    /// The provider said no (an OAuth error), or answered nonsense.
    #[error("{0}")]
    Refused(String),
    /// The browser never came back.
    #[error("the browser did not come back to Gatehouse within {0} s; sign in again")]
    TimedOut(u64),
}

/// What the provider publishes at `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Its issuer.
    pub issuer: String,
    /// Where the browser goes.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: String,
    /// RP-initiated logout, when offered.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Tokens from the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The bearer token for the gateway.
    pub access_token: String,
    /// For the next refresh (providers that rotate send a new one each time).
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

/// The settings of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettings {
    /// The issuer URL (discovery below it).
    pub issuer: String,
    /// The app's public client id at the provider.
    pub client_id: String,
    /// The resource (RFC 8707) the access token is for: the gateway's `{public_url}/mcp`.
    pub resource: Option<String>,
    /// Scopes to ask for.
    pub scopes: Vec<String>,
}

/// A browser sign-in in progress: the URL to open and the loopback listener it returns to.
pub struct Pending {
    /// Open this in the system browser.
    pub url: String,
    listener: TcpListener,
    redirect_uri: String,
    verifier: String,
    state: String,
}

/// The protocol side of sign-in.
#[derive(Debug, Clone)]
pub struct Oidc {
    settings: ProviderSettings,
    meta: Discovery,
    http: reqwest::Client,
}

fn random_token() -> String {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Oidc {
    /// Reads the provider's discovery document.
    pub async fn discover(settings: ProviderSettings) -> Result<Oidc, SignInError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SignInError::Refused(e.to_string()))?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        );
        let r = http
            .get(&url)
            .send()
            .await
            .map_err(|e| SignInError::Unreachable(format!("{url}: {e}")))?;
        if r.status().is_server_error() {
            return Err(SignInError::Unreachable(format!("{url}: {}", r.status())));
        }
        if !r.status().is_success() {
            return Err(SignInError::Refused(format!(
                "{url} answered {}: is `{}` an OpenID provider's issuer URL?",
                r.status(),
                settings.issuer
            )));
        }
        let meta: Discovery = r.json().await.map_err(|e| {
            SignInError::Refused(format!("{url} is not an OpenID discovery document: {e}"))
        })?;
        if meta.issuer.trim_end_matches('/') != settings.issuer.trim_end_matches('/') {
            return Err(SignInError::Refused(format!(
                "the provider says its issuer is `{}`, not `{}`: check the issuer URL",
                meta.issuer, settings.issuer
            )));
        }
        Ok(Oidc {
            settings,
            meta,
            http,
        })
    }

    /// The discovery document.
    pub fn discovery(&self) -> &Discovery {
        &self.meta
    }

    /// Starts a sign-in: listens on a fresh loopback port and builds the URL to open.
    pub async fn begin(&self) -> Result<Pending, SignInError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
            SignInError::Refused(format!(
                "cannot listen on a loopback port for the sign-in redirect: {e}"
            ))
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| SignInError::Refused(e.to_string()))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let verifier = random_token();
        let state = random_token();
        let mut url = reqwest::Url::parse(&self.meta.authorization_endpoint).map_err(|e| {
            SignInError::Refused(format!(
                "the provider's authorization endpoint is not a URL: {e}"
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.settings.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("scope", &self.settings.scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge(&verifier))
                .append_pair("code_challenge_method", "S256")
                .append_pair("prompt", "consent");
            if let Some(r) = &self.settings.resource {
                q.append_pair("resource", r);
            }
        }
        Ok(Pending {
            url: url.to_string(),
            listener,
            redirect_uri,
            verifier,
            state,
        })
    }

    /// Waits for the browser to come back to the loopback port, checks `state`, and
    /// exchanges the code (with the PKCE verifier) for tokens.
    pub async fn finish(&self, pending: Pending, wait: Duration) -> Result<Tokens, SignInError> {
        let query = tokio::time::timeout(wait, accept_callback(&pending.listener))
            .await
            .map_err(|_| SignInError::TimedOut(wait.as_secs()))??;
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if get("state").as_deref() != Some(pending.state.as_str()) {
            return Err(SignInError::Refused(
                "the redirect's `state` does not match this sign-in (a stale or forged redirect)"
                    .into(),
            ));
        }
        if let Some(err) = get("error") {
            let detail = get("error_description").unwrap_or_default();
            return Err(SignInError::Refused(format!(
                "the provider said {err}: {detail}"
            )));
        }
        let code = get("code")
            .ok_or_else(|| SignInError::Refused("the redirect carries no code".into()))?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.clone()),
            ("client_id", self.settings.client_id.clone()),
            ("code_verifier", pending.verifier.clone()),
        ];
        if let Some(r) = &self.settings.resource {
            form.push(("resource", r.clone()));
        }
        self.token_request(&form).await
    }

    /// A new access token from a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, SignInError> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", refresh_token.to_string()),
            ("client_id", self.settings.client_id.clone()),
        ];
        if let Some(r) = &self.settings.resource {
            form.push(("resource", r.clone()));
        }
        let mut t = self.token_request(&form).await?;
        if t.refresh_token.is_none() {
            // Providers that do not rotate keep the old one valid.
            t.refresh_token = Some(refresh_token.to_string());
        }
        Ok(t)
    }

    async fn token_request(&self, form: &[(&str, String)]) -> Result<Tokens, SignInError> {
        let url = &self.meta.token_endpoint;
        let r = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(|e| SignInError::Unreachable(format!("{url}: {e}")))?;
        let status = r.status();
        if status.is_server_error() {
            return Err(SignInError::Unreachable(format!("{url}: {status}")));
        }
        let body: serde_json::Value = r.json().await.map_err(|e| {
            SignInError::Refused(format!(
                "the token endpoint answered {status} without JSON: {e}"
            ))
        })?;
        if !status.is_success() {
            return Err(SignInError::Refused(format!(
                "the token endpoint said {}: {}",
                body["error"].as_str().unwrap_or("error"),
                body["error_description"].as_str().unwrap_or("")
            )));
        }
        let access_token = body["access_token"]
            .as_str()
            .ok_or_else(|| SignInError::Refused("the token response has no access_token".into()))?
            .to_string();
        let lifetime = body["expires_in"].as_i64().unwrap_or(300);
        Ok(Tokens {
            access_token,
            refresh_token: body["refresh_token"].as_str().map(String::from),
            expires_at: Utc::now() + chrono::Duration::seconds(lifetime),
        })
    }
}

/// Serves the loopback port until a `GET /callback?...` arrives; answers the browser with
/// a short page and returns the query. Anything else (favicon) gets 404.
async fn accept_callback(listener: &TcpListener) -> Result<Vec<(String, String)>, SignInError> {
    loop {
        let (mut sock, _) = listener
            .accept()
            .await
            .map_err(|e| SignInError::Refused(format!("the loopback listener failed: {e}")))?;
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
            match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut chunk)).await {
                Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
            continue;
        };
        if url.path() != "/callback" {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let page = "<!doctype html><meta charset=utf-8><title>Gatehouse</title>\
            <body style=\"font-family:sans-serif;margin:3em\"><h1>Signed in to Gatehouse</h1>\
            <p>You can close this tab.</p></body>";
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = sock.write_all(reply.as_bytes()).await;
        let _ = sock.shutdown().await;
        return Ok(url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect());
    }
}

/// The claims of a JWT, read without checking its signature: only for showing who is
/// signed in before the control plane answers. The gateway checks every token itself.
pub fn unverified_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn the_happy_path_and_back() {
        let s = State::SignedOut;
        let s = s.next(Event::Begin { url: "u".into() }).unwrap();
        assert_eq!(s.label(), "authorizing");
        let s = s
            .next(Event::Authorized {
                user: "eve".into(),
                expires_at: at(),
            })
            .unwrap();
        assert_eq!(s.user(), Some("eve"));
        let s = s.next(Event::Refresh).unwrap();
        assert_eq!(s, State::Refreshing { user: "eve".into() });
        let s = s
            .next(Event::Unreachable {
                reason: "down".into(),
            })
            .unwrap();
        assert_eq!(s.label(), "offline");
        assert_eq!(s.user(), Some("eve"), "offline keeps the person");
        let s = s.next(Event::Refresh).unwrap();
        let s = s
            .next(Event::Authorized {
                user: "eve".into(),
                expires_at: at(),
            })
            .unwrap();
        assert_eq!(s.label(), "signed_in");
        assert_eq!(s.next(Event::SignOut).unwrap(), State::SignedOut);
    }

    #[test]
    fn a_refused_refresh_asks_to_sign_in_again() {
        let s = State::Refreshing { user: "eve".into() }
            .next(Event::Refused {
                reason: "invalid_grant".into(),
            })
            .unwrap();
        match &s {
            State::Error { message } => assert!(message.contains("sign in again")),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.user(), None);
        assert_eq!(
            s.next(Event::Begin { url: "u".into() }).unwrap().label(),
            "authorizing"
        );
    }

    #[test]
    fn impossible_events_are_refused() {
        assert!(State::SignedOut.next(Event::Refresh).is_err());
        assert!(
            State::SignedOut
                .next(Event::Authorized {
                    user: "x".into(),
                    expires_at: at()
                })
                .is_err(),
            "tokens without a sign-in in progress"
        );
        let signed_in = State::SignedIn {
            user: "eve".into(),
            expires_at: at(),
        };
        let err = signed_in
            .next(Event::Begin { url: "u".into() })
            .unwrap_err();
        assert!(err.to_string().contains("signed_in"));
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_example() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
