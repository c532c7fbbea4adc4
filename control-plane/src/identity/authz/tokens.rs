//! The access tokens the control plane issues to MCP clients: compact JWTs signed with
//! the control plane's Ed25519 key (`alg: EdDSA`, published at `/oauth/jwks`), bound to
//! one audience (the resource the client asked for, RFC 8707), naming the person, their
//! groups, the client and the grant (`sid`) so revoking a grant refuses its tokens.
//!
//! Verification is hand-rolled on purpose: the header must name exactly our algorithm and
//! key id (no algorithm confusion, no `none`), the signature is checked with a key decoded
//! once at start-up (the hot path allocates little and never parses a key), and every
//! time, issuer and audience check is ours to see.

use super::super::auth::AuthError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: i64 = 5;

/// Why a token was refused, for the person (via `error`) and for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the client is told.
    pub error: AuthError,
    /// What the audit record says.
    pub reason: String,
}

impl Refusal {
    /// The refusal for an [`AuthError`] without more detail.
    pub fn invalid_from(error: AuthError) -> Refusal {
        Refusal {
            reason: format!("{error:?}"),
            error,
        }
    }

    /// An invalid token, for `reason`.
    pub fn invalid(reason: impl Into<String>) -> Refusal {
        Refusal {
            error: AuthError::Invalid,
            reason: reason.into(),
        }
    }
}

/// The claims of an access token the control plane issued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The control plane's public URL.
    pub iss: String,
    /// The person.
    pub sub: String,
    /// The resources the token is for: `{public_url}/mcp` or `{public_url}/mcp/{server}`,
    /// and `{public_url}/api` for Gatehouse's own clients ([`super::first_party`]). One
    /// audience is written as a string, several as an array (RFC 7519 §4.1.3).
    #[serde(with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique id.
    pub jti: String,
    /// The person's groups when the grant was made or last refreshed.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The MCP client it was issued to.
    pub client_id: String,
    /// The grant: revoking it refuses this token.
    pub sid: String,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
}

#[derive(Deserialize)]
struct Header<'a> {
    alg: &'a str,
    #[serde(default)]
    kid: Option<&'a str>,
}

/// The control plane's token key: signs new tokens, verifies presented ones.
pub struct TokenKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
    kid: String,
    issuer: String,
    /// `{"alg":"EdDSA","kid":...,"typ":"at+jwt"}`, base64url, made once.
    header_b64: String,
}

impl TokenKeys {
    /// Keys for `issuer` from an Ed25519 signing key.
    pub fn new(signing: SigningKey, issuer: &str) -> TokenKeys {
        let verifying = signing.verifying_key();
        let kid = hex::encode(&Sha256::digest(verifying.as_bytes())[..8]);
        let header = serde_json::json!({ "alg": "EdDSA", "kid": kid, "typ": "at+jwt" });
        TokenKeys {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            signing,
            verifying,
            kid,
            issuer: issuer.to_string(),
        }
    }

    /// The key id in every token's header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The issuer (`iss`) of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key as a JWK set, for `/oauth/jwks`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
            "kid": self.kid, "x": URL_SAFE_NO_PAD.encode(self.verifying.as_bytes()),
        }]})
    }

    /// A signed token carrying `claims`.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let input = format!("{}.{payload}", self.header_b64);
        let sig = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    /// Whether `token` claims to be one of ours (our key id in its header); it may
    /// still be forged: [`TokenKeys::verify`] decides.
    pub fn names_our_key(&self, token: &str) -> bool {
        token
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| {
                serde_json::from_slice::<Header>(&h)
                    .ok()
                    .map(|h| h.kid == Some(self.kid.as_str()))
            })
            .unwrap_or(false)
    }

    /// The claims of `token` if we signed it, it is within its lifetime at `now`
    /// (seconds since the epoch) and its audience is one of `audiences`.
    pub fn verify(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<AccessClaims, Refusal> {
        let claims = self.decode(token)?;
        check_claims(&claims, audiences, now)?;
        Ok(claims)
    }

    /// The claims of `token` if we signed it (signature, header and issuer checked; not
    /// its lifetime or audience: [`check_claims`]).
    pub fn decode(&self, token: &str) -> Result<AccessClaims, Refusal> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::invalid("not a compact JWT"));
        };
        let header = URL_SAFE_NO_PAD
            .decode(h)
            .map_err(|_| Refusal::invalid("the JWT header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header)
            .map_err(|_| Refusal::invalid("the JWT header is not JSON"))?;
        if header.alg != "EdDSA" {
            return Err(Refusal::invalid(format!(
                "algorithm `{}` is not accepted (only EdDSA)",
                header.alg
            )));
        }
        if header.kid != Some(self.kid.as_str()) {
            return Err(Refusal::invalid(format!(
                "unknown key id `{}`",
                header.kid.unwrap_or("")
            )));
        }
        let mut sig = [0u8; 64];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut sig) {
            Ok(64) => {}
            _ => return Err(Refusal::invalid("the signature is malformed")),
        }
        let signed = &token[..h.len() + 1 + p.len()];
        self.verifying
            .verify_strict(signed.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| Refusal::invalid("the signature does not verify"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| Refusal::invalid("the payload is not base64url"))?;
        let claims: AccessClaims = serde_json::from_slice(&payload)
            .map_err(|e| Refusal::invalid(format!("the claims are incomplete: {e}")))?;
        if claims.iss != self.issuer {
            return Err(Refusal::invalid(format!(
                "issuer `{}` is not this control plane",
                claims.iss
            )));
        }
        Ok(claims)
    }
}

