//! The SQL dialects a `sql:` condition can name, each with its parser and the way it folds the
//! case of table names (so `tables:` globs compare names as the database itself would).

use sqlparser::ast::{Ident, ObjectName};
use sqlparser::dialect::{
    BigQueryDialect, GenericDialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
    SnowflakeDialect,
};

/// A dialect by its policy name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqlDialect {
    Postgres,
    MsSql,
    MySql,
    Sqlite,
    Snowflake,
    BigQuery,
    Generic,
}

/// How unquoted identifiers are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseFolding {
    /// Unquoted names fold to lower case, quoted names keep their case (PostgreSQL).
    LowerUnquoted,
    /// Unquoted names fold to upper case, quoted names keep their case (Snowflake).
    UpperUnquoted,
    /// Names compare without case, quoted or not (SQL Server, MySQL, SQLite default collations).
    Insensitive,
    /// Names compare exactly as written (BigQuery).
    Sensitive,
}

impl SqlDialect {
    /// Every dialect's policy name, for "did you mean" hints and error messages.
    pub(crate) const NAMES: &'static [&'static str] = &[
        "postgres",
        "mssql",
        "mysql",
        "sqlite",
        "snowflake",
        "bigquery",
        "generic",
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "postgres" => Self::Postgres,
            "mssql" => Self::MsSql,
            "mysql" => Self::MySql,
            "sqlite" => Self::Sqlite,
            "snowflake" => Self::Snowflake,
            "bigquery" => Self::BigQuery,
            "generic" => Self::Generic,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::MsSql => "mssql",
            Self::MySql => "mysql",
            Self::Sqlite => "sqlite",
            Self::Snowflake => "snowflake",
            Self::BigQuery => "bigquery",
            Self::Generic => "generic",
        }
    }

    pub(crate) fn parser(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Self::Postgres => &PostgreSqlDialect {},
            Self::MsSql => &MsSqlDialect {},
            Self::MySql => &MySqlDialect {},
            Self::Sqlite => &SQLiteDialect {},
            Self::Snowflake => &SnowflakeDialect,
            Self::BigQuery => &BigQueryDialect,
            Self::Generic => &GenericDialect {},
        }
    }

    fn folding(self) -> CaseFolding {
        match self {
            Self::Postgres | Self::Generic => CaseFolding::LowerUnquoted,
            Self::Snowflake => CaseFolding::UpperUnquoted,
            Self::MsSql | Self::MySql | Self::Sqlite => CaseFolding::Insensitive,
            Self::BigQuery => CaseFolding::Sensitive,
        }
    }

    /// The schema an unqualified table name lives in, when the dialect has a fixed default.
    fn default_schema(self) -> Option<&'static str> {
        match self {
            Self::Postgres => Some("public"),
            Self::MsSql => Some("dbo"),
            Self::Snowflake => Some("PUBLIC"),
            _ => None,
        }
    }

    /// A glob as the admin wrote it, folded so it compares with [`Self::qualified_name`].
    pub(crate) fn fold_pattern(self, pattern: &str) -> String {
        match self.folding() {
            CaseFolding::Insensitive => pattern.to_lowercase(),
            _ => pattern.to_owned(),
        }
    }

    pub(crate) fn fold_ident(self, ident: &Ident) -> String {
        let quoted = ident.quote_style.is_some();
        match self.folding() {
            CaseFolding::LowerUnquoted if !quoted => ident.value.to_lowercase(),
            CaseFolding::UpperUnquoted if !quoted => ident.value.to_uppercase(),
            CaseFolding::Insensitive => ident.value.to_lowercase(),
            _ => ident.value.clone(),
        }
    }

    /// A table name, folded and dotted, with the default schema added when it has none
    /// (`customers` in postgres is `public.customers`).
    pub(crate) fn qualified_name(self, name: &ObjectName) -> String {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p.as_ident() {
                Some(ident) => self.fold_ident(ident),
                // A computed name part (e.g. Snowflake's IDENTIFIER(...)) cannot be known
                // before the query runs; it then matches only a glob that covers anything.
                None => "?".to_owned(),
            })
            .collect();
        match (parts.len(), self.default_schema()) {
            (1, Some(schema)) => format!("{schema}.{}", parts[0]),
            _ => parts.join("."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(parts: &[(&str, Option<char>)]) -> ObjectName {
        ObjectName::from(
            parts
                .iter()
                .map(|(v, q)| Ident {
                    value: (*v).into(),
                    quote_style: *q,
                    span: sqlparser::tokenizer::Span::empty(),
                })
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn names_fold_as_each_database_does() {
        let unquoted = name(&[("Sales", None), ("Orders", None)]);
        let quoted = name(&[("Sales", Some('"')), ("Orders", Some('"'))]);
        assert_eq!(
            SqlDialect::Postgres.qualified_name(&unquoted),
            "sales.orders"
        );
        assert_eq!(SqlDialect::Postgres.qualified_name(&quoted), "Sales.Orders");
        assert_eq!(
            SqlDialect::Snowflake.qualified_name(&unquoted),
            "SALES.ORDERS"
        );
        assert_eq!(SqlDialect::MsSql.qualified_name(&quoted), "sales.orders");
        assert_eq!(
            SqlDialect::BigQuery.qualified_name(&unquoted),
            "Sales.Orders"
        );
        let bare = name(&[("Customers", None)]);
        assert_eq!(
            SqlDialect::Postgres.qualified_name(&bare),
            "public.customers"
        );
        assert_eq!(SqlDialect::MsSql.qualified_name(&bare), "dbo.customers");
        assert_eq!(SqlDialect::Sqlite.qualified_name(&bare), "customers");
    }

    #[test]
    fn every_name_round_trips() {
        for n in SqlDialect::NAMES {
            assert_eq!(SqlDialect::from_name(n).map(SqlDialect::name), Some(*n));
        }
    }
}
