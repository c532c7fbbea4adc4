//! The identity provider's refresh tokens kept with grants are long-lived credentials to
//! the company's provider: a copy of the database must not be a copy of them. They are
//! sealed with AES-256-GCM under a key derived (HKDF-SHA256) from `[authz_store]
//! encryption_key`, or else from `authz.signing_key`, and bound to their grant (the grant
//! id is the associated data, so a sealed token moved to another row does not open).

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// The prefix of sealed values (a version, so the scheme can change).
const PREFIX: &str = "v1:";
/// HKDF `info`: keys derived from the same secret for other uses differ from this one.
const INFO: &[u8] = b"gatehouse authz: identity provider refresh tokens at rest, v1";
/// The least length of a dedicated encryption secret.
const MIN_SECRET_BYTES: usize = 32;

/// Seals and opens the identity provider's refresh tokens.
pub struct TokenCipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher(..)")
    }
}

impl TokenCipher {
    /// A cipher keyed by HKDF-SHA256 of `secret`.
    pub fn from_secret(secret: &[u8]) -> TokenCipher {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"gatehouse"), secret);
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit: expand cannot fail.
        let _ = hk.expand(INFO, &mut key);
        TokenCipher {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// The cipher the configuration asks for: from `[authz_store] encryption_key`, else
    /// from `authz.signing_key`; none when neither is set and no provider refresh token
    /// will be kept. An error when one will be kept (`offline_access` in `[oidc]
    /// signin_scopes`) but there is no key: a key made for one run would lose every
    /// sign-in at the next start.
    pub fn from_config(
        config: &crate::config::Config,
    ) -> Result<Option<TokenCipher>, crate::config::ConfigError> {
        if let Some(secret) = config.authz_store.resolved_encryption_key()? {
            if secret.len() < MIN_SECRET_BYTES {
                return Err(crate::config::ConfigError::Invalid(format!(
                    "authz_store.encryption_key is {} bytes long; use at least {MIN_SECRET_BYTES} random bytes (e.g. the output of `openssl rand -hex 32`)",
                    secret.len()
                )));
            }
            return Ok(Some(TokenCipher::from_secret(secret.as_bytes())));
        }
        if let Some(seed) = config.authz.resolved_signing_key()? {
            return Ok(Some(TokenCipher::from_secret(seed.trim().as_bytes())));
        }
        let keeps_idp_tokens = config.oidc.as_ref().is_some_and(|o| {
            o.client_id.is_some() && o.signin_scopes.iter().any(|s| s == "offline_access")
        });
        if keeps_idp_tokens {
            return Err(crate::config::ConfigError::Invalid(
                "[oidc] signin_scopes asks for offline_access, so the control plane keeps the identity provider's refresh tokens, \
                 encrypted at rest, and needs a key that survives restarts: set [authz_store] encryption_key = \"env:NAME\" or \"file:PATH\" \
                 (at least 32 random bytes, e.g. `openssl rand -hex 32`), or authz.signing_key"
                    .into(),
            ));
        }
        Ok(None)
    }

    /// `token` sealed for grant `grant_id`: `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, grant_id: &str, token: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.as_bytes(),
                    aad: grant_id.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD_NO_PAD.encode(out))
    }

    /// The token sealed for `grant_id`, or why it does not open.
    pub fn open(&self, grant_id: &str, sealed: &str) -> Result<String, String> {
        let bad = || {
            "the identity provider's refresh token kept for this sign-in does not decrypt \
             (it was altered, or sealed with another key): sign in again"
                .to_string()
        };
        let body = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| bad())?;
        if bytes.len() < 12 + 16 {
            return Err(bad());
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: grant_id.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_for_their_grant_and_key() {
        let c = TokenCipher::from_secret(b"0123456789abcdef0123456789abcdef");
        let sealed = c.seal("g1", "idp-refresh-secret");
        assert!(!sealed.contains("idp-refresh-secret"));
        assert_ne!(sealed, c.seal("g1", "idp-refresh-secret"), "fresh nonce");
        assert_eq!(c.open("g1", &sealed).unwrap(), "idp-refresh-secret");
        assert!(c.open("g2", &sealed).unwrap_err().contains("sign in again"));
        let other = TokenCipher::from_secret(b"another secret of 32 bytes or more!!");
        assert!(other.open("g1", &sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(c.open("g1", &String::from_utf8(tampered).unwrap()).is_err());
        assert!(c.open("g1", "idp-refresh-secret").is_err(), "plaintext");
    }

    #[test]
    fn keeping_provider_tokens_without_a_key_fails_at_start_up() {
        let parse = |extra: &str| {
            crate::config::Config::parse(
                &format!(
                    "[oidc]\nissuer = \"https://idp.example\"\nclient_id = \"gh\"\nsignin_scopes = [\"openid\", \"offline_access\"]\n{extra}"
                ),
                std::path::Path::new("g.toml"),
                std::iter::empty(),
            )
            .unwrap()
        };
        let err = TokenCipher::from_config(&parse(""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("encryption_key"), "{err}");
        let short = parse("[authz_store]\nencryption_key = \"too short\"\n");
        assert!(
            TokenCipher::from_config(&short)
                .unwrap_err()
                .to_string()
                .contains("at least 32")
        );
        let ok = parse("[authz_store]\nencryption_key = \"0123456789abcdef0123456789abcdef\"\n");
        assert!(TokenCipher::from_config(&ok).unwrap().is_some());
    }
}
