//! Glob patterns over tool names (`bundle.tool`).
//!
//! Semantics, chosen so a pattern can never reach further than it reads:
//! - A tool name is `bundle.tool`: the bundle is `[a-z][a-z0-9-]*`, the tool `[a-z][a-z0-9_]*`,
//!   each at most 64 characters (the same rules as `stockade-registry-types`).
//! - A pattern is either the bare `*`, which matches every tool, or `bundle-glob.tool-glob` with
//!   exactly one `.`. Each side is matched against its own segment only.
//! - `*` matches any run of characters, including none, **within its segment**: it never
//!   crosses the `.`. So `fs.*` is every tool of bundle `fs`, `fs.read_*` is `fs.read_file` and
//!   `fs.read_dir`, `*.read_file` is `read_file` in any bundle, and `f*` alone is refused
//!   because it has no `.` (it would otherwise silently match nothing).
//! - `*.*` matches every tool, just like `*`; [`ToolPattern::matches_every_tool`] says so, which
//!   is how production mode refuses both.
//! - There is no `?`, no character class and no escaping: tool names have no characters that
//!   would need one. `**` is refused rather than given a meaning.
//! - Characters that cannot occur in the segment (uppercase, `_` in a bundle, `-` in a tool,
//!   spaces, `/`, ...) are refused, so a typo is an error at configuration time instead of a rule
//!   that quietly never matches.

use std::fmt;

/// Longest bundle or tool name, and so the longest segment of a pattern.
const MAX_SEGMENT_LEN: usize = 64;

/// A validated tool-name glob, such as `fs.read_*`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ToolPattern {
    raw: String,
    /// Byte offset of the `.`; `None` for the bare `*`.
    dot: Option<usize>,
}

/// Why a pattern is not a valid tool glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tool pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ToolPattern {
    /// Parses and validates a pattern.
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let fail = |reason| PatternError {
            pattern: raw.to_owned(),
            reason,
        };
        if raw == "*" {
            return Ok(Self {
                raw: raw.to_owned(),
                dot: None,
            });
        }
        if raw.is_empty() {
            return Err(fail("must not be empty"));
        }
        let Some((bundle, tool)) = raw.split_once('.') else {
            return Err(fail("must be `bundle.tool` (each side may use `*`) or `*`"));
        };
        if tool.contains('.') {
            return Err(fail("must contain exactly one `.`"));
        }
        check_segment(bundle, '-').map_err(fail)?;
        check_segment(tool, '_').map_err(fail)?;
        Ok(Self {
            raw: raw.to_owned(),
            dot: Some(bundle.len()),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether this pattern matches every possible tool name (`*` or `*.*`).
    pub fn matches_every_tool(&self) -> bool {
        match self.dot {
            None => true,
            // `**` is refused, so a segment that matches everything is exactly `*`.
            Some(dot) => &self.raw[..dot] == "*" && &self.raw[dot + 1..] == "*",
        }
    }

    /// Whether the pattern matches the tool `bundle.tool`. The caller has already checked that
    /// both are well-formed names.
    pub(crate) fn matches(&self, bundle: &str, tool: &str) -> bool {
        match self.dot {
            None => true,
            Some(dot) => {
                glob_segment(&self.raw.as_bytes()[..dot], bundle.as_bytes())
                    && glob_segment(&self.raw.as_bytes()[dot + 1..], tool.as_bytes())
            }
        }
    }
}

impl fmt::Debug for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ToolPattern({:?})", self.raw)
    }
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits a tool name into `(bundle, tool)` if it is well formed.
pub(crate) fn split_tool_name(name: &str) -> Option<(&str, &str)> {
    let (bundle, tool) = name.split_once('.')?;
    (is_name(bundle, b'-') && is_name(tool, b'_')).then_some((bundle, tool))
}

fn is_name(value: &str, extra: u8) -> bool {
    let bytes = value.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z'))
        && bytes.len() <= MAX_SEGMENT_LEN
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == extra)
}

fn check_segment(segment: &str, extra: char) -> Result<(), &'static str> {
    let Some(first) = segment.chars().next() else {
        return Err("each side of the `.` must be non-empty");
    };
    if segment.len() > MAX_SEGMENT_LEN {
        return Err("each side of the `.` must be at most 64 characters");
    }
    if segment.contains("**") {
        return Err("`**` is not supported; `*` already matches any run within a segment");
    }
    if !segment
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == extra || c == '*')
    {
        return Err(if extra == '-' {
            "the bundle side may contain only lowercase letters, digits, '-' and '*'"
        } else {
            "the tool side may contain only lowercase letters, digits, '_' and '*'"
        });
    }
    if !(first.is_ascii_lowercase() || first == '*') {
        return Err("names start with a lowercase letter, so each side must start with one or `*`");
    }
    Ok(())
}

