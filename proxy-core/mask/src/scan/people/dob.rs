//! Dates of birth: a date (`1990-01-31`, `31/01/1990`, `31.01.1990`, `3 March 1990`,
//! `March 3, 1990`, `3. März 1990`) shortly after a birth anchor (`born`, `DOB`, `date of
//! birth`, `birthDate`, `né le`, `geboren`, `Geburtsdatum`, `date de naissance`). A date
//! without an anchor (a version date, a timestamp, an order date) is left alone.
//!
//! Work starts only at a digit run, and the anchor is looked for only in the few bytes before
//! it, back to the previous digit, line or JSON member.

use aho_corasick::AhoCorasick;
use aho_corasick::packed::Searcher;

use super::gazetteer::{MAX_TOKEN, lower_into};
use super::words::is_month;

/// How far before a date its anchor may be (`date of birth (day/month/year): ` fits).
const WINDOW: usize = 40;

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The value of a digit run; saturates (a run too long for any date part is no date).
fn num(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |a, c| {
        a.saturating_mul(10).saturating_add((c - b'0') as u32)
    })
}

#[inline]
fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

fn starts_ci(b: &[u8], at: usize, w: &[u8]) -> bool {
    b.len() >= at + w.len() && b[at..at + w.len()].eq_ignore_ascii_case(w)
}

/// End of a birth anchor starting at `a`, if one does.
fn anchor_at(b: &[u8], a: usize) -> Option<usize> {
    // Word start, or a camel-case hump (`dateOfBirth`).
    let boundary = a == 0
        || !b[a - 1].is_ascii_alphabetic()
        || (b[a].is_ascii_uppercase() && b[a - 1].is_ascii_lowercase());
    if !boundary {
        return None;
    }
    let not_letter_at = |k: usize| !b.get(k).is_some_and(|c| c.is_ascii_alphabetic());
    match lower(b[a]) {
        b'b' => {
            if starts_ci(b, a, b"birth") {
                return Some(a + 5);
            }
            if starts_ci(b, a, b"born") && not_letter_at(a + 4) {
                return Some(a + 4);
            }
        }
        b'd' => {
            if starts_ci(b, a, b"dob") && not_letter_at(a + 3) {
                return Some(a + 3);
            }
            if starts_ci(b, a, b"d.o.b") {
                return Some(a + 5);
            }
        }
        b'n' => {
            // né, née (French), naissance, nacimiento, nascita
            if b.get(a + 1..a + 3) == Some(&[0xC3, 0xA9]) {
                let e = if b.get(a + 3) == Some(&b'e') {
                    a + 4
                } else {
                    a + 3
                };
                return not_letter_at(e).then_some(e);
            }
            for w in [&b"naissance"[..], b"nacimiento", b"nascita"] {
                if starts_ci(b, a, w) {
                    return Some(a + w.len());
                }
            }
        }
        b'g' => {
            for w in [&b"geboren"[..], b"geburt", b"geboorte"] {
                if starts_ci(b, a, w) {
                    return Some(a + w.len());
                }
            }
            if starts_ci(b, a, b"geb.") {
                return Some(a + 4);
            }
        }
        _ => {}
    }
    None
}

/// The first bytes of every birth anchor, for the one pass that tells whether a long text has
/// any (most have none, and then no date is looked at); `anchor_at` checks each candidate.
/// Spelled in lower case, capitalised and upper case and searched with the SIMD packed searcher:
/// an ASCII-case-insensitive automaton (or more than 16 patterns in `AhoCorasick`) falls back to
/// a byte-at-a-time search, which was the costliest part of masking a large clean text.
#[derive(Debug, Clone)]
pub(crate) enum AnchorFinder {
    Packed(Searcher),
    /// Where the CPU has no SIMD the packed searcher needs: the same spellings, slower.
    Automaton(AhoCorasick),
}

