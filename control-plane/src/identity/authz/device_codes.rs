//! The device authorization grant's codes (RFC 8628): user codes people type, and the
//! guard against guessing them.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The token endpoint's grant type for device codes.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Consonants only (no words, no vowels to make them), none mistaken for another
/// (RFC 8628 §6.1).
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

const USER_CODE_LEN: usize = 8;

/// The window of the brute-force guard.
const WRONG_CODE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A new user code, `XXXX-XXXX`, from the OS's randomness (unbiased).
pub fn new_user_code() -> String {
    let mut out = String::with_capacity(USER_CODE_LEN + 1);
    let mut buf = [0u8; 32];
    while out.len() < USER_CODE_LEN + 1 {
        OsRng.fill_bytes(&mut buf);
        for b in buf {
            // 240 is the largest multiple of 20 within a byte: no letter is likelier.
            if b >= 240 || out.len() == USER_CODE_LEN + 1 {
                continue;
            }
            if out.len() == USER_CODE_LEN / 2 {
                out.push('-');
            }
            out.push(ALPHABET[(b % 20) as usize] as char);
        }
    }
    out
}

/// The code as stored: letters only, upper case; `None` when it cannot be a user code
/// (people type `abcd efgh`, `ABCD-EFGH`, `abcdefgh`: all the same).
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Wrong user codes per source address within [`WRONG_CODE_WINDOW`].
pub struct WrongCodes {
    max: u32,
    seen: Mutex<HashMap<String, (u32, Instant)>>,
}

impl WrongCodes {
    /// A guard allowing `max` wrong codes per address and window.
    pub fn new(max: u32) -> WrongCodes {
        WrongCodes {
            max: max.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `source` used up its tries.
    pub fn blocked(&self, source: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
            .is_some_and(|(n, since)| *n >= self.max && since.elapsed() < WRONG_CODE_WINDOW)
    }

    /// Counts a wrong code from `source`; returns the tries it has left.
    pub fn wrong(&self, source: &str) -> u32 {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            seen.retain(|_, (_, since)| since.elapsed() < WRONG_CODE_WINDOW);
        }
        let entry = seen
            .entry(source.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WRONG_CODE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        self.max.saturating_sub(entry.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_short_unambiguous_and_typed_loosely() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = new_user_code();
            assert_eq!(c.len(), 9, "{c}");
            assert_eq!(&c[4..5], "-");
            let n = normalize_user_code(&c).unwrap();
            assert_eq!(normalize_user_code(&n.to_lowercase()), Some(n.clone()));
            assert_eq!(
                normalize_user_code(&format!("{} {}", &n[..4], &n[4..])),
                Some(n.clone())
            );
            seen.insert(n);
        }
        assert!(seen.len() > 190, "codes repeat too often");
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels are never used"
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("BCDF-GHJK0"), None);
    }

    #[test]
    fn wrong_codes_are_limited_per_address() {
        let g = WrongCodes::new(3);
        assert!(!g.blocked("a"));
        assert_eq!(g.wrong("a"), 2);
        assert_eq!(g.wrong("a"), 1);
        assert!(!g.blocked("a"));
        assert_eq!(g.wrong("a"), 0);
        assert!(g.blocked("a"));
        assert!(!g.blocked("b"), "other addresses keep their tries");
    }
}
