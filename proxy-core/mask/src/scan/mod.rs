//! Finding sensitive values in text. Three cheap passes pick candidates so that clean text costs
//! little: a byte loop over digit runs (cards, IBANs, SSNs, phones, IPv4), `memchr` over `@` and
//! `:` (e-mail, IPv6), and one Aho-Corasick pass over the keywords every secret format starts with
//! or sits next to (`eyJ`, `-----BEGIN`, `AKIA`, `AccountKey`, `://`, `password` ...). Each
//! candidate is then verified by a small hand-written parser with the format's checksum.

mod net;
mod numeric;
mod people;
mod secrets;
pub mod validate;

pub(crate) use people::{looks_like_address, looks_like_name, looks_like_postcode};

use crate::kind::Builtin;

/// One match: detector index (see `Masker`), byte span in the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    pub kind: u16,
    pub start: usize,
    pub end: usize,
}

/// Which built-ins are on, indexed by `Builtin::ALL` position.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Enabled([bool; Builtin::ALL.len()]);

impl Enabled {
    pub fn set(&mut self, b: Builtin) {
        self.0[kind_index(b) as usize] = true;
    }
    pub fn has(&self, b: Builtin) -> bool {
        self.0[kind_index(b) as usize]
    }
    pub fn any(&self, bs: &[Builtin]) -> bool {
        bs.iter().any(|b| self.has(*b))
    }
}

/// Detector index of a built-in: its position in `Builtin::ALL` (also its priority).
pub(crate) const fn kind_index(b: Builtin) -> u16 {
    let mut i = 0;
    while i < Builtin::ALL.len() {
        if Builtin::ALL[i] as u8 == b as u8 {
            return i as u16;
        }
        i += 1;
    }
    panic!("built-in missing from Builtin::ALL")
}

/// The built-in scanners, configured for one profile.
#[derive(Debug, Clone)]
pub(crate) struct BuiltinScanner {
    enabled: Enabled,
    keywords: Option<secrets::Keywords>,
    /// Detector indexes of the people detectors, when on.
    name: Option<u16>,
    address: Option<u16>,
    dob: Option<u16>,
    /// Birth anchors, when the date-of-birth detector is on.
    anchors: Option<people::AnchorFinder>,
}

impl BuiltinScanner {
    pub fn new(enabled: Enabled) -> Self {
        let on = |b: Builtin| enabled.has(b).then_some(kind_index(b));
        if enabled.has(Builtin::PersonName) {
            // Index the gazetteer now, not on the first message.
            people::Gazetteer::get();
        }
        BuiltinScanner {
            enabled,
            keywords: secrets::Keywords::new(&enabled),
            name: on(Builtin::PersonName),
            address: on(Builtin::PostalAddress),
            dob: on(Builtin::DateOfBirth),
            anchors: enabled
                .has(Builtin::DateOfBirth)
                .then(people::anchor_finder),
        }
    }

    /// Appends every built-in match in `text` to `out` (unsorted, possibly overlapping).
    pub fn scan(&self, text: &str, out: &mut Vec<Hit>) {
        let b = text.as_bytes();
        let classes = byte_classes(b);
        if classes & DIGIT != 0 {
            numeric::scan(b, &self.enabled, out);
        }
        if classes & AT != 0 && self.enabled.has(Builtin::Email) {
            net::scan_emails(b, out);
        }
        if classes & COLON != 0 && self.enabled.has(Builtin::IpAddress) {
            net::scan_ipv6(b, out);
        }
        if classes & KEYWORD != 0
            && let Some(k) = &self.keywords
        {
            k.scan(b, out);
        }
        if classes & DIGIT != 0 && (self.address.is_some() || self.dob.is_some()) {
            let dob = self.dob.filter(|_| {
                people::may_have_anchor(self.anchors.as_ref().expect("built with dob"), b)
            });
            if self.address.is_some() || dob.is_some() {
                people::scan_digits(b, self.address, dob, out);
            }
        }
        if classes & UPPER != 0
            && let Some(kind) = self.name
        {
            people::scan_names(b, kind, out);
        }
    }
}

const DIGIT: u8 = 1;
const AT: u8 = 2;
const COLON: u8 = 4;
/// Bytes that every secret match contains at least one of: `-` (`-----BEGIN`, `glpat-`,
/// `xoxb-`), `J` (`eyJ`), `A` (`AKIA`), `_` (`ghp_`), `/` (Slack webhooks), and `=` / `:` after
/// every key-word detector (`Password=`, `AccountKey=`, `sig=`, `://`).
const KEYWORD: u8 = 8;
/// A capital (ASCII, or the lead byte of a non-ASCII character): only these start a name.
const UPPER: u8 = 16;

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    t[b'@' as usize] = AT;
    let mut c = b'A';
    while c <= b'Z' {
        t[c as usize] = UPPER;
        c += 1;
    }
    let mut c = 0xC0usize;
    while c < 256 {
        t[c] = UPPER;
        c += 1;
    }
    t[b':' as usize] = COLON | KEYWORD;
    t[b'-' as usize] = KEYWORD;
    t[b'J' as usize] = KEYWORD | UPPER;
    t[b'A' as usize] = KEYWORD | UPPER;
    t[b'_' as usize] = KEYWORD;
    t[b'/' as usize] = KEYWORD;
    t[b'=' as usize] = KEYWORD;
    t
};

