//! Name patterns for servers, tools, resource URIs and prompts.
//!
//! Patterns are globs (`*`, `?`, `[abc]`, `{a,b}`; `*` also crosses `/` so `file:///srv/*`
//! covers a whole tree; names are matched as UTF-8 bytes, so `?` is one byte, as in globset). Most patterns in real policies are plain names or a single leading or
//! trailing `*`; those are matched with string comparisons instead of a compiled glob, which keeps
//! a decision over a thousand rules within a few microseconds.

use globset::{GlobBuilder, GlobMatcher};

/// A compiled name pattern.
#[derive(Debug, Clone)]
pub(crate) enum NamePattern {
    /// `*`: every name.
    Any,
    /// No glob characters: the name itself.
    Exact(String),
    /// `prefix*` with a plain prefix.
    Prefix(String),
    /// `*suffix` with a plain suffix.
    Suffix(String),
    /// Only literals, `*` and `?`: matched without a regex.
    Wildcard(String),
    /// Anything else, compiled by globset.
    Glob(Box<GlobMatcher>),
}

const META: &[char] = &['*', '?', '[', ']', '{', '}', '\\'];

impl NamePattern {
    /// Compiles `text`; the error is a sentence fit for an admin.
    pub(crate) fn parse(text: &str) -> Result<NamePattern, String> {
        if text.is_empty() {
            return Err("empty pattern; write a name or a glob such as `read_*`".into());
        }
        if text == "*" {
            return Ok(NamePattern::Any);
        }
        let glob = GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("bad glob `{text}`: {}", e.kind()))?;
        if !text.contains(META) {
            return Ok(NamePattern::Exact(text.to_owned()));
        }
        if let Some(prefix) = text.strip_suffix('*')
            && !prefix.contains(META)
        {
            return Ok(NamePattern::Prefix(prefix.to_owned()));
        }
        if let Some(suffix) = text.strip_prefix('*')
            && !suffix.contains(META)
        {
            return Ok(NamePattern::Suffix(suffix.to_owned()));
        }
        if !text.contains(['[', ']', '{', '}', '\\']) {
            return Ok(NamePattern::Wildcard(text.to_owned()));
        }
        Ok(NamePattern::Glob(Box::new(glob.compile_matcher())))
    }

    pub(crate) fn is_match(&self, name: &str) -> bool {
        match self {
            NamePattern::Any => true,
            NamePattern::Exact(s) => s == name,
            NamePattern::Prefix(p) => name.starts_with(p.as_str()),
            NamePattern::Suffix(s) => name.ends_with(s.as_str()),
            NamePattern::Wildcard(w) => wildcard_match(w.as_bytes(), name.as_bytes()),
            NamePattern::Glob(g) => g.is_match(name),
        }
    }

    /// The pattern as written (normalised for the simple forms).
    pub(crate) fn text(&self) -> String {
        match self {
            NamePattern::Any => "*".into(),
            NamePattern::Exact(s) => s.clone(),
            NamePattern::Prefix(p) => format!("{p}*"),
            NamePattern::Suffix(s) => format!("*{s}"),
            NamePattern::Wildcard(w) => w.clone(),
            NamePattern::Glob(g) => g.glob().glob().to_owned(),
        }
    }

    /// The literal text every matching name starts with.
    pub(crate) fn literal_prefix(&self) -> &str {
        match self {
            NamePattern::Any | NamePattern::Suffix(_) => "",
            NamePattern::Exact(s) | NamePattern::Prefix(s) => s,
            NamePattern::Wildcard(text) => &text[..text.find(META).unwrap_or(text.len())],
            NamePattern::Glob(g) => {
                let text = g.glob().glob();
                &text[..text.find(META).unwrap_or(text.len())]
            }
        }
    }

    /// The literal text every matching name ends with.
    pub(crate) fn literal_suffix(&self) -> &str {
        match self {
            NamePattern::Any | NamePattern::Prefix(_) => "",
            NamePattern::Exact(s) | NamePattern::Suffix(s) => s,
            // Everything after the last glob character is literal.
            NamePattern::Wildcard(text) => &text[text.rfind(META).map_or(0, |i| i + 1)..],
            NamePattern::Glob(g) => {
                let text = g.glob().glob();
                &text[text.rfind(META).map_or(0, |i| i + 1)..]
            }
        }
    }

    /// Text runs every matching name contains (for the bigram prefilter). For full globs only
    /// the literal prefix and suffix are certain (text inside `[...]` or `{...}` is not).
    pub(crate) fn required_literals(&self) -> Vec<&str> {
        match self {
            NamePattern::Wildcard(w) => w.split(['*', '?']).collect(),
            _ => vec![self.literal_prefix(), self.literal_suffix()],
        }
    }

    pub(crate) fn exact(&self) -> Option<&str> {
        match self {
            NamePattern::Exact(s) => Some(s),
            _ => None,
        }
    }
}

