//! The gateway as an OAuth 2.1 resource server for tokens the company's identity
//! provider issues: signature by the provider's published keys (JWKS, found by OIDC
//! discovery and refreshed when a new key id appears), issuer, expiry, and an audience
//! bound to this gateway (RFC 8707), with the person's groups from a configurable claim.

use super::auth::{AuthError, Principal};
use super::authz::tokens::Refusal;
use super::refreshing::{Lifetimes, Refreshing};
use crate::config::OidcConfig;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use std::time::Duration;

/// Verifies access tokens from one issuer.
pub struct JwtVerifier {
    config: OidcConfig,
    http: reqwest::Client,
    keys: Refreshing<JwkSet>,
}

/// How often an unknown key id may trigger a JWKS refresh (a flood of bad tokens must
/// not become a flood of requests to the identity provider).
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

/// How long fetched keys are trusted before they are fetched again (a key the provider
/// removed stops verifying within this).
const KEYS_TTL: Duration = Duration::from_secs(600);

/// A failed key fetch is answered from memory this long; the last good keys serve this
/// long while the provider cannot be reached.
const KEY_LIFETIMES: Lifetimes = Lifetimes {
    failure: Duration::from_secs(10),
    stale: Duration::from_secs(3600),
};

/// Algorithms accepted: asymmetric only (a shared-secret or `none` token is refused).
const ALLOWED: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl JwtVerifier {
    /// A verifier for `config.issuer`; keys are fetched on first use.
    pub fn new(config: OidcConfig) -> JwtVerifier {
        JwtVerifier {
            config,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            keys: Refreshing::new(KEY_LIFETIMES),
        }
    }

    async fn fetch_keys(&self) -> Result<JwkSet, String> {
        let issuer = self.config.issuer.trim_end_matches('/');
        let discovery: Value = self
            .http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("OIDC discovery at {issuer} failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("OIDC discovery at {issuer} is not JSON: {e}"))?;
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("OIDC discovery at {issuer} names no jwks_uri"))?;
        self.http
            .get(jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("fetching {jwks_uri} failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{jwks_uri} is not a JWK set: {e}"))
    }

    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(k) => set.find(k),
                None if set.keys.len() == 1 => set.keys.first(),
                None => None,
            }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        let unavailable = |e: String| {
            tracing::error!(error = %e, "cannot get the identity provider's keys; tokens cannot be verified (failing closed)");
            Refusal::invalid(format!("the identity provider's keys are unavailable: {e}"))
        };
        let set = self
            .keys
            .get(KEYS_TTL, || self.fetch_keys())
            .await
            .map_err(unavailable)?;
        if let Some(k) = find(&set) {
            return Ok(k);
        }
        // An unknown key id: the provider may have rotated; ask again, at most so often.
        let set = self
            .keys
            .get(REFRESH_AT_MOST_EVERY, || self.fetch_keys())
            .await
            .map_err(unavailable)?;
        find(&set)
            .ok_or_else(|| Refusal::invalid(format!("unknown key id `{}`", kid.unwrap_or(""))))
    }

    /// The verified claims of `token`, if the issuer signed it for one of `audiences`
    /// and it is within its lifetime.
    pub async fn verify_claims(&self, token: &str, audiences: &[String]) -> Result<Value, Refusal> {
        let header =
            decode_header(token).map_err(|e| Refusal::invalid(format!("not a JWT: {e}")))?;
        // The key first (an unknown key id says so), then the algorithm: whatever the
        // header claims, only the key's own asymmetric algorithms verify.
        let key = self.key(header.kid.as_deref()).await?;
        if !ALLOWED.contains(&header.alg) {
            return Err(Refusal::invalid(format!(
                "algorithm `{:?}` is not accepted (asymmetric signatures only)",
                header.alg
            )));
        }
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[self.config.issuer.as_str()]);
        v.set_audience(audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        decode::<Value>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| {
                tracing::info!(error = %e, "refused an access token");
                Refusal::invalid(format!("the identity provider's token was refused: {e}"))
            })
    }

    /// The person behind `token`, if it is a valid access token for this gateway.
    pub async fn verify(&self, token: &str, audiences: &[String]) -> Result<Principal, Refusal> {
        let claims = self.verify_claims(token, audiences).await?;
        super::provider_tokens::access_token_only(&self.config, token, &claims)?;
        let principal = self.config.principal_from_claims(&claims).ok_or_else(|| {
            Refusal::invalid(format!(
                "the token has no `{}` claim",
                self.config.user_claim
            ))
        })?;
        let granted: Vec<&str> = match (&claims["scope"], &claims["scp"]) {
            (Value::String(s), _) | (_, Value::String(s)) => s.split_whitespace().collect(),
            (_, Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if self
            .config
            .required_scopes
            .iter()
            .any(|s| !granted.contains(&s.as_str()))
        {
            return Err(Refusal {
                error: AuthError::InsufficientScope(self.config.required_scopes.join(" ")),
                reason: "the token lacks a required scope".into(),
            });
        }
        Ok(principal)
    }
}

// Kept here rather than in `config`: mapping claims to a person is identity's job, and the
// config types stay free of identity types.
impl OidcConfig {
    /// The person named by verified claims: `user_claim` (falling back to `sub`) and the
    /// groups of `groups_claim`, renamed by `group_map`.
    pub fn principal_from_claims(&self, claims: &serde_json::Value) -> Option<Principal> {
        let user = claims[self.user_claim.as_str()]
            .as_str()
            .or_else(|| claims["sub"].as_str())?
            .to_string();
        let groups = claims[self.groups_claim.as_str()]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(|g| {
                        self.group_map
                            .get(g)
                            .cloned()
                            .unwrap_or_else(|| g.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Principal { user, groups })
    }
}
