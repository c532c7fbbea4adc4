//! The masker: a validated profile turned into scanners and renderers, applied to text.

use hmac::{Hmac, Mac};
use regex::Regex;
use rustc_hash::FxHashMap;
use serde::Serialize;
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::HashSet;

use crate::counts::MaskCounts;
use crate::kind::{Builtin, SENSITIVE_FIELD};
use crate::profile::{
    DATE_OF_BIRTH_FIELDS, PERSON_NAME_FIELDS, POSTAL_ADDRESS_FIELDS, POSTCODE_FIELDS, Profile,
    ProfileError, Strategy,
};
use crate::render::{Normalize, Renderer};
use crate::scan::{BuiltinScanner, Enabled, Hit, resolve};

/// Most re-scans of masked text before the whole string is withheld instead.
const MAX_PASSES: usize = 16;

/// What a string becomes when masking cannot settle (crafted chains of look-alikes).
pub const WITHHELD: &str = "[WITHHELD: too many overlapping sensitive values]";

/// One detected value, for reports and tests: detector name and byte span in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: String,
    pub start: usize,
    pub end: usize,
}

/// Longest field name we compare; longer JSON keys cannot match a rule.
const MAX_FIELD_NAME: usize = 64;

/// Detects and masks sensitive values. Cheap to share (`Arc<Masker>`); all methods take `&self`.
#[derive(Debug, Clone)]
pub struct Masker {
    pub(crate) scanner: BuiltinScanner,
    pub(crate) enabled: Enabled,
    pub(crate) custom: Vec<Regex>,
    /// Renderers indexed by detector: built-ins (in `Builtin::ALL` order), then custom, then the
    /// field-name rule.
    pub(crate) renderers: Vec<Renderer>,
    pub(crate) fields: FieldSet,
    pub(crate) key: Option<Hmac<Sha256>>,
}

fn normalize_for(b: Builtin) -> Normalize {
    match b {
        Builtin::CreditCard | Builtin::Iban | Builtin::UsSsn | Builtin::Phone => Normalize::Alnum,
        Builtin::Email | Builtin::PersonName | Builtin::PostalAddress => Normalize::Lower,
        _ => Normalize::Exact,
    }
}