impl AnchorFinder {
    /// Whether `found` holds at the start of some candidate in `b`.
    fn any(&self, b: &[u8], mut found: impl FnMut(usize) -> bool) -> bool {
        match self {
            AnchorFinder::Packed(s) => s.find_iter(b).any(|m| found(m.start())),
            AnchorFinder::Automaton(a) => a.find_iter(b).any(|m| found(m.start())),
        }
    }
}

/// The finder for [`anchor_spellings`]: packed where the CPU allows, else an automaton.
pub(crate) fn anchor_finder() -> AnchorFinder {
    let spellings = anchor_spellings();
    let mut builder = aho_corasick::packed::Config::new().builder();
    builder.extend(&spellings);
    match builder.build() {
        Some(s) => AnchorFinder::Packed(s),
        None => AnchorFinder::Automaton(
            AhoCorasick::new(&spellings).expect("a few short literals always build"),
        ),
    }
}

/// The anchors' first three bytes in the casings that occur in practice.
pub(super) fn anchor_spellings() -> Vec<String> {
    const PREFIXES: [&str; 9] = [
        "bir", "bor", "dob", "d.o", "n\u{e9}", "nai", "nac", "nas", "geb",
    ];
    let mut spellings: Vec<String> = vec!["DoB".into()];
    for p in PREFIXES {
        let mut capitalised = p.to_string();
        capitalised[..1].make_ascii_uppercase();
        for s in [p.to_string(), capitalised, p.to_ascii_uppercase()] {
            if !spellings.contains(&s) {
                spellings.push(s);
            }
        }
    }
    spellings
}

/// Texts up to this long skip the search for anchors: starting the packed searcher costs more
/// than `at_digits`'s own look back from the few digit runs that have a date's shape.
const SHORT_TEXT: usize = 256;

/// Whether `b` may hold a birth anchor: `false` only when a long text surely has none.
pub(crate) fn may_have_anchor(finder: &AnchorFinder, b: &[u8]) -> bool {
    b.len() <= SHORT_TEXT || finder.any(b, |start| anchor_at(b, start).is_some())
}

/// The closest birth anchor before `i`, within the window.
fn anchor_before(b: &[u8], i: usize) -> Option<usize> {
    let lo = i.saturating_sub(WINDOW);
    let mut k = i;
    while k > lo {
        let c = b[k - 1];
        if c.is_ascii_digit() || c == b'\n' || c == b';' {
            break;
        }
        // `"created": "` after another member: that member's key is not this date's.
        if c == b',' && k >= 2 && matches!(b[k - 2], b'"' | b'\'') {
            break;
        }
        k -= 1;
    }
    let mut found = None;
    let mut a = k;
    while a < i {
        if matches!(lower(b[a]), b'b' | b'd' | b'n' | b'g')
            && let Some(e) = anchor_at(b, a)
        {
            found = Some(e);
            a = e;
            continue;
        }
        a += 1;
    }
    found
}

fn month_word_end(b: &[u8], p: usize) -> Option<usize> {
    let mut e = p;
    while e < b.len() && (b[e].is_ascii_alphabetic() || b[e] >= 0x80) {
        e += 1;
    }
    if e == p {
        return None;
    }
    if b.get(e) == Some(&b'.') {
        e += 1;
    }
    let mut buf = [0u8; MAX_TOKEN];
    let l = lower_into(&b[p..e], &mut buf)?;
    is_month(l).then_some(e)
}

fn year_ok(y: &[u8]) -> bool {
    match y.len() {
        4 => (1800..=2099).contains(&num(y)),
        2 => true,
        _ => false,
    }
}

