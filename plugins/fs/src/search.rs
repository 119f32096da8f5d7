//! `search`: find lines matching a literal or a regular expression under a directory.
//!
//! Every dimension is bounded so a search over a huge tree ends quickly with `truncated`
//! rather than running into the host's deadline or output cap: matches, entries visited, file
//! size and the length of a reported line.

use std::fs;
use std::path::{Path, PathBuf};

use regex::{Regex, RegexBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stockade_plugin_sdk::{IoResultExt, ToolError};

use crate::paths;

/// At most this many matches are returned.
pub const MAX_MATCHES: usize = 200;
/// At most this many directory entries (files and directories) are visited.
pub const MAX_ENTRIES: usize = 20_000;
/// Files larger than this are skipped.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A reported line is cut to this many bytes (at a character boundary).
pub const MAX_LINE_BYTES: usize = 500;
/// Compiled size limit for a regular expression, so a hostile pattern cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// Input of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Text to look for: a literal substring, or a regular expression when `regex` is true.
    pub pattern: String,
    /// Directory (or single file) to search, relative to the project directory. Defaults to
    /// the whole project.
    #[serde(default)]
    pub path: Option<String>,
    /// Treat `pattern` as a regular expression (Rust `regex` syntax). Defaults to false.
    #[serde(default)]
    pub regex: bool,
}

/// One matching line.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Match {
    /// File path relative to the project directory.
    pub path: String,
    /// 1-based line number.
    pub line: usize,
    /// The line, cut to 500 bytes.
    pub text: String,
}

/// Output of `search`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Matches {
    /// Matches in path order, then line order.
    pub matches: Vec<Match>,
    /// Whether the search stopped early (200 matches, or too many entries visited).
    pub truncated: bool,
}

/// What a line is tested against.
enum Matcher {
    Literal(String),
    Regex(Regex),
}

impl Matcher {
    fn new(input: &Search) -> Result<Self, ToolError> {
        if input.pattern.is_empty() {
            return Err(ToolError::invalid_input("pattern: must not be empty"));
        }
        if !input.regex {
            return Ok(Self::Literal(input.pattern.clone()));
        }
        RegexBuilder::new(&input.pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Self::Regex)
            .map_err(|err| ToolError::invalid_input(format!("pattern: {err}")))
    }

    fn is_match(&self, line: &str) -> bool {
        match self {
            Self::Literal(needle) => line.contains(needle.as_str()),
            Self::Regex(regex) => regex.is_match(line),
        }
    }
}

/// The state of one search: its limits and what it found so far.
struct Walk {
    matcher: Matcher,
    matches: Vec<Match>,
    visited: usize,
    /// Something was left out (entries or matches past a limit).
    truncated: bool,
    /// The match limit is reached: nothing more can be reported.
    done: bool,
}

impl Walk {
    /// Searches one file. Unreadable, large and non-UTF-8 files are skipped: a search answers
    /// "where is this text", and none of those hold text this tool could show.
    fn file(&mut self, full: &Path, display: &str, size: u64) {
        if size > MAX_FILE_BYTES {
            return;
        }
        let Ok(bytes) = fs::read(full) else { return };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return;
        };
        for (index, line) in text.lines().enumerate() {
            if !self.matcher.is_match(line) {
                continue;
            }
            if self.matches.len() == MAX_MATCHES {
                self.truncated = true;
                self.done = true;
                return;
            }
            self.matches.push(Match {
                path: display.to_owned(),
                line: index + 1,
                text: cut(line, MAX_LINE_BYTES).to_owned(),
            });
        }
    }

    /// Walks `dir` depth first in path order, without following symlinks.
    fn tree(&mut self, dir: PathBuf, display: String) -> Result<(), ToolError> {
        // Entries still to visit, the next one last. Each directory's children are pushed in
        // reverse name order, so popping yields files and subdirectories in path order.
        let mut pending = Vec::new();
        self.push_children(&dir, &display, &mut pending)
            .map_err(|err| ToolError::from_io(err, format!("search {display}")))?;
        while let Some((full, display)) = pending.pop() {
            if self.done {
                break;
            }
            self.visited += 1;
            if self.visited > MAX_ENTRIES {
                self.truncated = true;
                break;
            }
            // `symlink_metadata`: a link is neither followed nor searched.
            let Ok(metadata) = fs::symlink_metadata(&full) else {
                continue;
            };
            if metadata.is_dir() {
                // Below the directory the agent named, skip what cannot be read.
                let _ = self.push_children(&full, &display, &mut pending);
            } else if metadata.is_file() {
                self.file(&full, &display, metadata.len());
            }
        }
        Ok(())
    }

    fn push_children(
        &mut self,
        dir: &Path,
        display: &str,
        pending: &mut Vec<(PathBuf, String)>,
    ) -> std::io::Result<()> {
        let mut children = Vec::new();
        for entry in fs::read_dir(dir)? {
            // A directory with more entries than the whole search may visit: sorting them all
            // first would cost unbounded memory, so stop reading and say so.
            if children.len() == MAX_ENTRIES {
                self.truncated = true;
                break;
            }
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != ".git" {
                children.push((entry.path(), paths::child_display(display, &name)));
            }
        }
        children.sort_by(|a, b| b.1.cmp(&a.1));
        pending.extend(children);
        Ok(())
    }
}

