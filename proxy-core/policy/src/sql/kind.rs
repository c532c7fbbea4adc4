//! What a statement is, in the words a policy uses (`statements: [select, insert]`).

use sqlparser::ast::Statement;

/// The kind of one SQL statement. Kinds group the parser's many statement types the way an
/// admin thinks of them: `create` covers every CREATE, `drop` every DROP, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Create,
    Alter,
    Drop,
    Truncate,
    Grant,
    Revoke,
    Copy,
    Explain,
    Show,
    Set,
    Transaction,
    Call,
    Execute,
    Prepare,
    Declare,
    Use,
    Lock,
    Comment,
    Maintenance,
    Other,
}

impl StatementKind {
    /// Every kind with its policy name.
    pub(crate) const ALL: &'static [(StatementKind, &'static str)] = &[
        (Self::Select, "select"),
        (Self::Insert, "insert"),
        (Self::Update, "update"),
        (Self::Delete, "delete"),
        (Self::Merge, "merge"),
        (Self::Create, "create"),
        (Self::Alter, "alter"),
        (Self::Drop, "drop"),
        (Self::Truncate, "truncate"),
        (Self::Grant, "grant"),
        (Self::Revoke, "revoke"),
        (Self::Copy, "copy"),
        (Self::Explain, "explain"),
        (Self::Show, "show"),
        (Self::Set, "set"),
        (Self::Transaction, "transaction"),
        (Self::Call, "call"),
        (Self::Execute, "execute"),
        (Self::Prepare, "prepare"),
        (Self::Declare, "declare"),
        (Self::Use, "use"),
        (Self::Lock, "lock"),
        (Self::Comment, "comment"),
        (Self::Maintenance, "maintenance"),
        (Self::Other, "other"),
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .expect("every kind is listed in ALL")
    }

    /// Policy names of all kinds, for hints.
    pub(crate) fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|(_, n)| *n).collect()
    }

    /// Kinds that only read: a query, a plan (its inner statement is checked on its own) or a
    /// listing. Everything else changes data, schema, privileges or session state.
    pub(crate) fn reads_only(self) -> bool {
        matches!(self, Self::Select | Self::Explain | Self::Show)
    }

    /// The kind of a parsed statement. The common statement types are matched directly; the
    /// parser's rarer ones (it has well over a hundred) are grouped by their leading keyword,
    /// so a statement type added by a newer parser still lands in a sensible kind.
    pub(crate) fn of(statement: &Statement) -> Self {
        match statement {
            Statement::Query(_) => Self::Select,
            Statement::Insert(_) => Self::Insert,
            Statement::Update(_) => Self::Update,
            Statement::Delete(_) => Self::Delete,
            Statement::Merge(_) => Self::Merge,
            Statement::Drop { .. } => Self::Drop,
            Statement::Truncate(_) => Self::Truncate,
            Statement::Grant(_) | Statement::GrantRole(_) => Self::Grant,
            Statement::Revoke(_) | Statement::RevokeRole(_) | Statement::Deny(_) => Self::Revoke,
            Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => Self::Copy,
            Statement::Explain { .. } | Statement::ExplainTable { .. } => Self::Explain,
            Statement::Call(_) => Self::Call,
            Statement::Execute { .. } => Self::Execute,
            Statement::Prepare { .. } => Self::Prepare,
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => Self::Transaction,
            other => Self::from_keyword(&other.to_string()),
        }
    }

    fn from_keyword(text: &str) -> Self {
        let word = text
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| !w.is_empty())
            .unwrap_or_default()
            .to_ascii_uppercase();
        match word.as_str() {
            "SELECT" | "WITH" | "VALUES" | "TABLE" => Self::Select,
            "CREATE" | "ATTACH" | "INSTALL" => Self::Create,
            "ALTER" | "RENAME" | "REFRESH" => Self::Alter,
            "DROP" | "DETACH" | "REMOVE" => Self::Drop,
            "SHOW" | "LIST" | "DESCRIBE" | "DESC" => Self::Show,
            "SET" | "RESET" | "DISCARD" => Self::Set,
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" => Self::Transaction,
            "DECLARE" | "FETCH" | "OPEN" | "CLOSE" | "DEALLOCATE" => Self::Declare,
            "USE" => Self::Use,
            "LOCK" | "UNLOCK" => Self::Lock,
            "COMMENT" => Self::Comment,
            "VACUUM" | "ANALYZE" | "OPTIMIZE" | "MSCK" | "CACHE" | "UNCACHE" | "FLUSH"
            | "PRAGMA" => Self::Maintenance,
            "LOAD" | "PUT" | "UNLOAD" | "EXPORT" => Self::Copy,
            "EXEC" | "EXECUTE" | "KILL" => Self::Execute,
            _ => Self::Other,
        }
    }
}
