//! Person names in text: runs of capitalised words in which a known given name is followed by
//! a known surname (`Ada Lovelace`, `José María García`, `Ngozi Okonjo-Iweala`, `Jan van der
//! Berg`), or one or more known names after a title (`Mr Smith`, `Dr. Chen`, `Frau Müller`).
//!
//! Only a byte that starts a capitalised word can start a name, so text without capitals costs
//! one pass over its bytes. Words are lower-cased into a stack buffer and looked up in the
//! gazetteer; nothing is allocated per word. Common capitalised words (sentence starts,
//! months, place and product words) never count as names, whatever the gazetteer says.

use super::gazetteer::{GIVEN, Gazetteer, MAX_TOKEN, SURNAME, lower_into};
use crate::scan::Hit;

/// Most words considered in one run (titles and particles included).
const MAX_WORDS: usize = 8;

#[derive(Clone, Copy, Default)]
struct Word {
    start: usize,
    end: usize,
    /// Gazetteer flags; 0 for initials, particles and unknown words.
    flags: u8,
    kind: WordKind,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum WordKind {
    #[default]
    Name,
    /// `J.`: may sit inside a name, never at either end.
    Initial,
    /// `van`, `de`, `bin`: may sit inside a name before its last word.
    Particle,
    /// `Mr`, `Dr.`: makes the following words a name on their own.
    Title,
    /// Never part of a name (`The`, `March`, `Street`, `Pro`).
    Stop,
}

/// Whether `c` can be part of a word (ASCII letters; any non-ASCII byte, so that `é` and `ß`
/// stay inside words).
#[inline]
fn letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c >= 0x80
}

/// Whether the word at `i` starts with an upper-case letter followed by a lower-case one (or is
/// an initial). Returns the length of the first character.
#[inline]
fn capitalised(b: &[u8], i: usize) -> Option<usize> {
    let c = b[i];
    if c.is_ascii_uppercase() {
        return Some(1);
    }
    if c < 0xC0 {
        return None;
    }
    let len = if c >= 0xF0 {
        4
    } else if c >= 0xE0 {
        3
    } else {
        2
    };
    let s = std::str::from_utf8(b.get(i..i + len)?).ok()?;
    s.chars().next()?.is_uppercase().then_some(len)
}

#[inline]
fn lower_start(b: &[u8], i: usize) -> bool {
    match b.get(i) {
        Some(c) if c.is_ascii_lowercase() => true,
        // Non-ASCII after a capital: `Ö` in `ÖZTÜRK` is rare, `ø`/`é` common; treat as lower.
        Some(c) if *c >= 0x80 => true,
        // O'Brien, D'Angelo
        Some(b'\'') => b.get(i + 1).is_some_and(|c| c.is_ascii_uppercase()),
        _ => false,
    }
}

/// End of a word starting at `i`: letters, inner apostrophes and hyphens between letters.
fn word_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        let c = b[i];
        if letter(c) {
            i += 1;
        } else if (c == b'\'' || c == b'-') && i + 1 < b.len() && letter(b[i + 1]) {
            i += 2;
        } else {
            break;
        }
    }
    i
}

fn classify(b: &[u8], start: usize, end: usize, g: &Gazetteer) -> Word {
    let mut buf = [0u8; MAX_TOKEN];
    let w = &b[start..end];
    let mut word = Word {
        start,
        end,
        flags: 0,
        kind: WordKind::Name,
    };
    let Some(lower) = lower_into(w, &mut buf) else {
        word.kind = WordKind::Stop;
        return word;
    };
    if is_title(lower) {
        word.kind = WordKind::Title;
    } else if is_stop(lower) {
        word.kind = WordKind::Stop;
    } else if is_particle(lower) && w[0].is_ascii_lowercase() {
        word.kind = WordKind::Particle;
    } else {
        word.flags = g.flags(lower);
        // Hyphenated: `Okonjo-Iweala`, `Jean-Luc` count when a part is known.
        if word.flags == 0 && w.contains(&b'-') {
            for part in lower.split(|c| *c == b'-') {
                word.flags |= g.flags(part);
            }
        }
    }
    word
}

