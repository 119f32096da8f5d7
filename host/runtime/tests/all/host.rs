//! `TestHost`: a runtime with its own cache directory, plus a scratch project on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stockade_registry_types::{Access, BundleManifest, LimitOverrides};
use stockade_runtime::{
    Bundle, CallError, CallOutput, DirGrant, Runtime, RuntimeConfig, ToolGrants,
};

pub struct TestHost {
    pub runtime: Runtime,
    /// Kept alive for the runtime's lifetime; removed on drop.
    _cache_dir: tempfile::TempDir,
}

impl TestHost {
    pub fn new() -> Self {
        let cache_dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cache_dir.path().to_path_buf()),
            max_instances: 16,
            ..RuntimeConfig::default()
        })
        .unwrap();
        Self {
            runtime,
            _cache_dir: cache_dir,
        }
    }

    /// Loads a bundle from its source folder's manifest and the built component.
    pub async fn bundle(&self, bundle_dir: &str, wasm: &str) -> Bundle {
        let text = std::fs::read_to_string(Path::new(bundle_dir).join("bundle.toml")).unwrap();
        let manifest = BundleManifest::from_toml(&text).unwrap();
        let id = manifest.components.keys().next().unwrap().clone();
        let bytes = BTreeMap::from([(id, std::fs::read(wasm).unwrap())]);
        Bundle::load(&self.runtime, manifest, bytes).await.unwrap()
    }

    pub async fn hostile(&self) -> Bundle {
        self.bundle(
            stockade_test_artifacts::HOSTILE_BUNDLE_DIR,
            stockade_test_artifacts::HOSTILE,
        )
        .await
    }

    pub async fn fs(&self) -> Bundle {
        self.bundle(
            stockade_test_artifacts::FS_BUNDLE_DIR,
            stockade_test_artifacts::FS,
        )
        .await
    }
}

/// A scratch directory tree:
///
/// ```text
/// root/project/hello.txt          "hello from the project"
/// root/project/sub/
/// root/project/link_out     ->    ../outside/secret.txt
/// root/project/dir_out      ->    ../outside
/// root/project/abs_link     ->    <root>/outside/secret.txt
/// root/project/etc_link     ->    /etc
/// root/outside/secret.txt         SECRET
/// root/other/other.txt            "other tool's file"
/// ```
pub struct Scratch {
    pub root: tempfile::TempDir,
}

pub const SECRET: &str = "top-secret-outside-the-grant";
pub const HELLO: &str = "hello from the project";

impl Scratch {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let p = root.path();
        for dir in ["project/sub", "outside", "other"] {
            std::fs::create_dir_all(p.join(dir)).unwrap();
        }
        std::fs::write(p.join("project/hello.txt"), HELLO).unwrap();
        std::fs::write(p.join("outside/secret.txt"), SECRET).unwrap();
        std::fs::write(p.join("other/other.txt"), "other tool's file").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, p.join("project").join(name)).unwrap()
        };
        link(Path::new("../outside/secret.txt"), "link_out");
        link(Path::new("../outside"), "dir_out");
        link(&p.join("outside/secret.txt"), "abs_link");
        link(Path::new("/etc"), "etc_link");
        Self { root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn grant(&self, rel: &str, mount: &str, access: Access) -> ToolGrants {
        ToolGrants::none().with_dir(self.dir(rel, mount, access))
    }

    pub fn dir(&self, rel: &str, mount: &str, access: Access) -> DirGrant {
        DirGrant::new(&self.path(rel), mount.parse().unwrap(), access).unwrap()
    }
}

/// Calls a bundle tool with default limits.
pub async fn call(
    host: &TestHost,
    bundle: &Bundle,
    tool: &str,
    input: serde_json::Value,
    grants: &ToolGrants,
) -> Result<CallOutput, CallError> {
    call_with(host, bundle, tool, input, grants, LimitOverrides::default()).await
}

pub async fn call_with(
    host: &TestHost,
    bundle: &Bundle,
    tool: &str,
    input: serde_json::Value,
    grants: &ToolGrants,
    overrides: LimitOverrides,
) -> Result<CallOutput, CallError> {
    bundle
        .call(&host.runtime, tool, &input.to_string(), grants, &overrides)
        .await
}
