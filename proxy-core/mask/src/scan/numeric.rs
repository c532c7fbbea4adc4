//! Digit-led values: payment cards, IBANs, US SSNs, phone numbers and IPv4 addresses.
//!
//! One pass visits each run of digits once. Runs glued to a word (`abc123`, hex hashes, UUID
//! parts) are skipped whole, except an IBAN's two-letter country code. Every other run is tried
//! against the shapes in turn; each shape is a small parser that bails out on the first byte that
//! does not fit, so ordinary numbers (counts, dates, times, amounts) cost a few comparisons.

use super::validate::{card_ok, iban_length, iban_mod97, ssn_ok};
use super::{
    Enabled, Hit, context_adjacent, escaped, is_word, kind_index, left_ok, left_ok_strict,
    right_ok, right_ok_strict, run_end,
};
use crate::kind::Builtin;

const SSN_CONTEXT: &[&[u8]] = &[
    b"ssn",
    b"social security",
    b"social sec",
    b"tax_id",
    b"taxid",
    b"tax id",
    b"taxpayer id",
];
const PHONE_CONTEXT: &[&[u8]] = &[
    b"phone",
    b"telephone",
    b"tel",
    b"telefon",
    b"mobile",
    b"mob",
    b"cell",
    b"fax",
    b"call",
    b"sms",
    b"whatsapp",
    b"contact",
    b"handy",
];

fn digits_end(b: &[u8], i: usize) -> usize {
    run_end(b, i, |c| c.is_ascii_digit())
}

/// Position of the first ASCII digit at or after `i`, eight bytes at a time (SWAR): a byte is a
/// digit when `byte ^ 0x30 < 10`; the lowest flagged byte of a word is exact.
fn next_digit(b: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let y = w ^ (0x30 * LO);
        let m = y.wrapping_sub(10 * LO) & !y & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(u8::is_ascii_digit).map(|p| i + p)
}

pub(super) fn scan(b: &[u8], en: &Enabled, out: &mut Vec<Hit>) {
    let any = en.any(&[
        Builtin::CreditCard,
        Builtin::Iban,
        Builtin::UsSsn,
        Builtin::Phone,
        Builtin::IpAddress,
    ]);
    if !any {
        return;
    }
    let n = b.len();
    let mut i = 0;
    while i < n {
        match next_digit(b, i) {
            Some(p) => i = p,
            None => return,
        }
        let end = digits_end(b, i);
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        if prev.is_ascii_alphabetic() && !escaped(b, i - 1) || prev == b'_' {
            if en.has(Builtin::Iban)
                && i >= 2
                && b[i - 2].is_ascii_uppercase()
                && prev.is_ascii_uppercase()
                && left_ok(b, i - 2)
                && let Some(e) = iban(b, i - 2)
            {
                out.push(hit(Builtin::Iban, i - 2, e));
                i = e;
                continue;
            }
            // Part of an identifier: skip the rest of the word.
            i = run_end(b, end, is_word);
            continue;
        }
        match at_run(b, i, end, en) {
            Some(h) => {
                i = h.end.max(i + 1);
                out.push(h);
            }
            None => i = end,
        }
    }
}

fn hit(b: Builtin, start: usize, end: usize) -> Hit {
    Hit {
        kind: kind_index(b),
        start,
        end,
    }
}

/// Tries every digit-led shape at the run `b[i..end]`.
fn at_run(b: &[u8], i: usize, end: usize, en: &Enabled) -> Option<Hit> {
    let d = end - i;
    let next = b.get(end).copied().unwrap_or(0);
    let prev = if i > 0 { b[i - 1] } else { 0 };

    if en.has(Builtin::Phone) {
        let e = if prev == b'+' && left_ok_strict(b, i - 1) {
            phone_intl(b, i, false)
        } else if prev == b'(' && next == b')' && left_ok(b, i - 1) {
            phone_paren(b, i - 1)
        } else {
            None
        };
        if let Some(e) = e {
            return Some(hit(Builtin::Phone, i - 1, e));
        }
    }
    if en.has(Builtin::CreditCard)
        && ((12..=19).contains(&d) || (d == 4 && matches!(next, b' ' | b'-')))
        && let Some(e) = card(b, i, end)
    {
        return Some(hit(Builtin::CreditCard, i, e));
    }
    if en.has(Builtin::UsSsn)
        && let Some(e) = ssn(b, i, end)
    {
        return Some(hit(Builtin::UsSsn, i, e));
    }
    if en.has(Builtin::Phone)
        && let Some(e) = phone_national(b, i, end)
    {
        return Some(hit(Builtin::Phone, i, e));
    }
    if en.has(Builtin::IpAddress)
        && d <= 3
        && next == b'.'
        && let Some(e) = ipv4(b, i)
    {
        return Some(hit(Builtin::IpAddress, i, e));
    }
    None
}

