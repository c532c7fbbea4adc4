//! SQL as an approver reads it: the statements of a held call, parsed in the rule's dialect
//! and printed one clause a line (sqlparser's alternate `Display`).

use super::SqlDialect;
use sqlparser::parser::Parser;

/// The statements of `text`, pretty-printed; `None` when the text does not parse (the
/// approver then reads the text as sent).
pub(crate) fn pretty(dialect: SqlDialect, text: &str) -> Option<String> {
    if text.len() > super::MAX_SQL_BYTES {
        return None;
    }
    let statements = Parser::parse_sql(dialect.parser(), text).ok()?;
    let printed: Vec<String> = statements.iter().map(|s| format!("{s:#};")).collect();
    (!printed.is_empty()).then(|| printed.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_go_on_their_own_lines() {
        let p = pretty(
            SqlDialect::from_name("postgres").unwrap(),
            "update customers set plan = 'gold' where id = 7 and region = 'eu'",
        )
        .unwrap();
        assert!(p.starts_with("UPDATE customers"), "{p}");
        assert!(p.contains("\nWHERE"), "{p}");
        assert!(pretty(SqlDialect::from_name("postgres").unwrap(), "not sql at all").is_none());
    }
}
