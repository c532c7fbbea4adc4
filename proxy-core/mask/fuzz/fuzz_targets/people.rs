//! The people detectors alone (person names, postal addresses, dates of birth) on any input:
//! spans are sorted, non-empty and on character boundaries, masking never panics and leaves no
//! match behind, and a JSON input masked under people keys (`name`, `address`, `dob`) stays
//! valid JSON that masking again does not change.
#![no_main]

use gatehouse_mask::{Masker, Profile};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;

fn masker() -> &'static Masker {
    static M: OnceLock<Masker> = OnceLock::new();
    M.get_or_init(|| {
        let p = Profile {
            detectors: vec![
                "person_name".into(),
                "postal_address".into(),
                "date_of_birth".into(),
            ],
            ..Profile::default()
        };
        Masker::new(&p, None).expect("people profile is valid")
    })
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
    assert!(m.detect(&masked).is_empty(), "a match survived in {masked:?}");

    // The same text as the value of people keys and of a plain key.
    let mut v = json!({"name": text, "address": text, "dob": text, "note": text, "rows": [{"zip": text}]});
    m.mask_json(&mut v);
    let encoded = serde_json::to_string(&v).expect("a Value serializes");
    let back: Value = serde_json::from_str(&encoded).expect("masked output is valid JSON");
    assert_eq!(back, v);
    let mut again = v.clone();
    m.mask_json(&mut again);
    assert_eq!(again, v, "masking twice changed the output");
});