/// Lifetime and audience of decoded claims at `now`.
pub fn check_claims(claims: &AccessClaims, audiences: &[String], now: i64) -> Result<(), Refusal> {
    {
        if claims.exp + LEEWAY_SECS <= now {
            return Err(Refusal::invalid("the token has expired"));
        }
        if claims.nbf - LEEWAY_SECS > now {
            return Err(Refusal::invalid("the token is not valid yet"));
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err(Refusal::invalid(format!(
                "the token is for `{}`, not this server",
                claims.aud.join(" ")
            )));
        }
        Ok(())
    }
}

/// `aud` as a string when there is one, an array otherwise.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn serialize<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
        match aud {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(a) => vec![a],
            OneOrMany::Many(a) => a,
        })
    }
}

/// The scope MCP clients are given (the only one).
pub const SCOPE: &str = "mcp";

/// A new unguessable secret (244 random bits from the OS), for codes, tokens and ids.
pub fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(SigningKey::from_bytes(&[7u8; 32]), "https://gh.example")
    }

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://gh.example".into(),
            sub: "eve".into(),
            aud: vec!["https://gh.example/mcp/db".into()],
            exp: now + 600,
            nbf: now,
            iat: now,
            jti: "j".into(),
            groups: vec!["engineers".into()],
            client_id: "c".into(),
            sid: "g".into(),
            scope: "mcp".into(),
        }
    }

    #[test]
    fn signed_tokens_verify_and_bad_ones_say_why() {
        let k = keys();
        let now = 1_800_000_000;
        let aud = vec!["https://gh.example/mcp/db".to_string()];
        let t = k.sign(&claims(now));
        assert!(k.names_our_key(&t));
        assert_eq!(k.verify(&t, &aud, now).unwrap(), claims(now));
        let other = vec!["https://gh.example/mcp/web".to_string()];
        assert!(
            k.verify(&t, &other, now)
                .unwrap_err()
                .reason
                .contains("not this server")
        );
        assert!(
            k.verify(&t, &aud, now + 700)
                .unwrap_err()
                .reason
                .contains("expired")
        );
        assert!(
            k.verify(&t, &aud, now - 60)
                .unwrap_err()
                .reason
                .contains("not valid yet")
        );
        // Tampered payload: the signature no longer matches.
        let mut c = claims(now);
        c.groups.push("gatehouse-admins".into());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap()),
            parts[2]
        );
        assert!(
            k.verify(&forged, &aud, now)
                .unwrap_err()
                .reason
                .contains("signature")
        );
        // Another key with our kid is still refused.
        let evil = TokenKeys::new(SigningKey::from_bytes(&[8u8; 32]), "https://gh.example");
        let mut evil_token = evil.sign(&claims(now));
        evil_token = format!("{}.{}", parts[0], evil_token.split_once('.').unwrap().1);
        assert!(
            k.verify(&evil_token, &aud, now)
                .unwrap_err()
                .reason
                .contains("signature")
        );
        assert!(k.verify("a.b", &aud, now).is_err());
    }
}
