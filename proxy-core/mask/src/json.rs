//! Masking JSON by meaning: decoded string values are scanned (so `\u0034` escapes cannot hide a
//! digit), keys under field-name rules are masked whole, JSON text embedded in a string is masked
//! as JSON, and the result is still a `Value` of the same shape that re-encodes as valid JSON.

use serde::de::IgnoredAny;
use serde_json::{Map, Value};
use std::borrow::Cow;

use crate::counts::MaskCounts;
use crate::kind::Builtin;
use crate::masker::{FieldRule, Masker, Tally};
use crate::scan::validate::card_ok;
use crate::scan::{looks_like_address, looks_like_name, looks_like_postcode};

/// Nesting depth beyond which embedded JSON text is scanned as plain text instead of parsed
/// (serde_json itself stops at 128 levels).
const MAX_EMBED_DEPTH: u32 = 8;

impl Masker {
    /// Masks every string (and card numbers written as JSON numbers) in `value`, in place.
    ///
    /// * Values under a key matched by a field-name rule are masked whole: every string, number
    ///   and boolean inside becomes a token string; `null`, arrays and objects keep their shape.
    /// * Object keys are scanned too (an e-mail used as a key is masked); should two masked keys
    ///   collide, ` #2`, ` #3` ... is appended so no member is lost.
    /// * A string holding JSON text is parsed and masked as JSON when it has `\u` escapes or a
    ///   sensitive key, and re-encoded (pretty if it was multi-line); otherwise it is scanned as
    ///   text, which keeps its formatting.
    pub fn mask_json(&self, value: &mut Value) -> MaskCounts {
        let mut tally = Tally::default();
        self.walk(value, &mut tally, 0);
        tally.into_counts(self)
    }

    /// Masks a whole JSON-RPC message but leaves the envelope (`jsonrpc`, `id`, `method`) as is,
    /// so that responses still correlate with requests even when an id happens to look like a
    /// card number.
    pub fn mask_message(&self, message: &mut Value) -> MaskCounts {
        let mut tally = Tally::default();
        self.message(message, &mut tally);
        tally.into_counts(self)
    }