/// Appends person-name hits in `b` to `out`, with detector index `kind`.
pub(crate) fn scan(b: &[u8], kind: u16, out: &mut Vec<Hit>) {
    let g = Gazetteer::get();
    let mut i = 0;
    let n = b.len();
    while i < n {
        // Prefilter: find the next capital that starts a word.
        let c = b[i];
        if !(c.is_ascii_uppercase() || c >= 0xC0)
            || (i > 0 && (letter(b[i - 1]) || b[i - 1].is_ascii_digit() || b[i - 1] == b'_'))
        {
            i += 1;
            continue;
        }
        let Some(cl) = capitalised(b, i) else {
            i += 1;
            continue;
        };
        if !lower_start(b, i + cl) && !(b.get(i + cl) == Some(&b'.')) {
            i += cl;
            continue;
        }
        let (words, count, next) = collect(b, i, g);
        if let Some((s, e)) = pick(&words[..count]) {
            out.push(Hit {
                kind,
                start: s,
                end: e,
            });
        }
        i = next.max(i + cl);
    }
}

/// The run of name-like words starting at `i`, and where scanning goes on after it.
fn collect(b: &[u8], mut i: usize, g: &Gazetteer) -> ([Word; MAX_WORDS], usize, usize) {
    let mut words = [Word::default(); MAX_WORDS];
    let mut count = 0;
    let mut after_last = i;
    while count < MAX_WORDS && i < b.len() {
        let cap = capitalised(b, i);
        let e = word_end(b, i);
        if e == i {
            break;
        }
        let w = if let Some(cl) = cap {
            if e == i + cl && b.get(e) == Some(&b'.') {
                // Initial `J.`, or an abbreviated title `Dr.`
                Word {
                    start: i,
                    end: e + 1,
                    flags: 0,
                    kind: WordKind::Initial,
                }
            } else if e == i + cl {
                Word {
                    start: i,
                    end: e,
                    flags: 0,
                    kind: WordKind::Initial,
                }
            } else if lower_start(b, i + cl) {
                let mut w = classify(b, i, e, g);
                if w.kind == WordKind::Title && b.get(e) == Some(&b'.') {
                    w.end = e + 1;
                }
                w
            } else {
                // ALL-CAPS words (`SKU`, `USA`) end the run.
                break;
            }
        } else {
            let w = classify(b, i, e, g);
            if w.kind != WordKind::Particle {
                break;
            }
            w
        };
        words[count] = w;
        count += 1;
        after_last = w.end;
        // One space (or a non-breaking one) between the words of a name.
        let mut j = w.end;
        if b.get(j) == Some(&b' ') {
            j += 1;
        } else if b.get(j..j + 2) == Some(&[0xC2, 0xA0]) {
            j += 2;
        } else {
            break;
        }
        if j < b.len() && !letter(b[j]) {
            break;
        }
        i = j;
    }
    (words, count, after_last)
}

/// The name in a run of words, if any: the first given name (or word after a title) through
/// the last surname that follows it.
fn pick(words: &[Word]) -> Option<(usize, usize)> {
    let mut s = 0;
    while s < words.len() {
        let titled = s > 0 && words[s - 1].kind == WordKind::Title;
        let w = words[s];
        let starts = w.kind == WordKind::Name && (w.flags & GIVEN != 0 || (titled && w.flags != 0));
        if !starts {
            s += 1;
            continue;
        }
        // Extend over names, initials and particles; end on the last surname.
        let mut best = None;
        let mut e = s + 1;
        while e < words.len() {
            let x = words[e];
            match x.kind {
                WordKind::Name => {
                    if x.flags & SURNAME != 0 || (x.flags != 0 && e > s + 1) {
                        best = Some(e);
                    }
                }
                WordKind::Initial | WordKind::Particle => {}
                WordKind::Title | WordKind::Stop => break,
            }
            e += 1;
        }
        if let Some(last) = best {
            return Some((w.start, words[last].end));
        }
        if titled {
            return Some((w.start, w.end));
        }
        s += 1;
    }
    None
}

fn is_particle(w: &[u8]) -> bool {
    matches!(
        w,
        b"van"
            | b"von"
            | b"de"
            | b"der"
            | b"den"
            | b"del"
            | b"della"
            | b"di"
            | b"da"
            | b"dos"
            | b"das"
            | b"du"
            | b"la"
            | b"le"
            | b"ter"
            | b"ten"
            | b"bin"
            | b"binti"
            | b"al"
            | b"el"
            | b"ibn"
            | b"y"
            | b"zu"
            | b"do"
            | b"af"
            | b"av"
    )
}