/// Field-name normal form: ASCII lower case without `_`, `-` and spaces. `None` when too long.
pub(crate) fn normalize_field(name: &str, buf: &mut [u8; MAX_FIELD_NAME]) -> Option<usize> {
    let mut n = 0;
    for c in name.bytes() {
        if matches!(c, b'_' | b'-' | b' ') {
            continue;
        }
        if n == MAX_FIELD_NAME {
            return None;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
    }
    Some(n)
}

impl Masker {
    /// Builds a masker for `profile`. `hmac_key` is required when any detector uses the `hmac`
    /// strategy. Errors name the detector at fault.
    pub fn new(profile: &Profile, hmac_key: Option<&[u8]>) -> Result<Masker, ProfileError> {
        let mut enabled = Enabled::default();
        for name in &profile.detectors {
            match Builtin::from_name(name) {
                Some(b) => enabled.set(b),
                None => {
                    return Err(ProfileError::UnknownDetector {
                        name: name.clone(),
                        section: "detectors",
                        known: ProfileError::known_names(&[]),
                    });
                }
            }
        }
        let mut custom = Vec::new();
        let mut seen = HashSet::new();
        for c in &profile.custom {
            let valid_name = c
                .name
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic())
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if !valid_name {
                return Err(ProfileError::InvalidName {
                    name: c.name.clone(),
                    reason: "use letters, digits and `_`, starting with a letter".into(),
                });
            }
            if Builtin::from_name(&c.name).is_some() || c.name == SENSITIVE_FIELD {
                return Err(ProfileError::InvalidName {
                    name: c.name.clone(),
                    reason: "it is the name of a built-in detector; pick another".into(),
                });
            }
            if !seen.insert(c.name.as_str()) {
                return Err(ProfileError::InvalidName {
                    name: c.name.clone(),
                    reason: "two custom detectors have this name".into(),
                });
            }
            let re = Regex::new(&c.pattern).map_err(|e| ProfileError::InvalidPattern {
                name: c.name.clone(),
                message: e.to_string(),
            })?;
            if re.is_match("") {
                return Err(ProfileError::EmptyMatch {
                    name: c.name.clone(),
                });
            }
            custom.push(re);
        }
        for name in profile.strategy.keys() {
            let known = Builtin::from_name(name).is_some()
                || name == SENSITIVE_FIELD
                || profile.custom.iter().any(|c| &c.name == name);
            if !known {
                return Err(ProfileError::UnknownDetector {
                    name: name.clone(),
                    section: "strategy",
                    known: ProfileError::known_names(&profile.custom),
                });
            }
        }
        let strategy_of = |name: &str| {
            profile
                .strategy
                .get(name)
                .copied()
                .unwrap_or(profile.default_strategy)
        };
        let mut renderers: Vec<Renderer> = Builtin::ALL
            .iter()
            .map(|b| Renderer::new(b.name(), strategy_of(b.name()), normalize_for(*b)))
            .collect();
        for c in &profile.custom {
            let s = c.strategy.unwrap_or_else(|| strategy_of(&c.name));
            renderers.push(Renderer::new(&c.name, s, Normalize::Exact));
        }
        renderers.push(Renderer::new(
            SENSITIVE_FIELD,
            strategy_of(SENSITIVE_FIELD),
            Normalize::Exact,
        ));

        let mut fields = FieldSet::default();
        let mut add_field = |f: &str, rule: FieldRule| -> Result<(), ProfileError> {
            let mut buf = [0u8; MAX_FIELD_NAME];
            match normalize_field(f, &mut buf) {
                Some(n) if n > 0 => {
                    fields.insert(&buf[..n], rule);
                    Ok(())
                }
                _ => Err(ProfileError::InvalidName {
                    name: f.to_string(),
                    reason: format!(
                        "field names must have 1 to {MAX_FIELD_NAME} characters besides `_`, `-` and spaces"
                    ),
                }),
            }
        };
        // Secrets first: a key listed twice keeps its first rule.
        for f in &profile.field_names {
            add_field(f, FieldRule::Sensitive)?;
        }
        for (name, keys) in &profile.type_fields {
            let rule = match Builtin::from_name(name) {
                Some(Builtin::PersonName) => FieldRule::Name,
                Some(Builtin::PostalAddress) => FieldRule::AddressOrPostcode,
                Some(Builtin::DateOfBirth) => FieldRule::BirthDate,
                _ => {
                    return Err(ProfileError::UnknownDetector {
                        name: name.clone(),
                        section: "type_fields",
                        known: "person_name, postal_address, date_of_birth".into(),
                    });
                }
            };
            for k in keys {
                add_field(k, rule)?;
            }
        }
        let builtin_sets: [(&[&str], FieldRule); 4] = [
            (PERSON_NAME_FIELDS, FieldRule::Name),
            (POSTAL_ADDRESS_FIELDS, FieldRule::Address),
            (POSTCODE_FIELDS, FieldRule::Postcode),
            (DATE_OF_BIRTH_FIELDS, FieldRule::BirthDate),
        ];
        for (keys, rule) in builtin_sets {
            for k in keys {
                add_field(k, rule)?;
            }
        }
        // Rules of detectors that are off do not apply.
        fields.retain(|rule| match rule {
            FieldRule::Sensitive => true,
            FieldRule::Name => enabled.has(Builtin::PersonName),
            FieldRule::Address | FieldRule::Postcode | FieldRule::AddressOrPostcode => {
                enabled.has(Builtin::PostalAddress)
            }
            FieldRule::BirthDate => enabled.has(Builtin::DateOfBirth),
        });

        // Which detectors actually use hmac (disabled built-ins do not count).
        let mut hmac_users: Vec<&str> = Vec::new();
        for (i, r) in renderers.iter().enumerate() {
            let active = if i < Builtin::ALL.len() {
                enabled.has(Builtin::ALL[i])
            } else if i < Builtin::ALL.len() + custom.len() {
                true
            } else {
                fields.has_sensitive()
            };
            if active && r.strategy == Strategy::Hmac {
                hmac_users.push(&r.name);
            }
        }
        let key = match hmac_key {
            Some([]) => return Err(ProfileError::WeakHmacKey),
            Some(k) => {
                Some(Hmac::<Sha256>::new_from_slice(k).expect("HMAC accepts any key length"))
            }
            None if !hmac_users.is_empty() => {
                return Err(ProfileError::MissingHmacKey {
                    names: hmac_users.join(", "),
                });
            }
            None => None,
        };

        Ok(Masker {
            scanner: BuiltinScanner::new(enabled),
            enabled,
            custom,
            renderers,
            fields,
            key,
        })
    }

    pub(crate) fn field_kind(&self) -> u16 {
        (self.renderers.len() - 1) as u16
    }

    /// Raw, resolved (sorted, non-overlapping) hits in `text`. Allocates nothing when there are
    /// none.
    pub(crate) fn hits(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.scanner.scan(text, &mut hits);
        let base = Builtin::ALL.len();
        for (i, re) in self.custom.iter().enumerate() {
            for m in re.find_iter(text) {
                if m.start() < m.end() {
                    hits.push(Hit {
                        kind: (base + i) as u16,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        if hits.len() > 1 {
            resolve(&mut hits);
        }
        // Spans always sit on char boundaries (detectors stop at ASCII bytes); this guards the
        // slicing below should a custom pattern or a future detector break that.
        hits.retain(|h| text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
        hits
    }

    /// Every value the profile would mask in `text`, in order, without overlaps.
    pub fn detect(&self, text: &str) -> Vec<Finding> {
        self.hits(text)
            .into_iter()
            .map(|h| Finding {
                kind: self.renderers[h.kind as usize].name.clone(),
                start: h.start,
                end: h.end,
            })
            .collect()
    }

    /// Masks `text`. Returns `Cow::Borrowed` (no allocation) when nothing matches.
    pub fn mask_text<'a>(&self, text: &'a str) -> (Cow<'a, str>, MaskCounts) {
        let mut counts = Tally::default();
        let out = self.mask_text_tally(text, &mut counts);
        (out, counts.into_counts(self))
    }

    pub(crate) fn mask_text_tally<'a>(&self, text: &'a str, tally: &mut Tally) -> Cow<'a, str> {
        let mut out = match self.mask_once(text, tally) {
            Cow::Borrowed(b) => return Cow::Borrowed(b),
            Cow::Owned(o) => o,
        };
        // A replacement can change a neighbour's context (an IP after `5.5.5.5/` is part of
        // a path; after `[IP_ADDRESS]/` it is not), so masked output is scanned again until
        // nothing matches: no detected value survives. Real text settles in one or two
        // passes; a crafted chain of look-alikes could need one pass per link, so past a
        // bound the whole string is withheld rather than risk a survivor (fail closed).
        for _ in 0..MAX_PASSES {
            match self.mask_once(&out, tally) {
                Cow::Borrowed(_) => return Cow::Owned(out),
                Cow::Owned(again) => out = again,
            }
        }
        for h in self.hits(&out) {
            tally.add(h.kind, 1);
        }
        Cow::Owned(WITHHELD.to_string())
    }

    fn mask_once<'a>(&self, text: &'a str, tally: &mut Tally) -> Cow<'a, str> {
        let hits = self.hits(text);
        if hits.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 24 * hits.len());
        let mut last = 0;
        for h in &hits {
            out.push_str(&text[last..h.start]);
            self.renderers[h.kind as usize].render(
                &text[h.start..h.end],
                self.key.as_ref(),
                &mut out,
            );
            tally.add(h.kind, 1);
            last = h.end;
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// Token for a value masked by a field-name rule.
    pub(crate) fn field_token(&self, value: &str) -> String {
        self.renderers[self.field_kind() as usize].token(value, self.key.as_ref())
    }

    /// Token for a card number found as a JSON number.
    pub(crate) fn card_token(&self, digits: &str) -> String {
        self.renderers[crate::scan::kind_index(Builtin::CreditCard) as usize]
            .token(digits, self.key.as_ref())
    }

    pub(crate) fn card_enabled(&self) -> bool {
        self.enabled.has(Builtin::CreditCard)
    }

    /// Whether a JSON key falls under a field-name rule for secrets (`field_names`).
    pub fn is_sensitive_field(&self, key: &str) -> bool {
        self.field_rule(key) == Some(FieldRule::Sensitive)
    }

    /// The field-name rule a JSON key falls under, if any.
    pub(crate) fn field_rule(&self, key: &str) -> Option<FieldRule> {
        if self.fields.is_empty() {
            return None;
        }
        self.fields.lookup(key)
    }

    /// Detector index of a built-in.
    pub(crate) fn kind_of(&self, b: Builtin) -> u16 {
        crate::scan::kind_index(b)
    }

    /// Whether `s` is a token this masker writes (`[CREDIT_CARD]`, `[EMAIL ****.com]`,
    /// `[PERSON_NAME:hmac:…]`), i.e. a value masked before.
    pub(crate) fn is_own_token(&self, s: &str) -> bool {
        let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) else {
            return false;
        };
        let label = inner.split([' ', ':']).next().unwrap_or("");
        self.renderers.iter().any(|r| r.label == label)
    }

    /// Token for `value` as detector `kind`.
    pub(crate) fn token_as(&self, kind: u16, value: &str) -> String {
        self.renderers[kind as usize].token(value, self.key.as_ref())
    }

    /// Whether an object key needs scanning at all. Keys made only of ASCII letters and `_`
    /// (nearly all keys) cannot hold a built-in match: every built-in needs a digit, `@`, `.`,
    /// `-`, `:` or `=`, or is a token that in practice contains digits. Custom patterns can match
    /// anything, so with custom detectors every key is scanned.
    pub(crate) fn key_needs_scan(&self, key: &str) -> bool {
        !self.custom.is_empty() || key.bytes().any(|c| !(c.is_ascii_alphabetic() || c == b'_'))
    }
}

/// What a field-name rule does with the value under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldRule {
    /// `field_names`: masked whole as `sensitive_field` (or as the type a detector finds in
    /// it, so counts match what is shown).
    Sensitive,
    /// A person's name, when the value is shaped like one.
    Name,
    /// A street address line, when the value has words and a space.
    Address,
    /// A postcode (counted as a postal address).
    Postcode,
    /// Either (keys added by a profile under `postal_address`).
    AddressOrPostcode,
    /// A date of birth: any string with a digit, or a number.
    BirthDate,
}

