//! What a bundle's tools ask for, its digest, and whether one request fits in another.
//!
//! The capabilities digest is what an operator approval pins: SHA-256 of the canonical JSON of
//! [`Capabilities`]. An upgrade whose capabilities are not [`within`](Capabilities::within) the
//! approved ones needs a new approval.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use stockade_registry_types::{Access, BundleManifest, ToolSpec};

use crate::canonical;
use crate::digest::Digest;
use crate::error::Error;

/// Host default linear memory cap, MiB, used when a tool sets none.
pub const DEFAULT_MEMORY_MIB: u64 = 64;
/// Host default deadline, milliseconds.
pub const DEFAULT_DEADLINE_MS: u64 = 10_000;
/// Host default output cap, KiB.
pub const DEFAULT_OUTPUT_KIB: u64 = 1024;

/// Every tool's requested capabilities, in canonical order.
///
/// Canonical JSON (the digest input), keys sorted:
/// `{"tools":{"<tool>":{"dirs":[{"access":"read","mount":"/project"}],"egress":["https://x"],
/// "limits":{"deadline_ms":null,"memory_mib":null,"output_kib":null},"secrets":["token"]}}}`;
/// `dirs` sorted by mount then access, `egress` and `secrets` sorted and de-duplicated, every
/// field present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// By tool name.
    pub tools: BTreeMap<String, ToolCapabilities>,
}

/// One tool's requested capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ToolCapabilities {
    /// Directories: guest mount and the most access asked for.
    pub dirs: Vec<DirCapability>,
    /// Egress rules exactly as written in `bundle.toml`.
    pub egress: Vec<String>,
    /// Limit overrides; `null` means the host default.
    pub limits: Limits,
    /// Secrets the tool asks to read itself, by name.
    pub secrets: Vec<String>,
}

/// A requested directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirCapability {
    /// Guest mount path.
    pub mount: String,
    /// `read` or `read-write`.
    pub access: Access,
}

/// Requested limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory cap, MiB.
    pub memory_mib: Option<u64>,
    /// Deadline, ms.
    pub deadline_ms: Option<u64>,
    /// Output cap, KiB.
    pub output_kib: Option<u64>,
}