    fn message(&self, message: &mut Value, tally: &mut Tally) {
        match message {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if !matches!(k.as_str(), "jsonrpc" | "id" | "method") {
                        self.member(k, v, tally, 0);
                    }
                }
            }
            // A JSON-RPC batch.
            Value::Array(batch) => batch.iter_mut().for_each(|m| self.message(m, tally)),
            other => self.walk(other, tally, 0),
        }
    }

    fn member(&self, key: &str, v: &mut Value, tally: &mut Tally, depth: u32) {
        match self.field_rule(key) {
            None => self.walk(v, tally, depth),
            Some(FieldRule::Sensitive) => self.mask_whole(v, tally),
            Some(rule) => self.mask_typed(rule, v, tally, depth),
        }
    }

    /// A value under a people key (`name`, `address`, `zip`, `dob` ...): masked whole as that
    /// type when it has the type's shape; otherwise scanned like any other value, so that an
    /// e-mail address under `name` is still counted as an e-mail address.
    fn mask_typed(&self, rule: FieldRule, v: &mut Value, tally: &mut Tally, depth: u32) {
        let kind = match rule {
            FieldRule::Name => self.kind_of(Builtin::PersonName),
            FieldRule::BirthDate => self.kind_of(Builtin::DateOfBirth),
            _ => self.kind_of(Builtin::PostalAddress),
        };
        match v {
            Value::String(s) => {
                // A value that already holds one of our tokens was scanned as text before:
                // masking it whole now would make masking twice change the output.
                let shaped = !self.holds_own_token(s)
                    && match rule {
                        FieldRule::Name => looks_like_name(s),
                        FieldRule::Address => looks_like_address(s),
                        FieldRule::Postcode => looks_like_postcode(s),
                        FieldRule::AddressOrPostcode => {
                            looks_like_address(s) || looks_like_postcode(s)
                        }
                        FieldRule::BirthDate => s.bytes().any(|c| c.is_ascii_digit()),
                        FieldRule::Sensitive => false,
                    };
                // A value a type detector finds whole (an e-mail under `name`) keeps its type.
                let other = shaped && {
                    let hits = self.hits(s);
                    hits.len() == 1 && hits[0].kind != kind && covers(s, hits[0].start, hits[0].end)
                };
                if shaped && !other {
                    *s = self.token_as(kind, s);
                    tally.add(kind, 1);
                } else {
                    self.walk(v, tally, depth);
                }
            }
            Value::Number(n)
                if matches!(
                    rule,
                    FieldRule::Postcode | FieldRule::AddressOrPostcode | FieldRule::BirthDate
                ) =>
            {
                *v = Value::String(self.token_as(kind, &n.to_string()));
                tally.add(kind, 1);
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|x| self.mask_typed(rule, x, tally, depth)),
            _ => self.walk(v, tally, depth),
        }
    }

    fn walk(&self, v: &mut Value, tally: &mut Tally, depth: u32) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.mask_string(s, tally, depth) {
                    *s = new;
                }
            }
            Value::Number(n) => {
                if let Some(tok) = self.mask_number(n) {
                    tally.add(crate::scan::kind_index(crate::kind::Builtin::CreditCard), 1);
                    *v = Value::String(tok);
                }
            }
            Value::Array(items) => {
                for x in items {
                    self.walk(x, tally, depth);
                }
            }
            Value::Object(map) => {
                let mut renamed = false;
                for (k, x) in map.iter_mut() {
                    self.member(k, x, tally, depth);
                    renamed |= self.key_needs_scan(k) && !self.hits(k).is_empty();
                }
                if renamed {
                    self.rename_keys(map, tally);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// Rebuilds `map` with masked keys, keeping member order.
    fn rename_keys(&self, map: &mut Map<String, Value>, tally: &mut Tally) {
        let old = std::mem::take(map);
        for (k, x) in old {
            let new_key = match self.mask_text_tally(&k, tally) {
                Cow::Borrowed(_) => k,
                Cow::Owned(masked) => masked,
            };
            let mut key = new_key.clone();
            let mut n = 2;
            while map.contains_key(&key) {
                key = format!("{new_key} #{n}");
                n += 1;
            }
            map.insert(key, x);
        }
    }

    fn mask_whole(&self, v: &mut Value, tally: &mut Tally) {
        let kind = self.field_kind();
        match v {
            Value::Null => {}
            Value::String(s) => {
                // Counted as what a reader sees: a card number under `card_number` shows as
                // `[CREDIT_CARD]` and counts as one, as it does in text.
                let hits = self.hits(s);
                if self.is_own_token(s) {
                    // Already masked (masking twice changes nothing).
                } else if hits.len() == 1 && covers(s, hits[0].start, hits[0].end) {
                    *s = self.token_as(hits[0].kind, s);
                    tally.add(hits[0].kind, 1);
                } else {
                    *s = self.field_token(s);
                    tally.add(kind, 1);
                }
            }
            Value::Number(n) => {
                if let Some(tok) = self.mask_number(n) {
                    tally.add(crate::scan::kind_index(crate::kind::Builtin::CreditCard), 1);
                    *v = Value::String(tok);
                } else {
                    *v = Value::String(self.field_token(&n.to_string()));
                    tally.add(kind, 1);
                }
            }
            Value::Bool(b) => {
                *v = Value::String(self.field_token(if *b { "true" } else { "false" }));
                tally.add(kind, 1);
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.mask_whole(x, tally)),
            Value::Object(map) => {
                map.values_mut().for_each(|x| self.mask_whole(x, tally));
                // Keys keep the shape readable but are still scanned like any other key.
                if map
                    .keys()
                    .any(|k| self.key_needs_scan(k) && !self.hits(k).is_empty())
                {
                    self.rename_keys(map, tally);
                }
            }
        }
    }

    /// A JSON integer of 12–19 digits that is a valid card number becomes a token string.
    fn mask_number(&self, n: &serde_json::Number) -> Option<String> {
        if !self.card_enabled() {
            return None;
        }
        let u = n.as_u64()?;
        if u < 100_000_000_000 {
            return None;
        }
        let digits = u.to_string();
        card_ok(digits.as_bytes()).then(|| self.card_token(&digits))
    }

    /// New content for a string value, `None` when it stays as is.
    fn mask_string(&self, s: &str, tally: &mut Tally, depth: u32) -> Option<String> {
        // Cheap first-byte test before trimming: most strings start with a letter or digit.
        let first = s.as_bytes().first().copied().unwrap_or(b'x');
        let maybe_json = matches!(first, b'{' | b'[') || first.is_ascii_whitespace();
        let looks_json = maybe_json && {
            let t = s.trim();
            t.len() >= 2
                && ((t.starts_with('{') && t.ends_with('}'))
                    || (t.starts_with('[') && t.ends_with(']')))
        };
        if looks_json && depth < MAX_EMBED_DEPTH {
            if (s.contains("\\u") || self.has_sensitive_key(s))
                && let Some(r) = self.mask_embedded(s, tally, depth)
            {
                return r;
            }
            let mut local = Tally::default();
            return match self.mask_text_tally(s, &mut local) {
                Cow::Borrowed(_) => None,
                Cow::Owned(masked) => {
                    // Text masking never splits an escape, but a custom pattern could swallow a
                    // quote: fall back to parsing when the masked text is no longer JSON.
                    let still_json = serde_json::from_str::<IgnoredAny>(&masked).is_ok();
                    if !still_json
                        && serde_json::from_str::<IgnoredAny>(s).is_ok()
                        && let Some(r) = self.mask_embedded(s, tally, depth)
                    {
                        return r;
                    }
                    tally.absorb(local);
                    Some(masked)
                }
            };
        }
        match self.mask_text_tally(s, tally) {
            Cow::Borrowed(_) => None,
            Cow::Owned(m) => Some(m),
        }
    }

    /// Parses embedded JSON text and masks it as JSON. `None` when it does not parse;
    /// `Some(None)` when nothing needed masking.
    fn mask_embedded(&self, s: &str, tally: &mut Tally, depth: u32) -> Option<Option<String>> {
        let mut inner: Value = serde_json::from_str(s).ok()?;
        let mut local = Tally::default();
        self.walk(&mut inner, &mut local, depth + 1);
        if local.is_empty() {
            return Some(None);
        }
        tally.absorb(local);
        let text = if s.contains('\n') {
            serde_json::to_string_pretty(&inner)
        } else {
            serde_json::to_string(&inner)
        };
        Some(Some(text.expect("a Value always serializes")))
    }

    /// Whether `s` holds a token this masker writes (`... [EMAIL] ...`).
    fn holds_own_token(&self, s: &str) -> bool {
        let b = s.as_bytes();
        memchr::memchr_iter(b'[', b).any(|open| {
            memchr::memchr(b']', &b[open..])
                .is_some_and(|len| self.is_own_token(&s[open..=open + len]))
        })
    }

    /// Whether raw JSON text has a key under a field-name rule for secrets (`"password":`),
    /// without parsing.
    fn has_sensitive_key(&self, s: &str) -> bool {
        if self.fields.is_empty() {
            return false;
        }
        let b = s.as_bytes();
        for colon in memchr::memchr_iter(b':', b) {
            let mut q = colon;
            while q > 0 && b[q - 1].is_ascii_whitespace() {
                q -= 1;
            }
            if q == 0 || b[q - 1] != b'"' {
                continue;
            }
            let close = q - 1;
            let from = close.saturating_sub(130);
            if let Some(open) = memchr::memrchr(b'"', &b[from..close]).map(|o| from + o)
                && let Ok(key) = std::str::from_utf8(&b[open + 1..close])
                // Secret keys only: values under people keys in JSON text are found by the
                // text detectors, which costs far less than parsing and re-encoding it.
                && self.is_sensitive_field(key)
            {
                return true;
            }
        }
        false
    }
}

/// Whether the span `[start, end)` is all of `s` but surrounding white space.
fn covers(s: &str, start: usize, end: usize) -> bool {
    s[..start].trim().is_empty() && s[end..].trim().is_empty()
}
