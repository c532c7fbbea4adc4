//! Token exchange's trusted issuers (their keys) and the replay guard of exchanged
//! tokens. (What makes a trust rule safe is checked with
//! the configuration: `TrustedIssuer::problem`.)

use super::super::oidc::JwtVerifier;
use crate::config::{OidcConfig, TrustedIssuer};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// The token-exchange grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

pub(super) const JWT_TYPES: [&str; 3] = [
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:access_token",
];

/// The trusted issuers, each with its key cache.
pub struct Exchange {
    pub(super) issuers: Vec<(TrustedIssuer, JwtVerifier)>,
    pub(super) seen: super::exchange_rules::SeenTokens,
}

impl Exchange {
    /// Verifiers for the configured issuers (keys fetched on first use).
    pub fn new(trusted: &[TrustedIssuer]) -> Exchange {
        Exchange {
            issuers: trusted
                .iter()
                .map(|t| {
                    let cfg = OidcConfig {
                        issuer: t.issuer.clone(),
                        audiences: Vec::new(),
                        user_claim: t.user_claim.clone(),
                        groups_claim: "groups".into(),
                        required_scopes: Vec::new(),
                        group_map: Default::default(),
                        client_id: None,
                        client_secret: None,
                        signin_scopes: Vec::new(),
                        browser_session_hours: 1,
                    };
                    (t.clone(), JwtVerifier::new(cfg))
                })
                .collect(),
            seen: Default::default(),
        }
    }
}

/// The unverified `iss` of a JWT, to pick the verifier (which then checks everything).
pub(super) fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v["iss"].as_str().map(String::from)
}

/// Subject tokens already exchanged, by digest, until their expiry: a CI token is
/// exchanged once (a pipeline asks its CI system for a new one each time).
#[derive(Debug, Default)]
pub struct SeenTokens {
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

/// Subject tokens remembered at most; beyond it the expired ones are dropped first.
const SEEN_MAX: usize = 100_000;

impl SeenTokens {
    /// Notes `token` (valid until `exp`, seconds since the epoch); false when it was
    /// already exchanged within its lifetime.
    pub fn first_use(&self, token: &str, exp: i64, now: i64) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SEEN_MAX {
            seen.retain(|_, e| *e > now);
        }
        match seen.get(&digest) {
            Some(e) if *e > now => false,
            _ => {
                seen.insert(digest, exp.max(now + 60));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanged_tokens_are_single_use_until_they_expire() {
        let seen = SeenTokens::default();
        assert!(seen.first_use("t", 2_000, 1_000));
        assert!(!seen.first_use("t", 2_000, 1_500));
        assert!(seen.first_use("t", 2_000, 2_100));
    }
}
