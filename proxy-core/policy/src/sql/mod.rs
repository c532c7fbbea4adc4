//! The `sql:` argument matcher: parses the text in the rule's dialect and checks what each
//! statement *is* (read-only or not, its kind, the tables it touches, the functions it calls)
//! instead of searching the text for words.
//!
//! The requirement fails closed: text that does not parse, is too long or is nested too deeply
//! fails it with a reason that says so. An `allow` rule then does not apply; a `deny` or
//! `require_approval` rule does.

mod dialect;
mod inspect;
mod kind;
pub(crate) mod pretty;
mod seen;

pub(crate) use dialect::SqlDialect;
pub(crate) use kind::StatementKind;

use crate::pattern::NamePattern;
use inspect::{Inspector, quote};
use sqlparser::parser::{Parser, ParserError};

/// Longest SQL text that is parsed at all; longer text fails the requirement without parsing,
/// so a decision's time and memory stay bounded whatever a client sends.
pub(crate) const MAX_SQL_BYTES: usize = 64 * 1024;
/// Parser recursion limit (nested subqueries, parentheses, CASE …): deeper text fails.
const MAX_NESTING: usize = 48;
/// Text up to this size is checked on the caller's stack; longer text on a fresh stack large
/// enough for the deepest tree it can produce (a chain like `1+1+…+1` nests one level per
/// operator without touching the parser's recursion limit).
const SMALL_SQL_BYTES: usize = 4 * 1024;
const LARGE_SQL_STACK: usize = 64 * 1024 * 1024;

/// Functions refused in every statement unless the rule lists its own `dangerous_functions`
/// (`default` in that list stands for this one). Names compare without case, on the last part
/// of a qualified name, so `pg_catalog.PG_READ_FILE` is caught too.
pub(crate) const DEFAULT_DANGEROUS_FUNCTIONS: &[&str] = &[
    // PostgreSQL: server files and programs, other sessions, configuration, dynamic SQL.
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_stat_file",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_sleep*",
    "pg_advisory*",
    "set_config",
    "setval",
    "lo_import",
    "lo_export",
    "lo_unlink",
    "lo_put",
    "lo_from_bytea",
    "dblink*",
    "query_to_xml*",
    "database_to_xml*",
    "schema_to_xml*",
    "table_to_xml*",
    // SQL Server: shell, registry, files, linked servers, dynamic SQL, OLE automation.
    "xp_*",
    "sp_oa*",
    "sp_executesql",
    "sp_configure",
    "sp_addlogin",
    "sp_addsrvrolemember",
    "openrowset",
    "opendatasource",
    "openquery",
    // MySQL / MariaDB.
    "load_file",
    "sleep",
    "benchmark",
    "sys_exec",
    "sys_eval",
    // SQLite.
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    // Snowflake and BigQuery.
    "system$*",
    "external_query",
];

/// A validated `sql:` condition.
#[derive(Debug)]
pub(crate) struct SqlRequirement {
    pub(crate) dialect: SqlDialect,
    /// Every statement only reads (see README: no DML, DDL, DCL, COPY, SELECT INTO, locks,
    /// data-changing CTE, EXECUTE/CALL/DO, transaction control, SET).
    pub(crate) read_only: bool,
    /// Every statement, nested ones included, is of one of these kinds.
    pub(crate) statements: Option<Vec<StatementKind>>,
    /// Every table read or written matches one of these globs (folded, schema-qualified).
    pub(crate) tables: Option<Vec<NamePattern>>,
    /// At most this many statements.
    pub(crate) max_statements: Option<usize>,
    /// Lower-case globs over function names refused anywhere in the text.
    pub(crate) dangerous_functions: Vec<NamePattern>,
    /// Texts checked before, with their outcome.
    pub(crate) seen: seen::Seen,
}

impl SqlRequirement {
    /// `Ok` when the text parses in the dialect and meets every requirement; otherwise the
    /// first reason it does not, as a sentence for the decision (e.g. "statement 2 is DROP
    /// TABLE customers, which is not a read-only query").
    pub(crate) fn check(&self, text: &str) -> Result<(), String> {
        if text.len() > MAX_SQL_BYTES {
            return Err(format!(
                "the SQL text is {} bytes, over the {MAX_SQL_BYTES}-byte limit for checked SQL; it is refused unread",
                text.len()
            ));
        }
        if text.len() <= SMALL_SQL_BYTES {
            self.seen.outcome(text, || self.check_parsed(text))
        } else {
            // The parse tree, its walk and its drop all recurse as deep as the text nests.
            stacker::grow(LARGE_SQL_STACK, || self.check_parsed(text))
        }
    }

    fn check_parsed(&self, text: &str) -> Result<(), String> {
        let statements = Parser::new(self.dialect.parser())
            .with_recursion_limit(MAX_NESTING)
            .try_with_sql(text)
            .and_then(|mut p| p.parse_statements())
            .map_err(|e| self.parse_failure(&e))?;
        if statements.is_empty() {
            return Err("the SQL text holds no statement".into());
        }
        if let Some(max) = self.max_statements
            && statements.len() > max
        {
            return Err(format!(
                "the SQL text holds {} statements, more than the {max} allowed",
                statements.len()
            ));
        }
        for (i, statement) in statements.iter().enumerate() {
            Inspector::check(self, i + 1, statement)?;
        }
        Ok(())
    }

    fn parse_failure(&self, error: &ParserError) -> String {
        let dialect = self.dialect.name();
        match error {
            ParserError::RecursionLimitExceeded => format!(
                "the SQL text is nested more than {MAX_NESTING} levels deep, too deep to check; it is refused"
            ),
            ParserError::TokenizerError(e) | ParserError::ParserError(e) => format!(
                "the SQL text does not parse as {dialect} SQL ({}), so it cannot be checked and is refused",
                quote(e)
            ),
        }
    }
}
