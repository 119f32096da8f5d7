//! `bundle.toml`: what a bundle is made of and what each of its tools may ask for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::{BundleName, ComponentId, MountPath, RelativeFile, SecretName, ToolName};

/// File name of the manifest inside a bundle or plugin source folder.
pub const MANIFEST_FILE: &str = "bundle.toml";

/// A bundle manifest (`bundle.toml`).
///
/// ```
/// use stockade_registry_types::{Access, BundleManifest};
///
/// let manifest = BundleManifest::from_toml(r#"
///     [bundle]
///     name = "fs"
///     version = "0.1.0"
///
///     [components.fs]
///     wasm = "stockade_plugin_fs.wasm"
///
///     [tools.read_file]
///     component = "fs"
///     dirs = [{ mount = "/project", access = "read" }]
/// "#).unwrap();
/// assert_eq!(manifest.tools["read_file"].dirs[0].access, Access::Read);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleManifest {
    /// Name, version and description.
    pub bundle: BundleInfo,
    /// The components of the bundle, by id.
    pub components: BTreeMap<ComponentId, ComponentSpec>,
    /// Every tool the bundle offers, by name, with the capabilities it requests.
    pub tools: BTreeMap<ToolName, ToolSpec>,
}

impl BundleManifest {
    /// The manifest file name, `bundle.toml`.
    pub const FILE: &'static str = MANIFEST_FILE;

    /// Parses a manifest. Unknown fields are errors; the error names line and column.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        toml::from_str(text).map_err(|err| ManifestError(err.to_string()))
    }
}

/// A manifest that could not be parsed. The message names the line, column and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(String);

/// The `[bundle]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleInfo {
    /// Bundle name: lowercase letters, digits and `-`, starting with a letter.
    pub name: BundleName,
    /// Semver version. Immutable once published.
    pub version: semver::Version,
    /// What the bundle is for, shown to operators approving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A `[components.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The component file, relative to the bundle directory (or, for a plugin source folder,
    /// the file name cargo writes under `target/wasm32-wasip2/<profile>/`).
    pub wasm: RelativeFile,
}

/// A `[tools.<name>]` table: which component serves the tool and what it requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The component that implements this tool.
    pub component: ComponentId,
    /// Directories the tool asks to see. A grant may give less, never more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dirs: Vec<DirRequest>,
    /// Outbound destinations the tool asks to reach, as egress rules
    /// (`scheme://host[:ports]`, `*.suffix` wildcards, CIDRs). The host parses and checks them
    /// when it opens the bundle; a grant may give less, never more. Empty: no network at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<String>,
    /// Stored secrets the tool asks to read itself through `stockade:plugin/secrets` (a grant
    /// may give fewer). Secrets the host injects into outbound requests are not listed here:
    /// the plugin never sees those.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretName>,
    /// Limits this tool needs instead of the host defaults.
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub limits: LimitOverrides,
}

/// One requested directory: where the plugin expects it and the access it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirRequest {
    /// Absolute path inside the guest where the granted directory is preopened.
    pub mount: MountPath,
    /// The most access the tool asks for.
    pub access: Access,
}

/// Access to a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read files and list directories.
    Read,
    /// Also create, write, rename and delete.
    ReadWrite,
}

impl Access {
    /// Whether this access includes writing.
    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// Per-tool limit overrides. Absent fields keep the host defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Linear memory cap in MiB (host default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u32>,
    /// Wall-clock deadline in milliseconds (host default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Output cap in KiB (host default 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_kib: Option<u32>,
}

impl LimitOverrides {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[bundle]
name = "fs"
version = "0.1.0"

[components.fs]
wasm = "fs.wasm"

[tools.read_file]
component = "fs"
dirs = [{ mount = "/project", access = "read" }]
limits = { deadline_ms = 500 }
"#;

    #[test]
    fn parses_and_round_trips() {
        let manifest = BundleManifest::from_toml(GOOD).unwrap();
        assert_eq!(manifest.bundle.version, semver::Version::new(0, 1, 0));
        assert_eq!(manifest.tools["read_file"].limits.deadline_ms, Some(500));
        let again = BundleManifest::from_toml(&toml::to_string(&manifest).unwrap()).unwrap();
        assert_eq!(again, manifest);
    }

    /// Each bad manifest is refused, and the message points at the offending place.
    #[test]
    fn rejects_bad_manifests_with_location() {
        let cases: &[(&str, &str, &[&str])] = &[
            (
                "unknown top-level field",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools]\nextra = 1\n",
                &["line 6", "extra"],
            ),
            (
                "unknown tool field",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\nnetwork = true\n",
                &["line 7", "network"],
            ),
            (
                "bad semver",
                "[bundle]\nname = \"fs\"\nversion = \"1.0\"\n[components]\n[tools]\n",
                &["line 3", "version"],
            ),
            (
                "bad access",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"all\" }]\n",
                &["line 7", "all"],
            ),
            (
                "relative mount",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\ndirs = [{ mount = \"p\", access = \"read\" }]\n",
                &["line 7", "absolute"],
            ),
            (
                "mount with ..",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\ndirs = [{ mount = \"/p/../etc\", access = \"read\" }]\n",
                &["line 7", ".."],
            ),
            (
                "tool name with uppercase",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.ReadFile]\ncomponent = \"c\"\n",
                &["line 5", "ReadFile"],
            ),
            (
                "bundle name with slash",
                "[bundle]\nname = \"a/b\"\nversion = \"0.1.0\"\n[components]\n[tools]\n",
                &["line 2", "a/b"],
            ),
            (
                "wasm path escaping the bundle",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components.c]\nwasm = \"../x.wasm\"\n[tools]\n",
                &["line 5", ".."],
            ),
            (
                "secret name with a space",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\nsecrets = [\"api key\"]\n",
                &["line 7", "api key"],
            ),
            (
                "empty secret name",
                "[bundle]\nname = \"fs\"\nversion = \"0.1.0\"\n[components]\n[tools.a]\ncomponent = \"c\"\nsecrets = [\"\"]\n",
                &["line 7", "secret name"],
            ),
            (
                "missing version",
                "[bundle]\nname = \"fs\"\n[components]\n[tools]\n",
                &["version"],
            ),
        ];
        for (name, text, needles) in cases {
            let err = BundleManifest::from_toml(text)
                .err()
                .unwrap_or_else(|| panic!("{name}: accepted"))
                .to_string();
            for needle in *needles {
                assert!(err.contains(needle), "{name}: {needle:?} not in {err}");
            }
        }
    }
}
