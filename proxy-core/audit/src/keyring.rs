//! The log's signing keys over time: the current one and every retired one, each with
//! the window in which it may sign. A verifier that trusts a key ring accepts a
//! checkpoint only from a key valid when the checkpoint was signed, and never from a
//! key after its successor has signed a checkpoint (so a leaked retired key cannot
//! append a back-dated history after the rotation).

use crate::note::{KeyKind, NoteError, VerifierKey};
use chrono::{DateTime, FixedOffset};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// One log key as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKey {
    /// Ed25519 public key (hex), as checkpoints record it.
    pub public_key: String,
    /// The C2SP note key (`<origin>+<key id>+<base64 key>`) checkpoint notes verify with.
    pub vkey: String,
    /// The C2SP key id (8 hex digits) checkpoint notes name.
    pub key_id: String,
    /// When it started signing (RFC 3339); `None` for "from the start".
    pub valid_from: Option<String>,
    /// When it stopped (RFC 3339); `None` while current.
    pub retired_at: Option<String>,
}

impl PublishedKey {
    /// The published form of `public` for the log `origin`.
    pub fn new(
        origin: &str,
        public: &VerifyingKey,
        valid_from: Option<String>,
        retired_at: Option<String>,
    ) -> Result<PublishedKey, NoteError> {
        let v = VerifierKey::new(origin, KeyKind::Ed25519, *public)?;
        Ok(PublishedKey {
            public_key: hex::encode(public.as_bytes()),
            vkey: v.to_string(),
            key_id: format!("{:08x}", v.key_id()),
            valid_from,
            retired_at,
        })
    }
}

/// Why a key ring refuses a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A key no one published.
    #[error("it is signed by key {0}, which is not a trusted log key")]
    Unknown(String),
    /// Signed before the key was in use.
    #[error("it is signed by key {key} at {at}, before that key was in use (from {from})")]
    Early {
        /// The key (hex).
        key: String,
        /// Signing time.
        at: String,
        /// Start of the key's validity.
        from: String,
    },
    /// Signed by a retired key after its retirement.
    #[error("it is signed by key {key} at {at}, after that key was retired ({retired})")]
    Retired {
        /// The key (hex).
        key: String,
        /// Signing time.
        at: String,
        /// Retirement.
        retired: String,
    },
    /// A time that is not RFC 3339.
    #[error("`{0}` is not an RFC 3339 time")]
    BadTime(String),
}

/// The trusted log keys.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyRing {
    /// Every key, in order of use (oldest first).
    pub keys: Vec<PublishedKey>,
}

fn time(s: &str) -> Result<DateTime<FixedOffset>, KeyError> {
    DateTime::parse_from_rfc3339(s).map_err(|_| KeyError::BadTime(s.to_string()))
}

impl KeyRing {
    /// One key trusted at any time (what `--public-key` pins).
    pub fn single(public_key_hex: &str) -> KeyRing {
        KeyRing {
            keys: vec![PublishedKey {
                public_key: public_key_hex.to_string(),
                vkey: String::new(),
                key_id: String::new(),
                valid_from: None,
                retired_at: None,
            }],
        }
    }

    /// Checks every validity time parses; says which does not.
    pub fn validate(&self) -> Result<(), KeyError> {
        for k in &self.keys {
            for t in k.valid_from.iter().chain(&k.retired_at) {
                time(t)?;
            }
        }
        Ok(())
    }

    /// The position of `public_key_hex` in the ring.
    pub fn position(&self, public_key_hex: &str) -> Option<usize> {
        self.keys
            .iter()
            .position(|k| k.public_key == public_key_hex)
    }

    /// Checks that `public_key_hex` may have signed at `at` (RFC 3339); returns its
    /// position in the ring.
    pub fn allows(&self, public_key_hex: &str, at: &str) -> Result<usize, KeyError> {
        let i = self
            .position(public_key_hex)
            .ok_or_else(|| KeyError::Unknown(public_key_hex.to_string()))?;
        let k = &self.keys[i];
        if k.valid_from.is_none() && k.retired_at.is_none() {
            return Ok(i);
        }
        let signed = time(at)?;
        if let Some(from) = &k.valid_from
            && signed < time(from)?
        {
            return Err(KeyError::Early {
                key: k.public_key.clone(),
                at: at.to_string(),
                from: from.clone(),
            });
        }
        if let Some(retired) = &k.retired_at
            && signed >= time(retired)?
        {
            return Err(KeyError::Retired {
                key: k.public_key.clone(),
                at: at.to_string(),
                retired: retired.clone(),
            });
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn ring() -> (KeyRing, String, String) {
        let old = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let new = SigningKey::from_bytes(&[2; 32]).verifying_key();
        let ring = KeyRing {
            keys: vec![
                PublishedKey::new("log", &old, None, Some("2026-06-01T00:00:00Z".into())).unwrap(),
                PublishedKey::new("log", &new, Some("2026-06-01T00:00:00Z".into()), None).unwrap(),
            ],
        };
        (
            ring,
            hex::encode(old.as_bytes()),
            hex::encode(new.as_bytes()),
        )
    }

    #[test]
    fn each_key_signs_only_inside_its_window() {
        let (ring, old, new) = ring();
        ring.validate().unwrap();
        assert_eq!(ring.allows(&old, "2026-05-31T23:59:59.999999Z"), Ok(0));
        assert_eq!(ring.allows(&new, "2026-06-01T00:00:00Z"), Ok(1));
        let e = ring
            .allows(&old, "2026-06-01T00:00:00.000001Z")
            .unwrap_err();
        assert!(e.to_string().contains("after that key was retired"), "{e}");
        let e = ring.allows(&new, "2026-05-01T00:00:00+02:00").unwrap_err();
        assert!(e.to_string().contains("before that key was in use"), "{e}");
        assert!(matches!(
            ring.allows(&"ab".repeat(32), "2026-01-01T00:00:00Z"),
            Err(KeyError::Unknown(_))
        ));
        assert!(matches!(
            ring.allows(&old, "yesterday"),
            Err(KeyError::BadTime(_))
        ));
        assert_eq!(KeyRing::single(&old).allows(&old, "whenever"), Ok(0));
        assert!(
            ring.keys[1]
                .vkey
                .starts_with(&format!("log+{}+", ring.keys[1].key_id))
        );
    }
}