/// Which candidate passes a string can need. Most JSON strings are short (names, statuses,
/// ids): one table pass over them lets the scanners they cannot match be skipped. Long strings
/// hold everything anyway, so they are not classified.
fn byte_classes(b: &[u8]) -> u8 {
    if b.len() > 256 {
        return DIGIT | AT | COLON | KEYWORD | UPPER;
    }
    b.iter().fold(0, |acc, c| acc | CLASS[*c as usize])
}

/// Sorts hits and drops overlaps: the earliest start wins, then the longest, then the
/// higher-priority detector.
pub(crate) fn resolve(hits: &mut Vec<Hit>) {
    hits.sort_unstable_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.kind.cmp(&b.kind))
    });
    let mut last_end = 0;
    hits.retain(|h| {
        if h.start < last_end || h.start >= h.end {
            return false;
        }
        last_end = h.end;
        true
    });
}

// ---- byte helpers shared by the scanners ----

#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether the byte at `j` is preceded by an odd number of backslashes, i.e. is the letter of a
/// JSON/C escape such as `\n` when scanning raw JSON text.
#[inline]
pub(crate) fn escaped(b: &[u8], j: usize) -> bool {
    let mut n = 0;
    let mut k = j;
    while k > 0 && b[k - 1] == b'\\' {
        n += 1;
        k -= 1;
    }
    n % 2 == 1
}

/// A value may start at `i`: the previous byte is not part of a word (an escape like `\n` counts
/// as a separator).
#[inline]
pub(crate) fn left_ok(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word(b[i - 1]) || (b[i - 1].is_ascii_alphabetic() && escaped(b, i - 1))
}

/// Stricter start for weak numeric shapes (phones, SSNs, IPs): also not glued to an identifier
/// by `-` or `.` (`ORD-555-123-4567`, `v1.2.3.4` and `1.2.3.4.5` are not values).
#[inline]
pub(crate) fn left_ok_strict(b: &[u8], i: usize) -> bool {
    if !left_ok(b, i) {
        return false;
    }
    if i >= 2 && matches!(b[i - 1], b'-' | b'.' | b'/') && is_word(b[i - 2]) {
        return false;
    }
    true
}

/// A value may end at `j`: the next byte is not part of a word.
#[inline]
pub(crate) fn right_ok(b: &[u8], j: usize) -> bool {
    j >= b.len() || !is_word(b[j])
}

/// Stricter end for weak numeric shapes: not followed by `-x`, `.x` or `/x` continuing a word.
#[inline]
pub(crate) fn right_ok_strict(b: &[u8], j: usize) -> bool {
    if !right_ok(b, j) {
        return false;
    }
    if j + 1 < b.len() && matches!(b[j], b'-' | b'.' | b'/') && is_word(b[j + 1]) {
        return false;
    }
    true
}

/// End of the run of bytes satisfying `f` starting at `i`.
#[inline]
pub(crate) fn run_end(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

fn ends_with_ci(hay: &[u8], w: &[u8]) -> bool {
    hay.len() >= w.len() && hay[hay.len() - w.len()..].eq_ignore_ascii_case(w)
}

/// Whether one of `words` (lower-case ASCII) ends right before `i`, separated from it only by a
/// few bytes of punctuation (`Tel: `, `"tax_id": "`, `SSN #`), optionally with "number"/"no"
/// in between (`social security number`, `phone_number`). Used for shapes that are only
/// sensitive in context: bare 9-digit SSNs, bare phone numbers.
pub(crate) fn context_adjacent(b: &[u8], i: usize, words: &[&[u8]]) -> bool {
    let skip_seps = |mut k: usize| {
        let mut n = 0;
        while k > 0
            && n < 6
            && matches!(
                b[k - 1],
                b' ' | b'\t'
                    | b':'
                    | b'='
                    | b'"'
                    | b'\''
                    | b'#'
                    | b'.'
                    | b'('
                    | b'-'
                    | b'_'
                    | b'\\'
            )
        {
            k -= 1;
            n += 1;
        }
        k
    };
    let mut k = skip_seps(i);
    for filler in [&b"number"[..], b"no", b"nr", b"num"] {
        if ends_with_ci(&b[..k], filler)
            && k > filler.len()
            && !b[k - filler.len() - 1].is_ascii_alphabetic()
        {
            k = skip_seps(k - filler.len());
            break;
        }
    }
    words.iter().any(|w| {
        ends_with_ci(&b[..k], w) && (k == w.len() || !b[k - w.len() - 1].is_ascii_alphabetic())
    })
}

/// Whether `v` is one of our own mask tokens (`[EMAIL]`, `[CREDIT_CARD ****1111]`,
/// `[EMAIL:hmac:...]`), so that masking twice does not mask the token itself.
pub(crate) fn looks_like_token(v: &[u8]) -> bool {
    v.len() >= 3
        && v[0] == b'['
        && v[1].is_ascii_uppercase()
        && v[1..]
            .iter()
            .take_while(|c| **c != b']')
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b' ' | b'*' | b':'))
}
