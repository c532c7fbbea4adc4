//! The control plane as the OAuth 2.1 authorization server MCP clients see (MCP
//! authorization spec). Company identity providers rarely let MCP clients register
//! themselves, so the control plane does: RFC 8414 metadata, dynamic client registration
//! (RFC 7591) and client ID metadata documents ([`clients`]), `/authorize` with PKCE,
//! resource indicators (RFC 8707), a consent page per client and the person's login
//! delegated to the configured identity provider ([`authorize`]), `/token` with
//! single-use codes and rotating refresh tokens, `/revoke` ([`token`]). The access tokens
//! are short-lived Ed25519 JWTs bound to one gateway audience ([`tokens`]). Machines
//! without a browser sign in by the device authorization grant ([`device`]), whose
//! verification page reuses the same consent page and login. The provider's refresh
//! tokens are kept encrypted ([`at_rest`]); old records are collected ([`gc`]).
//!
//! Every sign-in, refresh, revocation and failure is a control-record event; failures
//! go through [`failures::FailureLog`], which caps them per source address and minute.

pub mod at_rest;
pub mod authorize;
pub mod clients;
pub mod cors;
pub mod device;
pub mod error;
pub mod exchange;
pub mod exchange_rules;
pub mod failures;
pub mod first_party;
pub mod gc;
pub mod grant_lifetime;
pub mod ip_ranges;
pub mod token;
pub mod tokens;

use super::auth::Principal;
use crate::gateway::Gateway;
use axum::Json;
use axum::extract::{ConnectInfo, Extension, State};
use axum::response::{IntoResponse, Response};
use cors::{cors, preflight};
use http::StatusCode;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use tokens::{Refusal, TokenKeys};

/// The scope MCP clients are given (the only one).
pub const SCOPE: &str = "mcp";