fn is_title(w: &[u8]) -> bool {
    matches!(
        w,
        b"mr"
            | b"mrs"
            | b"ms"
            | b"miss"
            | b"mx"
            | b"dr"
            | b"prof"
            | b"sir"
            | b"dame"
            | b"herr"
            | b"frau"
            | b"mme"
            | b"mlle"
            | b"monsieur"
            | b"madame"
            | b"dhr"
            | b"mevr"
            | b"mevrouw"
            | b"sr"
            | b"sra"
            | b"signor"
            | b"signora"
            | b"dear"
            | b"hi"
            | b"hello"
            | b"mister"
    ) || w == "señor".as_bytes()
        || w == "señora".as_bytes()
}

/// Capitalised words that are not names in running text, though the gazetteer (built from
/// what people typed as their names) lists many of them.
fn is_stop(w: &[u8]) -> bool {
    STOP.binary_search(&w).is_ok()
}

/// Sorted (checked by a test).
static STOP: &[&[u8]] = &[
    b"a",
    b"about",
    b"account",
    b"after",
    b"air",
    b"airport",
    b"all",
    b"also",
    b"am",
    b"an",
    b"and",
    b"any",
    b"apartment",
    b"apple",
    b"april",
    b"apt",
    b"are",
    b"as",
    b"at",
    b"august",
    b"avenue",
    b"bad",
    b"bank",
    b"be",
    b"beach",
    b"before",
    b"best",
    b"between",
    b"black",
    b"blue",
    b"book",
    b"boulevard",
    b"but",
    b"by",
    b"california",
    b"camera",
    b"can",
    b"cape",
    b"case",
    b"central",
    b"chair",
    b"charger",
    b"city",
    b"classic",
    b"college",
    b"company",
    b"corp",
    b"could",
    b"county",
    b"court",
    b"customer",
    b"daily",
    b"data",
    b"december",
    b"deluxe",
    b"desk",
    b"did",
    b"do",
    b"does",
    b"drive",
    b"during",
    b"each",
    b"east",
    b"edition",
    b"every",
    b"february",
    b"for",
    b"fort",
    b"friday",
    b"from",
    b"general",
    b"gold",
    b"great",
    b"green",
    b"group",
    b"had",
    b"has",
    b"have",
    b"he",
    b"her",
    b"here",
    b"his",
    b"home",
    b"hospital",
    b"hotel",
    b"how",
    b"i",
    b"if",
    b"in",
    b"inc",
    b"into",
    b"invoice",
    b"is",
    b"it",
    b"its",
    b"january",
    b"july",
    b"june",
    b"kit",
    b"lake",
    b"lamp",
    b"lane",
    b"las",
    b"light",
    b"lite",
    b"little",
    b"llc",
    b"los",
    b"ltd",
    b"main",
    b"march",
    b"market",
    b"max",
    b"may",
    b"mini",
    b"model",
    b"monday",
    b"more",
    b"most",
    b"mount",
    b"my",
    b"new",
    b"next",
    b"no",
    b"north",
    b"not",
    b"note",
    b"november",
    b"now",
    b"october",
    b"of",
    b"office",
    b"old",
    b"on",
    b"or",
    b"order",
    b"our",
    b"out",
    b"over",
    b"pack",
    b"page",
    b"park",
    b"payment",
    b"phone",
    b"place",
    b"please",
    b"plus",
    b"port",
    b"premium",
    b"pro",
    b"red",
    b"report",
    b"river",
    b"road",
    b"saint",
    b"san",
    b"santa",
    b"sao",
    b"saturday",
    b"school",
    b"september",
    b"series",
    b"service",
    b"she",
    b"should",
    b"silver",
    b"since",
    b"smart",
    b"so",
    b"south",
    b"sport",
    b"square",
    b"st",
    b"station",
    b"status",
    b"street",
    b"studio",
    b"sunday",
    b"support",
    b"table",
    b"team",
    b"than",
    b"thank",
    b"thanks",
    b"that",
    b"the",
    b"their",
    b"then",
    b"there",
    b"these",
    b"they",
    b"this",
    b"those",
    b"thursday",
    b"to",
    b"today",
    b"tomorrow",
    b"total",
    b"tuesday",
    b"ultra",
    b"under",
    b"united",
    b"university",
    b"until",
    b"up",
    b"upon",
    b"user",
    b"valley",
    b"very",
    b"was",
    b"watch",
    b"way",
    b"we",
    b"wednesday",
    b"were",
    b"west",
    b"what",
    b"when",
    b"where",
    b"which",
    b"while",
    b"white",
    b"who",
    b"why",
    b"will",
    b"with",
    b"without",
    b"would",
    b"yes",
    b"yesterday",
    b"you",
    b"your",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_list_is_sorted() {
        assert!(STOP.windows(2).all(|w| w[0] < w[1]), "STOP must be sorted");
    }
}
