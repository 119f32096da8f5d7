//! Typed server configuration, layered in one place: defaults → `stockade.toml` →
//! `STOCKADE_*` environment → command-line flags ([`Config::load`]).
//!
//! `stockade.example.toml` beside this crate lists every field with its default; a test keeps it
//! equal to [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The server's configuration. Every field has a default; see `stockade.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:7878` (loopback only).
    pub bind: SocketAddr,
    /// Data directory: database, compiled-component cache, keys. Default `.stockade`.
    pub data_dir: PathBuf,
    /// `production` (default) refuses risky settings such as `tools.allow = ["*"]`;
    /// `development` allows them and local bundle installs.
    pub mode: Mode,
    /// File holding the write token (a bearer token that allows mutating requests from
    /// non-loopback clients). Default: none, so only loopback clients may write.
    pub write_token_file: Option<PathBuf>,
    /// File holding the HMAC-SHA256 secret that signs `/webhooks/*` requests. Default: none,
    /// so webhooks are disabled.
    pub webhook_secret_file: Option<PathBuf>,
    /// File holding the master key that encrypts stored secrets (64 hex digits or 44 base64
    /// characters; mode 0600). Default: none, then the systemd credential
    /// `stockade-master-key`, then `STOCKADE_MASTER_KEY` (weakest). Without a key, or with the
    /// wrong one, secrets are sealed (503 `sealed`) and everything else works.
    pub master_key_file: Option<PathBuf>,
    /// Start on a non-loopback address without a write token. Default `false`; logged loudly.
    pub insecure_public_bind: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (CIDRs). Default: none.
    pub trusted_proxies: Vec<IpNet>,
    /// Request rate limits per client.
    pub rate_limit: RateLimitConfig,
    /// Event log settings.
    pub events: EventsConfig,
    /// Plugins' outbound network caps.
    pub egress: EgressConfig,
    /// The pinned private registry bundles are installed from, and the keys trusted.
    pub registry: RegistryConfig,
    /// Agent workspaces: hardened gVisor containers.
    pub workspaces: WorkspacesConfig,
}

/// Agent workspaces: where the Docker daemon is, which runtime and images, what limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspacesConfig {
    /// The Docker daemon's Unix socket. Default: none, then `DOCKER_HOST`, then
    /// `unix:///run/stockade-docker.sock` (the private daemon `.ci/dockerd.sh` starts).
    pub docker_host: Option<String>,
    /// `runsc` (gVisor, default: the daemon must have it, or workspaces are refused with
    /// `runtime_unavailable`) or `runc-development` (no gVisor; development mode only, warned on
    /// every create).
    pub runtime: String,
    /// Workspaces one project may have at once. Default 4.
    pub max_per_project: usize,
    /// A workspace with no exec for this long is destroyed, in seconds. Default 1800.
    pub idle_timeout_secs: u64,
    /// Memory limit (and memory+swap) per workspace, MiB. Default 512.
    pub memory_mib: u64,
    /// CPU limit per workspace, thousandths of a CPU. Default 1000.
    pub cpu_millis: u64,
    /// `pids.max` per workspace. Under runsc it also counts gVisor's own threads, which grow
    /// with the processes the workload starts (measured: ~53 idle, ~128 after 30 commands,
    /// ~215 after 8 at once) and are not released. Default 1024, room for parallel builds; a
    /// fork bomb still only ends its own workspace.
    pub pids: u64,
    /// Size of the `/tmp` tmpfs, MiB. Default 64.
    pub tmp_mib: u64,
    /// Timeout of one exec unless the request sets a shorter one, seconds. Default 60.
    pub exec_timeout_secs: u64,
    /// The image profile used when a request names none. Default `default`.
    pub default_image: String,
    /// Image profiles by name. Production refuses a profile without a pinned `id`.
    pub images: std::collections::BTreeMap<String, ImageConfig>,
}

/// One image profile: a local image and the id it is pinned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The local image reference, e.g. `stockade/workspace:bookworm`.
    pub reference: String,
    /// The image id (`sha256:...`) `stockade workspace image build` printed. A different image
    /// under the reference is refused (`image_mismatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        Self {
            docker_host: None,
            runtime: "runsc".to_owned(),
            max_per_project: 4,
            idle_timeout_secs: 1800,
            memory_mib: 512,
            cpu_millis: 1000,
            pids: 1024,
            tmp_mib: 64,
            exec_timeout_secs: 60,
            default_image: "default".to_owned(),
            images: std::collections::BTreeMap::from([(
                "default".to_owned(),
                ImageConfig {
                    reference: "stockade/workspace:bookworm".to_owned(),
                    id: None,
                },
            )]),
        }
    }
}