/// `*` (any run, `/` included) and `?` (one byte, as in globset, so both matchers agree) with
/// the classic backtrack-to-last-star algorithm: no allocation, no regex.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // Position after the last `*` in the pattern, and where in the name that star's run ends.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                p += 1;
                star = Some((p, n));
            }
            Some(b'?') => {
                p += 1;
                n += 1;
            }
            Some(&c) if c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((after_star, run_end)) => {
                    let next = run_end + 1;
                    star = Some((after_star, next));
                    p = after_star;
                    n = next;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, name: &str) -> bool {
        NamePattern::parse(p).unwrap().is_match(name)
    }

    #[test]
    fn plain_prefix_suffix_and_full_globs() {
        assert!(m("query", "query"));
        assert!(!m("query", "query2"));
        assert!(m("read_*", "read_table"));
        assert!(!m("read_*", "write_table"));
        assert!(m("*_table", "describe_table"));
        assert!(m("*", "anything/at all"));
        assert!(m("get_?", "get_x"));
        assert!(!m("get_?", "get_xy"));
        assert!(m("{query,describe_*}", "describe_table"));
        assert!(m("db-[ab]", "db-a"));
        assert!(!m("db-[ab]", "db-c"));
        assert!(m("file:///srv/*", "file:///srv/a/b.txt"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
    }

    #[test]
    fn literal_prefix_and_suffix_bound_every_match() {
        let p = NamePattern::parse("ab[cd]e{f,g}hi").unwrap();
        assert_eq!((p.literal_prefix(), p.literal_suffix()), ("ab", "hi"));
        let p = NamePattern::parse("x\\*y").unwrap();
        assert_eq!((p.literal_prefix(), p.literal_suffix()), ("x", "y"));
        let p = NamePattern::parse("query").unwrap();
        assert_eq!((p.literal_prefix(), p.literal_suffix()), ("query", "query"));
        let p = NamePattern::parse("*").unwrap();
        assert_eq!((p.literal_prefix(), p.literal_suffix()), ("", ""));
    }

    #[test]
    fn wildcards_match_like_globs_without_regex() {
        assert!(matches!(
            NamePattern::parse("*_7_*").unwrap(),
            NamePattern::Wildcard(_)
        ));
        assert!(m("*_7_*", "tool_7_x"));
        assert!(!m("*_7_*", "tool_77_x"));
        assert!(m("a*b*c", "abbbc"));
        assert!(m("a*b*c", "a/b/c"));
        assert!(!m("a*b*c", "abca"));
        assert!(m("?é?", "xéy"));
        // `?` is one byte, exactly as in globset (names are matched as UTF-8 bytes).
        assert!(m("??", "é"));
        assert!(!m("?", "é"));
        assert!(m("**", ""));
        assert!(!m("?*", ""));
    }

    #[test]
    fn bad_globs_are_explained() {
        let e = NamePattern::parse("db-[ab").unwrap_err();
        assert!(e.starts_with("bad glob `db-[ab`: "), "{e}");
        let e = NamePattern::parse("{a,b").unwrap_err();
        assert!(e.starts_with("bad glob `{a,b`: "), "{e}");
        assert!(
            NamePattern::parse("")
                .unwrap_err()
                .contains("empty pattern")
        );
    }
}
