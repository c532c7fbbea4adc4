//! Person names in text: runs of capitalised words in which a known given name is followed by
//! a known surname (`Ada Lovelace`, `José María García`, `Ngozi Okonjo-Iweala`, `Jan van der
//! Berg`), or one or more known names after a title (`Mr Smith`, `Dr. Chen`, `Frau Müller`).
//!
//! Only a byte that starts a capitalised word can start a name, so text without capitals costs
//! one pass over its bytes. Words are lower-cased into a stack buffer and looked up in the
//! gazetteer; nothing is allocated per word. Common capitalised words (sentence starts,
//! months, place and product words) never count as names, whatever the gazetteer says.

use super::gazetteer::{GIVEN, Gazetteer, MAX_TOKEN, SURNAME, lower_into};
use super::word_end;
use super::words::has_glued_suffix;
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
    if is_particle(lower) && w[0].is_ascii_lowercase() {
        word.kind = WordKind::Particle;
    } else if is_title(lower) {
        word.kind = WordKind::Title;
    } else if is_stop(lower) || has_glued_suffix(lower) || place_compound(lower) {
        // `Hugostraat`, `Pavillons-sous-Bois` belong to places, not people. The flags are kept:
        // after a title or a cue, `August`, `Will` and `White` can still be names.
        word.kind = WordKind::Stop;
        word.flags = g.flags(lower);
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

/// `Saint-Michel-sur-Orge`, `Stratford-upon-Avon`, `Frankfurt-am-Main`.
fn place_compound(w: &[u8]) -> bool {
    w.windows(5).any(|x| {
        matches!(
            x,
            b"-sur-"
                | b"-les-"
                | b"-sous"
                | b"-upon"
                | b"-en-b"
                | b"-am-m"
                | b"-aan-"
                | b"-le-c"
                | b"-la-v"
                | b"-de-l"
                | b"-del-"
                | b"-des-"
                | b"-du-p"
        )
    }) || w.starts_with(b"saint-")
        || w.starts_with(b"sainte-")
}

/// Appends person-name hits in `b` to `out`, with detector index `kind`.
pub(crate) fn scan(b: &[u8], kind: u16, out: &mut Vec<Hit>) {
    let g = Gazetteer::get();
    let mut i = 0;
    let n = b.len();
    while i < n {
        // Prefilter: skip eight bytes at a time while none is a capital (or non-ASCII), then
        // find the next capital that starts a word.
        while i + 8 <= n {
            let x = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            if may_have_capital(x) {
                break;
            }
            i += 8;
        }
        if i >= n {
            break;
        }
        let c = b[i];
        if !(c.is_ascii_uppercase() || c >= 0xC0)
            || (i > 0
                && (letter(b[i - 1]) || b[i - 1].is_ascii_digit() || b[i - 1] == b'_')
                && !crate::scan::escaped(b, i - 1))
        {
            i += 1;
            continue;
        }
        let Some(cl) = capitalised(b, i) else {
            i += 1;
            continue;
        };
        if !lower_start(b, i + cl) && b.get(i + cl) != Some(&b'.') {
            i += cl;
            continue;
        }
        let (words, count, next) = collect(b, i, g);
        let c = cue(b, i);
        if c != Cue::Thing
            && let Some((s, e)) = pick(&words[..count], c)
            // A heading's words are all capitalised: a run that is a name from its first
            // word on, with nothing before it, is taken for one only off headings.
            && (c != Cue::None || s != i || !in_heading(b, s))
        {
            out.push(Hit {
                kind,
                start: s,
                end: e,
            });
        }
        i = next.max(i + cl);
    }
}

/// How far back a heading's `#` is looked for.
const HEADING_REACH: usize = 160;

/// Whether `i` is on a Markdown heading line (`## Easter Egg`, `# Server Instructions`),
/// where every word is capitalised: a run there is a name only after a cue (`## Customer
/// Ada Lovelace`). The line starts after a newline, or after an escaped `\n` in JSON text.
fn in_heading(b: &[u8], i: usize) -> bool {
    let floor = i.saturating_sub(HEADING_REACH);
    let mut k = i;
    while k > floor {
        match b[k - 1] {
            b'\n' => break,
            b'n' if k >= 2 && b[k - 2] == b'\\' => break,
            _ => k -= 1,
        }
    }
    if k == floor && floor > 0 {
        return false;
    }
    let line = &b[k..i];
    let start = line
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(line.len());
    line.get(start) == Some(&b'#')
}

/// Whether any byte of `x` is an ASCII capital or not ASCII.
#[inline]
fn may_have_capital(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if x & HIGH != 0 {
        return true;
    }
    let ge_a = x + ONES * (0x80 - b'A' as u64);
    let gt_z = x + ONES * (0x80 - b'Z' as u64 - 1);
    ge_a & !gt_z & HIGH != 0
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

/// The name in a run of words, if any: the first given name (or any name word after a title
/// or a cue such as `customer` or a `"name":` key) through the last name word after it. A
/// known given name may be followed by a surname the gazetteer lacks (`Ngozi Okonjo-Iweala`);
/// an unknown first word needs a known surname after it.
fn pick(words: &[Word], cue: Cue) -> Option<(usize, usize)> {
    let mut s = 0;
    while s < words.len() {
        let titled = s > 0 && words[s - 1].kind == WordKind::Title;
        let loose = titled || (cue != Cue::None && s == 0);
        let stop_ok = titled || (cue == Cue::Person && s == 0);
        let w = words[s];
        // After a title or cue, a common word that is also a name (`August`, `White`) counts.
        let namelike = |x: Word| {
            x.kind == WordKind::Name || (stop_ok && x.kind == WordKind::Stop && x.flags != 0)
        };
        if !namelike(w) {
            s += 1;
            continue;
        }
        let given = w.flags & GIVEN != 0;
        // Extend over names, initials and particles; end on the last name word.
        let mut best = None;
        let mut e = s + 1;
        while e < words.len() {
            let x = words[e];
            match x.kind {
                _ if namelike(x) => {
                    if given || loose || x.flags & SURNAME != 0 {
                        best = Some(e);
                    }
                }
                // After a name key or a cue such as `customer`, the capitalised word right
                // after a known given name is its surname, even one that reads like a common
                // word (`Alan Turing`, `Grace Baker`).
                WordKind::Stop if stop_ok && given && e == s + 1 => {
                    best = Some(e);
                }
                WordKind::Initial | WordKind::Particle => {}
                _ => break,
            }
            e += 1;
        }
        if let Some(last) = best {
            return Some((w.start, words[last].end));
        }
        if titled && w.flags != 0 {
            return Some((w.start, w.end));
        }
        s += 1;
    }
    None
}

/// What the word before a run says about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// `customer`, `"name":`: a name is expected.
    Person,
    /// `by`, `to`, `from`: a name may follow (or a place).
    Weak,
    /// `"company":`, `"product":`, `"city":`: a name is not.
    Thing,
    None,
}

/// The cue in the word before `i` (skipping `": "`, `: `, spaces).
fn cue(b: &[u8], i: usize) -> Cue {
    let mut k = i;
    let mut skipped = 0;
    // Up to `\": \"`: a key in JSON text that is itself inside a JSON string.
    while k > 0 && skipped < 7 && matches!(b[k - 1], b' ' | b'"' | b':' | b'\\' | b'=' | b'\'') {
        k -= 1;
        skipped += 1;
    }
    let end = k;
    while k > 0 && (b[k - 1].is_ascii_alphabetic() || b[k - 1] == b'_') && end - k < 24 {
        k -= 1;
    }
    if k == end || (k > 0 && b[k - 1].is_ascii_alphanumeric()) {
        return Cue::None;
    }
    let mut buf = [0u8; MAX_TOKEN];
    let Some(w) = lower_into(&b[k..end], &mut buf) else {
        return Cue::None;
    };
    if is_thing(w) {
        return Cue::Thing;
    }
    let w = w.strip_suffix(b"_name").unwrap_or(w);
    let person = matches!(
        w,
        b"name"
            | b"customer"
            | b"contact"
            | b"patient"
            | b"applicant"
            | b"member"
            | b"client"
            | b"employee"
            | b"owner"
            | b"holder"
            | b"recipient"
            | b"sender"
            | b"author"
            | b"by"
            | b"to"
            | b"from"
            | b"attn"
            | b"attention"
            | b"passenger"
            | b"guest"
            | b"tenant"
            | b"student"
            | b"full"
            | b"first"
            | b"last"
            | b"person"
            | b"assignee"
            | b"reporter"
            | b"cardholder"
            | b"signed"
            | b"manager"
            | b"agent"
    );
    if matches!(w, b"by" | b"to" | b"from") {
        Cue::Weak
    } else if person {
        Cue::Person
    } else {
        Cue::None
    }
}

/// Keys and words after which a capitalised phrase names a thing or a place.
fn is_thing(w: &[u8]) -> bool {
    let w = w.strip_suffix(b"_name").unwrap_or(w);
    matches!(
        w,
        b"company"
            | b"product"
            | b"city"
            | b"town"
            | b"brand"
            | b"vendor"
            | b"supplier"
            | b"manufacturer"
            | b"org"
            | b"organization"
            | b"organisation"
            | b"employer"
            | b"school"
            | b"university"
            | b"hotel"
            | b"restaurant"
            | b"store"
            | b"shop"
            | b"title"
            | b"category"
            | b"street"
            | b"country"
            | b"state"
            | b"region"
            | b"model"
            | b"sku"
            | b"item"
            | b"tool"
            | b"project"
            | b"server"
            | b"host"
            | b"venue"
            | b"airline"
            | b"carrier"
            | b"bank"
            | b"merchant"
            | b"place"
            | b"location"
            | b"team"
            | b"department"
            | b"dish"
            | b"book"
    )
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
            | b"te"
            | b"aan"
            | b"op"
            | b"tot"
            | b"uit"
            | b"vom"
            | b"zum"
            | b"dal"
            | b"dela"
            | b"av"
    )
}