/// The peer address a handler saw, when the server was started with connection info.
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The address to name in audit events.
pub fn source(peer: &Peer) -> String {
    peer.as_ref()
        .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The authorization server's state: its token key, authorization requests waiting for
/// consent or login, the revoked grants whose tokens may still be in their lifetime.
pub struct AuthServer {
    /// Signs and verifies access tokens.
    pub keys: TokenKeys,
    pending: Mutex<HashMap<String, authorize::Pending>>,
    revoked: RwLock<HashSet<String>>,
    /// Rate-limited failure events.
    pub failures: failures::FailureLog,
    /// Dynamic registrations per source address and minute (anyone may register, so
    /// a script must not be able to fill the client table).
    pub registrations: failures::FailureLog,
    /// Fetched client ID metadata documents.
    pub documents: clients::DocumentCache,
    /// Trusted workload issuers' keys (token exchange).
    pub exchange: exchange::Exchange,
    /// Tokens whose signature was already verified, by SHA-256: a client sends the same
    /// token with every request for minutes, and a digest costs a tenth of a signature
    /// check. Lifetime, audience and revocation are still checked on every request.
    verified: RwLock<HashMap<[u8; 32], Arc<tokens::AccessClaims>>>,
    /// Seals the provider's refresh tokens kept with grants (none: they are not kept).
    pub cipher: Option<at_rest::TokenCipher>,
    /// Wrong user codes per source address (brute-force guard of the device flow).
    pub wrong_user_codes: device::WrongCodes,
    /// Device authorization requests per source address and minute.
    pub device_requests: failures::FailureLog,
}

/// Client registrations accepted per source address and minute.
const REGISTRATIONS_PER_MINUTE: u32 = 30;

/// Verified tokens remembered at most (then the expired ones, or all, are dropped).
const VERIFIED_CACHE: usize = 50_000;

impl AuthServer {
    /// The authorization server of a gateway whose public URL is `issuer`.
    pub fn new(config: &crate::config::Config) -> Result<AuthServer, crate::config::ConfigError> {
        Ok(AuthServer {
            keys: TokenKeys::new(config.token_signing_key()?, &config.public_base()),
            pending: Mutex::new(HashMap::new()),
            revoked: RwLock::new(HashSet::new()),
            failures: failures::FailureLog::new(config.authz.failure_events_per_minute),
            registrations: failures::FailureLog::new(REGISTRATIONS_PER_MINUTE),
            documents: clients::DocumentCache::new(&config.authz.metadata_document_allowed_hosts),
            exchange: exchange::Exchange::new(&config.authz.trusted_issuers),
            verified: RwLock::new(HashMap::new()),
            cipher: at_rest::TokenCipher::from_config(config)?,
            wrong_user_codes: device::WrongCodes::new(config.device_flow.max_wrong_codes),
            device_requests: failures::FailureLog::new(REGISTRATIONS_PER_MINUTE),
        })
    }

    /// Marks a grant revoked in this process at once (the store has it for the others).
    pub fn mark_revoked(&self, grant: &str) {
        self.revoked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(grant.to_string());
    }

    /// Replaces the revoked set with the store's recent revocations plus local ones.
    pub fn set_revoked(&self, from_store: Vec<String>) {
        let mut set = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        set.extend(from_store);
    }

    fn is_revoked(&self, grant: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(grant)
    }

    /// The person behind one of our access tokens for `audiences`, unless it is forged,
    /// out of its lifetime, for another audience, or its grant was revoked.
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Principal, Refusal> {
        use sha2::Digest;
        let now = chrono::Utc::now().timestamp();
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let cached = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        let claims = match cached {
            Some(c) => c,
            None => {
                let c = Arc::new(self.keys.decode(token)?);
                let mut cache = self.verified.write().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= VERIFIED_CACHE {
                    cache.retain(|_, c| c.exp > now);
                    if cache.len() >= VERIFIED_CACHE {
                        cache.clear();
                    }
                }
                cache.insert(digest, c.clone());
                c
            }
        };
        tokens::check_claims(&claims, audiences, now)?;
        if self.is_revoked(&claims.sid) {
            return Err(Refusal::invalid(
                "the token's sign-in was revoked or signed out",
            ));
        }
        Ok(Principal {
            user: claims.sub.clone(),
            groups: claims.groups.clone(),
        })
    }
}

impl Gateway {
    /// The authorization server, when MCP client sign-in is configured.
    pub fn auth_server(&self) -> Option<&AuthServer> {
        self.authz.as_ref()
    }

    /// Re-reads recently revoked grants (revocations from another replica or the CLI).
    pub(crate) async fn refresh_revocations(&self) {
        let Some(az) = &self.authz else { return };
        match self
            .store
            .recently_revoked_grants(self.config.authz.access_token_secs + 60)
            .await
        {
            Ok(ids) => az.set_revoked(ids),
            Err(e) => tracing::warn!(error = %e, "cannot read revoked grants"),
        }
    }

    /// Revokes a grant everywhere, recording who and why.
    pub(crate) async fn revoke_grant(&self, grant: &str, reason: &str, source: &str) {
        if let Some(az) = &self.authz {
            az.mark_revoked(grant);
        }
        match self.store.revoke_grant(grant, reason).await {
            Ok(Some(user)) => {
                self.control_event(
                    "token_revoked",
                    serde_json::json!({ "user": user, "grant": grant, "reason": reason, "source": source }),
                )
                .await
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, grant, "could not revoke a grant"),
        }
    }

    /// Records a refused sign-in or token (rate-limited per source address).
    pub(crate) async fn auth_failure(&self, source: &str, detail: serde_json::Value) {
        let limit = match &self.authz {
            Some(az) => az.failures.admit(source),
            None => failures::Admit::Record,
        };
        match limit {
            failures::Admit::Record => {
                let mut d = detail;
                d["source"] = source.into();
                self.control_event("auth_failed", d).await
            }
            failures::Admit::RecordLast(per_minute) => {
                let mut d = detail;
                d["source"] = source.into();
                d["note"] = format!(
                    "{per_minute} failures from this address this minute: further ones are counted, not recorded"
                )
                .into();
                self.control_event("auth_failed", d).await
            }
            failures::Admit::Suppress => {}
        }
    }

    /// Records the counts of suppressed failures of windows that ended (or all, at
    /// shutdown).
    pub(crate) async fn flush_failures(&self, all: bool) {
        let Some(az) = &self.authz else { return };
        for (source, count) in az.failures.take_suppressed(all) {
            self.control_event(
                "auth_failures_suppressed",
                serde_json::json!({ "source": source, "count": count }),
            )
            .await;
        }
    }
}

/// Issuer, endpoints and what is supported (RFC 8414); served at both
/// `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata(State(gw): State<Arc<Gateway>>) -> Response {
    let Some(az) = gw.auth_server() else {
        return not_configured();
    };
    let base = az.keys.issuer();
    let mut grants = vec!["authorization_code", "refresh_token", device::GRANT_TYPE];
    if !gw.config.authz.trusted_issuers.is_empty() {
        grants.push(exchange::GRANT_TYPE);
    }
    cors(
        Json(serde_json::json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "registration_endpoint": format!("{base}/oauth/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "device_authorization_endpoint": format!("{base}/oauth/device_authorization"),
            "jwks_uri": format!("{base}/oauth/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": grants,
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": [SCOPE],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
        }))
        .into_response(),
    )
}

/// The device authorization grant's endpoints (RFC 8628), merged into the gateway's
/// router: the device's request and the person's verification page.
pub fn routes() -> axum::Router<Arc<Gateway>> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route(
            "/oauth/device_authorization",
            post(device::device_authorization).options(preflight),
        )
        .route(
            "/oauth/device",
            get(device::verify_page).post(device::verify),
        )
}

/// `/oauth/jwks`: the public key of access tokens.
pub async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.auth_server() {
        Some(az) => cors(Json(az.keys.jwks()).into_response()),
        None => not_configured(),
    }
}

fn not_configured() -> Response {
    (
        StatusCode::NOT_FOUND,
        "MCP client sign-in is not configured: set [oidc] issuer and client_id so people sign in through your identity provider\n",
    )
        .into_response()
}

/// A new unguessable secret (244 random bits from the OS), for codes, tokens and ids.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
