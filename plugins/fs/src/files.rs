//! `read_file`, `write_file` and `list_dir`: one file or directory at a time.

use std::fs;
use std::io::Read as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use stockade_plugin_sdk::{IoResultExt, ToolError};

use crate::paths;

/// `read_file` returns at most this many bytes of a file.
pub const READ_LIMIT: u64 = 256 * 1024;

/// `list_dir` returns at most this many entries.
pub const LIST_LIMIT: usize = 10_000;

/// Input of `read_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFile {
    /// File to read, relative to the project directory (e.g. `src/main.rs`).
    pub path: String,
}

/// Output of `read_file`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FileContent {
    /// The path as read, normalized.
    pub path: String,
    /// The text: the whole file, or its first 256 KiB when `truncated`.
    pub content: String,
    /// Size of the whole file in bytes.
    pub size: u64,
    /// Whether `content` stops before the end of the file.
    pub truncated: bool,
}

pub(crate) fn read_file(root: &Path, input: ReadFile) -> Result<FileContent, ToolError> {
    let path = paths::resolve(root, "path", &input.path)?;
    let context = || format!("read {}", path.display);
    let file = fs::File::open(&path.full).tool_context(context)?;
    let metadata = file.metadata().tool_context(context)?;
    if metadata.is_dir() {
        return Err(ToolError::invalid_input(format!(
            "path: {} is a directory; use list_dir",
            path.display
        )));
    }
    let mut bytes = Vec::new();
    file.take(READ_LIMIT + 1)
        .read_to_end(&mut bytes)
        .tool_context(context)?;
    let truncated = bytes.len() as u64 > READ_LIMIT;
    bytes.truncate(READ_LIMIT as usize);
    let content = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let utf8 = err.utf8_error();
            // The cut at the limit may split a character: that is not the file's fault.
            if truncated && utf8.error_len().is_none() {
                let mut bytes = err.into_bytes();
                bytes.truncate(utf8.valid_up_to());
                String::from_utf8(bytes).map_err(|_| not_utf8(&path.display, utf8.valid_up_to()))?
            } else {
                return Err(not_utf8(&path.display, utf8.valid_up_to()));
            }
        }
    };
    Ok(FileContent {
        path: path.display,
        content,
        size: metadata.len(),
        truncated,
    })
}

fn not_utf8(path: &str, offset: usize) -> ToolError {
    ToolError::failed(format!(
        "read {path}: not UTF-8 text (invalid byte at offset {offset}); this tool reads text files only"
    ))
}

/// Input of `write_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// File to create or replace, relative to the project directory. Its parent directory
    /// must exist.
    pub path: String,
    /// The complete new content of the file, as UTF-8 text.
    pub content: String,
}

/// Output of `write_file`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Written {
    /// The path as written, normalized.
    pub path: String,
    /// Number of bytes written.
    pub bytes_written: u64,
}

pub(crate) fn write_file(root: &Path, input: WriteFile) -> Result<Written, ToolError> {
    let path = paths::resolve(root, "path", &input.path)?;
    if path.is_root() {
        return Err(ToolError::invalid_input(
            "path: must name a file, not the project directory",
        ));
    }
    // No `create_dir_all`: a typo in a directory name should fail, not grow a new tree.
    fs::write(&path.full, input.content.as_bytes())
        .tool_context(|| format!("write {}", path.display))?;
    Ok(Written {
        path: path.display,
        bytes_written: input.content.len() as u64,
    })
}

/// Input of `list_dir`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDir {
    /// Directory to list, relative to the project directory; `.` for the project directory.
    pub path: String,
}

/// Kind of a directory entry. Symbolic links are reported, not followed.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (socket, device, fifo).
    Other,
}

/// One entry of `list_dir`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Entry {
    /// File name within the directory.
    pub name: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Size in bytes (of the link itself for a symlink).
    pub size: u64,
}

/// Output of `list_dir`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Listing {
    /// The directory as listed, normalized.
    pub path: String,
    /// Entries sorted by name.
    pub entries: Vec<Entry>,
    /// Whether entries past the first 10 000 were left out.
    pub truncated: bool,
}

