//! The period a review covers: a quarter (`2026-Q4`), a month (`2026-12`) or two dates.

use super::ReviewError;
use chrono::{Datelike, NaiveDate, Utc};

/// A review's period as RFC 3339 bounds, with the name people typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// `2026-Q4`, `2026-12` or `2026-10-01..2026-10-31`.
    pub name: String,
    /// First instant (RFC 3339, UTC).
    pub from: String,
    /// Last instant (RFC 3339, UTC).
    pub to: String,
}

fn ts(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn span(name: String, first: NaiveDate, next: NaiveDate) -> Period {
    let last = next.pred_opt().unwrap_or(next);
    Period {
        name,
        from: ts(first.and_hms_opt(0, 0, 0).unwrap_or_default()),
        to: ts(last
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap_or_default()),
    }
}

fn month_start(year: i32, month: u32) -> Option<NaiveDate> {
    if month == 13 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month, 1)
    }
}

/// Reads `YYYY-Qn` or `YYYY-MM`.
pub fn parse(text: &str) -> Result<Period, ReviewError> {
    let bad = || {
        ReviewError::Invalid(format!(
            "`{text}` is not a period: give a quarter (2026-Q4), a month (2026-12), or --from and --to dates"
        ))
    };
    let t = text.trim();
    let (year, rest) = t.split_once('-').ok_or_else(bad)?;
    let year: i32 = year
        .parse()
        .ok()
        .filter(|y| (1970..=9999).contains(y) && year.len() == 4)
        .ok_or_else(bad)?;
    let (first, next) = if let Some(q) = rest.strip_prefix('Q').or(rest.strip_prefix('q')) {
        let q: u32 = q
            .parse()
            .ok()
            .filter(|q| (1..=4).contains(q))
            .ok_or_else(bad)?;
        (month_start(year, q * 3 - 2), month_start(year, q * 3 + 1))
    } else {
        let m: u32 = rest
            .parse()
            .ok()
            .filter(|m| (1..=12).contains(m) && rest.len() == 2)
            .ok_or_else(bad)?;
        (month_start(year, m), month_start(year, m + 1))
    };
    let (first, next) = first.zip(next).ok_or_else(bad)?;
    Ok(span(t.to_uppercase(), first, next))
}

/// Two dates (whole days) or RFC 3339 times.
pub fn between(from: &str, to: &str) -> Result<Period, ReviewError> {
    let (f, t) =
        crate::evidence::period(from, to).map_err(|e| ReviewError::Invalid(e.to_string()))?;
    Ok(Period {
        name: format!("{}..{}", from.trim(), to.trim()),
        from: f,
        to: t,
    })
}

impl Period {
    /// Refuses a period that has not started: there is nothing to review yet.
    pub fn started(self) -> Result<Period, ReviewError> {
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        if self.from > now {
            return Err(ReviewError::Invalid(format!(
                "the period {} has not started (it starts {}); review a period that has begun",
                self.name,
                &self.from[..10]
            )));
        }
        Ok(self)
    }

    /// The current quarter's name (the dashboard's default).
    pub fn current_quarter() -> String {
        let d = Utc::now().date_naive();
        format!("{}-Q{}", d.year(), (d.month() - 1) / 3 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_months_and_dates() {
        let q = parse("2026-Q4").unwrap();
        assert_eq!(q.from, "2026-10-01T00:00:00.000000Z");
        assert_eq!(q.to, "2026-12-31T23:59:59.999999Z");
        let m = parse("2024-02").unwrap();
        assert_eq!(m.to, "2024-02-29T23:59:59.999999Z");
        let d = between("2026-11-01", "2026-11-30").unwrap();
        assert_eq!(d.to, "2026-11-30T23:59:59.999999Z");
    }

    #[test]
    fn refuses_what_is_not_a_period_or_has_not_started() {
        for bad in ["2026-Q5", "2026-13", "Q4-2026", "2026", "26-Q1", "2026-1"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("is not a period"), "{bad}: {e}");
        }
        let e = parse("2999-Q1").unwrap().started().unwrap_err().to_string();
        assert!(e.contains("has not started"), "{e}");
        assert!(between("2026-11-30", "2026-11-01").is_err());
    }
}