/// End of a date starting at `p`.
pub(crate) fn date_at(b: &[u8], p: usize) -> Option<usize> {
    let c = *b.get(p)?;
    if c.is_ascii_digit() {
        let d1 = digits_end(b, p);
        let s = *b.get(d1)?;
        if d1 - p == 4 && matches!(s, b'-' | b'/' | b'.') {
            let d2 = digits_end(b, d1 + 1);
            if !(1..=2).contains(&(d2 - d1 - 1)) || b.get(d2) != Some(&s) {
                return None;
            }
            let d3 = digits_end(b, d2 + 1);
            let (y, m, d) = (&b[p..d1], num(&b[d1 + 1..d2]), num(&b[d2 + 1..d3]));
            return (year_ok(y)
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
                && (1..=2).contains(&(d3 - d2 - 1)))
            .then_some(d3);
        }
        if !(1..=2).contains(&(d1 - p)) {
            return None;
        }
        let a = num(&b[p..d1]);
        if matches!(s, b'-' | b'/' | b'.') && b.get(d1 + 1).is_some_and(u8::is_ascii_digit) {
            let d2 = digits_end(b, d1 + 1);
            if !(1..=2).contains(&(d2 - d1 - 1)) || b.get(d2) != Some(&s) {
                return None;
            }
            let d3 = digits_end(b, d2 + 1);
            let m = num(&b[d1 + 1..d2]);
            let ok = (1..=31).contains(&a)
                && (1..=31).contains(&m)
                && (a <= 12 || m <= 12)
                && year_ok(&b[d2 + 1..d3]);
            return ok.then_some(d3);
        }
        // `3 March 1990`, `3. März 1990`, `3rd of May, 1990`, `1er mai 1990`.
        let mut q = d1;
        for suf in [&b"st"[..], b"nd", b"rd", b"th", b"er", b"."] {
            if b[q..].starts_with(suf) {
                q += suf.len();
                break;
            }
        }
        if b.get(q) != Some(&b' ') || !(1..=31).contains(&a) {
            return None;
        }
        q += 1;
        if b[q..].starts_with(b"of ") {
            q += 3;
        }
        let me = month_word_end(b, q)?;
        let mut y = me;
        if b.get(y) == Some(&b',') {
            y += 1;
        }
        if b.get(y) != Some(&b' ') {
            return None;
        }
        let ye = digits_end(b, y + 1);
        return (ye - y - 1 == 4 && year_ok(&b[y + 1..ye])).then_some(ye);
    }
    // `March 3, 1990`, `Mar 3 1990`.
    let me = month_word_end(b, p)?;
    if b.get(me) != Some(&b' ') {
        return None;
    }
    let d = digits_end(b, me + 1);
    if !(1..=2).contains(&(d - me - 1)) {
        return None;
    }
    let mut q = d;
    for suf in [&b"st"[..], b"nd", b"rd", b"th"] {
        if b[q..].starts_with(suf) {
            q += suf.len();
            break;
        }
    }
    if b.get(q) == Some(&b',') {
        q += 1;
    }
    if b.get(q) != Some(&b' ') {
        return None;
    }
    let ye = digits_end(b, q + 1);
    (ye - q - 1 == 4 && year_ok(&b[q + 1..ye])).then_some(ye)
}

/// The date of birth that covers the digit run starting at `i`, as a byte span.
pub(crate) fn at_digits(b: &[u8], i: usize) -> Option<(usize, usize)> {
    // The date's shape first: most digit runs (amounts, ids, times) have none, and that is
    // cheaper to see than the absence of an anchor.
    if date_at(b, i).is_none() && !month_before(b, i) {
        return None;
    }
    let a = anchor_before(b, i)?;
    // The date starts at the digit run or at a month name between the anchor and it.
    let mut p = a;
    while p <= i {
        let start_ok = p == a || !b[p - 1].is_ascii_alphanumeric();
        if start_ok
            && (b[p].is_ascii_alphanumeric() || b[p] >= 0x80)
            && let Some(e) = date_at(b, p)
            && e > i
        {
            return Some((p, e));
        }
        p += 1;
    }
    None
}

/// Whether a month name and one space come right before `i` (`March 3, 1990`, `Mar. 3 1990`).
fn month_before(b: &[u8], i: usize) -> bool {
    if i < 2 || b[i - 1] != b' ' {
        return false;
    }
    let mut s = i - 1;
    if b[s - 1] == b'.' {
        s -= 1;
    }
    let end = s;
    while s > 0 && (b[s - 1].is_ascii_alphabetic() || b[s - 1] >= 0x80) {
        s -= 1;
    }
    s < end && month_word_end(b, s) == Some(i - 1)
}
