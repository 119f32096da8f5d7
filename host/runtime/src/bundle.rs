//! A bundle on disk: its manifest, its loaded components, and calls that check grants against
//! what each tool requested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stockade_registry_types::{
    BundleManifest, ComponentId, ComponentSpec, LimitOverrides, ToolSpec,
};

use stockade_egress::EgressGrant;

use crate::bindings::ToolDescriptor;
use crate::call::{CallOutput, ToolCall};
use crate::engine::{LoadedComponent, Runtime, RuntimeError};
use crate::error::CallError;
use crate::grants::ToolGrants;
use crate::limits::Limits;

/// Why a bundle could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The manifest is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest does not parse.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// The manifest refers to something that does not exist.
    #[error("{path}: {message}")]
    Inconsistent {
        /// The manifest file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// A component file is not built or not found.
    #[error("{0}")]
    ComponentMissing(String),
    /// A component failed to load.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// One tool of a bundle: what the manifest requests and what the component describes.
#[derive(Debug)]
pub struct BundleTool {
    /// The manifest's entry: component, requested capabilities, limits.
    pub spec: ToolSpec,
    /// Name, description and input schema from the component.
    pub descriptor: ToolDescriptor,
    /// The manifest's `egress` request, parsed: no egress grant may reach further.
    pub egress: EgressGrant,
    component: Arc<LoadedComponent>,
}

impl BundleTool {
    /// The component that serves this tool.
    pub fn component(&self) -> &LoadedComponent {
        &self.component
    }
}

/// A bundle whose components are loaded and whose manifest agrees with them.
#[derive(Debug)]
pub struct Bundle {
    manifest: BundleManifest,
    tools: BTreeMap<String, BundleTool>,
}

impl Bundle {
    /// Opens the bundle in `dir` (a folder with `bundle.toml`), locating each component with
    /// [`locate_component`], loading it and checking that every tool the manifest lists is
    /// described by its component.
    pub async fn open(runtime: &Runtime, dir: &Path) -> Result<Self, BundleError> {
        let manifest_path = dir.join(BundleManifest::FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| BundleError::Read {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = BundleManifest::from_toml(&text).map_err(|err| BundleError::Manifest {
            path: manifest_path.clone(),
            message: err.to_string(),
        })?;
        let mut wasm = BTreeMap::new();
        for (id, spec) in &manifest.components {
            let path = locate_component(dir, spec)?;
            let bytes =
                std::fs::read(&path).map_err(|source| BundleError::Read { path, source })?;
            wasm.insert(id.clone(), bytes);
        }
        Self::load(runtime, manifest, wasm)
            .await
            .map_err(|err| match err {
                BundleError::Inconsistent { message, .. } => BundleError::Inconsistent {
                    path: manifest_path,
                    message,
                },
                other => other,
            })
    }

    /// Loads a bundle from its manifest and the bytes of each of its components, checking that
    /// every tool the manifest lists is described by its component.
    pub async fn load(
        runtime: &Runtime,
        manifest: BundleManifest,
        mut wasm: BTreeMap<ComponentId, Vec<u8>>,
    ) -> Result<Self, BundleError> {
        let inconsistent = |message: String| BundleError::Inconsistent {
            path: PathBuf::from(BundleManifest::FILE),
            message,
        };
        let mut components = BTreeMap::new();
        for id in manifest.components.keys() {
            let bytes = wasm
                .remove(id)
                .ok_or_else(|| inconsistent(format!("no bytes given for component `{id}`")))?;
            let label = format!("{}/{id}", manifest.bundle.name);
            components.insert(id.clone(), Arc::new(runtime.load(&label, bytes).await?));
        }
        let mut tools = BTreeMap::new();
        for (name, spec) in &manifest.tools {
            let component = components.get(&spec.component).ok_or_else(|| {
                inconsistent(format!(
                    "tool `{name}` names component `{}`, which is not listed under [components]",
                    spec.component
                ))
            })?;
            let descriptor = component
                .tools()
                .iter()
                .find(|tool| tool.name == name.as_str())
                .ok_or_else(|| {
                    inconsistent(format!(
                        "tool `{name}` is not offered by component `{}`",
                        spec.component
                    ))
                })?
                .clone();
            let egress = EgressGrant::parse(&spec.egress)
                .map_err(|err| inconsistent(format!("tool `{name}`: {err}")))?;
            tools.insert(
                name.to_string(),
                BundleTool {
                    spec: spec.clone(),
                    descriptor,
                    egress,
                    component: component.clone(),
                },
            );
        }
        Ok(Self { manifest, tools })
    }

    /// The manifest.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// The tools, by name. Only tools listed in the manifest are callable.
    pub fn tools(&self) -> &BTreeMap<String, BundleTool> {
        &self.tools
    }

    /// Calls `tool` with `input`. The grants must be within what the manifest requests for this
    /// tool; limits are the host defaults, then the manifest's overrides, then `overrides`.
    pub async fn call(
        &self,
        runtime: &Runtime,
        tool: &str,
        input: &str,
        grants: &ToolGrants,
        overrides: &LimitOverrides,
    ) -> Result<CallOutput, CallError> {
        let entry = self
            .tools
            .get(tool)
            .ok_or_else(|| CallError::UnknownTool(tool.to_owned()))?;
        grants.check_within(tool, &entry.spec, &entry.egress)?;
        let limits = Limits::default()
            .with_overrides(&entry.spec.limits)
            .with_overrides(overrides);
        runtime
            .call(
                &entry.component,
                ToolCall {
                    tool,
                    input,
                    grants,
                    limits,
                },
            )
            .await
    }
}

/// Finds a component's `.wasm` file: in the bundle directory, or, for a plugin source folder
/// (one with a `Cargo.toml`), where cargo puts a `wasm32-wasip2` build (`$CARGO_TARGET_DIR`, or
/// the nearest `target/` above the folder) under the `guest` or `release` profile, newest first.
pub fn locate_component(dir: &Path, spec: &ComponentSpec) -> Result<PathBuf, BundleError> {
    let in_bundle = dir.join(spec.wasm.as_str());
    if in_bundle.is_file() {
        return Ok(in_bundle);
    }
    if !dir.join("Cargo.toml").is_file() {
        return Err(BundleError::ComponentMissing(format!(
            "component file {} does not exist",
            in_bundle.display()
        )));
    }
    let target_dirs: Vec<PathBuf> = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .ancestors()
            .map(|ancestor| ancestor.join("target"))
            .filter(|target| target.is_dir())
            .take(1)
            .collect(),
    };
    let candidates: Vec<PathBuf> = target_dirs
        .iter()
        .flat_map(|target| {
            ["guest", "release"].map(|profile| {
                target
                    .join("wasm32-wasip2")
                    .join(profile)
                    .join(spec.wasm.as_str())
            })
        })
        .collect();
    candidates
        .iter()
        .filter_map(|path| Some((path.metadata().ok()?.modified().ok()?, path)))
        .max()
        .map(|(_, path)| path.clone())
        .ok_or_else(|| {
            BundleError::ComponentMissing(format!(
                "component {} is not built (looked in {}); build it with \
                 `cargo build --target wasm32-wasip2 --profile guest` in {} (or `cargo xtask plugins`)",
                spec.wasm,
                if candidates.is_empty() {
                    "no target directory found".to_owned()
                } else {
                    candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                },
                dir.display()
            ))
        })
}
