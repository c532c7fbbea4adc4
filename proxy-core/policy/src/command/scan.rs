//! Finds what a POSIX shell would treat as syntax rather than as words: command separators,
//! redirections, substitutions and expansions, outside quotes (single quotes protect
//! everything; double quotes still expand `$` and backticks). Word splitting and quote removal
//! of the text between them is left to `shlex`.

/// What starts a piece of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The beginning of the line, or after `;`, `&`, `|`, `&&`, `||`, a newline or a parenthesis:
    /// a new command.
    Command,
    /// After `<` or `>` (and its `>>`, `>&`, `<<` forms): the first word is a file.
    Redirect,
}

/// One piece of the command line and what came before it.
#[derive(Debug)]
pub(super) struct Piece<'a> {
    pub(super) start: Start,
    pub(super) text: &'a str,
}

/// The line cut into pieces, with the first operator seen (if any).
#[derive(Debug)]
pub(super) struct Scanned<'a> {
    pub(super) pieces: Vec<Piece<'a>>,
    pub(super) first_operator: Option<String>,
}

/// Something whose result is only known when the shell runs it; never allowed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Substitution(pub(super) &'static str);

pub(super) fn scan(line: &str) -> Result<Scanned<'_>, Substitution> {
    #[derive(Clone, Copy, PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let bytes = line.as_bytes();
    let mut quote = Quote::None;
    let mut pieces = Vec::new();
    let mut first_operator = None;
    let mut piece_start = 0;
    let mut start = Start::Command;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        match (quote, c) {
            (Quote::Single, b'\'') => quote = Quote::None,
            (Quote::Single, _) => {}
            (_, b'\\') => i += 1,
            (Quote::None, b'\'') => quote = Quote::Single,
            (Quote::None, b'"') => quote = Quote::Double,
            (Quote::Double, b'"') => quote = Quote::None,
            (_, b'`') => return Err(Substitution("`…` (command substitution)")),
            (_, b'$') => match next {
                Some(b'(') => return Err(Substitution("$(…) (command substitution)")),
                Some(b'{') => return Err(Substitution("${…} (parameter expansion)")),
                Some(n) if n.is_ascii_alphanumeric() || b"_@*#?$!-".contains(&n) => {
                    return Err(Substitution("$NAME (variable expansion)"));
                }
                _ => {}
            },
            (Quote::Double, _) => {}
            (Quote::None, b'<' | b'>') if next == Some(b'(') => {
                return Err(Substitution("<(…) or >(…) (process substitution)"));
            }
            (Quote::None, b';' | b'&' | b'|' | b'\n' | b'(' | b')' | b'<' | b'>') => {
                let mut end = i + 1;
                while end < bytes.len() && b"<>&|".contains(&bytes[end]) {
                    end += 1;
                }
                let op = &line[i..end];
                first_operator.get_or_insert_with(|| op.replace('\n', "newline"));
                pieces.push(Piece {
                    start,
                    text: &line[piece_start..i],
                });
                start = if matches!(c, b'<' | b'>') {
                    Start::Redirect
                } else {
                    Start::Command
                };
                piece_start = end;
                i = end;
                continue;
            }
            (Quote::None, _) => {}
        }
        i += 1;
    }
    pieces.push(Piece {
        start,
        text: &line[piece_start.min(line.len())..],
    });
    Ok(Scanned {
        pieces,
        first_operator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(line: &str) -> Option<String> {
        scan(line).unwrap().first_operator
    }

    #[test]
    fn operators_count_only_outside_quotes() {
        assert_eq!(operator("ls -l /tmp"), None);
        assert_eq!(operator("grep 'a|b;c' file"), None);
        assert_eq!(operator("echo \"a;b\""), None);
        assert_eq!(operator("echo a\\;b"), None);
        assert_eq!(operator("ls; rm -rf /").as_deref(), Some(";"));
        assert_eq!(operator("ls && rm x").as_deref(), Some("&&"));
        assert_eq!(operator("cat a >> b").as_deref(), Some(">>"));
        assert_eq!(operator("ls\nrm x").as_deref(), Some("newline"));
    }

    #[test]
    fn substitutions_are_found_even_in_double_quotes() {
        for line in [
            "echo $(id)",
            "echo \"$(id)\"",
            "echo `id`",
            "echo ${HOME}",
            "echo \"$HOME\"",
            "diff <(ls) x",
        ] {
            assert!(scan(line).is_err(), "{line}");
        }
        assert!(scan("echo '$(id)'").is_ok());
        assert!(scan("echo costs 5$").is_ok());
    }
}
