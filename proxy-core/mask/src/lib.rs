//! gatehouse-mask: detects and masks sensitive values (payment cards, IBANs, SSNs, e-mail
//! addresses, phone numbers, IP addresses, credentials, person names, postal addresses, dates
//! of birth) in MCP messages before clients or the audit log see them.
//!
//! ```
//! use gatehouse_mask::{Masker, Profile};
//! let masker = Masker::new(&Profile::default(), None).unwrap();
//! let (out, counts) = masker.mask_text("card 4111 1111 1111 1111, mail jo@example.com");
//! assert_eq!(out, "card [CREDIT_CARD], mail [EMAIL]");
//! assert_eq!(counts.summary(), "1 credit card number, 1 e-mail address");
//!
//! let mut msg = serde_json::json!({"rows": [{"password": "hunter2", "ip": "10.1.2.3"}]});
//! masker.mask_json(&mut msg);
//! assert_eq!(msg, serde_json::json!({"rows": [{"password": "[SENSITIVE_FIELD]", "ip": "[IP_ADDRESS]"}]}));
//! ```

mod counts;
mod json;
mod kind;
mod masker;
pub mod message;
mod profile;
mod render;
mod scan;

pub use counts::MaskCounts;
pub use kind::SENSITIVE_FIELD;
pub use masker::{Finding, Masker, WITHHELD};
pub use profile::{
    CustomDetector, DATE_OF_BIRTH_FIELDS, DEFAULT_FIELD_NAMES, PERSON_NAME_FIELDS,
    POSTAL_ADDRESS_FIELDS, POSTCODE_FIELDS, Profile, ProfileError, Strategy,
};

/// Names of the built-in detectors, as written in profiles.
pub fn builtin_detectors() -> Vec<&'static str> {
    kind::Builtin::ALL.iter().map(|b| b.name()).collect()
}
