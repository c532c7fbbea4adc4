//! Postal addresses: a street line found from its house number, then the postcode and town
//! lines that follow it.
//!
//! * English and French order, number first: `221B Baker Street`, `12, rue de la Paix`;
//! * German, Dutch, Italian and Spanish order, number last: `Hauptstraße 5`, `Kerkstraat 12`,
//!   `Via Roma 3`;
//! * then, joined by `, ` or a line break: `Springfield, IL 62704` (US), `London SW1A 1AA`
//!   (UK), `10115 Berlin` (DE, FR), `1012 AB Amsterdam` (NL), `Apt. 4`.
//!
//! Only a digit run can start the work, and only one next to a street word goes further.

use super::gazetteer::{MAX_TOKEN, lower_into};
use super::word_end;
use super::words::{
    has_glued_suffix, is_en_suffix, is_fr_type, is_prefix_type, is_strong_suffix, is_unit,
    is_us_state,
};

/// Longest address we report; real ones are far shorter.
const MAX_SPAN: usize = 200;

#[inline]
fn letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c >= 0x80
}

#[inline]
fn upper(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(c) if c.is_ascii_uppercase() => true,
        Some(c) if *c >= 0xC0 => std::str::from_utf8(&b[i..(i + 4).min(b.len())])
            .ok()
            .or_else(|| std::str::from_utf8(&b[i..(i + 2).min(b.len())]).ok())
            .and_then(|s| s.chars().next())
            .is_some_and(char::is_uppercase),
        _ => false,
    }
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

fn with_lower<R>(w: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    let mut buf = [0u8; MAX_TOKEN];
    lower_into(w, &mut buf).map(f)
}

/// The address whose house number is the digit run `[i, e)`, as a byte span.
pub(crate) fn at_number(b: &[u8], i: usize, e: usize) -> Option<(usize, usize)> {
    if e - i > 5 {
        return None;
    }
    let found = forward(b, i, e).or_else(|| backward(b, i, e));
    let Some((start, line_end, weak)) = found else {
        return numberless_street(b, i);
    };
    let (end, postal) = tail(b, line_end);
    // `6 Pack Light`, `Olivijn 1303`: without a street type that is only a street type, the
    // line counts when a postcode follows it.
    if weak && !postal {
        return numberless_street(b, i);
    }
    (end - start <= MAX_SPAN).then_some((start, end))
}

/// `avenue Amélie Bodin, 68378 Huet`: a street without a house number, found from the postcode
/// that follows it.
fn numberless_street(b: &[u8], i: usize) -> Option<(usize, usize)> {
    if i < 4 || b[i - 1] != b' ' || b[i - 2] != b',' {
        return None;
    }
    let (end, _) = segment(b, i)?;
    // The line before the comma: from its start (after a quote, a line break, `: `) it must
    // begin with a French street type or end with a glued street word.
    let line_end = i - 2;
    let mut s = line_end;
    while s > 0
        && line_end - s < 60
        && !matches!(b[s - 1], b'"' | b'\n' | b':' | b',' | b'.' | b'(' | b'\\')
    {
        s -= 1;
    }
    while s < line_end && b[s] == b' ' {
        s += 1;
    }
    let we = word_end(b, s);
    if we == s {
        return None;
    }
    let first = with_lower(&b[s..we], is_fr_type).unwrap_or(false);
    let lw = {
        let mut k = line_end;
        while k > s && letter(b[k - 1]) {
            k -= 1;
        }
        k
    };
    let glued = lw < line_end && with_lower(&b[lw..line_end], has_glued_suffix).unwrap_or(false);
    (first || glued).then_some((s, end))
}

/// House-number suffix: `12a`, `12-14`, `5/3`.
fn number_end(b: &[u8], e: usize) -> usize {
    if e < b.len() && b[e].is_ascii_alphabetic() && !b.get(e + 1).is_some_and(|c| letter(*c)) {
        return e + 1;
    }
    if e + 1 < b.len() && matches!(b[e], b'-' | b'/') && b[e + 1].is_ascii_digit() {
        return digits_end(b, e + 1);
    }
    e
}

