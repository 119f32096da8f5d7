//! Turning a path from the input into a path under the project directory.
//!
//! The host confines the guest to its preopened directory whatever the guest does (no `..`,
//! absolute-path or symlink escape), so this is defence in depth: refusing such paths here
//! gives the agent an `invalid-input` that names the field, instead of a confusing
//! "permission denied" from the sandbox, and keeps this plugin safe under a sloppier host.

use std::path::{Path, PathBuf};

use stockade_plugin_sdk::ToolError;

/// A validated path: where it is in the guest, and how to show it to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectPath {
    /// `root` joined with the normalized relative path.
    pub(crate) full: PathBuf,
    /// The normalized relative path with `/` separators; `.` for the project directory.
    pub(crate) display: String,
}

impl ProjectPath {
    /// Whether this is the project directory itself.
    pub(crate) fn is_root(&self) -> bool {
        self.display == "."
    }
}

/// Validates `value` (the input field `field`) as a path relative to `root`.
///
/// Accepted: `a/b.txt`, `./a//b.txt` (normalized to `a/b.txt`), `.` (the project directory).
/// Refused with [`ToolError::InvalidInput`] naming `field`: empty, absolute, any `..` segment,
/// NUL bytes.
pub(crate) fn resolve(root: &Path, field: &str, value: &str) -> Result<ProjectPath, ToolError> {
    if value.is_empty() {
        return Err(ToolError::invalid_input(format!(
            "{field}: must not be empty; use \".\" for the project directory"
        )));
    }
    if value.starts_with('/') {
        return Err(ToolError::invalid_input(format!(
            "{field}: must be relative to the project directory, not absolute: {value:?}"
        )));
    }
    if value.contains('\0') {
        return Err(ToolError::invalid_input(format!(
            "{field}: must not contain NUL bytes"
        )));
    }
    let mut segments = Vec::new();
    for segment in value.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(ToolError::invalid_input(format!(
                    "{field}: must not contain `..` segments: {value:?}"
                )));
            }
            name => segments.push(name),
        }
    }
    let mut full = root.to_path_buf();
    full.extend(&segments);
    let display = if segments.is_empty() {
        ".".to_owned()
    } else {
        segments.join("/")
    };
    Ok(ProjectPath { full, display })
}

/// `display` of a child entry of `parent`.
pub(crate) fn child_display(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalizes_relative_paths() {
        let root = Path::new("/project");
        let cases = [
            ("a.txt", "/project/a.txt", "a.txt"),
            ("src/lib.rs", "/project/src/lib.rs", "src/lib.rs"),
            ("./src//lib.rs", "/project/src/lib.rs", "src/lib.rs"),
            ("src/", "/project/src", "src"),
            (".", "/project", "."),
            ("./", "/project", "."),
            ("..foo/x", "/project/..foo/x", "..foo/x"),
        ];
        for (input, full, display) in cases {
            let resolved = resolve(root, "path", input);
            assert_eq!(
                resolved,
                Ok(ProjectPath {
                    full: PathBuf::from(full),
                    display: display.to_owned()
                }),
                "{input:?}"
            );
        }
    }

    /// Every escape attempt is invalid input naming the field, before any I/O happens.
    #[test]
    fn refuses_escapes_naming_the_field() {
        let cases = [
            ("absolute", "/etc/passwd", "must be relative"),
            ("absolute project", "/project/a.txt", "must be relative"),
            ("parent", "..", "`..`"),
            ("parent prefix", "../etc/passwd", "`..`"),
            ("parent in the middle", "src/../../etc", "`..`"),
            ("parent at the end", "src/..", "`..`"),
            ("empty", "", "must not be empty"),
            ("nul", "a\0b", "NUL"),
        ];
        for (name, input, needle) in cases {
            match resolve(Path::new("/project"), "path", input) {
                Err(ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with("path: "), "{name}: {message}");
                    assert!(message.contains(needle), "{name}: {message}");
                }
                other => panic!("{name}: expected invalid input, got {other:?}"),
            }
        }
    }
}
