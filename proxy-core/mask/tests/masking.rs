//! Behaviour of the public API as the gateway and `gatehouse mask` use it.

use gatehouse_mask::{CustomDetector, Masker, Profile, ProfileError, Strategy};
use serde_json::{Value, json};
use std::borrow::Cow;

fn masker() -> Masker {
    Masker::new(&Profile::default(), None).unwrap()
}

fn profile_with(strategy: &[(&str, Strategy)]) -> Profile {
    let mut p = Profile::default();
    for (k, s) in strategy {
        p.strategy.insert(k.to_string(), *s);
    }
    p
}

const KEY: &[u8] = b"gatehouse-test-key-0123456789";

#[test]
fn clean_text_is_borrowed_not_copied() {
    let m = masker();
    let text =
        "Order 1234 shipped on 2024-05-01 12:30:45 (v1.2.3), total $1,234.56; ref 4111111111111112";
    let (out, counts) = m.mask_text(text);
    assert!(matches!(out, Cow::Borrowed(_)));
    assert!(counts.is_empty());
    assert_eq!(counts.summary(), "nothing masked");
}

#[test]
fn mixed_text_is_masked_with_counts() {
    let m = masker();
    let text = "card 4111-1111-1111-1111 and 5555 5555 5555 4444, iban DE89370400440532013000, \
                ssn 123-45-6789, mail jo.doe@example.com, phone +44 20 7946 0958, ip 10.0.0.7, \
                key AKIAIOSFODNN7EXAMPLE, db postgres://app:hunter2@db:5432/x";
    let (out, counts) = m.mask_text(text);
    assert_eq!(
        out,
        "card [CREDIT_CARD] and [CREDIT_CARD], iban [IBAN], ssn [US_SSN], mail [EMAIL], \
         phone [PHONE], ip [IP_ADDRESS], key [AWS_ACCESS_KEY], db postgres://app:[PASSWORD]@db:5432/x"
    );
    assert_eq!(counts.get("credit_card"), 2);
    assert_eq!(counts.total(), 9);
    assert_eq!(
        counts.summary(),
        "2 credit card numbers, 1 e-mail address, 1 IBAN, 1 IP address, 1 phone number, 1 US SSN, \
         1 AWS access key id, 1 password"
    );
}

#[test]
fn detect_reports_kinds_and_spans() {
    let m = masker();
    let text = "a jo@example.com b 10.1.2.3";
    let f = m.detect(text);
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].kind.as_str(), &text[f[0].start..f[0].end]),
        ("email", "jo@example.com")
    );
    assert_eq!(
        (f[1].kind.as_str(), &text[f[1].start..f[1].end]),
        ("ip_address", "10.1.2.3")
    );
}

#[test]
fn last4_and_hmac_strategies() {
    let p = profile_with(&[("credit_card", Strategy::Last4), ("email", Strategy::Hmac)]);
    let m = Masker::new(&p, Some(KEY)).unwrap();
    let (out, _) = m.mask_text("4242 4242 4242 4242 jo@example.com JO@EXAMPLE.COM x@example.com");
    let rest = out
        .strip_prefix("[CREDIT_CARD ****4242] ")
        .expect("last4 token first");
    let parts: Vec<&str> = std::iter::once("").chain(rest.split(' ')).collect();
    assert!(
        parts[1].starts_with("[EMAIL:hmac:") && parts[1].len() == 25,
        "{out}"
    );
    // Same address (case-insensitively) gives the same token; another address another one.
    assert_eq!(parts[1], parts[2]);
    assert_ne!(parts[1], parts[3]);
    // A different key gives different tokens.
    let other = Masker::new(&p, Some(b"another-key-another-token")).unwrap();
    assert_ne!(other.mask_text("jo@example.com").0, parts[1]);
}

#[test]
fn hmac_without_a_key_is_refused_by_name() {
    let p = profile_with(&[("iban", Strategy::Hmac)]);
    let err = Masker::new(&p, None).unwrap_err();
    assert_eq!(
        err,
        ProfileError::MissingHmacKey {
            names: "iban".into()
        }
    );
    assert!(err.to_string().contains("iban") && err.to_string().contains("key"));
    assert_eq!(
        Masker::new(&p, Some(b"")).unwrap_err(),
        ProfileError::WeakHmacKey
    );
    // A disabled detector's strategy does not need a key.
    let mut p2 = profile_with(&[("iban", Strategy::Hmac)]);
    p2.detectors.retain(|d| d != "iban");
    assert!(Masker::new(&p2, None).is_ok());
}

