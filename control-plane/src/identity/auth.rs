//! Who is calling. Until OIDC/SAML land, the only sign-in is the dev token table, and
//! it is honoured only in dev mode (`serve --dev`, `gatehouse demo`); otherwise every
//! request is refused (fail closed).

use crate::config::DevToken;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A signed-in person or workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name.
    pub user: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No bearer token was sent.
    Missing,
    /// The token is unknown, or dev sign-in is off.
    Invalid,
    /// The token is valid but lacks a scope the gateway requires (space-separated).
    InsufficientScope(String),
}

impl AuthError {
    /// The `error` parameter of `WWW-Authenticate` (RFC 6750).
    pub fn oauth_error(&self) -> Option<&'static str> {
        match self {
            AuthError::Missing => None,
            AuthError::Invalid => Some("invalid_token"),
            AuthError::InsufficientScope(_) => Some("insufficient_scope"),
        }
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    Some(
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?
            .trim(),
    )
}

/// Maps bearer tokens to principals. Tokens are kept only as SHA-256 digests so a
/// heap dump or debug print never shows one.
#[derive(Debug, Default)]
pub struct Authenticator {
    dev_tokens: HashMap<[u8; 32], Principal>,
    /// The `[dev]` people in the order the config lists them: when several tokens name
    /// the same person, the dev sign-in page signs them in as the first one listed.
    dev_people: Vec<Principal>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    /// An authenticator; `dev_mode` decides whether the dev token table counts at all.
    pub fn new(dev_mode: bool, tokens: &[DevToken]) -> Authenticator {
        let tokens = if dev_mode { tokens } else { &[] };
        let principal = |t: &DevToken| Principal {
            user: t.user.clone(),
            groups: t.groups.clone(),
        };
        Authenticator {
            dev_tokens: tokens
                .iter()
                .map(|t| (digest(&t.token), principal(t)))
                .collect(),
            dev_people: tokens.iter().map(principal).collect(),
        }
    }

    /// The `[dev]` user of this name (dev mode only), for the dev sign-in page: the first
    /// token listed for them.
    pub fn dev_user(&self, user: &str) -> Option<Principal> {
        self.dev_people.iter().find(|p| p.user == user).cloned()
    }

    /// The principal behind the request's `Authorization: Bearer` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let token = bearer(headers).ok_or(AuthError::Missing)?;
        self.dev_tokens
            .get(&digest(token))
            .cloned()
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    fn tokens() -> Vec<DevToken> {
        vec![DevToken {
            token: "t-alice".into(),
            user: "alice".into(),
            groups: vec!["eng".into()],
        }]
    }

    #[test]
    fn dev_tokens_only_in_dev_mode() {
        let on = Authenticator::new(true, &tokens());
        assert_eq!(
            on.authenticate(&headers("Bearer t-alice")).unwrap().user,
            "alice"
        );
        assert_eq!(
            on.authenticate(&headers("Bearer nope")),
            Err(AuthError::Invalid)
        );
        assert_eq!(on.authenticate(&HeaderMap::new()), Err(AuthError::Missing));
        assert_eq!(
            on.authenticate(&headers("Basic abc")),
            Err(AuthError::Missing)
        );
        let off = Authenticator::new(false, &tokens());
        assert_eq!(
            off.authenticate(&headers("Bearer t-alice")),
            Err(AuthError::Invalid)
        );
    }
}
