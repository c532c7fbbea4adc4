//! The replay guard of exchanged tokens. (What makes a trust rule safe is checked with
//! the configuration: `TrustedIssuer::problem`.)

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

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
