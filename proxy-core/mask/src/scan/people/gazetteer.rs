//! The built-in gazetteer of given names and surnames (`data/names.txt`, made from the PyPI
//! package `names-dataset`, MIT licence, by `quality/gen_names.py`), compiled into the binary
//! and indexed once per process into an open-addressing hash table over the text itself: no
//! allocation per name, ~3 MB resident, and a lookup is one hash of a lower-cased stack buffer.

use std::sync::OnceLock;

const DATA: &str = include_str!("../../../data/names.txt");

/// Longest token we look up (bytes); longer words are not names in the list.
pub(crate) const MAX_TOKEN: usize = 32;

pub(crate) const GIVEN: u8 = 1;
pub(crate) const SURNAME: u8 = 2;

/// Slot: byte offset of the name in `DATA` (u32), its length (u8) and flags (u8); 0 = empty.
pub(crate) struct Gazetteer {
    slots: Vec<u64>,
    mask: usize,
}

#[inline]
fn hash(b: &[u8]) -> u64 {
    // FNV-1a folded 8 bytes at a time would be faster, but names are short: plain FNV-1a with
    // a final mix keeps the table's probe chains short.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= c as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^ (h >> 29)
}

impl Gazetteer {
    fn build() -> Gazetteer {
        let lines = DATA.lines().filter(|l| !l.starts_with('#')).count();
        let size = (lines * 2).next_power_of_two();
        let mut slots = vec![0u64; size];
        let mask = size - 1;
        let base = DATA.as_ptr() as usize;
        for line in DATA.lines() {
            if line.starts_with('#') {
                continue;
            }
            let Some((name, fl)) = line.split_once('\t') else {
                continue;
            };
            if name.is_empty() || name.len() > MAX_TOKEN {
                continue;
            }
            let flags = fl.bytes().fold(0u8, |a, c| {
                a | match c {
                    b'g' => GIVEN,
                    b's' => SURNAME,
                    _ => 0,
                }
            });
            let off = name.as_ptr() as usize - base;
            let slot = ((off as u64) << 16) | ((name.len() as u64) << 8) | flags as u64;
            let mut i = hash(name.as_bytes()) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = slot;
        }
        Gazetteer { slots, mask }
    }

    /// The shared index, built on first use.
    pub fn get() -> &'static Gazetteer {
        static G: OnceLock<Gazetteer> = OnceLock::new();
        G.get_or_init(Gazetteer::build)
    }

    /// Flags of a lower-case name (0 when unknown).
    #[inline]
    pub fn flags(&self, lower: &[u8]) -> u8 {
        let mut i = hash(lower) as usize & self.mask;
        let data = DATA.as_bytes();
        loop {
            let s = self.slots[i];
            if s == 0 {
                return 0;
            }
            let len = ((s >> 8) & 0xff) as usize;
            let off = (s >> 16) as usize;
            if len == lower.len() && &data[off..off + len] == lower {
                return (s & 0xff) as u8;
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Lower-cases `word` into `buf`; `None` when it does not fit. ASCII words (nearly all) take
/// the byte path; others go through Unicode lower-casing.
#[inline]
pub(crate) fn lower_into<'a>(word: &[u8], buf: &'a mut [u8; MAX_TOKEN]) -> Option<&'a [u8]> {
    if word.len() > MAX_TOKEN {
        return None;
    }
    if word.is_ascii() {
        for (d, s) in buf.iter_mut().zip(word) {
            *d = s.to_ascii_lowercase();
        }
        return Some(&buf[..word.len()]);
    }
    let s = std::str::from_utf8(word).ok()?;
    let mut n = 0;
    for c in s.chars().flat_map(char::to_lowercase) {
        let mut tmp = [0u8; 4];
        let e = c.encode_utf8(&mut tmp).as_bytes();
        if n + e.len() > MAX_TOKEN {
            return None;
        }
        buf[n..n + e.len()].copy_from_slice(e);
        n += e.len();
    }
    Some(&buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_many_cultures_are_known() {
        let g = Gazetteer::get();
        let mut buf = [0u8; MAX_TOKEN];
        for (w, f) in [
            ("Ada", GIVEN),
            ("Lovelace", SURNAME),
            ("Oluwaseun", GIVEN),
            ("Nguyen", SURNAME),
            ("Priya", GIVEN),
            ("Kowalski", SURNAME),
            ("José", GIVEN),
            ("García", SURNAME),
            ("Søren", GIVEN),
            ("Yılmaz", SURNAME),
        ] {
            let l = lower_into(w.as_bytes(), &mut buf).unwrap();
            assert!(g.flags(l) & f != 0, "{w} missing");
        }
        assert_eq!(g.flags(b"qzxwv"), 0);
    }
}
