//! Any input: detection spans are sound and masking never panics. Any JSON input: the masked
//! value re-encodes as valid JSON of the same shape, and masking it again changes nothing (no
//! value a detector matches survived).
#![no_main]

use gatehouse_mask::{Masker, Profile};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fn masker() -> &'static Masker {
    static M: OnceLock<Masker> = OnceLock::new();
    M.get_or_init(|| Masker::new(&Profile::default(), None).expect("default profile is valid"))
}

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

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let m = masker();
    let mut last = 0;
    for f in m.detect(text) {
        assert!(f.start >= last && f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        last = f.end;
    }
    let (masked, _) = m.mask_text(text);
    assert!(
        m.detect(&masked).is_empty(),
        "a match survived in {masked:?}"
    );

    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let mut out = v.clone();
        m.mask_json(&mut out);
        let encoded = serde_json::to_string(&out).expect("a Value serializes");
        let back: Value = serde_json::from_str(&encoded).expect("masked output is valid JSON");
        assert_eq!(back, out);
        assert!(same_shape(&v, &out), "shape changed: {v} -> {out}");
        let mut again = out.clone();
        m.mask_json(&mut again);
        assert_eq!(again, out, "masking twice changed the output");
    }
});
