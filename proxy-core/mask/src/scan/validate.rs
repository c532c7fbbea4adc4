//! Checksums and registries that turn "looks like a number" into "is one": Luhn and issuer ranges
//! for payment cards, ISO 13616 mod-97 and per-country lengths for IBANs, SSA rules for SSNs.

/// Luhn checksum over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn prefix(digits: &[u8], n: usize) -> u32 {
    digits[..n]
        .iter()
        .fold(0, |acc, d| acc * 10 + (d - b'0') as u32)
}

/// Whether `digits` (12–19 ASCII digits) starts with a known issuer range and has a length that
/// issuer uses. Ranges: Visa, Mastercard (51–55, 2221–2720), American Express, Discover,
/// Diners Club, JCB (including the historic 15-digit 1800/2131), UnionPay, Maestro.
pub fn card_issuer_ok(digits: &[u8]) -> bool {
    let len = digits.len();
    if !(12..=19).contains(&len) {
        return false;
    }
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    // Visa
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return true;
    }
    // Mastercard
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        return true;
    }
    // American Express
    if (p2 == 34 || p2 == 37) && len == 15 {
        return true;
    }
    // Discover
    if (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622126..=622925).contains(&p6))
        && (16..=19).contains(&len)
    {
        return true;
    }
    // Diners Club
    if ((300..=305).contains(&p3) || p3 == 309 || p2 == 36 || p2 == 38 || p2 == 39)
        && (14..=19).contains(&len)
    {
        return true;
    }
    // JCB: assigned 3528–3589, but the whole 35xx block is treated as JCB (test-data generators
    // and some processors use it; Luhn still has to hold).
    if p2 == 35 && (16..=19).contains(&len) {
        return true;
    }
    if (p4 == 1800 || p4 == 2131) && len == 15 {
        return true;
    }
    // UnionPay
    if p2 == 62 && (16..=19).contains(&len) {
        return true;
    }
    // Maestro
    if (p4 == 5018
        || p4 == 5020
        || p4 == 5038
        || p4 == 5893
        || p4 == 6304
        || p4 == 6759
        || (6761..=6763).contains(&p4)
        || p4 == 6390
        || p4 == 604
        || (56..=58).contains(&p2))
        && (12..=19).contains(&len)
    {
        return true;
    }
    false
}

/// A payment card number: known issuer, right length, Luhn valid.
pub fn card_ok(digits: &[u8]) -> bool {
    card_issuer_ok(digits) && luhn(digits)
}

/// IBAN length for a country code (ISO 13616 registry, 2024 edition).
pub fn iban_length(cc: [u8; 2]) -> Option<usize> {
    let n = match &cc {
        b"AD" => 24,
        b"AE" => 23,
        b"AL" => 28,
        b"AT" => 20,
        b"AZ" => 28,
        b"BA" => 20,
        b"BE" => 16,
        b"BG" => 22,
        b"BH" => 22,
        b"BI" => 27,
        b"BR" => 29,
        b"BY" => 28,
        b"CH" => 21,
        b"CR" => 22,
        b"CY" => 28,
        b"CZ" => 24,
        b"DE" => 22,
        b"DJ" => 27,
        b"DK" => 18,
        b"DO" => 28,
        b"EE" => 20,
        b"EG" => 29,
        b"ES" => 24,
        b"FI" => 18,
        b"FK" => 18,
        b"FO" => 18,
        b"FR" => 27,
        b"GB" => 22,
        b"GE" => 22,
        b"GI" => 23,
        b"GL" => 18,
        b"GR" => 27,
        b"GT" => 28,
        b"HR" => 21,
        b"HU" => 28,
        b"IE" => 22,
        b"IL" => 23,
        b"IQ" => 23,
        b"IS" => 26,
        b"IT" => 27,
        b"JO" => 30,
        b"KW" => 30,
        b"KZ" => 20,
        b"LB" => 28,
        b"LC" => 32,
        b"LI" => 21,
        b"LT" => 20,
        b"LU" => 20,
        b"LV" => 21,
        b"LY" => 25,
        b"MC" => 27,
        b"MD" => 24,
        b"ME" => 22,
        b"MK" => 19,
        b"MN" => 20,
        b"MR" => 27,
        b"MT" => 31,
        b"MU" => 30,
        b"NI" => 28,
        b"NL" => 18,
        b"NO" => 15,
        b"OM" => 23,
        b"PK" => 24,
        b"PL" => 28,
        b"PS" => 29,
        b"PT" => 25,
        b"QA" => 29,
        b"RO" => 24,
        b"RS" => 22,
        b"RU" => 33,
        b"SA" => 24,
        b"SC" => 31,
        b"SD" => 18,
        b"SE" => 24,
        b"SI" => 19,
        b"SK" => 24,
        b"SM" => 27,
        b"SO" => 23,
        b"ST" => 25,
        b"SV" => 28,
        b"TL" => 23,
        b"TN" => 24,
        b"TR" => 26,
        b"UA" => 29,
        b"VA" => 22,
        b"VG" => 24,
        b"XK" => 20,
        b"YE" => 30,
        _ => return None,
    };
    Some(n)
}

/// ISO 7064 mod-97-10 over a compact upper-case IBAN (country, check digits, BBAN).
pub fn iban_mod97(iban: &[u8]) -> bool {
    if iban.len() < 5 {
        return false;
    }
    let mut rem: u32 = 0;
    let rotated = iban[4..].iter().chain(iban[..4].iter());
    for &c in rotated {
        match c {
            b'0'..=b'9' => rem = (rem * 10 + (c - b'0') as u32) % 97,
            b'A'..=b'Z' => rem = (rem * 100 + (c - b'A' + 10) as u32) % 97,
            _ => return false,
        }
    }
    rem == 1
}

/// US SSN rules: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn_ok(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    let a = prefix(area, 3);
    let g = prefix(group, 2);
    let s = prefix(serial, 4);
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_off_by_one() {
        assert!(luhn(b"4111111111111111"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111111111111112"));
    }

    #[test]
    fn issuer_ranges() {
        assert!(card_ok(b"5555555555554444"));
        assert!(card_ok(b"2223003122003222"));
        assert!(card_ok(b"6011111111111117"));
        assert!(card_ok(b"30569309025904"));
        assert!(card_ok(b"3530111333300000"));
        assert!(card_ok(b"6200000000000005"));
        // Luhn-valid but no issuer starts with 1 (16 digits) or 9.
        assert!(!card_ok(b"1234567812345670"));
        assert!(!card_ok(b"9111111111111111"));
        // Visa never has 15 digits.
        assert!(!card_ok(b"411111111111116"));
    }

    #[test]
    fn iban_checks() {
        assert!(iban_mod97(b"DE89370400440532013000"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"GB82WEST12345698765433"));
        assert_eq!(iban_length(*b"DE"), Some(22));
        assert_eq!(iban_length(*b"US"), None);
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn_ok(b"123", b"45", b"6789"));
        assert!(!ssn_ok(b"000", b"45", b"6789"));
        assert!(!ssn_ok(b"666", b"45", b"6789"));
        assert!(!ssn_ok(b"901", b"45", b"6789"));
        assert!(!ssn_ok(b"123", b"00", b"6789"));
        assert!(!ssn_ok(b"123", b"45", b"0000"));
    }
}
