//! Masking profiles: which detectors run and how each one masks. Admins write them in TOML or
//! JSON; `Masker::new` validates them and reports mistakes by name.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::kind::{Builtin, SENSITIVE_FIELD};

/// How a detected value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// `[CREDIT_CARD]`: nothing of the value is kept.
    #[default]
    Redact,
    /// `[CREDIT_CARD ****1111]`: the last four letters or digits are kept (separators are
    /// skipped). Values with fewer than eight letters or digits are redacted instead, so that at
    /// most half of a short value is ever shown.
    Last4,
    /// `[EMAIL:hmac:1a2b3c4d5e6f]`: the first 48 bits of HMAC-SHA256(key, detector, value) in hex.
    /// The same value gives the same token under the same key, so it can be correlated across
    /// sessions without being revealed. Separators are removed and e-mail addresses lower-cased
    /// before hashing, so `4111 1111 1111 1111` and `4111111111111111` give one token.
    Hmac,
}

/// An admin-defined regular-expression detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Name used in counts and labels (`employee_id` gives `[EMPLOYEE_ID]`). Letters, digits and
    /// `_`, starting with a letter; must not clash with a built-in name.
    pub name: String,
    /// A Rust `regex` pattern (no look-around). The whole match is masked.
    pub pattern: String,
    /// Strategy for this detector; the profile's `default_strategy` when absent.
    #[serde(default)]
    pub strategy: Option<Strategy>,
}

/// Which detectors apply and how they mask.
///
/// ```toml
/// detectors = ["credit_card", "email", "aws_access_key"]   # default: every built-in
/// default_strategy = "redact"                              # default: redact
/// field_names = ["password", "ssn"]                        # default: see DEFAULT_FIELD_NAMES
/// [type_fields]                                            # added to the built-in sets
/// person_name = ["holder", "guest"]
/// postal_address = ["ship_to"]
/// date_of_birth = ["geb_datum"]
/// [strategy]
/// credit_card = "last4"
/// email = "hmac"
/// [[custom]]
/// name = "employee_id"
/// pattern = "EMP-[0-9]{6}"
/// strategy = "redact"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Enabled built-in detectors by name.
    pub detectors: Vec<String>,
    /// Strategy for detectors not listed in `strategy`.
    pub default_strategy: Strategy,
    /// Per-detector strategy, keyed by built-in name, custom name or `sensitive_field`.
    pub strategy: BTreeMap<String, Strategy>,
    /// Admin-defined regex detectors.
    pub custom: Vec<CustomDetector>,
    /// JSON keys whose whole value is masked, compared case-insensitively and ignoring `_`, `-`
    /// and spaces (`apiKey`, `API_KEY` and `api-key` all match `api_key`). Empty turns the rule off.
    pub field_names: Vec<String>,
    /// JSON keys whose value is a person's name, postal address or date of birth, by detector
    /// (`person_name`, `postal_address`, `date_of_birth`), on top of the built-in sets
    /// (`PERSON_NAME_FIELDS`, `POSTAL_ADDRESS_FIELDS`, `POSTCODE_FIELDS`,
    /// `DATE_OF_BIRTH_FIELDS`). Compared like `field_names`, but whole keys only. A value
    /// under such a key is masked whole, as that type, when it has the type's shape (a name is
    /// words of letters; `report.pdf` under `name` is not a name and is scanned as usual).
    /// Only applies while the detector is on.
    pub type_fields: BTreeMap<String, Vec<String>>,
}

/// JSON keys whose value is a person's name (normalised like `field_names`, so `firstName`
/// and `FIRST-NAME` match `first_name`).
pub const PERSON_NAME_FIELDS: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "full_name",
    "given_name",
    "family_name",
    "middle_name",
    "maiden_name",
    "surname",
    "forename",
    "display_name",
    "person_name",
    "customer_name",
    "contact_name",
    "patient_name",
    "employee_name",
    "holder_name",
    "cardholder_name",
    "card_holder",
    "account_holder",
    "account_holder_name",
    "recipient_name",
    "sender_name",
    "owner_name",
    "billing_name",
    "shipping_name",
    "emergency_contact",
    "spouse_name",
    "author",
    "author_name",
    "vorname",
    "nachname",
    "nom",
    "prenom",
    "achternaam",
    "voornaam",
];