/// `12 Main Street`, `12, rue de la Paix`, `5th Avenue` after `700 `. The flag says the street
/// type is also a common noun (`Light`, `Mill`), so the line alone is not enough.
fn forward(b: &[u8], i: usize, e: usize) -> Option<(usize, usize, bool)> {
    let mut j = number_end(b, e);
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    let first = j;
    let c = *b.get(j)?;
    // Cheap rejection before any word work: a street name starts with a capital, a digit
    // (`5th`) or a lower-case French street type.
    if !(c.is_ascii_uppercase()
        || c >= 0xC0
        || c.is_ascii_digit()
        || matches!(
            c,
            b'r' | b'a' | b'b' | b'c' | b'i' | b'p' | b'q' | b's' | b'v' | b'f' | b'h'
        ))
    {
        return None;
    }
    let we = word_end(b, j);
    if we == j && !c.is_ascii_digit() {
        return None;
    }
    if we > j && with_lower(&b[j..we], is_fr_type)? {
        // French order: the type, then the name up to the end of the words.
        let mut end = we;
        let mut k = we;
        for _ in 0..6 {
            if b.get(k) != Some(&b' ') {
                break;
            }
            let ne = word_end(b, k + 1);
            if ne == k + 1 {
                break;
            }
            end = ne;
            k = ne;
        }
        return (end > we).then_some((i, end, false));
    }
    if !(c.is_ascii_uppercase() || c >= 0xC0 || c.is_ascii_digit()) {
        return None;
    }
    // English order: capitalised words (`Main Street`, `Sergeant John V Young Bend`, `Prom. J
    // Ph Rameau`), strong when one is a street type.
    let mut k = first;
    let mut end = None;
    let mut suffix_seen = false;
    let mut strong = false;
    for n in 0..8 {
        let ws = k;
        let we = if b[ws].is_ascii_digit() {
            // Ordinal street names: `5th`, `42nd`.
            let d = digits_end(b, ws);
            let w = word_end(b, d);
            if n > 0 || !matches!(&b[d..w], b"st" | b"nd" | b"rd" | b"th") {
                break;
            }
            w
        } else {
            word_end(b, ws)
        };
        if we == ws {
            break;
        }
        let (suffix, strong_suffix, particle) = with_lower(&b[ws..we], |w| {
            (
                n > 0 && is_en_suffix(w),
                n > 0 && is_strong_suffix(w),
                n > 0
                    && matches!(
                        w,
                        b"de"
                            | b"la"
                            | b"du"
                            | b"des"
                            | b"le"
                            | b"les"
                            | b"by"
                            | b"on"
                            | b"of"
                            | b"the"
                            | b"van"
                            | b"der"
                            | b"del"
                            | b"di"
                    ),
            )
        })
        .unwrap_or((false, false, false));
        if (!upper(b, ws) && !b[ws].is_ascii_digit() && !suffix && !particle)
            || (n > 0 && with_lower(&b[ws..we], is_unit).unwrap_or(false))
        {
            // A unit (`Suite 360`) is for `tail`.
            break;
        }
        let mut stop = we;
        if b.get(we) == Some(&b'.') {
            stop = we + 1;
        }
        if !particle {
            end = Some(stop);
        }
        suffix_seen |= suffix;
        strong |= strong_suffix;
        if b.get(stop) != Some(&b' ')
            || !b
                .get(stop + 1)
                .is_some_and(|c| letter(*c) || c.is_ascii_digit())
        {
            break;
        }
        k = stop + 1;
    }
    let end = end?;
    let weak = !strong;
    let _ = suffix_seen;
    // A compass point after the type: `Main St NW`.
    let we = word_end(b, end + 1);
    let end = if b.get(end) == Some(&b' ')
        && matches!(
            &b[end + 1..we],
            b"N" | b"S" | b"E" | b"W" | b"NE" | b"NW" | b"SE" | b"SW"
        ) {
        we
    } else {
        end
    };
    Some((i, end, weak))
}