pub(crate) fn list_dir(root: &Path, input: ListDir) -> Result<Listing, ToolError> {
    let path = paths::resolve(root, "path", &input.path)?;
    let context = || format!("list {}", path.display);
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in fs::read_dir(&path.full).tool_context(context)? {
        let entry = entry.tool_context(context)?;
        if entries.len() == LIST_LIMIT {
            truncated = true;
            break;
        }
        // `DirEntry::metadata` does not follow symlinks, so a link is reported as a link.
        let metadata = entry.metadata().tool_context(context)?;
        let file_type = metadata.file_type();
        let kind = if file_type.is_symlink() {
            EntryKind::Symlink
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            kind,
            size: metadata.len(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Listing {
        path: path.display,
        entries,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(err) => panic!("tempdir: {err}"),
        }
    }

    fn put(root: &Path, rel: &str, bytes: &[u8]) {
        let full = root.join(rel);
        if let Some(parent) = full.parent()
            && let Err(err) = fs::create_dir_all(parent)
        {
            panic!("mkdir {parent:?}: {err}");
        }
        if let Err(err) = fs::write(&full, bytes) {
            panic!("write {full:?}: {err}");
        }
    }

    fn read(root: &Path, path: &str) -> Result<FileContent, ToolError> {
        read_file(
            root,
            ReadFile {
                path: path.to_owned(),
            },
        )
    }

    #[test]
    fn reads_text() {
        let dir = project();
        put(dir.path(), "src/a.txt", b"hello\n");
        let read = read(dir.path(), "./src/a.txt");
        assert_eq!(
            read,
            Ok(FileContent {
                path: "src/a.txt".to_owned(),
                content: "hello\n".to_owned(),
                size: 6,
                truncated: false
            })
        );
    }

    #[test]
    fn truncates_large_files_at_a_char_boundary() {
        let dir = project();
        // 'é' is two bytes; an odd prefix puts a character across the limit.
        let mut text = String::from("x");
        text.push_str(&"é".repeat(READ_LIMIT as usize));
        put(dir.path(), "big.txt", text.as_bytes());
        let read = match read(dir.path(), "big.txt") {
            Ok(read) => read,
            Err(err) => panic!("{err}"),
        };
        assert!(read.truncated);
        assert_eq!(read.size, text.len() as u64);
        assert_eq!(read.content.len(), READ_LIMIT as usize - 1);
        assert!(text.starts_with(&read.content));
    }

    #[test]
    fn read_errors_are_actionable() {
        let dir = project();
        put(dir.path(), "bin", &[0x66, 0xff, 0x00]);
        fs::create_dir(dir.path().join("sub")).ok();
        let cases: [(&str, &str, &str); 4] = [
            ("bin", "failed", "not UTF-8 text (invalid byte at offset 1)"),
            ("missing.txt", "not-found", "read missing.txt: "),
            ("sub", "invalid-input", "path: sub is a directory"),
            ("../x", "invalid-input", "path: "),
        ];
        for (path, kind, needle) in cases {
            match read(dir.path(), path) {
                Err(err) => {
                    assert_eq!(err.kind(), kind, "{path}: {err}");
                    assert!(err.message().contains(needle), "{path}: {err}");
                }
                Ok(read) => panic!("{path}: read {read:?}"),
            }
        }
    }

    #[test]
    fn writes_files_but_never_creates_directories() {
        let dir = project();
        let written = write_file(
            dir.path(),
            WriteFile {
                path: "new.txt".to_owned(),
                content: "héllo".to_owned(),
            },
        );
        assert_eq!(
            written,
            Ok(Written {
                path: "new.txt".to_owned(),
                bytes_written: 6
            })
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("new.txt"))
                .ok()
                .as_deref(),
            Some("héllo")
        );

        let orphan = write_file(
            dir.path(),
            WriteFile {
                path: "no/such/dir.txt".to_owned(),
                content: String::new(),
            },
        );
        assert!(matches!(orphan, Err(ToolError::NotFound(_))), "{orphan:?}");
        assert!(!dir.path().join("no").exists());

        let root = write_file(
            dir.path(),
            WriteFile {
                path: ".".to_owned(),
                content: String::new(),
            },
        );
        assert!(matches!(root, Err(ToolError::InvalidInput(_))), "{root:?}");
    }

    #[test]
    fn lists_sorted_entries_with_kinds() {
        let dir = project();
        put(dir.path(), "b.txt", b"12345");
        put(dir.path(), "a/inner.txt", b"");
        #[cfg(unix)]
        if let Err(err) = std::os::unix::fs::symlink("b.txt", dir.path().join("c")) {
            panic!("symlink: {err}");
        }
        let listing = match list_dir(
            dir.path(),
            ListDir {
                path: ".".to_owned(),
            },
        ) {
            Ok(listing) => listing,
            Err(err) => panic!("{err}"),
        };
        let seen: Vec<_> = listing
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.kind))
            .collect();
        let mut expected = vec![("a", EntryKind::Dir), ("b.txt", EntryKind::File)];
        if cfg!(unix) {
            expected.push(("c", EntryKind::Symlink));
        }
        assert_eq!(seen, expected);
        assert_eq!(listing.entries[1].size, 5);
        assert!(!listing.truncated);

        let missing = list_dir(
            dir.path(),
            ListDir {
                path: "nope".to_owned(),
            },
        );
        assert!(
            matches!(missing, Err(ToolError::NotFound(_))),
            "{missing:?}"
        );
    }
}