/// Where registry installs come from and which signatures they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL of the registry (`http://127.0.0.1:5000`). Default: none, so only development
    /// installs from local directories are possible.
    pub url: Option<String>,
    /// Publisher public keys (`stockade-ed25519:<base64>`) whose manifest signatures are
    /// accepted. Default: none, so every bundle is refused (`unknown_publisher_key`).
    pub publisher_keys: Vec<String>,
    /// Registry operator public keys whose approvals and revocation lists are accepted.
    /// Default: none, so every bundle is refused.
    pub operator_keys: Vec<String>,
    /// Largest component accepted, in MiB. Default 64.
    pub max_component_mib: u64,
    /// Seconds between revocation-list syncs (also synced at start and before each install).
    /// Default 300.
    pub revocation_sync_secs: u64,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            url: None,
            publisher_keys: Vec::new(),
            operator_keys: Vec::new(),
            max_component_mib: 64,
            revocation_sync_secs: 300,
        }
    }
}

/// Server mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Safe defaults enforced.
    #[default]
    Production,
    /// Local development: allows `tools.allow = ["*"]` and local bundle directories.
    Development,
}

/// Requests per client per window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests per minute on `/v1/*` and `/metrics`. Default 300.
    pub api_per_minute: u32,
    /// Requests per minute on `/webhooks/*`. Default 600.
    pub webhooks_per_minute: u32,
}

/// Event log settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Days events are kept before pruning (the chain stays verifiable). Default 365.
    pub retention_days: u32,
    /// Flush each event batch to stable storage before answering. Default `true`. `false`
    /// still survives a killed server (SIGKILL) but may lose the newest events on power loss.
    pub fsync: bool,
}

/// Caps on plugins' outbound requests (what they may reach is the per-tool egress grant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Outbound requests per agent per minute, across all its calls. Default 120.
    pub requests_per_minute: u32,
    /// Outbound requests one tool call may make. Default 16.
    pub requests_per_call: u32,
    /// Largest request body a plugin may send, in KiB. Default 1024.
    pub max_request_kib: u64,
    /// Largest response body a plugin may receive, in KiB. Default 8192.
    pub max_response_kib: u64,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 120,
            requests_per_call: 16,
            max_request_kib: 1024,
            max_response_kib: 8192,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 7878)),
            data_dir: PathBuf::from(".stockade"),
            mode: Mode::Production,
            write_token_file: None,
            webhook_secret_file: None,
            master_key_file: None,
            insecure_public_bind: false,
            trusted_proxies: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            events: EventsConfig::default(),
            egress: EgressConfig::default(),
            registry: RegistryConfig::default(),
            workspaces: WorkspacesConfig::default(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            api_per_minute: 300,
            webhooks_per_minute: 600,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention_days: 365,
            fsync: true,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--bind`.
    pub bind: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--mode`.
    pub mode: Option<Mode>,
    /// `--write-token-file`.
    pub write_token_file: Option<PathBuf>,
    /// `--insecure-public-bind`.
    pub insecure_public_bind: bool,
}

/// A configuration that could not be loaded. The message names the file, line or variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file does not parse (unknown field, wrong type). Includes line and column.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// An environment variable has an invalid value.
    #[error("environment variable {name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        message: String,
    },
}

/// The file read when no `--config` is given and it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "stockade.toml";

