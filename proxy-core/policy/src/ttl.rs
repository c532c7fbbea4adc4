//! Approval time-to-live values written by admins as `30s`, `15m`, `1h`, `1h30m` or `2d`.

use std::time::Duration;

/// Shortest accepted approval TTL: below this an approver cannot realistically react.
pub const MIN_TTL: Duration = Duration::from_secs(10);
/// Longest accepted approval TTL: an approval must not stay usable for longer than a week.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

const HOW: &str = "write a whole number followed by s, m, h or d, e.g. `15m` or `1h30m`";

/// Parses a TTL such as `15m` or `1h30m`; the error explains the accepted form.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("ttl is empty; {HOW}"));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            other => return Err(format!("ttl `{text}` has unknown unit `{other}`; {HOW}")),
        };
        if digits.is_empty() {
            return Err(format!("ttl `{text}` has a unit without a number; {HOW}"));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("ttl `{text}` is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("ttl `{text}` is too large"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("ttl `{text}` has a number without a unit; {HOW}"));
    }
    let ttl = Duration::from_secs(total);
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(format!(
            "ttl `{text}` is out of range; use between 10s and 7d"
        ));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_compound_units() {
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_ttl("7d"), Ok(MAX_TTL));
    }

    #[test]
    fn rejects_bad_forms_with_guidance() {
        for bad in ["", "15", "m", "15x", "1.5h", "-1h", "15 m"] {
            let e = parse_ttl(bad).unwrap_err();
            assert!(e.contains("e.g. `15m`"), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_out_of_range_and_overflow() {
        assert!(parse_ttl("5s").unwrap_err().contains("out of range"));
        assert!(parse_ttl("8d").unwrap_err().contains("out of range"));
        assert!(
            parse_ttl("99999999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_ttl("999999999999999999d")
                .unwrap_err()
                .contains("too large")
        );
    }
}
