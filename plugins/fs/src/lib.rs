//! The coding agent's file tool: read, write, list and search files in the project.
//!
//! The host preopens the granted project directory at [`PROJECT`] (`/project`); every path in
//! an input is relative to it. The tools, each in the module that owns it:
//!
//! | tool | module | grant |
//! |---|---|---|
//! | `read_file {path}` | [`files`] | read |
//! | `write_file {path, content}` | [`files`] | read-write |
//! | `list_dir {path}` | [`files`] | read |
//! | `search {pattern, path?, regex?}` | [`search`] | read |
//!
//! Paths are validated by `paths` before any I/O: absolute paths and `..` are refused as
//! invalid input even though the host's sandbox would stop them anyway. Each tool is a plain
//! function of the root directory, so unit tests run it natively against a temporary directory.

#![forbid(unsafe_code)]

use std::path::Path;

use stockade_plugin_sdk::Tools;

pub mod files;
mod paths;
pub mod search;

/// Where the host preopens the granted project directory inside the guest.
pub const PROJECT: &str = "/project";

fn root() -> &'static Path {
    Path::new(PROJECT)
}

/// The tools of this plugin.
pub fn tools() -> Tools {
    Tools::new()
        .tool(
            "read_file",
            "Reads a UTF-8 text file from the project (first 256 KiB; `truncated` says if there \
             is more). Paths are relative to the project directory.",
            |input| files::read_file(root(), input),
        )
        .tool(
            "write_file",
            "Creates or replaces a text file in the project with `content`. The parent \
             directory must already exist. Returns the number of bytes written.",
            |input| files::write_file(root(), input),
        )
        .tool(
            "list_dir",
            "Lists a project directory (`.` for the top): name, kind (file, dir, symlink, other) \
             and size of each entry, sorted by name.",
            |input| files::list_dir(root(), input),
        )
        .tool(
            "search",
            "Searches text files under a project directory for lines containing `pattern` \
             (a regular expression when `regex` is true). Skips .git, binary files and files \
             over 1 MiB; returns at most 200 matches.",
            |input| search::search(root(), input),
        )
}

stockade_plugin_sdk::export_plugin!(tools);

#[cfg(test)]
mod tests {
    use stockade_plugin_sdk::ToolError;
    use stockade_registry_types::{Access, BundleManifest};

    use super::*;

    fn manifest() -> BundleManifest {
        let text = include_str!("../bundle.toml");
        match BundleManifest::from_toml(text) {
            Ok(manifest) => manifest,
            Err(err) => panic!("bundle.toml: {err}"),
        }
    }

    /// The manifest and the plugin must agree on the tool list: the host refuses a bundle whose
    /// component describes tools its manifest does not declare, and the other way round.
    #[test]
    fn bundle_declares_exactly_the_registered_tools() {
        let manifest = manifest();
        let mut declared: Vec<&str> = manifest.tools.keys().map(|name| name.as_str()).collect();
        let tools = tools();
        let mut registered: Vec<&str> = tools.names().collect();
        declared.sort_unstable();
        registered.sort_unstable();
        assert_eq!(declared, registered);
        assert_eq!(tools.validate(), Ok(()));
    }

    /// Only `write_file` asks for write access, and every tool asks for exactly `/project`.
    #[test]
    fn bundle_requests_least_privilege() {
        let manifest = manifest();
        assert_eq!(manifest.bundle.name.as_str(), "fs");
        for (name, spec) in &manifest.tools {
            assert_eq!(spec.dirs.len(), 1, "{name}");
            assert_eq!(spec.dirs[0].mount.as_str(), PROJECT, "{name}");
            let expected = if name.as_str() == "write_file" {
                Access::ReadWrite
            } else {
                Access::Read
            };
            assert_eq!(spec.dirs[0].access, expected, "{name}");
        }
        let wasm = manifest
            .components
            .values()
            .map(|c| c.wasm.as_str())
            .collect::<Vec<_>>();
        assert_eq!(wasm, ["stockade_plugin_fs.wasm"]);
    }

    #[test]
    fn describes_object_schemas_naming_required_fields() {
        for tool in tools().describe() {
            let schema: serde_json::Value = match serde_json::from_str(&tool.input_schema) {
                Ok(schema) => schema,
                Err(err) => panic!("{}: {err}", tool.name),
            };
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
        }
    }

    /// Through the full dispatch: bad input names the field.
    #[test]
    fn dispatch_rejects_escapes_and_bad_types() {
        let cases = [
            (
                "read_file",
                r#"{"path": "/etc/passwd"}"#,
                "path: must be relative",
            ),
            (
                "read_file",
                r#"{"path": "../etc/passwd"}"#,
                "path: must not contain `..`",
            ),
            (
                "write_file",
                r#"{"path": "a.txt"}"#,
                "missing field `content`",
            ),
            (
                "list_dir",
                r#"{"path": 1}"#,
                "path: invalid type: integer `1`",
            ),
            (
                "search",
                r#"{"pattern": "x", "path": "a/../.."}"#,
                "path: must not contain `..`",
            ),
            (
                "search",
                r#"{"pattern": "x", "glob": "*"}"#,
                "glob: unknown field `glob`",
            ),
        ];
        for (tool, input, needle) in cases {
            match tools().call(tool, input) {
                Err(ToolError::InvalidInput(message)) => {
                    assert!(message.starts_with(needle), "{tool} {input}: {message}");
                }
                other => panic!("{tool} {input}: {other:?}"),
            }
        }
    }
}