/// Titles and nouns that announce a person (`Mr`, `Dr.`, `Dear`, `Customer`, `Patient`): the
/// capitalised words after them are a name even when the gazetteer lacks them.
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
            | b"customer"
            | b"patient"
            | b"applicant"
            | b"member"
            | b"client"
            | b"contact"
            | b"employee"
            | b"guest"
            | b"passenger"
            | b"tenant"
            | b"student"
            | b"owner"
            | b"manager"
            | b"agent"
            | b"doctor"
            | b"nurse"
            | b"driver"
            | b"buyer"
            | b"seller"
            | b"sender"
            | b"recipient"
            | b"author"
            | b"attn"
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
    b"ab",
    b"about",
    b"account",
    b"acer",
    b"address",
    b"adidas",
    b"adobe",
    b"after",
    b"ag",
    b"agency",
    b"air",
    b"airport",
    b"all",
    b"also",
    b"am",
    b"amazon",
    b"an",
    b"and",
    b"any",
    b"apartment",
    b"apple",
    b"april",
    b"apt",
    b"are",
    b"area",
    b"arena",
    b"as",
    b"associates",
    b"association",
    b"asus",
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
    b"billing",
    b"black",
    b"blue",
    b"book",
    b"bosch",
    b"bose",
    b"boulevard",
    b"braun",
    b"bridge",
    b"brothers",
    b"building",
    b"bulbs",
    b"but",
    b"bv",
    b"by",
    b"california",
    b"call",
    b"camera",
    b"can",
    b"canon",
    b"cape",
    b"capital",
    b"case",
    b"casio",
    b"cathedral",
    b"center",
    b"central",
    b"centre",
    b"chair",
    b"charger",
    b"church",
    b"cisco",
    b"city",
    b"classic",
    b"clinic",
    b"club",
    b"co",
    b"college",
    b"communication",
    b"communications",
    b"company",
    b"consulting",
    b"corp",
    b"corporation",
    b"could",
    b"county",
    b"court",
    b"daily",
    b"data",
    b"december",
    b"deliver",
    b"dell",
    b"deluxe",
    b"desk",
    b"details",
    b"detect",
    b"did",
    b"district",
    b"do",
    b"does",
    b"drive",
    b"during",
    b"dyson",
    b"each",
    b"east",
    b"echo",
    b"edition",
    b"electric",
    b"electronics",
    b"empire",
    b"energy",
    b"enterprises",
    b"epson",
    b"every",
    b"february",
    b"finance",
    b"financial",
    b"flat",
    b"floor",
    b"foods",
    b"for",
    b"fort",
    b"foundation",
    b"friday",
    b"from",
    b"fujitsu",
    b"galaxy",
    b"gallery",
    b"garmin",
    b"general",
    b"global",
    b"gmbh",
    b"gold",
    b"google",
    b"great",
    b"green",
    b"group",
    b"gucci",
    b"had",
    b"hall",
    b"has",
    b"have",
    b"he",
    b"health",
    b"healthcare",
    b"heinz",
    b"her",
    b"here",
    b"his",
    b"hitachi",
    b"holdings",
    b"home",
    b"hospital",
    b"hotel",
    b"house",
    b"how",
    b"huawei",
    b"hue",
    b"i",
    b"ibm",
    b"id",
    b"if",
    b"ikea",
    b"in",
    b"inc",
    b"incorporated",
    b"industries",
    b"info",
    b"information",
    b"institute",
    b"insurance",
    b"intel",
    b"international",
    b"into",
    b"invoice",
    b"ipad",
    b"iphone",
    b"is",
    b"it",
    b"its",
    b"january",
    b"july",
    b"june",
    b"kg",
    b"kindle",
    b"kingdom",
    b"kit",
    b"kodak",
    b"labs",
    b"lake",
    b"lamp",
    b"lane",
    b"las",
    b"lego",
    b"lenovo",
    b"library",
    b"light",
    b"limited",
    b"list",
    b"lite",
    b"little",
    b"llc",
    b"login",
    b"logistics",
    b"logitech",
    b"los",
    b"ltd",
    b"macbook",
    b"main",
    b"management",
    b"march",
    b"market",
    b"max",
    b"may",
    b"media",
    b"microsoft",
    b"miele",
    b"mini",
    b"model",
    b"monday",
    b"more",
    b"most",
    b"motors",
    b"mount",
    b"museum",
    b"my",
    b"nestle",
    b"netflix",
    b"network",
    b"networks",
    b"new",
    b"next",
    b"nike",
    b"nikon",
    b"nintendo",
    b"no",
    b"north",
    b"not",
    b"note",
    b"november",
    b"now",
    b"number",
    b"nv",
    b"nvidia",
    b"october",
    b"of",
    b"office",
    b"old",
    b"olympus",
    b"on",
    b"or",
    b"oracle",
    b"order",
    b"our",
    b"out",
    b"over",
    b"oy",
    b"pack",
    b"page",
    b"panasonic",
    b"park",
    b"partners",
    b"payment",
    b"pepsi",
    b"pharma",
    b"pharmacy",
    b"philips",
    b"phone",
    b"pixel",
    b"place",
    b"playstation",
    b"plc",
    b"please",
    b"plus",
    b"port",
    b"portal",
    b"prada",
    b"premium",
    b"pro",
    b"profile",
    b"province",
    b"pty",
    b"pvt",
    b"red",
    b"region",
    b"report",
    b"republic",
    b"river",
    b"road",
    b"rolex",
    b"room",
    b"sa",
    b"saint",
    b"sainte",
    b"samsung",
    b"san",
    b"santa",
    b"sao",
    b"sarl",
    b"saturday",
    b"school",
    b"seiko",
    b"september",
    b"series",
    b"service",
    b"services",
    b"she",
    b"ship",
    b"should",
    b"siemens",
    b"signed",
    b"silver",
    b"since",
    b"smart",
    b"so",
    b"society",
    b"software",
    b"solutions",
    b"sons",
    b"sony",
    b"south",
    b"spa",
    b"sport",
    b"spotify",
    b"square",
    b"srl",
    b"st",
    b"stadium",
    b"starbucks",
    b"starter",
    b"states",
    b"station",
    b"status",
    b"stock",
    b"street",
    b"studio",
    b"studios",
    b"suite",
    b"sunday",
    b"support",
    b"surface",
    b"switch",
    b"systems",
    b"table",
    b"team",
    b"technologies",
    b"technology",
    b"tesla",
    b"than",
    b"thank",
    b"thanks",
    b"that",
    b"the",
    b"theater",
    b"theatre",
    b"their",
    b"then",
    b"there",
    b"these",
    b"they",
    b"thinkpad",
    b"this",
    b"those",
    b"thursday",
    b"ticket",
    b"to",
    b"today",
    b"tomorrow",
    b"toshiba",
    b"total",
    b"tower",
    b"toyota",
    b"trust",
    b"tuesday",
    b"ultra",
    b"under",
    b"union",
    b"unit",
    b"united",
    b"units",
    b"university",
    b"until",
    b"up",
    b"upon",
    b"us",
    b"user",
    b"valley",
    b"ventures",
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
    b"whirlpool",
    b"white",
    b"who",
    b"why",
    b"will",
    b"with",
    b"without",
    b"worldwide",
    b"would",
    b"xbox",
    b"xerox",
    b"xiaomi",
    b"yes",
    b"yesterday",
    b"you",
    b"your",
    b"zara",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_list_is_sorted() {
        assert!(STOP.windows(2).all(|w| w[0] < w[1]), "STOP must be sorted");
    }
}
