//! Property tests: for arbitrary JSON built from ordinary text, near misses and sensitive values,
//! masking yields valid JSON of the same shape in which no sensitive value survives, and masking
//! is idempotent.

use gatehouse_mask::{Masker, Profile};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Sensitive values in the formats the detectors promise to catch.
const SECRETS: &[&str] = &[
    "4111111111111111",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "3782 822463 10005",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "jo.doe+tag@example.com",
    "ANNA@mail.example.org",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "+1-780-563-6083x7783",
    "04 15 39 15 00",
    "192.168.10.254",
    "2001:db8:85a3::8a2e:370:7334",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-123456789012-abcdefghijklmnop",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl",
];

/// Ordinary text and near misses that must pass through (quotes, escapes and non-ASCII
/// included so that re-encoding is exercised).
const PLAIN: &[&str] = &[
    "order",
    "shipped",
    "the report",
    "2024-05-01T12:30:45Z",
    "v1.2.3",
    "took 125 ms",
    "ORD-555-123-4567",
    "ref 4111111111111112",
    "café",
    "日本語",
    "say \"hi\"",
    "back\\slash",
    "tab\tline\nbreak",
    "{",
    "]",
    "1",
    "42.5%",
    "550e8400-e29b-41d4-a716-446655440000",
];

const SEPARATORS: &[&str] = &[" ", ", ", "\n", "; ", " | ", " (", ") "];

fn fragment() -> impl Strategy<Value = (String, Option<&'static str>)> {
    prop_oneof![
        3 => prop::sample::select(PLAIN).prop_map(|p| (p.to_string(), None)),
        1 => prop::sample::select(SECRETS).prop_map(|s| (s.to_string(), Some(s))),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec((fragment(), prop::sample::select(SEPARATORS)), 0..8).prop_map(|parts| {
        let mut s = String::new();
        for ((f, _), sep) in parts {
            s.push_str(&f);
            s.push_str(sep);
        }
        s
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&["id", "name", "rows", "text", "note", "content", "items"][..]).prop_map(str::to_string),
        1 => prop::sample::select(&["password", "apiKey", "SSN"][..]).prop_map(str::to_string),
        1 => prop::sample::select(SECRETS).prop_map(str::to_string),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        Just(Value::from(4111111111111111u64)),
        text().prop_map(Value::String),
        // JSON text embedded in a string, as many MCP servers return results.
        prop::collection::vec((key(), text()), 0..4).prop_map(|kv| {
            let m: Map<String, Value> =
                kv.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            Value::String(serde_json::to_string(&Value::Object(m)).unwrap())
        }),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Same containers (kind, length, nesting); leaves may change from number/bool to string.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_shape(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.values().zip(y.values()).all(|(p, q)| same_shape(p, q))
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        (Value::Null, q) => q.is_null(),
        _ => !b.is_null(),
    }
}

fn masker() -> Masker {
    Masker::new(&Profile::default(), None).unwrap()
}

proptest! {
    // 400 cases by default; PROPTEST_CASES=100000 for a longer hunt.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(400)
    ))]

    #[test]
    fn masked_json_is_valid_same_shape_and_leaks_nothing(v in json()) {
        let m = masker();
        let mut out = v.clone();
        m.mask_json(&mut out);
        let encoded = serde_json::to_string(&out).unwrap();
        let reparsed: Value = serde_json::from_str(&encoded).unwrap();
        prop_assert_eq!(&reparsed, &out);
        prop_assert!(same_shape(&v, &out), "shape changed:\n{v}\n{out}");
        for s in SECRETS {
            prop_assert!(!encoded.contains(s), "{s} survived in {encoded}");
        }
        // Masking again changes nothing.
        let mut again = out.clone();
        m.mask_json(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn masked_text_leaks_nothing_and_is_stable(t in text()) {
        let m = masker();
        let (once, _) = m.mask_text(&t);
        for s in SECRETS {
            prop_assert!(!once.contains(s), "{s} survived in {once:?}");
        }
        prop_assert!(m.detect(&once).is_empty(), "{:?} in {once:?}", m.detect(&once));
        let (twice, counts) = m.mask_text(&once);
        prop_assert_eq!(&twice, &once);
        prop_assert!(counts.is_empty());
    }

    #[test]
    fn arbitrary_text_never_panics_and_spans_are_sound(t in ".{0,200}") {
        let m = masker();
        let mut last = 0;
        for f in m.detect(&t) {
            prop_assert!(f.start >= last && f.start < f.end && f.end <= t.len());
            prop_assert!(t.is_char_boundary(f.start) && t.is_char_boundary(f.end));
            last = f.end;
        }
        let _ = m.mask_text(&t);
    }

    #[test]
    fn masking_dense_symbol_soup_leaves_no_match(t in "[0-9 .:@a-fA-Z_=+()/-]{0,120}") {
        let m = masker();
        let (once, _) = m.mask_text(&t);
        prop_assert!(m.detect(&once).is_empty(), "{:?} in {once:?}", m.detect(&once));
    }
}
