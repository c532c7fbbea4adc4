//! Canonical JSON (RFC 8785, JCS) and the request digest an approval binds to.
//!
//! Two requests get the same digest exactly when they have the same server, method, target and
//! arguments as JSON *values*: key order, insignificant whitespace and number spelling (`1`,
//! `1.0`, `1e0`) do not matter; any change of a value does.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// RFC 8785 canonical form of a JSON value: object keys sorted by UTF-16 code units, no
/// whitespace, numbers as ECMAScript prints doubles, strings with the minimal JSON escapes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_f64() {
            // JSON numbers are IEEE doubles in JCS; integers beyond 2^53 round as in JavaScript.
            Some(f) if f.is_finite() => {
                let mut buf = ryu_js::Buffer::new();
                out.push_str(buf.format_finite(f));
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
    }
}

/// JCS string form: escape `"`, `\` and control characters (short forms `\b \t \n \f \r`,
/// otherwise `\u00xx` in lowercase hex); everything else verbatim.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// SHA-256 (lowercase hex) of the canonical JSON of
/// `{"arguments": ..., "method": ..., "server": ..., "tool": ... | null}`.
///
/// An approval stores this digest; the held or retried call must produce the same digest to
/// use it, so changed arguments need a new approval.
pub fn request_digest(server: &str, method: &str, tool: Option<&str>, arguments: &Value) -> String {
    let mut map = serde_json::Map::new();
    map.insert("arguments".into(), arguments.clone());
    map.insert("method".into(), Value::String(method.into()));
    map.insert("server".into(), Value::String(server.into()));
    map.insert(
        "tool".into(),
        tool.map_or(Value::Null, |t| Value::String(t.into())),
    );
    let canonical = canonical_json(&Value::Object(map));
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(text: &str) -> String {
        canonical_json(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn rfc8785_section_3_2_2_example() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        assert_eq!(
            canon(input),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_not_code_points() {
        // RFC 8785 section 3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33.
        let input = r#"{"\u20ac":"Euro","\r":"CR","\ufb33":"Hebrew","1":"One","\ud83d\ude00":"Smiley","\u0080":"Control","\u00f6":"Latin"}"#;
        let out = canon(input);
        let order = [
            "\"\\r\"",
            "\"1\"",
            "\"\u{80}\"",
            "\"\u{f6}\"",
            "\"\u{20ac}\"",
            "\"\u{1f600}\"",
            "\"\u{fb33}\"",
        ];
        let positions: Vec<usize> = order.iter().map(|k| out.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    }

    #[test]
    fn ecmascript_number_forms() {
        assert_eq!(
            canon("[1.0, 1e0, 10, -0.0, 0, 1e21, 1e-7, 123456789012345678901]"),
            "[1,1,10,0,0,1e+21,1e-7,123456789012345680000]"
        );
        assert_eq!(canon("[9007199254740993]"), "[9007199254740992]");
        assert_eq!(canon("[0.1, -1.5e-10, 5e-324]"), "[0.1,-1.5e-10,5e-324]");
    }

    #[test]
    fn digest_ignores_key_order_whitespace_and_number_spelling() {
        let a: Value =
            serde_json::from_str(r#"{"sql":"select 1","limit":10,"opts":{"b":1,"a":[1.0,2]}}"#)
                .unwrap();
        let b: Value = serde_json::from_str(
            "{ \"opts\": {\"a\": [1, 2e0], \"b\": 1.00}, \"limit\": 1e1, \"sql\": \"select 1\" }",
        )
        .unwrap();
        assert_eq!(
            request_digest("customers", "tools/call", Some("query"), &a),
            request_digest("customers", "tools/call", Some("query"), &b)
        );
    }

    #[test]
    fn digest_changes_with_any_part_of_the_request() {
        let args = json!({"sql": "delete from customers where id = 7"});
        let base = request_digest("customers", "tools/call", Some("delete_customer"), &args);
        assert_eq!(base.len(), 64);
        assert!(
            base.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let changed = [
            request_digest("customers2", "tools/call", Some("delete_customer"), &args),
            request_digest("customers", "prompts/get", Some("delete_customer"), &args),
            request_digest("customers", "tools/call", Some("query"), &args),
            request_digest("customers", "tools/call", None, &args),
            request_digest(
                "customers",
                "tools/call",
                Some("delete_customer"),
                &json!({"sql": "delete from customers where id = 8"}),
            ),
            request_digest(
                "customers",
                "tools/call",
                Some("delete_customer"),
                &json!({"sql": "delete from customers where id = 7", "x": null}),
            ),
        ];
        for d in changed {
            assert_ne!(d, base);
        }
    }

    #[test]
    fn digest_is_stable_across_releases() {
        // Pinned value: approvals stored by one release must still bind in the next.
        let d = request_digest(
            "customers",
            "tools/call",
            Some("query"),
            &json!({"sql": "select 1"}),
        );
        let canonical = r#"{"arguments":{"sql":"select 1"},"method":"tools/call","server":"customers","tool":"query"}"#;
        assert_eq!(d, hex::encode(Sha256::digest(canonical.as_bytes())));
    }
}