/// `Hauptstraße 5`, `Bahnhofstr. 12`, `Berliner Allee 3`, `Via Roma 12`: the street name ends
/// right before the house number. The flag says no street word was seen (`De Tjonger 264`), so
/// a postcode must follow.
fn backward(b: &[u8], i: usize, e: usize) -> Option<(usize, usize, bool)> {
    if i < 3 || b[i - 1] != b' ' {
        return None;
    }
    let end = number_end(b, e);
    let mut we = i - 1;
    let dot = b[we - 1] == b'.';
    if dot {
        we -= 1;
    }
    if !letter(b[we - 1]) {
        return None;
    }
    // Cheap exit for `took 123 ms`: a street name before its number is capitalised.
    let mut ws = we;
    while ws > 0 && (letter(b[ws - 1]) || b[ws - 1] == b'-') {
        ws -= 1;
    }
    if !upper(b, ws) {
        return None;
    }
    // Up to four words back, separated by single spaces.
    let mut starts = [0usize; 4];
    let mut ends = [0usize; 4];
    let mut n = 0;
    let mut k = we;
    while n < 4 {
        let mut s = k;
        while s > 0 && (letter(b[s - 1]) || (b[s - 1] == b'-' && s >= 2 && letter(b[s - 2]))) {
            s -= 1;
        }
        if s == k {
            break;
        }
        starts[n] = s;
        ends[n] = k;
        n += 1;
        if s < 2 || b[s - 1] != b' ' || !letter(b[s - 2]) {
            break;
        }
        k = s - 1;
    }
    if n == 0 || !upper(b, starts[0]) && !b[starts[0]].is_ascii_lowercase() {
        return None;
    }
    let last_end = if dot { ends[0] + 1 } else { ends[0] };
    let glued = with_lower(&b[starts[0]..last_end], has_glued_suffix).unwrap_or(false);
    if glued && upper(b, starts[0]) {
        let whole = with_lower(&b[starts[0]..last_end], |w| {
            matches!(
                w,
                b"allee"
                    | b"weg"
                    | b"platz"
                    | b"ring"
                    | b"markt"
                    | b"straat"
                    | b"laan"
                    | b"plein"
                    | b"damm"
                    | b"ufer"
                    | b"gasse"
            ) || w == "straße".as_bytes()
                || w == "brücke".as_bytes()
        })
        .unwrap_or(false);
        // `Berliner Allee 3`: the type alone takes the word before it.
        let start = if whole && n > 1 && upper(b, starts[1]) {
            starts[1]
        } else {
            starts[0]
        };
        return Some((start, end, false));
    }
    // `Via Roma 12`, `Calle Mayor 5`, `Am Markt 3`.
    for w in 1..n {
        if upper(b, starts[w])
            && with_lower(&b[starts[w]..ends[w]], is_prefix_type).unwrap_or(false)
        {
            return Some((starts[w], end, false));
        }
    }
    // Capitalised words alone (`Olivijn 1303`, `De Tjonger 264`, `Jan van Scorelstraat`).
    let mut start = None;
    for w in 0..n {
        let cap = upper(b, starts[w]);
        let particle = matches!(
            &b[starts[w]..ends[w]],
            b"van" | b"de" | b"der" | b"den" | b"la" | b"le" | b"du" | b"von"
        );
        if cap {
            start = Some(starts[w]);
        } else if !particle {
            break;
        }
    }
    start.map(|s| (s, end, true))
}

/// Line separator after an address part: `, `, `,`, a line break (raw or as a JSON `\n`).
fn sep(b: &[u8], p: usize) -> Option<usize> {
    match b.get(p)? {
        b',' => Some(if b.get(p + 1) == Some(&b' ') {
            p + 2
        } else {
            p + 1
        }),
        b'\n' => Some(p + 1),
        b'\\' if b.get(p + 1) == Some(&b'n') => Some(p + 2),
        _ => None,
    }
}

/// Capitalised words (a town): `Springfield`, `New York`, `Frankfurt am Main`.
fn town_end(b: &[u8], p: usize) -> Option<usize> {
    if !upper(b, p) {
        return None;
    }
    let mut end = word_end(b, p);
    if end == p {
        return None;
    }
    // Lower-case letters must follow the capital: `NY` is not a town.
    if !b
        .get(p + 1)
        .is_some_and(|c| c.is_ascii_lowercase() || *c >= 0x80)
    {
        return None;
    }
    for _ in 0..3 {
        if b.get(end) != Some(&b' ') {
            break;
        }
        let we = word_end(b, end + 1);
        if we == end + 1 {
            break;
        }
        let w = &b[end + 1..we];
        let particle = matches!(
            w,
            b"am"
                | b"an"
                | b"upon"
                | b"on"
                | b"sur"
                | b"en"
                | b"de"
                | b"le"
                | b"la"
                | b"aan"
                | b"den"
                | b"im"
                | b"in"
        );
        let capital_word = upper(b, end + 1)
            && b.get(end + 2)
                .is_some_and(|c| c.is_ascii_lowercase() || *c >= 0x80);
        if !capital_word && !particle {
            break;
        }
        end = we;
    }
    Some(end)
}