#[test]
fn profile_mistakes_are_named() {
    let mut p = Profile::default();
    p.detectors.push("credit_cards".into());
    let err = Masker::new(&p, None).unwrap_err().to_string();
    assert!(
        err.contains("`credit_cards`") && err.contains("credit_card,"),
        "{err}"
    );

    let p = profile_with(&[("mail", Strategy::Redact)]);
    let err = Masker::new(&p, None).unwrap_err().to_string();
    assert!(err.contains("`mail`") && err.contains("strategy"), "{err}");

    let mut p = Profile::default();
    p.custom.push(CustomDetector {
        name: "employee_id".into(),
        pattern: "EMP-(\\d{6}".into(),
        strategy: None,
    });
    let err = Masker::new(&p, None).unwrap_err();
    assert!(matches!(&err, ProfileError::InvalidPattern { name, .. } if name == "employee_id"));
    assert!(err.to_string().contains("employee_id"), "{err}");

    p.custom[0].pattern = "x*".into();
    assert_eq!(
        Masker::new(&p, None).unwrap_err(),
        ProfileError::EmptyMatch {
            name: "employee_id".into()
        }
    );
    p.custom[0] = CustomDetector {
        name: "email".into(),
        pattern: "x".into(),
        strategy: None,
    };
    assert!(matches!(
        Masker::new(&p, None).unwrap_err(),
        ProfileError::InvalidName { .. }
    ));
}

#[test]
fn custom_detectors_mask_with_their_own_label_and_strategy() {
    let p: Profile = toml::from_str(
        r#"
        detectors = ["email"]
        [[custom]]
        name = "employee_id"
        pattern = "EMP-[0-9]{6}"
        [[custom]]
        name = "ticket"
        pattern = "TCK-[0-9]{8}"
        strategy = "last4"
        "#,
    )
    .unwrap();
    let m = Masker::new(&p, None).unwrap();
    let (out, counts) =
        m.mask_text("EMP-123456 opened TCK-00001234 for a@example.com, card 4111111111111111");
    assert_eq!(
        out,
        "[EMPLOYEE_ID] opened [TICKET ****1234] for [EMAIL], card 4111111111111111"
    );
    assert_eq!(counts.get("employee_id"), 1);
    assert_eq!(counts.get("ticket"), 1);
}

#[test]
fn json_escapes_cannot_hide_a_card() {
    let m = masker();
    // "\u0034" is "4": the decoded string is a card number.
    let raw = r#"{"result":{"content":[{"type":"text","text":"card \u0034111111111111111"}]}}"#;
    let mut v: Value = serde_json::from_str(raw).unwrap();
    let counts = m.mask_json(&mut v);
    assert_eq!(counts.get("credit_card"), 1);
    assert_eq!(v["result"]["content"][0]["text"], "card [CREDIT_CARD]");
    let out = serde_json::to_string(&v).unwrap();
    assert!(!out.contains("1111111111111111"));
}

#[test]
fn json_keeps_its_shape_and_masks_fields_whole() {
    let m = masker();
    let mut v = json!({
        "jsonrpc": "2.0",
        "id": 3,
        "result": {
            "structuredContent": {
                "rows": [
                    {"id": 1, "Password": "hunter2", "api-key": 12345, "ssn": {"value": "078-05-1120", "verified": true}},
                    {"id": 2, "email": "jo@example.com", "card": 4111111111111111u64, "note": null}
                ]
            }
        }
    });
    let counts = m.mask_json(&mut v);
    assert_eq!(
        v,
        json!({
            "jsonrpc": "2.0",
            "id": 3,
            "result": {
                "structuredContent": {
                    "rows": [
                        // A value a detector finds whole is shown and counted as that type.
                        {"id": 1, "Password": "[SENSITIVE_FIELD]", "api-key": "[SENSITIVE_FIELD]", "ssn": {"value": "[US_SSN]", "verified": "[SENSITIVE_FIELD]"}},
                        {"id": 2, "email": "[EMAIL]", "card": "[CREDIT_CARD]", "note": null}
                    ]
                }
            }
        })
    );
    assert_eq!(counts.get("sensitive_field"), 3);
    assert_eq!(counts.get("us_ssn"), 1);
    assert_eq!(counts.get("credit_card"), 1);
}

#[test]
fn field_rules_are_configurable_and_can_be_off() {
    let mut p = Profile {
        field_names: vec!["Account-Number".into()],
        ..Profile::default()
    };
    let m = Masker::new(&p, None).unwrap();
    let mut v = json!({"account_number": "12-34", "password": "hunter2"});
    m.mask_json(&mut v);
    assert_eq!(
        v,
        json!({"account_number": "[SENSITIVE_FIELD]", "password": "hunter2"})
    );
    p.field_names.clear();
    let m = Masker::new(&p, None).unwrap();
    let mut v = json!({"password": "hunter2"});
    assert!(m.mask_json(&mut v).is_empty());
}

