//! E-mail addresses (found from each `@`) and IPv6 addresses (found from each `:`).

use super::{Hit, escaped, is_word, kind_index, left_ok, right_ok};
use crate::kind::Builtin;
use std::net::Ipv6Addr;

fn local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn label_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

pub(super) fn scan_emails(b: &[u8], out: &mut Vec<Hit>) {
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', b) {
        if at < last_end {
            continue;
        }
        if let Some((s, e)) = email_at(b, at) {
            out.push(Hit {
                kind: kind_index(Builtin::Email),
                start: s,
                end: e,
            });
            last_end = e;
        }
    }
}

/// `local@domain.tld` around the `@` at `at`: local part of 1–64 characters, domain of at least
/// two labels, last label alphabetic of 2–63. `user:pass@host` inside a URL is not an address
/// (the URL password detector handles it).
fn email_at(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut s = at;
    while s > 0 && at - s < 64 && local_char(b[s - 1]) {
        // `\n` in raw JSON text: the `n` is not part of the address.
        if b[s - 1].is_ascii_alphabetic() && escaped(b, s - 1) {
            break;
        }
        s -= 1;
    }
    while s < at && matches!(b[s], b'.' | b'-' | b'+') {
        s += 1;
    }
    if s == at || b[at - 1] == b'.' || !left_ok(b, s) {
        return None;
    }
    if s > 0 && b[s - 1] == b':' {
        // Skip URL user-info: look for "://" earlier in the same token.
        let mut k = s - 1;
        while k > 0 && !b[k - 1].is_ascii_whitespace() && s - k < 256 {
            k -= 1;
            if b[k..].starts_with(b"://") {
                return None;
            }
        }
    }
    // Domain: labels separated by single dots.
    let mut p = at + 1;
    let mut last_label = (p, p);
    let mut labels = 0;
    loop {
        let e = super::run_end(b, p, label_char);
        if e == p || e - p > 63 {
            break;
        }
        last_label = (p, e);
        labels += 1;
        if e + 1 < b.len() && b[e] == b'.' && label_char(b[e + 1]) {
            p = e + 1;
        } else {
            break;
        }
    }
    let (ls, mut le) = last_label;
    // A trailing hyphen is punctuation, not part of the label.
    while le > ls && b[le - 1] == b'-' {
        le -= 1;
    }
    let tld = &b[ls..le];
    if labels < 2 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    if le < b.len() && is_word(b[le]) {
        return None;
    }
    Some((s, le))
}

fn v6_char(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

pub(super) fn scan_ipv6(b: &[u8], out: &mut Vec<Hit>) {
    let mut next_free = 0;
    for colon in memchr::memchr_iter(b':', b) {
        if colon < next_free {
            continue;
        }
        // Cheap reject: an address has a hex digit or another ':' next to this one.
        let before = colon > 0 && (b[colon - 1].is_ascii_hexdigit() || b[colon - 1] == b':');
        let after =
            colon + 1 < b.len() && (b[colon + 1].is_ascii_hexdigit() || b[colon + 1] == b':');
        if !before && !after {
            continue;
        }
        let mut s = colon;
        while s > 0 && colon - s < 39 && v6_char(b[s - 1]) {
            s -= 1;
        }
        let mut e = super::run_end(b, colon, v6_char);
        while e > colon && b[e - 1] == b'.' {
            e -= 1;
        }
        next_free = e;
        if let Some((s, e)) = ipv6_candidate(b, s, e) {
            out.push(Hit {
                kind: kind_index(Builtin::IpAddress),
                start: s,
                end: e,
            });
        }
    }
}

/// Validates `b[s..e]` as an IPv6 address with at least three groups (so `::`, `::1`, `a::b`
/// and C++ paths like `std::vec` are not addresses) and word boundaries on both sides.
fn ipv6_candidate(b: &[u8], mut s: usize, e: usize) -> Option<(usize, usize)> {
    // A leading "x:" that is not part of the address, e.g. "ip:fe80::1" has "ip" glued (non-hex
    // 'i' stops the scan, so "p" is not included); drop dots at the start.
    while s < e && b[s] == b'.' {
        s += 1;
    }
    if e - s < 6 || e - s > 45 || !left_ok(b, s) || !right_ok(b, e) {
        return None;
    }
    let cand = std::str::from_utf8(&b[s..e]).ok()?;
    // An embedded IPv4 tail ("::ffff:192.0.2.128") stands for two groups.
    let groups =
        cand.split(':').filter(|g| !g.is_empty()).count() + usize::from(cand.contains('.'));
    if groups < 3 || cand.matches(':').count() < 2 {
        return None;
    }
    cand.parse::<Ipv6Addr>().ok()?;
    Some((s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(t: &str) -> Vec<&str> {
        let mut v = Vec::new();
        scan_emails(t.as_bytes(), &mut v);
        v.iter().map(|h| &t[h.start..h.end]).collect()
    }

    fn v6(t: &str) -> Vec<&str> {
        let mut v = Vec::new();
        scan_ipv6(t.as_bytes(), &mut v);
        v.iter().map(|h| &t[h.start..h.end]).collect()
    }

    #[test]
    fn email_addresses() {
        assert_eq!(
            emails("mail thomas.perez+x@example.net."),
            ["thomas.perez+x@example.net"]
        );
        assert_eq!(
            emails("<a@b.co>, c_d@sub.example.org"),
            ["a@b.co", "c_d@sub.example.org"]
        );
        assert_eq!(emails("mailto:jo@example.com"), ["jo@example.com"]);
        assert_eq!(emails(r#"text\njo@example.com"#), ["jo@example.com"]);
    }

    #[test]
    fn email_near_misses() {
        for t in [
            "@example.com",
            "user@localhost",
            "a@b.c",
            "postgres://admin:pw@db.example.com/app",
            "npm i @scope/pkg@1.2.3",
            "x@y.123",
        ] {
            assert!(emails(t).is_empty(), "{t}: {:?}", emails(t));
        }
    }

    #[test]
    fn ipv6_addresses() {
        assert_eq!(
            v6("from 8d2f:527e:72da:f0a5:4ef2:5c08:7e3:3868 ok"),
            ["8d2f:527e:72da:f0a5:4ef2:5c08:7e3:3868"]
        );
        assert_eq!(v6("[2001:db8::1:0]:443"), ["2001:db8::1:0"]);
        assert_eq!(v6("::ffff:192.0.2.128."), ["::ffff:192.0.2.128"]);
    }

    #[test]
    fn ipv6_near_misses() {
        for t in [
            "12:30:45",
            "std::vec::Vec",
            "::1",
            "a::b",
            "00:1a:2b:3c:4d:5e",
            "Foo::Bar::baz",
            "dead:beef",
            "{\"a\":\"b\",\"c\":1}",
        ] {
            assert!(v6(t).is_empty(), "{t}: {:?}", v6(t));
        }
    }
}
