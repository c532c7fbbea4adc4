//! The authorization server's state: its token key, authorization requests waiting for
//! consent or login, revoked grants, rate limits and caches.

use super::super::auth::Principal;
use super::tokens::{self, Refusal, TokenKeys};
use super::{at_rest, client_metadata, device_codes, exchange_rules, failures, pending};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

/// The authorization server's state: its token key, authorization requests waiting for
/// consent or login, the revoked grants whose tokens may still be in their lifetime.
pub struct AuthServer {
    /// Signs and verifies access tokens.
    pub keys: TokenKeys,
    pub(super) pending: Mutex<HashMap<String, pending::Pending>>,
    pub(super) revoked: RwLock<HashSet<String>>,
    /// Rate-limited failure events.
    pub failures: failures::FailureLog,
    /// Dynamic registrations per source address and minute (anyone may register, so
    /// a script must not be able to fill the client table).
    pub registrations: failures::FailureLog,
    /// Fetched client ID metadata documents.
    pub documents: client_metadata::DocumentCache,
    /// Trusted workload issuers' keys (token exchange).
    pub exchange: exchange_rules::Exchange,
    /// Tokens whose signature was already verified, by SHA-256: a client sends the same
    /// token with every request for minutes, and a digest costs a tenth of a signature
    /// check. Lifetime, audience and revocation are still checked on every request.
    pub(super) verified: RwLock<HashMap<[u8; 32], Arc<tokens::AccessClaims>>>,
    /// Seals the provider's refresh tokens kept with grants (none: they are not kept).
    pub cipher: Option<at_rest::TokenCipher>,
    /// Wrong user codes per source address (brute-force guard of the device flow).
    pub wrong_user_codes: device_codes::WrongCodes,
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
            documents: client_metadata::DocumentCache::new(
                &config.authz.metadata_document_allowed_hosts,
            ),
            exchange: exchange_rules::Exchange::new(&config.authz.trusted_issuers),
            verified: RwLock::new(HashMap::new()),
            cipher: at_rest::TokenCipher::from_config(config)?,
            wrong_user_codes: device_codes::WrongCodes::new(config.device_flow.max_wrong_codes),
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