/// Matches `text` against a glob whose only wildcard is `*`. Iterative with a single backtrack
/// point, so it is O(len(glob) * len(text)) at worst, and both are at most 64 bytes.
fn glob_segment(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_patterns_match_as_documented() {
        // (pattern, tool, matches)
        let cases: &[(&str, &str, bool)] = &[
            ("*", "fs.read_file", true),
            ("*", "http-fetch.get", true),
            ("*.*", "fs.read_file", true),
            ("fs.read_file", "fs.read_file", true),
            ("fs.read_file", "fs.read_files", false),
            ("fs.read_file", "fs.read_fil", false),
            ("fs.read_*", "fs.read_file", true),
            ("fs.read_*", "fs.read_", true), // `*` may match nothing
            ("fs.read_*", "fs.read_dir", true),
            ("fs.read_*", "fs.write_file", false),
            ("fs.read_*", "fsx.read_file", false),
            ("fs.*", "fs.write_file", true),
            ("fs.*", "fs-extra.read_file", false),
            ("fs*.*", "fs-extra.read_file", true),
            ("*.read_file", "git.read_file", true),
            ("*.read_file", "git.read_file2", false),
            ("*s.*", "fs.x", true),
            ("*s.*", "git.x", false),
            ("f*s.*", "fs.x", true),
            ("f*s.*", "fooos.x", true),
            ("f*s.*", "fooost.x", false),
            ("*a*b*.x", "zazzbz.x", true),
            ("*a*b*.x", "zbzza.x", false),
            (
                "a*a*a*a*.x",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab.x",
                true,
            ),
            // The backtracking worst case: many stars, no final match.
            (
                "a*a*a*a*b.x",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
                false,
            ),
            (
                "a*a*a*a*b.x",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab.x",
                true,
            ),
            ("http-fetch.get", "http-fetch.get", true),
            ("fs.read_file", "FS.read_file", false),
        ];
        for &(pattern, tool, expected) in cases {
            let parsed = ToolPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let got = match split_tool_name(tool) {
                Some((b, t)) => parsed.matches(b, t),
                None => false,
            };
            assert_eq!(got, expected, "pattern {pattern:?} against {tool:?}");
        }
    }

    #[test]
    fn hostile_patterns_are_refused() {
        let cases: &[(&str, &str)] = &[
            ("empty", ""),
            ("no dot", "fs"),
            ("bundle prefix only", "f*"),
            ("two dots", "fs.read.file"),
            ("trailing dot", "fs."),
            ("leading dot", ".read_file"),
            ("bare dot", "."),
            ("double star", "**"),
            ("double star in tool", "fs.**"),
            ("double star in bundle", "**.read"),
            ("uppercase", "FS.read_file"),
            ("space", "fs.read file"),
            ("leading space", " fs.read_file"),
            ("trailing newline", "fs.read_file\n"),
            ("question mark", "fs.read_?ile"),
            ("character class", "fs.read_[a-z]"),
            ("slash", "fs/read_file"),
            ("backslash escape", "fs.read\\*"),
            ("underscore in bundle", "my_fs.read"),
            ("dash in tool", "fs.read-file"),
            ("starts with digit", "1fs.read"),
            ("tool starts with underscore", "fs._read"),
            ("non-ascii", "fs.réad"),
            ("nul", "fs.read\0"),
            ("too long", &format!("fs.{}", "a".repeat(65))),
        ];
        for &(name, pattern) in cases {
            assert!(
                ToolPattern::parse(pattern).is_err(),
                "{name}: {pattern:?} was accepted"
            );
        }
    }

    #[test]
    fn everything_patterns_are_recognised() {
        for (pattern, every) in [
            ("*", true),
            ("*.*", true),
            ("*.read_*", false),
            ("fs.*", false),
            ("*s.*", false),
            ("a*.*", false),
        ] {
            let parsed = ToolPattern::parse(pattern).expect("valid");
            assert_eq!(parsed.matches_every_tool(), every, "{pattern}");
        }
    }

    #[test]
    fn malformed_tool_names_are_not_split() {
        for name in [
            "",
            "fs",
            "fs.",
            ".x",
            "fs.read.file",
            "FS.read",
            "fs.Read",
            "fs.read-file",
            "my_fs.x",
            "fs.read file",
            "1fs.x",
        ] {
            assert_eq!(split_tool_name(name), None, "{name:?}");
        }
        let long = format!("{}.x", "a".repeat(65));
        assert_eq!(split_tool_name(&long), None);
        assert_eq!(
            split_tool_name("http-fetch.get_2"),
            Some(("http-fetch", "get_2"))
        );
    }
}
