//! Reading the `sql:` and `command:` argument conditions of a policy document, with the same
//! line:column errors and "did you mean" hints as the rest of the document.

use crate::command::CommandRequirement;
use crate::document::{Node, Reader, describe, suggest};
use crate::pattern::NamePattern;
use crate::sql::{DEFAULT_DANGEROUS_FUNCTIONS, SqlDialect, SqlRequirement, StatementKind};
use saphyr::{Scalar, YamlData};

const SQL_KEYS: &[&str] = &[
    "dialect",
    "read_only",
    "statements",
    "tables",
    "max_statements",
    "dangerous_functions",
];
const COMMAND_KEYS: &[&str] = &["programs", "flags", "allow_metacharacters"];
/// Entry of `dangerous_functions` that stands for the built-in list.
const DEFAULT_FUNCTIONS_ENTRY: &str = "default";

/// Appends " (did you mean `x`?)" when a close name exists.
fn hint(word: &str, allowed: &[&str]) -> String {
    suggest(word, allowed)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

impl Reader {
    pub(crate) fn sql_requirement(
        &mut self,
        node: &Node<'_>,
        label: &str,
    ) -> Option<SqlRequirement> {
        let what = format!("the sql condition of {label}");
        let entries = self.mapping(node, &what, SQL_KEYS)?;
        let before = self.errors.len();
        let mut dialect = None;
        let mut read_only = false;
        let mut statements = None;
        let mut tables = None;
        let mut max_statements = None;
        let mut functions = None;
        // The dialect folds the case of table globs, so it is read first.
        if let Some(e) = entries.iter().find(|e| e.key == "dialect")
            && let Some(name) = self.string(e.value, &format!("dialect of {label}"))
        {
            dialect = SqlDialect::from_name(&name);
            if dialect.is_none() {
                self.error(
                    e.value,
                    format!(
                        "{label}: unknown SQL dialect `{name}`{}; use one of {}",
                        hint(&name, SqlDialect::NAMES),
                        SqlDialect::NAMES.join(", ")
                    ),
                );
            }
        }
        for e in &entries {
            match e.key {
                "dialect" => {}
                "read_only" => {
                    read_only = self
                        .boolean(e.value, &format!("read_only of {label}"))
                        .unwrap_or_default();
                }
                "statements" => statements = self.statement_kinds(e.value, label),
                "tables" => {
                    let folded = dialect.unwrap_or(SqlDialect::Generic);
                    tables = self
                        .string_list(e.value, &format!("tables of {label}"))
                        .map(|items| {
                            items
                                .into_iter()
                                .filter_map(|(text, item)| {
                                    NamePattern::parse(&folded.fold_pattern(&text))
                                        .map_err(|err| {
                                            self.error(item, format!("tables of {label}: {err}"))
                                        })
                                        .ok()
                                })
                                .collect()
                        });
                }
                "max_statements" => match &e.value.data {
                    YamlData::Value(Scalar::Integer(n)) if *n >= 1 => {
                        max_statements = usize::try_from(*n).ok();
                    }
                    _ => self.error(
                        e.value,
                        format!(
                            "{label}: max_statements must be a whole number of at least 1, not {}",
                            describe(e.value)
                        ),
                    ),
                },
                "dangerous_functions" => functions = self.function_list(e.value, label),
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        if !entries.iter().any(|e| e.key == "dialect") {
            self.error(
                node,
                format!(
                    "{what} has no `dialect`; name the database's SQL: {}",
                    SqlDialect::NAMES.join(", ")
                ),
            );
        }
        if self.errors.len() != before {
            return None;
        }
        let dangerous_functions = match functions {
            Some(list) => list,
            None => default_functions(),
        };
        Some(SqlRequirement {
            dialect: dialect?,
            read_only,
            statements,
            tables,
            max_statements,
            dangerous_functions,
            seen: Default::default(),
        })
    }

    fn statement_kinds(&mut self, node: &Node<'_>, label: &str) -> Option<Vec<StatementKind>> {
        let items = self.string_list(node, &format!("statements of {label}"))?;
        let names = StatementKind::names();
        let mut out = Vec::with_capacity(items.len());
        for (text, item) in items {
            let lower = text.to_lowercase();
            match StatementKind::from_name(&lower) {
                Some(kind) => out.push(kind),
                None => self.error(
                    item,
                    format!(
                        "{label}: unknown statement kind `{text}`{}; use any of {}",
                        hint(&lower, &names),
                        names.join(", ")
                    ),
                ),
            }
        }
        Some(out)
    }

    /// `dangerous_functions`: may be empty (no function is refused); `default` adds the
    /// built-in list.
    fn function_list(&mut self, node: &Node<'_>, label: &str) -> Option<Vec<NamePattern>> {
        let what = format!("dangerous_functions of {label}");
        let YamlData::Sequence(items) = &node.data else {
            self.error(node, format!("{what} must be a list of function names or globs (`default` for the built-in list, `[]` for none), not {}", describe(node)));
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            let text = self
                .string(item, &format!("an entry of {what}"))?
                .to_lowercase();
            if text == DEFAULT_FUNCTIONS_ENTRY {
                out.extend(default_functions());
                continue;
            }
            match NamePattern::parse(&text) {
                Ok(p) => out.push(p),
                Err(err) => self.error(item, format!("{what}: {err}")),
            }
        }
        Some(out)
    }

    pub(crate) fn command_requirement(
        &mut self,
        node: &Node<'_>,
        label: &str,
    ) -> Option<CommandRequirement> {
        let what = format!("the command condition of {label}");
        let entries = self.mapping(node, &what, COMMAND_KEYS)?;
        let before = self.errors.len();
        let mut requirement = CommandRequirement {
            programs: None,
            flags: None,
            allow_metacharacters: false,
        };
        for e in &entries {
            match e.key {
                "programs" => {
                    requirement.programs = self.patterns(e.value, &format!("programs of {label}"))
                }
                "flags" => {
                    let Some(items) = self.string_list(e.value, &format!("flags of {label}"))
                    else {
                        continue;
                    };
                    let mut flags = Vec::with_capacity(items.len());
                    for (flag, item) in items {
                        if flag.len() < 2 || !flag.starts_with('-') || flag.contains(['=', ' ']) {
                            self.error(item, format!("{label}: `{flag}` is not a flag; write flags as `-l` or `--all` (a value after `=` is not part of the flag)"));
                        } else {
                            flags.push(flag);
                        }
                    }
                    requirement.flags = Some(flags);
                }
                "allow_metacharacters" => {
                    requirement.allow_metacharacters = self
                        .boolean(e.value, &format!("allow_metacharacters of {label}"))
                        .unwrap_or_default();
                }
                _ => unreachable!("mapping() only returns allowed keys"),
            }
        }
        (self.errors.len() == before).then_some(requirement)
    }

    fn boolean(&mut self, node: &Node<'_>, what: &str) -> Option<bool> {
        match &node.data {
            YamlData::Value(Scalar::Boolean(b)) => Some(*b),
            _ => {
                self.error(
                    node,
                    format!("{what} must be true or false, not {}", describe(node)),
                );
                None
            }
        }
    }
}

fn default_functions() -> Vec<NamePattern> {
    DEFAULT_DANGEROUS_FUNCTIONS
        .iter()
        .map(|f| NamePattern::parse(f).expect("built-in function globs are valid"))
        .collect()
}