// ---- payment cards ----

/// 12–19 digits, compact or in groups (first group of four, then groups of 1–6 joined by one
/// consistent space or dash, covering 4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3 and 4-4-4-1). The longest
/// prefix of the groups that passes issuer and Luhn checks wins.
fn card(b: &[u8], i: usize, end: usize) -> Option<usize> {
    let d = end - i;
    if !left_ok_strict(b, i) {
        return None;
    }
    if d >= 12 {
        return (d <= 19 && right_ok(b, end) && card_ok(&b[i..end])).then_some(end);
    }
    let sep = b[end];
    let mut digits = [0u8; 19];
    digits[..4].copy_from_slice(&b[i..end]);
    let mut count = 4;
    let mut pos = end;
    let mut best = None;
    while pos + 1 < b.len() && b[pos] == sep && b[pos + 1].is_ascii_digit() {
        let g_end = digits_end(b, pos + 1);
        let g = g_end - pos - 1;
        if g > 6 || count + g > 19 {
            break;
        }
        digits[count..count + g].copy_from_slice(&b[pos + 1..g_end]);
        count += g;
        pos = g_end;
        if count >= 12 && right_ok(b, pos) && card_ok(&digits[..count]) {
            best = Some(pos);
        }
    }
    best
}

// ---- IBAN ----

/// Country code, check digits, BBAN; compact or in groups of four separated by single spaces.
/// Length must match the country, mod-97 must hold.
fn iban(b: &[u8], start: usize) -> Option<usize> {
    let len = iban_length([b[start], b[start + 1]])?;
    let mut buf = [0u8; 34];
    let mut count = 0;
    let mut pos = start;
    while count < len {
        let c = *b.get(pos)?;
        if c == b' ' && count % 4 == 0 && count > 0 {
            // Grouped form: a single space exactly between groups of four.
            pos += 1;
            continue;
        }
        if !(c.is_ascii_digit() || c.is_ascii_uppercase()) {
            return None;
        }
        if (2..4).contains(&count) && !c.is_ascii_digit() {
            return None;
        }
        buf[count] = c;
        count += 1;
        pos += 1;
    }
    if !right_ok(b, pos) || !iban_mod97(&buf[..len]) {
        return None;
    }
    Some(pos)
}

// ---- US SSN ----

/// `ddd-dd-dddd` / `ddd dd dddd`, or nine bare digits after "SSN" / "social security".
fn ssn(b: &[u8], i: usize, end: usize) -> Option<usize> {
    let d = end - i;
    if d == 9 {
        let ok = right_ok_strict(b, end)
            && left_ok_strict(b, i)
            && ssn_ok(&b[i..i + 3], &b[i + 3..i + 5], &b[i + 5..i + 9])
            && context_adjacent(b, i, SSN_CONTEXT);
        return ok.then_some(end);
    }
    if d != 3 || b.len() < i + 11 {
        return None;
    }
    let sep = b[end];
    if !matches!(sep, b'-' | b' ') {
        return None;
    }
    let g = &b[i + 4..i + 6];
    let s = &b[i + 7..i + 11];
    let shape = g.iter().all(u8::is_ascii_digit)
        && b[i + 6] == sep
        && s.iter().all(u8::is_ascii_digit)
        && b.get(i + 11).is_none_or(|c| !c.is_ascii_digit());
    let e = i + 11;
    // "123-45-6789-01" is a longer id; "123 45 6789 2024" is an SSN followed by a number.
    let glued = sep == b'-' && e + 1 < b.len() && b[e] == sep && b[e + 1].is_ascii_digit();
    (shape && !glued && left_ok_strict(b, i) && right_ok_strict(b, e) && ssn_ok(&b[i..i + 3], g, s))
        .then_some(e)
}

// ---- phone numbers ----

/// Where a walk over phone digit groups stands at the end of one group.
#[derive(Debug, Clone, Copy)]
struct Groups {
    end: usize,
    digits: usize,
    ngroups: usize,
    /// Digits inside parentheses, such as the trunk `(0)` in `+44 (0)20 ...`.
    paren: usize,
    /// All separators between groups are the same character.
    consistent: bool,
}

