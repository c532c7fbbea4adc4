//! Walks one parsed statement and stops at the first thing the requirement does not accept.
//!
//! The walk sees every nested statement (a data-changing CTE, the statement under EXPLAIN), every
//! `SELECT … INTO`, every row lock, every function call and every table, so a requirement holds
//! for the whole text, not just for its first keyword.

use super::SqlRequirement;
use super::kind::StatementKind;
use sqlparser::ast::{Expr, ObjectName, Query, Select, Statement, TableFactor, Visit, Visitor};
use std::ops::ControlFlow;

/// Longest statement text quoted in a reason.
const QUOTE_LIMIT: usize = 80;

/// CTE names in scope. A frame that `hides_parent` belongs to a CTE body: the names of its own
/// WITH list are visible there only as the SQL standard says (earlier CTEs; itself when
/// RECURSIVE), so the frame replaces the one below it.
struct Frame {
    names: Vec<String>,
    hides_parent: bool,
}

pub(super) struct Inspector<'r> {
    requirement: &'r SqlRequirement,
    /// 1-based position of the top-level statement being walked.
    position: usize,
    /// Nesting of statements: 0 outside, 1 in the top-level one.
    depth: usize,
    frames: Vec<Frame>,
    /// Frames pushed per query being walked, popped when it ends.
    pushed: Vec<usize>,
    /// CTE bodies not reached yet (by address) and the CTE names visible inside each.
    cte_bodies: Vec<(usize, Vec<String>)>,
    /// The name of a table-valued function call, which is not a table.
    function_name: Option<*const ObjectName>,
}

impl<'r> Inspector<'r> {
    pub(super) fn check(
        requirement: &'r SqlRequirement,
        position: usize,
        statement: &Statement,
    ) -> Result<(), String> {
        let mut inspector = Inspector {
            requirement,
            position,
            depth: 0,
            frames: Vec::new(),
            pushed: Vec::new(),
            cte_bodies: Vec::new(),
            function_name: None,
        };
        match statement.visit(&mut inspector) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(reason) => Err(reason),
        }
    }

    fn statement_label(&self, text: impl std::fmt::Display) -> String {
        let verb = if self.depth > 1 { "contains" } else { "is" };
        format!("statement {} {verb} {}", self.position, quote(text))
    }

    fn check_function(&self, name: &ObjectName) -> ControlFlow<String> {
        let Some(last) = name.0.last().and_then(|p| p.as_ident()) else {
            return ControlFlow::Continue(());
        };
        let lower = last.value.to_lowercase();
        if self
            .requirement
            .dangerous_functions
            .iter()
            .any(|p| p.is_match(&lower))
        {
            return ControlFlow::Break(format!(
                "statement {} calls `{name}`, which is on the dangerous function list",
                self.position
            ));
        }
        ControlFlow::Continue(())
    }

    fn is_cte(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false;
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        let folded = self.requirement.dialect.fold_ident(ident);
        let mut i = self.frames.len();
        while i > 0 {
            let frame = &self.frames[i - 1];
            if frame.names.contains(&folded) {
                return true;
            }
            i -= if frame.hides_parent { 2.min(i) } else { 1 };
        }
        false
    }

    fn kind_allowed(&self, kind: StatementKind) -> bool {
        self.requirement
            .statements
            .as_ref()
            .is_none_or(|allowed| allowed.contains(&kind))
    }

    fn only_kinds(&self) -> String {
        let names: Vec<&str> = self
            .requirement
            .statements
            .iter()
            .flatten()
            .map(|k| k.name())
            .collect();
        names.join(", ")
    }
}

impl Visitor for Inspector<'_> {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        self.depth += 1;
        let kind = StatementKind::of(statement);
        if self.requirement.read_only && !kind.reads_only() {
            return ControlFlow::Break(format!(
                "{}, which is not a read-only query",
                self.statement_label(statement)
            ));
        }
        if !self.kind_allowed(kind) {
            return ControlFlow::Break(format!(
                "{}, a `{}` statement; only {} statements pass",
                self.statement_label(statement),
                kind.name(),
                self.only_kinds()
            ));
        }
        match statement {
            Statement::Call(function) => self.check_function(&function.name),
            Statement::Execute {
                name: Some(name), ..
            } => self.check_function(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<String> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if self.requirement.read_only && !query.locks.is_empty() {
            return ControlFlow::Break(format!(
                "statement {} locks rows (`FOR UPDATE`/`FOR SHARE`), which is not a read-only query",
                self.position
            ));
        }
        let mut pushed = 0;
        let address = std::ptr::from_ref(query) as usize;
        if let Some(at) = self.cte_bodies.iter().position(|(a, _)| *a == address) {
            let (_, names) = self.cte_bodies.swap_remove(at);
            self.frames.push(Frame {
                names,
                hides_parent: true,
            });
            pushed += 1;
        }
        if let Some(with) = &query.with {
            let dialect = self.requirement.dialect;
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|cte| dialect.fold_ident(&cte.alias.name))
                .collect();
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let visible = names[..i + usize::from(with.recursive)].to_vec();
                self.cte_bodies
                    .push((std::ptr::from_ref(&*cte.query) as usize, visible));
            }
            self.frames.push(Frame {
                names,
                hides_parent: false,
            });
            pushed += 1;
        }
        self.pushed.push(pushed);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<String> {
        let pushed = self.pushed.pop().unwrap_or(0);
        self.frames
            .truncate(self.frames.len().saturating_sub(pushed));
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        let Some(into) = &select.into else {
            return ControlFlow::Continue(());
        };
        if self.requirement.read_only || !self.kind_allowed(StatementKind::Create) {
            return ControlFlow::Break(format!(
                "statement {} is {}, which writes a table",
                self.position,
                quote(format!("SELECT … {into}"))
            ));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => {
                self.function_name = Some(std::ptr::from_ref(name));
                self.check_function(name)
            }
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<String> {
        if self.function_name == Some(std::ptr::from_ref(relation)) {
            return ControlFlow::Continue(());
        }
        let Some(patterns) = &self.requirement.tables else {
            return ControlFlow::Continue(());
        };
        if self.is_cte(relation) {
            return ControlFlow::Continue(());
        }
        let name = self.requirement.dialect.qualified_name(relation);
        if patterns.iter().any(|p| p.is_match(&name)) {
            return ControlFlow::Continue(());
        }
        let listed: Vec<String> = patterns.iter().map(|p| p.text()).collect();
        ControlFlow::Break(format!(
            "statement {} uses table `{name}`, which matches none of the allowed tables ({})",
            self.position,
            listed.join(", ")
        ))
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(function) => self.check_function(&function.name),
            _ => ControlFlow::Continue(()),
        }
    }
}

/// A statement as it reads in a reason, cut to one line of reasonable length.
pub(super) fn quote(text: impl std::fmt::Display) -> String {
    let full = text.to_string();
    let one_line = full.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{} …", &one_line[..cut]),
        None => one_line,
    }
}
