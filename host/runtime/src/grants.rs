//! What one tool call may touch, and the check that it is within what the tool requested.

use std::path::{Path, PathBuf};

use stockade_egress::EgressGrant;
use stockade_registry_types::{Access, MountPath, ToolSpec};

use crate::egress::Egress;
use crate::readable::{LogFilter, ReadableSecrets};

/// Host directories that are never granted, nor anything under them.
const SYSTEM_PATHS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/run",
    "/var/lib/docker",
];

/// Why a grant was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The host directory cannot be granted (missing, not a directory, or a system path).
    #[error("cannot grant {path}: {reason}")]
    BadDirectory {
        /// The directory as given.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The grant names a mount the tool did not request.
    #[error("tool `{tool}` does not request a directory at {mount}")]
    NotRequested {
        /// The tool.
        tool: String,
        /// The mount in the grant.
        mount: String,
    },
    /// The grant gives more access than the tool requested.
    #[error("tool `{tool}` requests {requested:?} access to {mount}, the grant gives {granted:?}")]
    ExceedsRequest {
        /// The tool.
        tool: String,
        /// The mount.
        mount: String,
        /// Access the manifest requests.
        requested: Access,
        /// Access the grant gives.
        granted: Access,
    },
    /// The grant lets the tool read a secret its manifest does not request.
    #[error("tool `{tool}` does not request to read secret `{secret}`")]
    SecretNotRequested {
        /// The tool.
        tool: String,
        /// The secret name in the grant.
        secret: String,
    },
    /// Two grants use the same mount.
    #[error("mount {0} is granted twice")]
    DuplicateMount(String),
    /// The egress grant reaches further than the tool's egress request.
    #[error("tool `{tool}`: {reason}")]
    EgressExceedsRequest {
        /// The tool.
        tool: String,
        /// Which grant entry and why.
        reason: String,
    },
}

impl GrantError {
    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadDirectory { .. } => "grant_invalid",
            Self::NotRequested { .. }
            | Self::ExceedsRequest { .. }
            | Self::EgressExceedsRequest { .. }
            | Self::SecretNotRequested { .. } => "grant_exceeds_request",
            Self::DuplicateMount(_) => "grant_invalid",
        }
    }
}

/// One preopened directory: host directory, where the guest sees it, and the access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    host: PathBuf,
    mount: MountPath,
    access: Access,
}

impl DirGrant {
    /// A grant of `host` (canonicalized; must be an existing directory that is not a system
    /// path) at guest path `mount`.
    pub fn new(host: &Path, mount: MountPath, access: Access) -> Result<Self, GrantError> {
        let bad = |reason: String| GrantError::BadDirectory {
            path: host.to_path_buf(),
            reason,
        };
        let canonical = host.canonicalize().map_err(|err| bad(err.to_string()))?;
        if !canonical.is_dir() {
            return Err(bad("not a directory".into()));
        }
        if let Some(system) = system_path(&canonical) {
            return Err(bad(format!("{system} is a system path")));
        }
        Ok(Self {
            host: canonical,
            mount,
            access,
        })
    }

    /// The canonical host directory.
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// Where the guest sees the directory.
    pub fn mount(&self) -> &MountPath {
        &self.mount
    }

    /// Read-only or read-write.
    pub fn access(&self) -> Access {
        self.access
    }
}

fn system_path(canonical: &Path) -> Option<&'static str> {
    if canonical == Path::new("/") {
        return Some("/");
    }
    SYSTEM_PATHS
        .iter()
        .copied()
        .find(|system| canonical.starts_with(system))
}

/// Everything one call of one tool is given. Anything not listed here is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolGrants {
    /// Preopened directories.
    pub dirs: Vec<DirGrant>,
    /// Outbound network: the policy, caps and the call's record of attempts.
    pub egress: Egress,
    /// Secrets the plugin may read itself through `stockade:plugin/secrets`.
    pub secrets: ReadableSecrets,
    /// What the plugin's log records pass through before they reach the host's log.
    pub log: LogFilter,
}

impl ToolGrants {
    /// No grants at all: the plugin sees no filesystem.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a directory grant.
    pub fn with_dir(mut self, dir: DirGrant) -> Self {
        self.dirs.push(dir);
        self
    }

    /// Sets the outbound network grant.
    pub fn with_egress(mut self, egress: Egress) -> Self {
        self.egress = egress;
        self
    }

    /// Sets the secrets the plugin may read.
    pub fn with_secrets(mut self, secrets: ReadableSecrets) -> Self {
        self.secrets = secrets;
        self
    }

    /// Sets the scrubber for the plugin's log records.
    pub fn with_log_filter(mut self, log: LogFilter) -> Self {
        self.log = log;
        self
    }