/// Normalised field names in a hash table, with a length bitmap so that most keys are rejected
/// by one bit test (the walk asks this for every object member; the people rules make the set
/// long enough that a linear search showed in profiles).
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSet {
    names: FxHashMap<Box<[u8]>, FieldRule>,
    lengths: u64,
}

fn field_sep(c: u8) -> bool {
    matches!(c, b'_' | b'-' | b' ')
}

impl FieldSet {
    fn insert(&mut self, name: &[u8], rule: FieldRule) {
        if self.get(name).is_none() {
            self.lengths |= 1 << (name.len() - 1);
            self.names.insert(name.into(), rule);
        }
    }

    fn retain(&mut self, keep: impl Fn(FieldRule) -> bool) {
        self.names.retain(|_, r| keep(*r));
        self.lengths = self.names.keys().fold(0, |acc, n| acc | 1 << (n.len() - 1));
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn has_sensitive(&self) -> bool {
        self.names.values().any(|r| *r == FieldRule::Sensitive)
    }

    fn get(&self, name: &[u8]) -> Option<FieldRule> {
        if name.is_empty()
            || name.len() > MAX_FIELD_NAME
            || self.lengths & (1 << (name.len() - 1)) == 0
        {
            return None;
        }
        self.names.get(name).copied()
    }

    #[cfg(test)]
    fn matches(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    /// The rule `key` falls under: its normal form is a listed name, or (for secrets) a run of
    /// its words is (`aws_secret_access_key` and `dbPassword` fall under `secret` and
    /// `password`; `secretary` does not fall under `secret`). People rules take whole keys
    /// only: `company_name` is not a person's name.
    fn lookup(&self, key: &str) -> Option<FieldRule> {
        self.matches_whole(key)
            .or_else(|| self.matches_words(key).then_some(FieldRule::Sensitive))
    }

    fn matches_words(&self, key: &str) -> bool {
        let k = key.as_bytes();
        // Word starts: after a separator, or at an upper-case letter after a lower-case one.
        let mut bounds: [(usize, usize); 8] = [(0, 0); 8];
        let mut words = 0;
        let mut start = None;
        for (i, &c) in k.iter().enumerate() {
            let camel = i > 0 && c.is_ascii_uppercase() && k[i - 1].is_ascii_lowercase();
            if (field_sep(c) || camel)
                && let Some(s) = start.take()
            {
                if words == bounds.len() {
                    return false;
                }
                bounds[words] = (s, i);
                words += 1;
            }
            if !field_sep(c) && start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            if words == bounds.len() {
                return false;
            }
            bounds[words] = (s, k.len());
            words += 1;
        }
        if words < 2 {
            return false;
        }
        let mut buf = [0u8; MAX_FIELD_NAME];
        for i in 0..words {
            let mut n = 0;
            for &(s, e) in &bounds[i..words] {
                if n + (e - s) > MAX_FIELD_NAME {
                    break;
                }
                for &c in &k[s..e] {
                    buf[n] = c.to_ascii_lowercase();
                    n += 1;
                }
                if self.get(&buf[..n]) == Some(FieldRule::Sensitive) {
                    return true;
                }
            }
        }
        false
    }

    /// The rule of `key`, normalised, if listed; no allocation and, for most keys, one bit
    /// test.
    fn matches_whole(&self, key: &str) -> Option<FieldRule> {
        let mut buf = [0u8; MAX_FIELD_NAME];
        let n = normalize_field(key, &mut buf)?;
        self.get(&buf[..n])
    }
}

/// Per-detector counters kept in a flat vector while masking; turned into `MaskCounts` once.
#[derive(Debug, Default)]
pub(crate) struct Tally(Vec<u64>);

impl Tally {
    pub fn add(&mut self, kind: u16, n: u64) {
        let k = kind as usize;
        if self.0.len() <= k {
            self.0.resize(k + 1, 0);
        }
        self.0[k] += n;
    }

    pub fn absorb(&mut self, other: Tally) {
        for (k, n) in other.0.into_iter().enumerate() {
            if n > 0 {
                self.add(k as u16, n);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|n| *n == 0)
    }

    pub fn into_counts(self, m: &Masker) -> MaskCounts {
        let mut c = MaskCounts::new();
        for (k, n) in self.0.into_iter().enumerate() {
            c.add(&m.renderers[k].name, n);
        }
        c
    }
}

#[cfg(test)]
mod field_word_tests {
    use super::*;

    #[test]
    fn a_listed_name_inside_a_longer_key_counts_by_whole_words() {
        let mut f = FieldSet::default();
        for n in ["secret", "password", "card_number"] {
            let mut b = [0u8; MAX_FIELD_NAME];
            let len = normalize_field(n, &mut b).unwrap();
            f.insert(&b[..len], FieldRule::Sensitive);
        }
        assert!(f.matches("aws_secret_access_key"));
        assert!(f.matches("dbPassword"));
        assert!(f.matches("customer-card-number"));
        assert!(f.matches("PASSWORD"));
        assert!(!f.matches("secretary"));
        assert!(!f.matches("cardholder"));
    }
}
