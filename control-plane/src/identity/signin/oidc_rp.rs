//! The control plane as an OpenID Connect relying party for people signing in to the
//! dashboard: discovery, Authorization Code with PKCE (S256), `state` bound to the
//! browser, `nonce` checked in the ID token, whose signature, issuer, audience and expiry
//! are verified before any claim is believed.

use crate::config::OidcConfig;
use crate::identity::auth::Principal;
use base64::Engine;
use openidconnect::OAuth2TokenResponse;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    Scope, TokenResponse,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a person may take at the identity provider before the login must restart.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// How long discovered provider metadata (and its signing keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(300);

type WebClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Where a finished login goes on to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// The dashboard, at this path.
    Dashboard(String),
    /// An MCP client's authorization request (by id) waiting for the person's login.
    Authorize(String),
}

/// A finished login.
#[derive(Debug)]
pub struct SignedIn {
    /// Who.
    pub principal: Principal,
    /// What they were doing.
    pub after: After,
    /// The provider's refresh token, when it gave one (`offline_access`): MCP clients'
    /// refreshes re-check the person with it.
    pub refresh_token: Option<String>,
}

/// A login that went to the provider and has not come back yet.
struct PendingLogin {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    after: After,
    started: Instant,
}

/// Why a sign-in failed; every variant is shown to the person and recorded.
#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    /// The provider could not be reached or described itself badly.
    #[error("the identity provider is not reachable or misconfigured: {0}")]
    Provider(String),
    /// `state` is unknown, expired, or not this browser's.
    #[error(
        "this sign-in link is stale or was started in another browser; start again from the dashboard"
    )]
    State,
    /// The provider said no.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The code exchange or ID token check failed.
    #[error("the identity provider's answer did not check out: {0}")]
    Token(String),
}

/// The relying party: provider metadata (cached) and logins in flight.
pub struct RelyingParty {
    config: OidcConfig,
    client_id: String,
    client_secret: Option<String>,
    redirect: String,
    http: openidconnect::reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(CoreProviderMetadata, Instant)>>,
    pending: Mutex<HashMap<String, PendingLogin>>,
}

impl RelyingParty {
    /// A relying party when `[oidc] client_id` is set.
    pub fn new(
        config: &OidcConfig,
        public_base: &str,
    ) -> Result<Option<RelyingParty>, crate::config::ConfigError> {
        let Some(client_id) = config.client_id.clone() else {
            return Ok(None);
        };
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects from the token endpoint would open an SSRF path.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| crate::config::ConfigError::Invalid(e.to_string()))?;
        Ok(Some(RelyingParty {
            client_secret: config.resolved_client_secret()?,
            config: config.clone(),
            client_id,
            redirect: format!("{public_base}/auth/callback"),
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        }))
    }

    async fn client(&self) -> Result<WebClient, SigninError> {
        let mut cached = self.metadata.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < METADATA_TTL);
        if !fresh {
            let issuer = IssuerUrl::new(self.config.issuer.clone())
                .map_err(|e| SigninError::Provider(e.to_string()))?;
            let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
                .await
                .map_err(|e| SigninError::Provider(e.to_string()))?;
            *cached = Some((meta, Instant::now()));
        }
        let meta = cached
            .as_ref()
            .map(|(m, _)| m.clone())
            .ok_or_else(|| SigninError::Provider("no provider metadata".into()))?;
        let redirect = RedirectUrl::new(self.redirect.clone())
            .map_err(|e| SigninError::Provider(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a login: the provider URL to send the browser to and the `state` to bind to
    /// it; `after` says where the finished login resumes.
    pub async fn begin(&self, after: After) -> Result<(String, String), SigninError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.config.signin_scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if self
            .config
            .signin_scopes
            .iter()
            .any(|s| s == "offline_access")
        {
            // OpenID Connect Core §11: offline access is granted only with consent.
            request = request.add_prompt(openidconnect::core::CoreAuthPrompt::Consent);
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, p| p.started.elapsed() < LOGIN_TTL);
        pending.insert(
            state.secret().clone(),
            PendingLogin {
                verifier,
                nonce,
                after,
                started: Instant::now(),
            },
        );
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Finishes a login: checks `state` against the browser's, redeems the code with the
    /// PKCE verifier, verifies the ID token and its nonce; returns who signed in and
    /// what they were doing.
    pub async fn finish(
        &self,
        state: &str,
        browser_state: Option<&str>,
        code: &str,
    ) -> Result<SignedIn, SigninError> {
        if browser_state != Some(state) {
            return Err(SigninError::State);
        }
        let login = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(state)
            .filter(|p| p.started.elapsed() < LOGIN_TTL)
            .ok_or(SigninError::State)?;
        let client = self.client().await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SigninError::Provider(e.to_string()))?
            .set_pkce_verifier(login.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| SigninError::Token(e.to_string()))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SigninError::Token("no ID token in the answer".into()))?;
        id_token
            .claims(&client.id_token_verifier(), &login.nonce)
            .map_err(|e| SigninError::Token(e.to_string()))?;
        // The signature is verified: the payload's claims can be believed. Read them as
        // JSON because the user and group claims are configurable by name.
        let claims = verified_payload(&id_token.to_string())?;
        let principal = self.config.principal_from_claims(&claims).ok_or_else(|| {
            SigninError::Token(format!(
                "the ID token has no `{}` claim",
                self.config.user_claim
            ))
        })?;
        Ok(SignedIn {
            principal,
            after: login.after,
            refresh_token: tokens.refresh_token().map(|r| r.secret().clone()),
        })
    }

    /// Asks the provider again about a person signed in earlier, with the refresh token it
    /// gave then: their groups now (from the new ID token, when it sends one) and the
    /// rotated refresh token. An error means the provider no longer signs them in.
    pub async fn recheck(
        &self,
        refresh_token: &str,
    ) -> Result<(Option<Principal>, Option<String>), SigninError> {
        let client = self.client().await?;
        let token = RefreshToken::new(refresh_token.to_string());
        let tokens = client
            .exchange_refresh_token(&token)
            .map_err(|e| SigninError::Provider(e.to_string()))?
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                // The provider answered no: the person is no longer signed in there.
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    SigninError::Refused(r.to_string())
                }
                // It could not be asked: nothing is known about the person.
                other => SigninError::Provider(other.to_string()),
            })?;
        let principal = match tokens.id_token() {
            Some(id_token) => {
                id_token
                    .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
                    .map_err(|e| SigninError::Token(e.to_string()))?;
                let claims = verified_payload(&id_token.to_string())?;
                self.config.principal_from_claims(&claims)
            }
            None => None,
        };
        Ok((
            principal,
            tokens.refresh_token().map(|r| r.secret().clone()),
        ))
    }
}

fn verified_payload(jwt: &str) -> Result<serde_json::Value, SigninError> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| SigninError::Token("the ID token is not a JWT".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| SigninError::Token(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| SigninError::Token(e.to_string()))
}