#[test]
fn embedded_json_text_is_masked_as_json() {
    let m = masker();
    // An MCP server returned its rows as JSON text; one key is sensitive, one value hides a card
    // behind an escape.
    let inner = r#"{"rows":[{"password":"hunter2","card":"\u0034111111111111111","n":1}]}"#;
    let mut v = json!({"content": [{"type": "text", "text": inner}]});
    let counts = m.mask_json(&mut v);
    assert_eq!(counts.get("sensitive_field"), 1);
    assert_eq!(counts.get("credit_card"), 1);
    let text = v["content"][0]["text"].as_str().unwrap();
    let reparsed: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        reparsed,
        json!({"rows":[{"password":"[SENSITIVE_FIELD]","card":"[CREDIT_CARD]","n":1}]})
    );

    // Plain embedded JSON keeps its formatting and is masked in place.
    let pretty = "{\n  \"email\": \"jo@example.com\",\n  \"n\": 2\n}";
    let mut v = json!({"text": pretty});
    m.mask_json(&mut v);
    assert_eq!(v["text"], "{\n  \"email\": \"[EMAIL]\",\n  \"n\": 2\n}");
}

#[test]
fn masked_keys_never_collide() {
    let m = masker();
    let mut v = json!({"a@example.com": 1, "b@example.com": 2, "plain": 3});
    let counts = m.mask_json(&mut v);
    assert_eq!(counts.get("email"), 2);
    assert_eq!(v, json!({"[EMAIL]": 1, "[EMAIL] #2": 2, "plain": 3}));
}

#[test]
fn mask_message_keeps_the_envelope() {
    let m = masker();
    // An id that happens to be a valid card number must still correlate the response.
    let mut msg = json!({"jsonrpc": "2.0", "id": 4111111111111111u64, "result": {"card": 4111111111111111u64}});
    let counts = m.mask_message(&mut msg);
    assert_eq!(msg["id"], json!(4111111111111111u64));
    assert_eq!(msg["result"]["card"], "[CREDIT_CARD]");
    assert_eq!(counts.total(), 1);
    // Notifications and errors are covered.
    let mut log = json!({"jsonrpc": "2.0", "method": "notifications/message",
        "params": {"level": "info", "data": "login from 203.0.113.9 by jo@example.com"}});
    m.mask_message(&mut log);
    assert_eq!(log["params"]["data"], "login from [IP_ADDRESS] by [EMAIL]");
    let mut err = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "bad card 4111111111111111"}});
    m.mask_message(&mut err);
    assert_eq!(err["error"]["message"], "bad card [CREDIT_CARD]");
}

#[test]
fn secrets_in_tool_output() {
    let m = masker();
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
    let text = format!(
        "token={jwt}\n{pem}\nAZURE=DefaultEndpointsProtocol=https;AccountName=a;AccountKey={};EndpointSuffix=core.windows.net\n\
         GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a\nslack xoxb-123456789012-abcdefghijkl\n\
         Server=db;Password=Tr0ub4dor&3;",
        "A".repeat(86) + "=="
    );
    let (out, counts) = m.mask_text(&text);
    for secret in [
        jwt,
        "MIIEvQ",
        "AAAAAAAAAA",
        "ghp_16C7",
        "xoxb-1234",
        "Tr0ub4dor",
    ] {
        assert!(!out.contains(secret), "{secret} survived in {out}");
    }
    assert!(
        out.contains("AccountName=a;AccountKey=[AZURE_STORAGE_KEY];"),
        "{out}"
    );
    assert_eq!(counts.total(), 6, "{}", counts.summary());
}

/// Found by the `mask_json` fuzz target: the second address looked like part of a path
/// until the first was masked.
#[test]
fn masking_a_value_cannot_uncover_a_neighbour_that_then_survives() {
    let m = Masker::new(&Profile::default(), None).unwrap();
    let (out, counts) = m.mask_text(";5.5.5.5/5.5.5.5.\u{5}5.");
    assert!(m.detect(&out).is_empty(), "{out:?}");
    assert_eq!(counts.get("ip_address"), 2, "{out:?}");
}

/// Found by the fuzz target: a chain of look-alikes, each only detectable once its
/// neighbour is masked. Past a bound the string is withheld rather than leak one.
#[test]
fn a_crafted_chain_is_withheld_not_leaked() {
    let m = Masker::new(&Profile::default(), None).unwrap();
    let chain = format!("nc:{}+2", "+44444644:".repeat(40));
    let (out, _) = m.mask_text(&chain);
    assert!(m.detect(&out).is_empty(), "{out:?}");
    let short = format!("nc:{}+2", "+44444644:".repeat(3));
    let (out, counts) = m.mask_text(&short);
    assert!(m.detect(&out).is_empty(), "{out:?}");
    assert!(
        counts.get("phone") >= 3,
        "short chains are masked value by value: {out:?}"
    );
}
