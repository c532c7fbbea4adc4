//! People detectors through the public API: names, postal addresses and dates of birth in text
//! and in JSON (by value and by key), per-profile switches, and counts that match what a
//! reader sees.

use gatehouse_mask::{Masker, Profile, ProfileError};
use serde_json::json;

fn masker() -> Masker {
    Masker::new(&Profile::default(), None).unwrap()
}

#[test]
fn free_text_with_a_name_an_address_and_a_birth_date() {
    let (out, counts) = masker().mask_text(
        "Patient Ada Lovelace, born 10 December 1815, lives at 12 St James's Square, London SW1Y 4JH.",
    );
    assert_eq!(
        out,
        "Patient [PERSON_NAME], born [DATE_OF_BIRTH], lives at [POSTAL_ADDRESS]."
    );
    assert_eq!(
        counts.summary(),
        "1 date of birth, 1 person name, 1 postal address"
    );
}

#[test]
fn look_alikes_are_kept() {
    let m = masker();
    for text in [
        "Shipped 3 x Apple Watch Series 9 from New York, Paris and Berlin.",
        "Please review the report. The batch finished at 2024-05-01T10:00:00Z.",
        "Release 2.4 of 2024-03-01 (version 2024.03.01) fixes 12 bugs.",
        "Invoice date 31/01/2024, due January 31, 2024.",
        "Suppliers: Acme Corporation, Globex Inc and Initech.",
    ] {
        let (out, counts) = m.mask_text(text);
        assert_eq!(out, text, "changed: {counts:?}");
    }
}

#[test]
fn json_values_are_masked_by_key_and_by_content() {
    let m = masker();
    let mut v = json!({"rows": [
        {"id": 1, "name": "alice bob", "first_name": "Grace", "email": "g@example.com",
         "address": "221B Baker Street", "zip": 10115, "dob": "1990-01-31",
         "note": "called Ada Lovelace", "file": {"name": "report.pdf"}, "company_name": "Acme Corp"},
        {"id": 2, "name": "ada@example.com", "address": "10.0.0.1", "product": "Dell XPS 13", "city": "Paris"}
    ]});
    let counts = m.mask_json(&mut v);
    assert_eq!(
        v,
        json!({"rows": [
            {"id": 1, "name": "[PERSON_NAME]", "first_name": "[PERSON_NAME]", "email": "[EMAIL]",
             "address": "[POSTAL_ADDRESS]", "zip": "[POSTAL_ADDRESS]", "dob": "[DATE_OF_BIRTH]",
             "note": "called [PERSON_NAME]", "file": {"name": "report.pdf"}, "company_name": "Acme Corp"},
            {"id": 2, "name": "[EMAIL]", "address": "[IP_ADDRESS]", "product": "Dell XPS 13", "city": "Paris"}
        ]})
    );
    assert_eq!(counts.get("person_name"), 3);
    assert_eq!(counts.get("postal_address"), 2);
    assert_eq!(counts.get("date_of_birth"), 1);
    assert_eq!(counts.get("email"), 2);
    assert_eq!(counts.get("ip_address"), 1);
}

#[test]
fn counts_match_between_text_content_and_structured_content() {
    // The same row as JSON text in `content` and as `structuredContent`: every value is
    // counted under the same type in both, including a card under a sensitive key.
    let row = json!({"name": "Ada Lovelace", "card_number": "4111 1111 1111 1111",
                     "email": "ada@example.com", "address": "12 Main Street, Springfield, IL 62704"});
    let mut text_only = json!({"content": [{"type": "text", "text": row.to_string()}]});
    let mut structured = json!({"structuredContent": {"rows": [row]}});
    let m = masker();
    let a = m.mask_json(&mut text_only);
    let b = m.mask_json(&mut structured);
    assert_eq!(a, b);
    assert_eq!(b.get("credit_card"), 1);
    assert_eq!(b.get("sensitive_field"), 0);
    assert_eq!(b.get("person_name"), 1);
    assert_eq!(b.get("postal_address"), 1);
    assert_eq!(
        structured["structuredContent"]["rows"][0]["card_number"],
        "[CREDIT_CARD]"
    );
}

#[test]
fn each_people_detector_can_be_switched_off() {
    let mut p = Profile::default();
    p.detectors
        .retain(|d| d != "person_name" && d != "date_of_birth");
    let m = Masker::new(&p, None).unwrap();
    let (out, _) =
        m.mask_text("Ada Lovelace, DOB 1815-12-10, 12 Main Street, Springfield, IL 62704");
    assert_eq!(out, "Ada Lovelace, DOB 1815-12-10, [POSTAL_ADDRESS]");
    let mut v = json!({"name": "Ada Lovelace", "dob": "1815-12-10"});
    assert!(m.mask_json(&mut v).is_empty());
}

#[test]
fn profiles_extend_the_people_keys() {
    let p: Profile = toml::from_str(
        r#"
        [type_fields]
        person_name = ["holder"]
        postal_address = ["ship_to", "plz"]
        date_of_birth = ["geb_datum"]
        "#,
    )
    .unwrap();
    let m = Masker::new(&p, None).unwrap();
    let mut v = json!({"holder": "grace", "ship_to": "Kerkstraat 12", "plz": "10115", "geb_datum": "03.03.1990"});
    m.mask_json(&mut v);
    assert_eq!(
        v,
        json!({"holder": "[PERSON_NAME]", "ship_to": "[POSTAL_ADDRESS]", "plz": "[POSTAL_ADDRESS]", "geb_datum": "[DATE_OF_BIRTH]"})
    );
    let bad: Profile = toml::from_str("[type_fields]\nperson = [\"x\"]").unwrap();
    let err = Masker::new(&bad, None).unwrap_err();
    assert!(matches!(err, ProfileError::UnknownDetector { ref name, .. } if name == "person"));
    assert!(
        err.to_string()
            .contains("person_name, postal_address, date_of_birth"),
        "{err}"
    );
}

/// Masking is idempotent under people keys too: a value scanned as text the first time (too
/// long to be an address, or holding an e-mail address) must not be masked whole the second
/// time because masking made it shorter or took the `@` away. (Found by the `people` fuzz
/// target.)
#[test]
fn masking_twice_under_people_keys_changes_nothing() {
    let m = masker();
    // Just over the 300 bytes of an address line, and under it once masked.
    let long = format!(
        "Ships from Ada Lovelace, Jarrow. Ship to 12 Baker Street, London NW1 6XE. {}Thanks, the team.",
        "Release 9.10 of 2026-01-20 fixes 19 bugs. ".repeat(5)
    );
    assert!((301..=310).contains(&long.len()), "{}", long.len());
    for value in [
        long.as_str(),
        "12 Main Street, jo@example.com",
        "card 4111 1111 1111 1111",
    ] {
        let mut once = json!({"address": value, "dob": value, "name": value, "zip": value});
        m.mask_json(&mut once);
        let mut twice = once.clone();
        m.mask_json(&mut twice);
        assert_eq!(twice, once, "masking {value:?} again changed it");
    }
}

/// A digit run too long for any date after a birth anchor is no date, and no overflow.
#[test]
fn a_long_digit_run_after_a_birth_anchor_is_not_a_date() {
    let (out, _) = masker().mask_text("born 1990-01-123456789012345 and 1990-01-02");
    assert_eq!(out, "born 1990-01-123456789012345 and 1990-01-02");
    let (out, _) = masker().mask_text("born 1990-01-02");
    assert_eq!(out, "born [DATE_OF_BIRTH]");
}