    /// Checks that every grant is requested by `spec` with at least the granted access, that
    /// no mount is granted twice, that every readable secret is requested, and that the egress
    /// grant is within `requested_egress` (the tool's parsed `egress` request). Giving less
    /// than requested is allowed.
    pub fn check_within(
        &self,
        tool: &str,
        spec: &ToolSpec,
        requested_egress: &EgressGrant,
    ) -> Result<(), GrantError> {
        self.egress
            .policy
            .grant()
            .within(requested_egress)
            .map_err(|err| GrantError::EgressExceedsRequest {
                tool: tool.to_owned(),
                reason: err.to_string(),
            })?;
        if let Some(secret) = self
            .secrets
            .names()
            .find(|name| !spec.secrets.iter().any(|s| s.as_str() == *name))
        {
            return Err(GrantError::SecretNotRequested {
                tool: tool.to_owned(),
                secret: secret.to_owned(),
            });
        }
        for (i, grant) in self.dirs.iter().enumerate() {
            if self.dirs[..i].iter().any(|g| g.mount == grant.mount) {
                return Err(GrantError::DuplicateMount(grant.mount.to_string()));
            }
            let request = spec
                .dirs
                .iter()
                .find(|request| request.mount == grant.mount)
                .ok_or_else(|| GrantError::NotRequested {
                    tool: tool.to_owned(),
                    mount: grant.mount.to_string(),
                })?;
            if grant.access > request.access {
                return Err(GrantError::ExceedsRequest {
                    tool: tool.to_owned(),
                    mount: grant.mount.to_string(),
                    requested: request.access,
                    granted: grant.access,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_registry_types::{ComponentId, DirRequest, LimitOverrides};

    fn mount(path: &str) -> MountPath {
        path.parse().unwrap()
    }

    fn spec(dirs: &[(&str, Access)]) -> ToolSpec {
        ToolSpec {
            component: "c".parse::<ComponentId>().unwrap(),
            dirs: dirs
                .iter()
                .map(|(m, access)| DirRequest {
                    mount: mount(m),
                    access: *access,
                })
                .collect(),
            egress: Vec::new(),
            secrets: vec!["token".parse().unwrap()],
            limits: LimitOverrides::default(),
        }
    }

    #[test]
    fn grants_must_fit_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let grant = |m: &str, access| {
            ToolGrants::none().with_dir(DirGrant::new(dir.path(), mount(m), access).unwrap())
        };
        let read_only = spec(&[("/project", Access::Read)]);
        let read_write = spec(&[("/project", Access::ReadWrite)]);
        let cases: &[(&str, ToolGrants, &ToolSpec, Option<&str>)] = &[
            (
                "exact read",
                grant("/project", Access::Read),
                &read_only,
                None,
            ),
            (
                "less than requested",
                grant("/project", Access::Read),
                &read_write,
                None,
            ),
            ("nothing granted", ToolGrants::none(), &read_write, None),
            (
                "write beyond read request",
                grant("/project", Access::ReadWrite),
                &read_only,
                Some("grant_exceeds_request"),
            ),
            (
                "mount not requested",
                grant("/other", Access::Read),
                &read_only,
                Some("grant_exceeds_request"),
            ),
            (
                "requested secret",
                ToolGrants::none().with_secrets(ReadableSecrets::none().with("token", "v".into())),
                &read_only,
                None,
            ),
            (
                "secret not requested",
                ToolGrants::none().with_secrets(ReadableSecrets::none().with("other", "v".into())),
                &read_only,
                Some("grant_exceeds_request"),
            ),
            (
                "same mount twice",
                grant("/project", Access::Read)
                    .with_dir(DirGrant::new(dir.path(), mount("/project"), Access::Read).unwrap()),
                &read_write,
                Some("grant_invalid"),
            ),
        ];
        for (name, grants, spec, expected) in cases {
            let got = grants
                .check_within("t", spec, &EgressGrant::default())
                .err()
                .map(|e| e.code());
            assert_eq!(got, *expected, "{name}");
        }
    }

    #[test]
    fn system_and_missing_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc-link")).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let cases: &[(&str, PathBuf)] = &[
            ("root", "/".into()),
            ("etc", "/etc".into()),
            ("proc", "/proc/self".into()),
            ("symlink to etc", dir.path().join("etc-link")),
            ("usr subdir", "/usr/share".into()),
            ("missing", dir.path().join("missing")),
            ("a file", file),
        ];
        for (name, path) in cases {
            let err = DirGrant::new(path, mount("/project"), Access::Read).err();
            assert!(
                matches!(err, Some(GrantError::BadDirectory { .. })),
                "{name}: {err:?}"
            );
        }
        assert!(DirGrant::new(dir.path(), mount("/project"), Access::Read).is_ok());
    }
}
