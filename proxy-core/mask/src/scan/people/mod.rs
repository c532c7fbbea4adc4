//! Detectors for people: person names, postal addresses and dates of birth.
//!
//! Two cheap passes: one over capitals for names (`names`), one over digit runs for addresses
//! (a house number next to a street word) and dates of birth (a date after a birth anchor).
//! Text with neither capitals nor digits is never looked at twice.

mod address;
mod dob;
mod gazetteer;
mod names;
mod words;

use super::Hit;

/// Length of the letter starting at `i` (ASCII or any alphabetic Unicode character), 0 if there
/// is none. `®`, `’` and other symbols are not letters.
#[inline]
pub(crate) fn letter_len(b: &[u8], i: usize) -> usize {
    let c = b[i];
    if c.is_ascii_alphabetic() {
        return 1;
    }
    if c < 0xC0 {
        return 0;
    }
    let len = if c >= 0xF0 {
        4
    } else if c >= 0xE0 {
        3
    } else {
        2
    };
    match b.get(i..i + len).and_then(|s| std::str::from_utf8(s).ok()) {
        Some(s) if s.chars().next().is_some_and(char::is_alphabetic) => len,
        _ => 0,
    }
}

/// End of the word at `i`: letters, with `'` or `-` between letters (`O'Brien`,
/// `Okonjo-Iweala`); `i` when there is none.
pub(crate) fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let l = letter_len(b, i);
        if l > 0 {
            i += l;
        } else if matches!(b[i], b'\'' | b'-') && i + 1 < b.len() && letter_len(b, i + 1) > 0 {
            i += 1;
        } else {
            break;
        }
    }
    i
}

pub(crate) use dob::{AnchorFinder, anchor_finder, may_have_anchor};
pub(crate) use gazetteer::Gazetteer;
pub(crate) use names::scan as scan_names;

/// Addresses and dates of birth, from each digit run that starts a word. `dob` is the date
/// detector's index when it is on and the text has a birth anchor somewhere (one literal
/// search decides; most texts have none).
pub(crate) fn scan_digits(b: &[u8], address: Option<u16>, dob: Option<u16>, out: &mut Vec<Hit>) {
    let n = b.len();
    let mut i = 0;
    while i < n {
        // Skip eight bytes at a time while none is a digit.
        while i + 8 <= n {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            if has_digit(x) {
                break;
            }
            i += 8;
        }
        if i >= n {
            break;
        }
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut e = i + 1;
        while e < n && b[e].is_ascii_digit() {
            e += 1;
        }
        let left = i == 0 || {
            let p = b[i - 1];
            !(p.is_ascii_alphanumeric() || p == b'_' || p == b'.' || p >= 0x80)
                || (p == b'n' && i >= 2 && b[i - 2] == b'\\')
        };
        if left {
            if let Some(kind) = dob
                && let Some((s, t)) = dob::at_digits(b, i)
            {
                out.push(Hit {
                    kind,
                    start: s,
                    end: t,
                });
                i = t;
                continue;
            }
            if let Some(kind) = address
                && may_be_address(b, i, e)
                && let Some((s, t)) = address::at_number(b, i, e)
            {
                out.push(Hit {
                    kind,
                    start: s,
                    end: t,
                });
                i = t;
                continue;
            }
        }
        i = e;
    }
}

/// Whether any byte of `x` (eight ASCII or UTF-8 bytes) is an ASCII digit.
#[inline]
fn has_digit(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes >= 0x80 are cleared first so that the adds below cannot carry between bytes.
    let ascii = x & !HIGH;
    let ge_0 = ascii + ONES * (0x80 - b'0' as u64);
    let gt_9 = ascii + ONES * (0x80 - b'9' as u64 - 1);
    (ge_0 & !gt_9 & !x & HIGH) != 0
}

/// The bytes around a house number that an address needs: a space or comma after it (`12
/// Main`, `12, rue`), a letter and space (`12a Main`), or a word and space before it
/// (`Hauptstraße 5`), or `, ` before a postcode (`avenue Foch, 75116`).
#[inline]
fn may_be_address(b: &[u8], i: usize, e: usize) -> bool {
    let after = b.get(e).copied().unwrap_or(0);
    let before = if i > 0 { b[i - 1] } else { 0 };
    matches!(after, b' ' | b',' | b'-' | b'/')
        || (after.is_ascii_alphabetic() && b.get(e + 1) == Some(&b' '))
        || before == b' '
}

/// Whether a value under a name key looks like a person's name: one to five words of letters
/// (initials, `'`, `-` and particles allowed), no digits or other punctuation, and either a
/// capital or a known name among them. `report.pdf`, `db-primary` and `query` are not names.
pub(crate) fn looks_like_name(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() || v.len() > 80 {
        return false;
    }
    let g = Gazetteer::get();
    let mut words = 0;
    let mut signal = false;
    for w in v.split([' ', ',']).filter(|w| !w.is_empty()) {
        words += 1;
        let core = w.strip_suffix('.').unwrap_or(w);
        if words > 5
            || core.is_empty()
            || !core
                .chars()
                .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
            || (w.ends_with('.') && core.chars().count() > 1)
        {
            return false;
        }
        let first = core.chars().next().is_some_and(char::is_uppercase);
        if core.contains('-') && !first {
            return false;
        }
        let mut buf = [0u8; gazetteer::MAX_TOKEN];
        signal |= first
            || gazetteer::lower_into(core.as_bytes(), &mut buf).is_some_and(|l| g.flags(l) != 0);
    }
    signal
}

/// Whether a value under an address key looks like an address line: words with letters and a
/// space. `10.0.0.1`, `0x7ffd` and `jo@example.com` are not.
pub(crate) fn looks_like_address(v: &str) -> bool {
    let v = v.trim();
    v.len() <= 300 && v.contains(' ') && v.chars().any(char::is_alphabetic) && !v.contains('@')
}

/// Whether a value under a postcode key looks like one: up to ten letters, digits, spaces and
/// dashes with at least one digit (`10115`, `SW1A 1AA`, `1012 AB`, `62704-1234`).
pub(crate) fn looks_like_postcode(v: &str) -> bool {
    let v = v.trim();
    !v.is_empty()
        && v.len() <= 10
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
}

#[cfg(test)]
mod tests;