/// UK postcode at `p`: `SW1A 1AA`, `M1 1AE`, `EC1A 1BB`.
fn uk_postcode_end(b: &[u8], p: usize) -> Option<usize> {
    let up = |k: usize| b.get(k).is_some_and(|c| c.is_ascii_uppercase());
    let dg = |k: usize| b.get(k).is_some_and(|c| c.is_ascii_digit());
    let mut k = p;
    if !up(k) {
        return None;
    }
    k += 1;
    if up(k) {
        k += 1;
    }
    if !dg(k) {
        return None;
    }
    k += 1;
    if up(k) || dg(k) {
        k += 1;
    }
    if b.get(k) != Some(&b' ') {
        return None;
    }
    k += 1;
    if !(dg(k) && up(k + 1) && up(k + 2)) {
        return None;
    }
    k += 3;
    (!b.get(k).is_some_and(|c| c.is_ascii_alphanumeric())).then_some(k)
}

/// One line after the street: postcode and town, town and state and ZIP, a UK postcode, a
/// unit. Returns its end.
/// The flag says it held a postcode (not only a unit or a 4-digit number and a word).
fn segment(b: &[u8], p: usize) -> Option<(usize, bool)> {
    let c = *b.get(p)?;
    if c.is_ascii_digit() {
        let d = digits_end(b, p);
        let len = d - p;
        if len == 4
            && b.get(d..d + 2)
                .is_some_and(|x| x.iter().all(u8::is_ascii_uppercase))
            && b.get(d + 2) == Some(&b' ')
        {
            // NL without the space: `2496LH Zelhem`.
            return Some((town_end(b, d + 3).unwrap_or(d + 2), true));
        }
        if len == 4 && b.get(d) == Some(&b' ') {
            // NL `1012 AB Amsterdam`, or a 4-digit postcode and town (BE, AT, CH, DK).
            let q = d + 1;
            if b.get(q..q + 2)
                .is_some_and(|x| x.iter().all(u8::is_ascii_uppercase))
                && b.get(q + 2) == Some(&b' ')
            {
                return Some((town_end(b, q + 3).unwrap_or(q + 2), true));
            }
            return town_end(b, q).map(|e| (e, false));
        }
        if len == 5 && b.get(d) == Some(&b' ') {
            return town_end(b, d + 1).map(|e| (e, true));
        }
        return None;
    }
    if let Some(e) = uk_postcode_end(b, p) {
        return Some((e, true));
    }
    let ws = p;
    let we = word_end(b, ws);
    if we > ws && with_lower(&b[ws..we], is_unit).unwrap_or(false) {
        let mut k = we;
        if b.get(k) == Some(&b'.') {
            k += 1;
        }
        if b.get(k) == Some(&b' ') {
            k += 1;
        }
        if b.get(k) == Some(&b'#') {
            k += 1;
        }
        let e = digits_end(b, k);
        if e > k {
            return Some((number_end(b, e), false));
        }
        return None;
    }
    let t = town_end(b, p)?;
    // Town, then state and ZIP (US) or a postcode (UK).
    let mut q = t;
    if b.get(q) == Some(&b',') {
        q += 1;
    }
    if b.get(q) == Some(&b' ') {
        q += 1;
    }
    if q + 2 <= b.len() && is_us_state(&b[q..q + 2]) && b.get(q + 2) == Some(&b' ') {
        let z = q + 3;
        let ze = digits_end(b, z);
        if ze - z == 5 {
            let mut end = ze;
            if b.get(ze) == Some(&b'-') && digits_end(b, ze + 1) == ze + 5 {
                end = ze + 5;
            }
            return Some((end, true));
        }
    }
    if let Some(e) = uk_postcode_end(b, q) {
        return Some((e, true));
    }
    // Town alone on its line, then a UK postcode on the next.
    if let Some(n) = sep(b, t)
        && let Some(e) = uk_postcode_end(b, n)
    {
        return Some((e, true));
    }
    None
}

/// Extends a street line over the lines that follow it; says whether a postcode was among them.
fn tail(b: &[u8], mut end: usize) -> (usize, bool) {
    let mut postal = false;
    // `12 Main St Apt 4` (a unit after a space).
    if b.get(end) == Some(&b' ')
        && word_end(b, end + 1) > end + 1
        && with_lower(&b[end + 1..word_end(b, end + 1)], is_unit).unwrap_or(false)
        && let Some((e, _)) = segment(b, end + 1)
    {
        end = e;
    }
    for _ in 0..3 {
        let p = match sep(b, end) {
            Some(p) => p,
            // `Hauptstraße 5 10115 Berlin`: postcode after a space.
            None if b.get(end) == Some(&b' ') && b.get(end + 1).is_some_and(u8::is_ascii_digit) => {
                end + 1
            }
            None => break,
        };
        match segment(b, p) {
            Some((e, p)) => {
                end = e;
                postal |= p;
            }
            None => break,
        }
    }
    (end, postal)
}
