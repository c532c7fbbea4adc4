//! Errors found while reading a policy document, each pinned to a line and column so
//! `gatehouse policy check FILE` can print `FILE:LINE:COL: message` like a compiler.

use std::fmt;

/// One problem in a policy document.
///
/// `line` and `column` are 1-based and point at the key or value at fault. The message says
/// what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct PolicyError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column number (in characters).
    pub column: usize,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl PolicyError {
    /// Formats the error as `FILE:LINE:COL: message`, the shape editors and CI annotate.
    pub fn with_file<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        WithFile { file, error: self }
    }
}

struct WithFile<'a> {
    file: &'a str,
    error: &'a PolicyError,
}

impl fmt::Display for WithFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.error)
    }
}

/// Every problem found in one document (never empty), in source order.
///
/// Reading continues past the first problem so an admin can fix a file in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(Vec<PolicyError>);

impl PolicyErrors {
    pub(crate) fn new(mut errors: Vec<PolicyError>) -> Self {
        debug_assert!(!errors.is_empty());
        errors.sort_by_key(|e| (e.line, e.column));
        errors.dedup();
        PolicyErrors(errors)
    }

    /// The individual errors, sorted by position.
    pub fn errors(&self) -> &[PolicyError] {
        &self.0
    }

    /// The first error by position.
    pub fn first(&self) -> &PolicyError {
        &self.0[0]
    }

    /// All errors as `FILE:LINE:COL: message`, one per line.
    pub fn with_file<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        AllWithFile { file, errors: self }
    }
}

struct AllWithFile<'a> {
    file: &'a str,
    errors: &'a PolicyErrors,
}

impl fmt::Display for AllWithFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", e.with_file(self.file))?;
        }
        Ok(())
    }
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_with_file_name_like_a_compiler() {
        let e = PolicyError {
            line: 3,
            column: 7,
            message: "unknown key `tool`; did you mean `tools`?".into(),
        };
        assert_eq!(
            e.with_file("policy.yaml").to_string(),
            "policy.yaml:3:7: unknown key `tool`; did you mean `tools`?"
        );
        assert_eq!(
            e.to_string(),
            "3:7: unknown key `tool`; did you mean `tools`?"
        );
    }

    #[test]
    fn several_errors_are_sorted_and_one_per_line() {
        let errs = PolicyErrors::new(vec![
            PolicyError {
                line: 9,
                column: 1,
                message: "b".into(),
            },
            PolicyError {
                line: 2,
                column: 5,
                message: "a".into(),
            },
        ]);
        assert_eq!(errs.first().line, 2);
        assert_eq!(
            errs.with_file("p.yaml").to_string(),
            "p.yaml:2:5: a\np.yaml:9:1: b"
        );
    }
}