impl Config {
    /// Loads the layers: defaults, then `file` (or `stockade.toml` if present), then the
    /// `STOCKADE_*` variables read through `env`, then `flags`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Self::from_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Self::default(),
        };
        config.apply_env(env)?;
        config.apply_flags(flags);
        Ok(config)
    }

    /// Parses a config file; absent fields keep their defaults, unknown fields are errors.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parsed<T: std::str::FromStr>(name: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|err: T::Err| ConfigError::Env {
                name,
                message: err.to_string(),
                value,
            })
        }
        if let Some(value) = env("STOCKADE_BIND") {
            self.bind = parsed("STOCKADE_BIND", value)?;
        }
        if let Some(value) = env("STOCKADE_DATA_DIR") {
            self.data_dir = PathBuf::from(value);
        }
        if let Some(value) = env("STOCKADE_MODE") {
            self.mode = match value.as_str() {
                "production" => Mode::Production,
                "development" => Mode::Development,
                _ => {
                    return Err(ConfigError::Env {
                        name: "STOCKADE_MODE",
                        value,
                        message: "expected `production` or `development`".into(),
                    });
                }
            };
        }
        if let Some(value) = env("STOCKADE_WRITE_TOKEN_FILE") {
            self.write_token_file = Some(PathBuf::from(value));
        }
        Ok(())
    }

    fn apply_flags(&mut self, flags: &Overrides) {
        if let Some(bind) = flags.bind {
            self.bind = bind;
        }
        if let Some(dir) = &flags.data_dir {
            self.data_dir.clone_from(dir);
        }
        if let Some(mode) = flags.mode {
            self.mode = mode;
        }
        if let Some(file) = &flags.write_token_file {
            self.write_token_file = Some(file.clone());
        }
        self.insecure_public_bind |= flags.insecure_public_bind;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../stockade.example.toml");

    fn keys(value: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        if let toml::Value::Table(table) = value {
            for (key, value) in table {
                let path = format!("{prefix}{key}");
                keys(value, &format!("{path}."), out);
                out.push(path);
            }
        }
    }

    /// The example file documents every field, with its default value.
    #[test]
    fn example_config_equals_the_defaults() {
        let example: Config = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(example, Config::default());
        // Every field that has a value is written out; optional ones appear as comments.
        let mut documented = Vec::new();
        keys(&toml::from_str(EXAMPLE).unwrap(), "", &mut documented);
        let mut expected = Vec::new();
        keys(
            &toml::Value::try_from(Config::default()).unwrap(),
            "",
            &mut expected,
        );
        documented.sort();
        expected.sort();
        assert_eq!(documented, expected);
        // Optional fields have no default value to write; they appear commented out.
        assert!(
            EXAMPLE.contains("# write_token_file ="),
            "write_token_file undocumented"
        );
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stockade.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:9000\"\nmode = \"development\"\n[rate_limit]\napi_per_minute = 10\n").unwrap();
        let env = |name: &str| (name == "STOCKADE_BIND").then(|| "127.0.0.1:9001".to_owned());
        let flags = Overrides {
            data_dir: Some("/srv/stockade".into()),
            ..Overrides::default()
        };
        let config = Config::load(Some(&file), env, &flags).unwrap();
        assert_eq!(
            config.bind,
            "127.0.0.1:9001".parse().unwrap(),
            "env beats file"
        );
        assert_eq!(config.mode, Mode::Development, "file beats defaults");
        assert_eq!(config.rate_limit.api_per_minute, 10);
        assert_eq!(
            config.rate_limit.webhooks_per_minute, 600,
            "untouched default"
        );
        assert_eq!(
            config.data_dir,
            PathBuf::from("/srv/stockade"),
            "flag beats all"
        );
        let flags = Overrides {
            bind: Some("127.0.0.1:9002".parse().unwrap()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::load(Some(&file), env, &flags).unwrap().bind.port(),
            9002
        );
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("unknown field", "bnid = \"127.0.0.1:1\"\n", "bnid"),
            ("bad address", "bind = \"localhost\"\n", "line 1"),
            ("bad mode", "mode = \"yolo\"\n", "yolo"),
            (
                "unknown nested field",
                "[rate_limit]\nper_second = 1\n",
                "per_second",
            ),
            (
                "bad CIDR",
                "trusted_proxies = [\"10.0.0.0/33\"]\n",
                "line 1",
            ),
        ];
        for (name, text, needle) in cases {
            let file = dir.path().join("c.toml");
            std::fs::write(&file, text).unwrap();
            let err = Config::load(Some(&file), |_| None, &Overrides::default()).expect_err(name);
            assert!(err.to_string().contains(needle), "{name}: {err}");
        }
        let err = Config::load(
            None,
            |n: &str| (n == "STOCKADE_MODE").then(|| "prod".into()),
            &Overrides::default(),
        )
        .expect_err("bad env");
        assert!(err.to_string().contains("STOCKADE_MODE"), "{err}");
    }
}