impl ToolCapabilities {
    /// The canonical form of one tool spec.
    pub fn of(spec: &ToolSpec) -> Self {
        let mut dirs: Vec<DirCapability> = spec
            .dirs
            .iter()
            .map(|dir| DirCapability {
                mount: dir.mount.as_str().to_owned(),
                access: dir.access,
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut egress = spec.egress.clone();
        egress.sort();
        egress.dedup();
        let mut secrets: Vec<String> = spec.secrets.iter().map(|s| s.as_str().to_owned()).collect();
        secrets.sort();
        secrets.dedup();
        ToolCapabilities {
            dirs,
            egress,
            secrets,
            limits: Limits {
                memory_mib: spec.limits.memory_mib.map(u64::from),
                deadline_ms: spec.limits.deadline_ms,
                output_kib: spec.limits.output_kib.map(u64::from),
            },
        }
    }

    fn is_empty(&self) -> bool {
        self.dirs.is_empty()
            && self.egress.is_empty()
            && self.secrets.is_empty()
            && self.limits == Limits::default()
    }
}

impl Capabilities {
    /// The capabilities every tool of `manifest` requests.
    pub fn of(manifest: &BundleManifest) -> Self {
        Capabilities {
            tools: manifest
                .tools
                .iter()
                .map(|(name, spec)| (name.as_str().to_owned(), ToolCapabilities::of(spec)))
                .collect(),
        }
    }

    /// Canonicalises a value that may have come off the wire in another order.
    pub fn normalized(mut self) -> Self {
        for tool in self.tools.values_mut() {
            tool.dirs.sort();
            tool.dirs.dedup();
            tool.egress.sort();
            tool.egress.dedup();
            tool.secrets.sort();
            tool.secrets.dedup();
        }
        self
    }

    /// The canonical JSON bytes.
    pub fn canonical_json(&self) -> Result<Vec<u8>, Error> {
        canonical::to_vec(&self.clone().normalized())
    }

    /// SHA-256 of [`canonical_json`](Self::canonical_json).
    pub fn digest(&self) -> Result<Digest, Error> {
        Ok(Digest::of(&self.canonical_json()?))
    }

    /// Whether `self` asks for nothing beyond `approved`.
    pub fn within(&self, approved: &Capabilities) -> bool {
        capabilities_within(approved, self).is_empty()
    }
}

/// One way `new` asks for more than `old`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Widening {
    /// A tool that was not there before and requests something.
    NewTool {
        /// The tool.
        tool: String,
    },
    /// A directory not requested before, or with more access.
    Dir {
        /// The tool.
        tool: String,
        /// The mount.
        mount: String,
        /// The access now asked for.
        access: Access,
    },
    /// An egress rule not in the old request (rules compare as written).
    Egress {
        /// The tool.
        tool: String,
        /// The new rule.
        rule: String,
    },
    /// A secret the tool did not ask to read before.
    Secret {
        /// The tool.
        tool: String,
        /// The secret's name.
        name: String,
    },
    /// A larger limit (absent limits count as the host default).
    Limit {
        /// The tool.
        tool: String,
        /// `memory_mib`, `deadline_ms` or `output_kib`.
        limit: &'static str,
        /// Old effective value.
        old: u64,
        /// New effective value.
        new: u64,
    },
}

impl fmt::Display for Widening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Widening::NewTool { tool } => write!(f, "new tool {tool} requests capabilities"),
            Widening::Dir {
                tool,
                mount,
                access,
            } => write!(f, "{tool}: directory {mount} with {access:?} access"),
            Widening::Egress { tool, rule } => write!(f, "{tool}: egress {rule}"),
            Widening::Secret { tool, name } => write!(f, "{tool}: reads secret {name}"),
            Widening::Limit {
                tool,
                limit,
                old,
                new,
            } => write!(f, "{tool}: {limit} {old} -> {new}"),
        }
    }
}