/// Walks digit groups from `i` (a digit) joined by one of ` -.` or a parenthesised group such
/// as `(0)` / `(30)`, and returns the end (extension included) of the longest prefix that
/// `accept` takes and that ends cleanly. Groups shorter than `min_group` digits end the walk.
fn best_groups(
    b: &[u8],
    i: usize,
    min_group: usize,
    accept: impl Fn(&Groups) -> bool,
) -> Option<usize> {
    let first = digits_end(b, i);
    let mut g = Groups {
        end: first,
        digits: first - i,
        ngroups: 1,
        paren: 0,
        consistent: true,
    };
    let mut first_sep = None;
    let mut best = None;
    loop {
        if accept(&g)
            && let Some(e) = phone_end(b, g.end)
        {
            best = Some(e);
        }
        let mut p = g.end;
        let mut sep = None;
        if p < b.len() && matches!(b[p], b' ' | b'-' | b'.') {
            sep = Some(b[p]);
            p += 1;
        }
        let mut paren = 0;
        if p < b.len() && b[p] == b'(' {
            let q = digits_end(b, p + 1);
            let n = q - p - 1;
            if !((1..=4).contains(&n) && q < b.len() && b[q] == b')') {
                break;
            }
            paren = n;
            p = q + 1;
            if p < b.len() && matches!(b[p], b' ' | b'-') {
                p += 1;
            }
            sep = Some(b'(');
        }
        if sep.is_none() || p >= b.len() || !b[p].is_ascii_digit() {
            break;
        }
        let q = digits_end(b, p);
        if q - p < min_group || g.digits + paren + (q - p) > 20 {
            break;
        }
        if let Some(s) = sep.filter(|s| *s != b'(') {
            match first_sep {
                None => first_sep = Some(s),
                Some(f) if f != s => g.consistent = false,
                _ => {}
            }
        }
        g.digits += paren + q - p;
        g.paren += paren;
        g.ngroups += 1;
        g.end = q;
    }
    best
}

/// Optional extension after a phone number: `x123`, ` ext. 123`, ` #123`.
fn extension(b: &[u8], e: usize) -> usize {
    let mut p = e;
    if p < b.len() && b[p] == b' ' {
        p += 1;
    }
    let rest = &b[p.min(b.len())..];
    let lead = if rest.len() >= 4 && rest[..4].eq_ignore_ascii_case(b"ext.") {
        4
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"ext") {
        3
    } else if !rest.is_empty() && matches!(rest[0], b'x' | b'X' | b'#') {
        1
    } else {
        return e;
    };
    p += lead;
    if p < b.len() && b[p] == b' ' {
        p += 1;
    }
    let q = digits_end(b, p);
    if (1..=6).contains(&(q - p)) && right_ok(b, q) {
        q
    } else {
        e
    }
}

/// Finishes a phone match ending at `e`: the number must not run on into a word or another
/// number; an extension is included.
fn phone_end(b: &[u8], e: usize) -> Option<usize> {
    let x = extension(b, e);
    if x > e {
        return Some(x);
    }
    right_ok_strict(b, e).then_some(e)
}

/// After `+` (or `00`): country code and subscriber number, 8–15 digits (a trunk `(0)` may add
/// one). The `00` form needs at least two groups: a bare run starting `00` is not a phone number.
fn phone_intl(b: &[u8], i: usize, zero_zero: bool) -> Option<usize> {
    // A long first group is the compact form ("+441414960126"): digits after a space belong to
    // something else ("+441414960126 854 40 5396" is a phone number then an SSN).
    let compact = digits_end(b, i) - i >= 7;
    best_groups(b, i, 1, |g| {
        let d = g.digits - g.paren.min(1) - if zero_zero { 2 } else { 0 };
        (8..=15).contains(&d) && (!zero_zero || g.ngroups >= 2) && (!compact || g.ngroups == 1)
    })
}

/// `(ddd) ddd-dddd` (US) or `(0ddd) dddddd` (European trunk prefix), `b[start] == '('`.
fn phone_paren(b: &[u8], start: usize) -> Option<usize> {
    let i = start + 1;
    let close = digits_end(b, i);
    let d = close - i;
    if b[i] == b'0' {
        if !(2..=5).contains(&d) {
            return None;
        }
        let mut p = close + 1;
        if p < b.len() && matches!(b[p], b' ' | b'-') {
            p += 1;
        }
        if p >= b.len() || !b[p].is_ascii_digit() {
            return None;
        }
        return best_groups(b, p, 2, |g| {
            (9..=12).contains(&(d + g.digits)) && g.consistent
        });
    }
    us_core(b, start)
}

