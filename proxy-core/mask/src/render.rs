//! Turning a detected value into its mask token according to the detector's strategy.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::profile::Strategy;

/// How many hex characters of the HMAC go into a token (48 bits: collisions are negligible for
/// correlation within an organisation, and the token stays short).
const HMAC_HEX: usize = 12;

/// How a value is normalised before hashing, so that formatting does not change the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Normalize {
    /// Keep letters and digits only, upper-cased (cards, IBANs, SSNs, phones).
    Alnum,
    /// Lower-case (e-mail addresses).
    Lower,
    /// Hash the value exactly as found (secrets, custom detectors).
    Exact,
}

/// Everything needed to render tokens for one detector.
#[derive(Debug, Clone)]
pub(crate) struct Renderer {
    pub name: String,
    pub label: String,
    pub strategy: Strategy,
    pub normalize: Normalize,
}

impl Renderer {
    pub fn new(name: &str, strategy: Strategy, normalize: Normalize) -> Self {
        Renderer {
            name: name.to_string(),
            label: name.to_ascii_uppercase(),
            strategy,
            normalize,
        }
    }

    /// Appends the token for `value` to `out`.
    pub fn render(&self, value: &str, key: Option<&Hmac<Sha256>>, out: &mut String) {
        match (self.strategy, key) {
            (Strategy::Last4, _) => {
                let alnum: Vec<char> = value.chars().filter(|c| c.is_alphanumeric()).collect();
                if alnum.len() >= 8 {
                    out.push('[');
                    out.push_str(&self.label);
                    out.push_str(" ****");
                    out.extend(&alnum[alnum.len() - 4..]);
                    out.push(']');
                } else {
                    self.redact(out);
                }
            }
            (Strategy::Hmac, Some(key)) => {
                let mut mac = key.clone();
                mac.update(self.name.as_bytes());
                mac.update(&[0]);
                match self.normalize {
                    Normalize::Exact => mac.update(value.as_bytes()),
                    Normalize::Lower => mac.update(value.to_lowercase().as_bytes()),
                    Normalize::Alnum => {
                        let norm: String = value
                            .chars()
                            .filter(|c| c.is_alphanumeric())
                            .flat_map(char::to_uppercase)
                            .collect();
                        mac.update(norm.as_bytes());
                    }
                }
                let digest = mac.finalize().into_bytes();
                out.push('[');
                out.push_str(&self.label);
                out.push_str(":hmac:");
                out.push_str(&hex::encode(&digest[..HMAC_HEX / 2]));
                out.push(']');
            }
            // `Masker::new` refuses an hmac strategy without a key; redacting is the safe answer
            // should that invariant ever break.
            (Strategy::Hmac, None) | (Strategy::Redact, _) => self.redact(out),
        }
    }

    fn redact(&self, out: &mut String) {
        out.push('[');
        out.push_str(&self.label);
        out.push(']');
    }

    pub fn token(&self, value: &str, key: Option<&Hmac<Sha256>>) -> String {
        let mut s = String::with_capacity(self.label.len() + 24);
        self.render(value, key, &mut s);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn strategies() {
        let r = Renderer::new("credit_card", Strategy::Redact, Normalize::Alnum);
        assert_eq!(r.token("4111 1111 1111 1111", None), "[CREDIT_CARD]");
        let r = Renderer::new("credit_card", Strategy::Last4, Normalize::Alnum);
        assert_eq!(
            r.token("4111-1111-1111-1234", None),
            "[CREDIT_CARD ****1234]"
        );
        // Too short to show four characters safely.
        assert_eq!(r.token("1234567", None), "[CREDIT_CARD]");
    }

    #[test]
    fn hmac_is_keyed_deterministic_and_format_blind() {
        let r = Renderer::new("credit_card", Strategy::Hmac, Normalize::Alnum);
        let k = key();
        let a = r.token("4111 1111 1111 1111", Some(&k));
        let b = r.token("4111111111111111", Some(&k));
        let c = r.token("5555555555554444", Some(&k));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.starts_with("[CREDIT_CARD:hmac:") && a.len() == "[CREDIT_CARD:hmac:]".len() + 12);
        let other = Hmac::<Sha256>::new_from_slice(b"another key, another token!!").unwrap();
        assert_ne!(a, r.token("4111111111111111", Some(&other)));
        let e = Renderer::new("email", Strategy::Hmac, Normalize::Lower);
        assert_eq!(
            e.token("Jo@Example.com", Some(&k)),
            e.token("jo@example.com", Some(&k))
        );
    }
}