/// The longest prefix of `line` of at most `max` bytes that ends at a character boundary.
fn cut(line: &str, max: usize) -> &str {
    if line.len() <= max {
        return line;
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

pub(crate) fn search(root: &Path, input: Search) -> Result<Matches, ToolError> {
    let start = paths::resolve(root, "path", input.path.as_deref().unwrap_or("."))?;
    let mut walk = Walk {
        matcher: Matcher::new(&input)?,
        matches: Vec::new(),
        visited: 0,
        truncated: false,
        done: false,
    };
    let metadata =
        fs::metadata(&start.full).tool_context(|| format!("search {}", start.display))?;
    if metadata.is_dir() {
        walk.tree(start.full, start.display)?;
    } else {
        walk.file(&start.full, &start.display, metadata.len());
    }
    Ok(Matches {
        matches: walk.matches,
        truncated: walk.truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(err) => panic!("tempdir: {err}"),
        };
        for (rel, bytes) in files {
            let full = dir.path().join(rel);
            if let Some(parent) = full.parent() {
                fs::create_dir_all(parent).ok();
            }
            if let Err(err) = fs::write(&full, bytes) {
                panic!("write {full:?}: {err}");
            }
        }
        dir
    }

    fn run(root: &Path, pattern: &str, path: Option<&str>, regex: bool) -> Matches {
        let input = Search {
            pattern: pattern.to_owned(),
            path: path.map(str::to_owned),
            regex,
        };
        match search(root, input) {
            Ok(found) => found,
            Err(err) => panic!("search {pattern:?}: {err}"),
        }
    }

    fn hits(found: &Matches) -> Vec<(String, usize)> {
        found
            .matches
            .iter()
            .map(|m| (m.path.clone(), m.line))
            .collect()
    }

    #[test]
    fn finds_literal_matches_in_path_order_skipping_git_binary_and_huge_files() {
        let huge = vec![b'a'; MAX_FILE_BYTES as usize + 1];
        let dir = project(&[
            ("b.txt", b"needle\nhay\nneedle again\n"),
            ("a/z.rs", b"// needle"),
            ("a/b/c.md", b"no\nneedle"),
            (".git/config", b"needle"),
            ("bin.dat", b"needle\xff\xfe"),
            ("huge.txt", &huge),
            ("regexy.txt", b"need.e"),
        ]);
        let found = run(dir.path(), "needle", None, false);
        assert_eq!(
            hits(&found),
            [("a/b/c.md", 2), ("a/z.rs", 1), ("b.txt", 1), ("b.txt", 3)]
                .map(|(p, l)| (p.to_owned(), l))
        );
        assert_eq!(found.matches[3].text, "needle again");
        assert!(!found.truncated);
        // A literal search treats regex syntax literally.
        assert_eq!(
            hits(&run(dir.path(), "need.e", None, false)),
            [("regexy.txt".to_owned(), 1)]
        );
        // A start path narrows the search, to a directory or one file.
        assert_eq!(
            run(dir.path(), "needle", Some("a/b"), false).matches.len(),
            1
        );
        assert_eq!(
            run(dir.path(), "needle", Some("b.txt"), false)
                .matches
                .len(),
            2
        );
    }

    #[test]
    fn regex_mode_and_bad_patterns() {
        let dir = project(&[("x.rs", b"fn alpha()\nfn beta()\nlet gamma = 1;\n")]);
        let found = run(dir.path(), r"^fn \w+\(\)$", None, true);
        assert_eq!(
            hits(&found),
            [("x.rs".to_owned(), 1), ("x.rs".to_owned(), 2)]
        );

        let cases = [
            ("(", true, "pattern: "),
            ("", false, "pattern: must not be empty"),
        ];
        for (pattern, regex, needle) in cases {
            let input = Search {
                pattern: pattern.to_owned(),
                path: None,
                regex,
            };
            match search(dir.path(), input) {
                Err(ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with(needle), "{message}")
                }
                other => panic!("{pattern:?}: {other:?}"),
            }
        }
        let escape = Search {
            pattern: "x".to_owned(),
            path: Some("../".to_owned()),
            regex: false,
        };
        assert!(
            matches!(search(dir.path(), escape), Err(ToolError::InvalidInput(m)) if m.starts_with("path: "))
        );
    }

    #[test]
    fn stops_at_the_match_limit_and_cuts_long_lines() {
        let many = "hit\n".repeat(MAX_MATCHES + 5);
        let long = format!("hit{}", "é".repeat(MAX_LINE_BYTES));
        let dir = project(&[("a.txt", long.as_bytes()), ("b.txt", many.as_bytes())]);
        let found = run(dir.path(), "hit", None, false);
        assert_eq!(found.matches.len(), MAX_MATCHES);
        assert!(found.truncated);
        assert!(found.matches[0].text.len() <= MAX_LINE_BYTES);
        assert!(long.starts_with(&found.matches[0].text));
    }

    #[test]
    fn missing_start_is_not_found() {
        let dir = project(&[]);
        let input = Search {
            pattern: "x".to_owned(),
            path: Some("nope".to_owned()),
            regex: false,
        };
        assert!(matches!(
            search(dir.path(), input),
            Err(ToolError::NotFound(_))
        ));
    }
}
