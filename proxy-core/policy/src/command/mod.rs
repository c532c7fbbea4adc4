//! The `command:` argument matcher: a shell command line (a string, split like a POSIX shell by
//! `shlex`) or an argv array, checked for its programs, its flags and shell syntax.
//!
//! Command substitution and variable expansion (`$(…)`, backticks, `$NAME`, `${…}`, `<(…)`)
//! always fail the requirement: what they run or produce is only known when the shell runs it.
//! Separators and redirections (`;`, `|`, `&`, `&&`, `||`, newline, `<`, `>`) fail it unless
//! `allow_metacharacters: true`; then every command in the line is checked.

mod scan;

use crate::pattern::NamePattern;
use scan::{Start, scan};
use serde_json::Value;

/// Characters that mean shell syntax when an argv array is later joined into a command line.
const ARGV_METACHARACTERS: &[char] = &[';', '|', '&', '$', '`', '<', '>', '(', ')', '\n'];

/// Directories whose programs are named by their basename: `/usr/bin/git` is `git`.
const SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"];

/// The name a program is matched by: its basename when it lives in a system directory (or is
/// found on PATH), otherwise the path as written, so `./git` or `/tmp/x/git` is not `git`.
fn program_name(program: &str) -> &str {
    match program.rsplit_once('/') {
        Some((dir, name)) if SYSTEM_DIRS.contains(&dir) => name,
        _ => program,
    }
}

/// A validated `command:` condition.
#[derive(Debug)]
pub(crate) struct CommandRequirement {
    /// Globs over each command's program: its name, or its basename when it is given as a path
    /// into a system directory (`/usr/bin/git` is `git`; `./git` is `./git`).
    pub(crate) programs: Option<Vec<NamePattern>>,
    /// The only flags accepted (`-l`, `--all`); `-la` passes when `-l` and `-a` are listed,
    /// `--color=auto` when `--color` is. Absent: any flag.
    pub(crate) flags: Option<Vec<String>>,
    /// Separators and redirections are accepted (each command is still checked).
    pub(crate) allow_metacharacters: bool,
}

impl CommandRequirement {
    /// `Ok` when the value is a command line or argv that meets every requirement; otherwise
    /// the reason it does not.
    pub(crate) fn check(&self, value: &Value) -> Result<(), String> {
        match value {
            Value::String(line) => self.check_line(line),
            Value::Array(items) => {
                let argv: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                match argv {
                    Some(argv) => {
                        self.check_argv_text(&argv)?;
                        self.check_argv(&argv)
                    }
                    None => Err("the command is an array with an entry that is not text".into()),
                }
            }
            _ => Err("the command is neither text nor an array of text".into()),
        }
    }

    fn check_line(&self, line: &str) -> Result<(), String> {
        let scanned = scan(line).map_err(|s| {
            format!(
                "the command line uses {}, which is refused because what it runs is known only when the shell runs it",
                s.0
            )
        })?;
        if let Some(op) = &scanned.first_operator
            && !self.allow_metacharacters
        {
            return Err(format!(
                "the command line uses the shell operator `{op}`; only a single command passes"
            ));
        }
        let mut commands = 0;
        for piece in &scanned.pieces {
            let words = shlex::split(piece.text).ok_or_else(|| {
                "the command line has an unclosed quote or a trailing backslash, so it cannot be split into words".to_owned()
            })?;
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            match piece.start {
                Start::Command if !words.is_empty() => {
                    commands += 1;
                    self.check_argv(&words)?;
                }
                Start::Command => {}
                // After a redirection the first word is a file; the rest are more arguments.
                Start::Redirect => self.check_flags(words.get(1..).unwrap_or_default())?,
            }
        }
        if commands == 0 {
            return Err("the command line holds no command".into());
        }
        Ok(())
    }

    fn check_argv(&self, argv: &[&str]) -> Result<(), String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("the command is empty".into());
        };
        let name = program_name(program);
        if let Some(programs) = &self.programs
            && !programs.iter().any(|p| p.is_match(name))
        {
            let listed: Vec<String> = programs.iter().map(NamePattern::text).collect();
            return Err(format!(
                "the command runs `{name}`, which is not one of the allowed programs ({})",
                listed.join(", ")
            ));
        }
        self.check_flags(args)
    }

    /// An argv array is not shell text, but a tool may still join it into a command line; its
    /// entries hold no shell syntax unless metacharacters are allowed.
    fn check_argv_text(&self, argv: &[&str]) -> Result<(), String> {
        if self.allow_metacharacters {
            return Ok(());
        }
        match argv
            .iter()
            .enumerate()
            .find(|(_, a)| a.contains(ARGV_METACHARACTERS))
        {
            Some((n, arg)) => Err(format!(
                "argument {n} (`{arg}`) holds a shell metacharacter; it would be syntax if the command were ever run by a shell"
            )),
            None => Ok(()),
        }
    }

    fn check_flags(&self, args: &[&str]) -> Result<(), String> {
        let Some(allowed) = &self.flags else {
            return Ok(());
        };
        let listed = |f: &str| allowed.iter().any(|a| a == f);
        for arg in args {
            if *arg == "--" {
                break;
            }
            if !arg.starts_with('-') || *arg == "-" {
                continue;
            }
            let flag = arg.split_once('=').map_or(*arg, |(f, _)| f);
            let cluster_ok = !flag.starts_with("--")
                && flag.len() > 2
                && flag[1..].chars().all(|c| listed(&format!("-{c}")));
            if !listed(flag) && !cluster_ok {
                return Err(format!(
                    "the command uses the flag `{flag}`, which is not one of the allowed flags ({})",
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}