/// JSON keys whose value is a street address line (or a whole address).
pub const POSTAL_ADDRESS_FIELDS: &[&str] = &[
    "address",
    "street",
    "street_address",
    "street_name",
    "address_line",
    "address_line1",
    "address_line2",
    "address_line3",
    "address1",
    "address2",
    "addr",
    "home_address",
    "billing_address",
    "shipping_address",
    "mailing_address",
    "postal_address",
    "residential_address",
    "delivery_address",
    "adresse",
    "anschrift",
    "strasse",
    "straat",
    "adres",
];

/// JSON keys whose value is a postcode (counted as part of a postal address).
pub const POSTCODE_FIELDS: &[&str] = &[
    "postcode",
    "postal_code",
    "zip",
    "zip_code",
    "plz",
    "postleitzahl",
    "code_postal",
    "cp",
];

/// JSON keys whose value is a date of birth.
pub const DATE_OF_BIRTH_FIELDS: &[&str] = &[
    "dob",
    "date_of_birth",
    "birth_date",
    "birthday",
    "born",
    "born_on",
    "geburtsdatum",
    "date_de_naissance",
    "geboortedatum",
    "fecha_de_nacimiento",
];

/// JSON keys masked whole by default.
pub const DEFAULT_FIELD_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "access_token",
    "refresh_token",
    "private_key",
    "ssn",
    "social_security_number",
    "card_number",
    "cvv",
    "cvc",
];

impl Default for Profile {
    fn default() -> Self {
        Profile {
            detectors: Builtin::ALL.iter().map(|b| b.name().to_string()).collect(),
            default_strategy: Strategy::Redact,
            strategy: BTreeMap::new(),
            custom: Vec::new(),
            field_names: DEFAULT_FIELD_NAMES.iter().map(|s| s.to_string()).collect(),
            type_fields: BTreeMap::new(),
        }
    }
}

/// A profile that cannot be used. Every variant names the offending detector and says what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("unknown detector `{name}` in `{section}`; known detectors: {known}")]
    UnknownDetector {
        name: String,
        section: &'static str,
        known: String,
    },
    #[error("custom detector `{name}`: invalid regex: {message}")]
    InvalidPattern { name: String, message: String },
    #[error(
        "custom detector `{name}`: the pattern matches the empty string; make it match at least one character"
    )]
    EmptyMatch { name: String },
    #[error("custom detector name `{name}` is not allowed: {reason}")]
    InvalidName { name: String, reason: String },
    #[error(
        "detectors {names} use the `hmac` strategy but no HMAC key was given; configure a masking key or choose `redact`/`last4`"
    )]
    MissingHmacKey { names: String },
    #[error("the HMAC key is empty; give a key of at least 16 bytes")]
    WeakHmacKey,
}

impl ProfileError {
    pub(crate) fn known_names(customs: &[CustomDetector]) -> String {
        let mut names: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
        names.push(SENSITIVE_FIELD);
        names.extend(customs.iter().map(|c| c.name.as_str()));
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_enables_every_builtin() {
        let p = Profile::default();
        assert_eq!(p.detectors.len(), Builtin::ALL.len());
        assert!(p.field_names.iter().any(|f| f == "password"));
    }

    #[test]
    fn parses_from_toml_with_defaults_for_missing_keys() {
        let p: Profile = toml::from_str(
            r#"
            detectors = ["credit_card", "email"]
            [strategy]
            credit_card = "last4"
            email = "hmac"
            [[custom]]
            name = "employee_id"
            pattern = "EMP-[0-9]{6}"
            "#,
        )
        .unwrap();
        assert_eq!(p.detectors, vec!["credit_card", "email"]);
        assert_eq!(p.strategy["credit_card"], Strategy::Last4);
        assert_eq!(p.strategy["email"], Strategy::Hmac);
        assert_eq!(p.custom[0].strategy, None);
        assert_eq!(p.default_strategy, Strategy::Redact);
        assert_eq!(p.field_names, Profile::default().field_names);
    }

    #[test]
    fn parses_from_json() {
        let p: Profile = serde_json::from_str(
            r#"{"field_names": ["token"], "strategy": {"sensitive_field": "hmac"}}"#,
        )
        .unwrap();
        assert_eq!(p.field_names, vec!["token"]);
        assert_eq!(p.detectors.len(), Builtin::ALL.len());
    }

    #[test]
    fn typo_in_a_key_is_rejected() {
        let err = toml::from_str::<Profile>("detector = [\"email\"]").unwrap_err();
        assert!(err.to_string().contains("detector"), "{err}");
        let err = toml::from_str::<Profile>("[strategy]\nemail = \"scramble\"").unwrap_err();
        assert!(err.to_string().contains("scramble"), "{err}");
    }
}