/// The US/NANP shape from `p`: `(ddd)`, `(ddd) `, `ddd-`, `ddd.` or `ddd ` then `ddd`, the same
/// separator, `dddd`.
fn us_core(b: &[u8], p: usize) -> Option<usize> {
    let three = |at: usize| at + 3 <= b.len() && b[at..at + 3].iter().all(u8::is_ascii_digit);
    let mut q;
    if b.get(p) == Some(&b'(') {
        if !three(p + 1) || b.get(p + 4) != Some(&b')') {
            return None;
        }
        q = p + 5;
        if q < b.len() && matches!(b[q], b' ' | b'-' | b'.') {
            q += 1;
        }
    } else {
        if !three(p) || !matches!(b.get(p + 3), Some(b'-' | b'.' | b' ')) {
            return None;
        }
        q = p + 4;
    }
    if !three(q) || b.get(q + 3).is_none_or(|c| c.is_ascii_digit()) {
        return None;
    }
    let sep = b[q + 3];
    if !matches!(sep, b'-' | b'.' | b' ') {
        return None;
    }
    if b.get(p) != Some(&b'(') && sep != b[p + 3] {
        return None;
    }
    let r = q + 4;
    if r + 4 > b.len() || !b[r..r + 4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.get(r + 4).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    phone_end(b, r + 4)
}

/// National numbers without `+`: NANP (optionally `1-` first), `00` international prefix,
/// European trunk-`0` numbers in groups, or a bare 9–15 digit run right after a phone word.
fn phone_national(b: &[u8], i: usize, end: usize) -> Option<usize> {
    let d = end - i;
    let next = b.get(end).copied().unwrap_or(0);
    if !left_ok_strict(b, i) {
        return None;
    }
    let sep_next =
        matches!(next, b' ' | b'-' | b'.') && b.get(end + 1).is_some_and(u8::is_ascii_digit);
    if d == 3 && sep_next && b[i] != b'0' {
        return us_core(b, i);
    }
    if d == 1 && b[i] == b'1' && sep_next {
        return us_core(b, i + 2);
    }
    if d >= 3
        && b[i] == b'0'
        && b[i + 1] == b'0'
        && let Some(e) = phone_intl(b, i, true)
    {
        return Some(e);
    }
    // Trunk 0 then an area code, which never starts with 0.
    if (2..=5).contains(&d) && b[i] == b'0' && b[i + 1] != b'0' && (sep_next || next == b'(') {
        return best_groups(b, i, 2, |g| {
            (9..=12).contains(&(g.digits - g.paren)) && g.ngroups >= 2 && g.consistent
        });
    }
    if (9..=15).contains(&d) && right_ok_strict(b, end) && context_adjacent(b, i, PHONE_CONTEXT) {
        return phone_end(b, end);
    }
    None
}

// ---- IPv4 ----

/// Four decimal octets 0–255 without leading zeros, not part of a longer dotted run.
fn ipv4(b: &[u8], i: usize) -> Option<usize> {
    if !left_ok_strict(b, i) {
        return None;
    }
    let mut p = i;
    for k in 0..4 {
        let e = digits_end(b, p);
        let n = e - p;
        if n == 0 || n > 3 || (n > 1 && b[p] == b'0') {
            return None;
        }
        let v: u32 = b[p..e].iter().fold(0, |a, c| a * 10 + (c - b'0') as u32);
        if v > 255 {
            return None;
        }
        p = e;
        if k < 3 {
            if b.get(p) != Some(&b'.') {
                return None;
            }
            p += 1;
        }
    }
    if p < b.len() && b[p] == b'.' && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    right_ok(b, p).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Enabled {
        let mut e = Enabled::default();
        for b in Builtin::ALL {
            e.set(b);
        }
        e
    }

    fn found(text: &str) -> Vec<(&'static str, &str)> {
        let mut hits = Vec::new();
        scan(text.as_bytes(), &all(), &mut hits);
        hits.iter()
            .map(|h| (Builtin::ALL[h.kind as usize].name(), &text[h.start..h.end]))
            .collect()
    }

    #[test]
    fn cards_compact_spaced_dashed() {
        assert_eq!(
            found("pay 4111111111111111 now"),
            [("credit_card", "4111111111111111")]
        );
        assert_eq!(
            found("card: 4111 1111 1111 1111, exp 12/29"),
            [("credit_card", "4111 1111 1111 1111")]
        );
        assert_eq!(
            found("amex 3782-822463-10005."),
            [("credit_card", "3782-822463-10005")]
        );
        // A year after a grouped card is not part of it.
        assert_eq!(
            found("5555 5555 5555 4444 2029"),
            [("credit_card", "5555 5555 5555 4444")]
        );
    }

    #[test]
    fn card_near_misses() {
        // Not Luhn-valid.
        assert!(found("order 4111111111111112").is_empty());
        // Luhn-valid but no issuer range starts with 1.
        assert!(found("ts 1234567812345670").is_empty());
        // Part of an identifier or a longer number.
        assert!(found("id=tx4111111111111111").is_empty());
        assert!(found("41111111111111110000").is_empty());
        // Epoch milliseconds, version strings, mixed separators.
        assert!(found("at 1716543210123 v4.1.11").is_empty());
        assert!(found("4111 1111-1111 1111").is_empty());
    }

    #[test]
    fn ibans() {
        assert_eq!(
            found("to DE89370400440532013000."),
            [("iban", "DE89370400440532013000")]
        );
        assert_eq!(
            found("IBAN: GB82 WEST 1234 5698 7654 32 thanks"),
            [("iban", "GB82 WEST 1234 5698 7654 32")]
        );
        // Wrong check digits, unknown country, wrong length.
        assert!(found("DE88370400440532013000").is_empty());
        assert!(found("US89370400440532013000").is_empty());
        assert!(found("DE8937040044053201300").is_empty());
    }

    #[test]
    fn ssns() {
        assert_eq!(found("ssn 123-45-6789"), [("us_ssn", "123-45-6789")]);
        assert_eq!(found("123 45 6789"), [("us_ssn", "123 45 6789")]);
        assert_eq!(found("SSN: 123456789"), [("us_ssn", "123456789")]);
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(found(bad).is_empty(), "{bad}: {:?}", found(bad));
        }
        // Bare nine digits without context are not an SSN; nor a part of a longer dashed id.
        assert!(found("order 123456789").is_empty());
        assert!(found("123-45-6789-01").is_empty());
    }

    #[test]
    fn phones() {
        for p in [
            "(591)341-7776",
            "206.269.0743x9150",
            "+1-780-563-6083x7783",
            "797-386-9073",
            "(783) 703-8836",
            "1-800-555-0199",
            "+44 20 7946 0958",
            "+44(0)115 4960914",
            "(0161) 4960066",
            "+49 (0) 9141 777631",
            "03662 585178",
            "04 15 39 15 00",
            "+33 (0)1 41 63 60 83",
            "0044 20 7946 0958",
            "001-555-123-4567",
            "+14155552671",
        ] {
            let text = format!("call {p} today");
            assert_eq!(found(&text), [("phone", p)], "{p}");
        }
        assert_eq!(found("Tel: 00008063608"), [("phone", "00008063608")]);
        // A compact E.164 number does not swallow the number after it.
        assert_eq!(
            found("fax +441414960126 854 40 5396"),
            [("phone", "+441414960126"), ("us_ssn", "854 40 5396")]
        );
    }

    #[test]
    fn phone_near_misses() {
        for t in [
            "2024-05-01 12:30:45",
            "ORD-555-123-4567",
            "id 5551234567",
            "01.02.2024 10:00",
            "version 10.0.19041.1",
            "+12.50 EUR",
            "1234567890123",
            "555-1234",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }

    #[test]
    fn ipv4s() {
        assert_eq!(found("from 10.0.0.1:8080"), [("ip_address", "10.0.0.1")]);
        assert_eq!(found("192.168.1.254/24"), [("ip_address", "192.168.1.254")]);
        for t in [
            "1.2.3.4.5",
            "v1.2.3.4",
            "256.1.1.1",
            "1.2.3",
            "01.02.03.04",
            "1.3.6.1.4.1",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }

    #[test]
    fn raw_json_escapes_are_separators() {
        let text = r#"{"t":"line\n4111111111111111\tend"}"#;
        assert_eq!(found(text), [("credit_card", "4111111111111111")]);
    }
}