/// Every way `new` asks for more than `old`; empty when `new` is within `old`.
///
/// A directory is covered by an old one with the same mount and at least the same access; an
/// egress rule only by the identical rule (rule semantics belong to the host, and a textual
/// compare can only err towards asking for a new approval); a limit by an old effective value at
/// least as large. Removing tools or capabilities is never a widening.
pub fn capabilities_within(old: &Capabilities, new: &Capabilities) -> Vec<Widening> {
    let empty = ToolCapabilities::default();
    let mut widenings = Vec::new();
    for (tool, caps) in &new.tools {
        let before = match old.tools.get(tool) {
            Some(before) => before,
            None if caps.is_empty() => continue,
            None => {
                widenings.push(Widening::NewTool { tool: tool.clone() });
                &empty
            }
        };
        for dir in &caps.dirs {
            let covered = before.dirs.iter().any(|old| {
                old.mount == dir.mount && (old.access == dir.access || old.access.can_write())
            });
            if !covered {
                widenings.push(Widening::Dir {
                    tool: tool.clone(),
                    mount: dir.mount.clone(),
                    access: dir.access,
                });
            }
        }
        for rule in &caps.egress {
            if !before.egress.contains(rule) {
                widenings.push(Widening::Egress {
                    tool: tool.clone(),
                    rule: rule.clone(),
                });
            }
        }
        for name in &caps.secrets {
            if !before.secrets.contains(name) {
                widenings.push(Widening::Secret {
                    tool: tool.clone(),
                    name: name.clone(),
                });
            }
        }
        let limits = [
            (
                "memory_mib",
                before.limits.memory_mib,
                caps.limits.memory_mib,
                DEFAULT_MEMORY_MIB,
            ),
            (
                "deadline_ms",
                before.limits.deadline_ms,
                caps.limits.deadline_ms,
                DEFAULT_DEADLINE_MS,
            ),
            (
                "output_kib",
                before.limits.output_kib,
                caps.limits.output_kib,
                DEFAULT_OUTPUT_KIB,
            ),
        ];
        for (limit, old, new, default) in limits {
            let (old, new) = (old.unwrap_or(default), new.unwrap_or(default));
            if new > old {
                widenings.push(Widening::Limit {
                    tool: tool.clone(),
                    limit,
                    old,
                    new,
                });
            }
        }
    }
    widenings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(toml: &str) -> Capabilities {
        let text = format!(
            "[bundle]\nname = \"b\"\nversion = \"1.0.0\"\n[components.c]\nwasm = \"c.wasm\"\n{toml}"
        );
        match BundleManifest::from_toml(&text) {
            Ok(manifest) => Capabilities::of(&manifest),
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn digest_ignores_order_of_rules_and_dirs() {
        let a = caps("[tools.t]\ncomponent = \"c\"\negress = [\"https://a\", \"https://b\"]\n");
        let b = caps(
            "[tools.t]\ncomponent = \"c\"\negress = [\"https://b\", \"https://a\", \"https://a\"]\n",
        );
        assert_eq!(a.digest().ok(), b.digest().ok());
        let c = caps("[tools.t]\ncomponent = \"c\"\negress = [\"https://a\"]\n");
        assert_ne!(a.digest().ok(), c.digest().ok());
    }

    /// Each row: old request, new request, the widenings expected (by kind), empty = within.
    #[test]
    fn widenings_table() {
        let base = "[tools.t]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"read\" }]\negress = [\"https://a\"]\nlimits = { memory_mib = 128 }\n";
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("identical", base, base, &[]),
            (
                "narrower: fewer rules, smaller memory",
                base,
                "[tools.t]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"read\" }]\nlimits = { memory_mib = 64 }\n",
                &[],
            ),
            (
                "new egress rule",
                base,
                "[tools.t]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"read\" }]\negress = [\"https://a\", \"https://evil\"]\nlimits = { memory_mib = 128 }\n",
                &["egress"],
            ),
            (
                "read becomes read-write",
                base,
                "[tools.t]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"read-write\" }]\negress = [\"https://a\"]\nlimits = { memory_mib = 128 }\n",
                &["dir"],
            ),
            (
                "new mount",
                base,
                "[tools.t]\ncomponent = \"c\"\ndirs = [{ mount = \"/p\", access = \"read\" }, { mount = \"/etc\", access = \"read\" }]\negress = [\"https://a\"]\nlimits = { memory_mib = 128 }\n",
                &["dir"],
            ),
            (
                "limit dropped below default is fine, above is not",
                "[tools.t]\ncomponent = \"c\"\nlimits = { deadline_ms = 50000 }\n",
                "[tools.t]\ncomponent = \"c\"\nlimits = { output_kib = 4096 }\n",
                &["limit"],
            ),
            (
                "new secret read",
                base,
                &format!("{base}secrets = [\"token\"]\n"),
                &["secret"],
            ),
            (
                "new tool with egress",
                base,
                &format!("{base}[tools.u]\ncomponent = \"c\"\negress = [\"https://x\"]\n"),
                &["new_tool", "egress"],
            ),
            (
                "new tool asking nothing",
                base,
                &format!("{base}[tools.u]\ncomponent = \"c\"\n"),
                &[],
            ),
        ];
        for (name, old, new, expected) in cases {
            let widenings = capabilities_within(&caps(old), &caps(new));
            let kinds: Vec<String> = widenings
                .iter()
                .map(|w| {
                    serde_json::to_value(w)
                        .ok()
                        .and_then(|v| v["kind"].as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            assert_eq!(kinds, *expected, "{name}: {widenings:?}");
            assert_eq!(caps(new).within(&caps(old)), expected.is_empty(), "{name}");
        }
    }
}
