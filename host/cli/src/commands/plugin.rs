//! `stockade plugin run|describe`: one call of one tool, exactly as the server would run it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stockade_registry_types::{Access, LimitOverrides, MountPath};
use stockade_runtime::{
    Bundle, CacheOutcome, CallError, DirGrant, Limits, LoadedComponent, Runtime, RuntimeConfig,
    ToolCall, ToolDescriptor, ToolGrants,
};

/// `stockade plugin ...`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run one tool call in a fresh sandbox and print its JSON output.
    ///
    /// Example: stockade plugin run plugins/fs read_file --input '{"path":"README.md"}' --grant-dir .:ro
    Run(RunArgs),
    /// List a plugin's tools with their descriptions, requested capabilities and input schemas.
    Describe(DescribeArgs),
}

/// Arguments of `stockade plugin run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A bundle folder with `bundle.toml` (a plugin's source folder works once it is built for
    /// wasm32-wasip2), or a single component `.wasm` file.
    pub plugin: PathBuf,
    /// The tool to call.
    pub tool: String,
    /// The tool input as JSON.
    #[arg(long, default_value = "{}")]
    pub input: String,
    /// Grant a directory: `[MOUNT=]PATH[:ro|:rw]` (read-only unless `:rw`). MOUNT is the guest
    /// path the tool requests in bundle.toml; it may be left out when the tool requests exactly
    /// one directory. Repeat for several. A grant beyond the tool's request is refused.
    #[arg(long = "grant-dir", value_name = "[MOUNT=]PATH[:ro|:rw]")]
    pub grant_dirs: Vec<String>,
    /// Allow an outbound destination: `scheme://host[:ports]` (e.g. `https://api.github.com`,
    /// `http://127.0.0.1:8080` for a local test server). Loopback, private and metadata
    /// addresses need an IP/CIDR rule that names them. Repeat for several; none means no
    /// network. Each request and refusal is printed on stderr.
    #[arg(long = "grant-egress", value_name = "RULE")]
    pub grant_egress: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Compile without reading or writing the compiled-component cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print only the output: no load or timing lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Per-call limit overrides.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Memory cap in MiB (default 64, or the tool's manifest value).
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u32>,
    /// Wall-clock deadline in milliseconds (default 10000, or the manifest value).
    #[arg(long, value_name = "MS")]
    pub deadline_ms: Option<u64>,
    /// Output cap in KiB (default 1024, or the manifest value).
    #[arg(long, value_name = "KIB")]
    pub output_kib: Option<u32>,
}

/// Arguments of `stockade plugin describe`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// A bundle folder or a component `.wasm` file.
    pub plugin: PathBuf,
}

/// What was loaded: a bundle with a manifest, or a bare component (author mode: no manifest,
/// so the grants are exactly the ones given on the command line, each with an explicit mount).
enum Loaded {
    Bundle(Bundle),
    Component(LoadedComponent),
}

/// Runs a `plugin` subcommand.
pub async fn run(data_dir: &Path, command: PluginCommand) -> ExitCode {
    let (plugin, no_cache, quiet) = match &command {
        PluginCommand::Run(args) => (&args.plugin, args.no_cache, args.quiet),
        PluginCommand::Describe(args) => (&args.plugin, false, true),
    };
    let config = RuntimeConfig {
        cache_dir: (!no_cache).then(|| data_dir.join("cache").join("components")),
        max_instances: 8,
        ..RuntimeConfig::default()
    };
    let runtime = match Runtime::new(config) {
        Ok(runtime) => runtime,
        Err(err) => return usage_error(&err.to_string()),
    };
    let loaded = match load(&runtime, plugin, quiet).await {
        Ok(loaded) => loaded,
        Err(message) => return usage_error(&message),
    };
    match command {
        PluginCommand::Run(args) => run_tool(&runtime, &loaded, args).await,
        PluginCommand::Describe(_) => describe(&loaded),
    }
}

async fn load(runtime: &Runtime, plugin: &Path, quiet: bool) -> Result<Loaded, String> {
    let loaded = if plugin.is_dir() {
        Loaded::Bundle(
            Bundle::open(runtime, plugin)
                .await
                .map_err(|e| e.to_string())?,
        )
    } else {
        let wasm =
            std::fs::read(plugin).map_err(|e| format!("cannot read {}: {e}", plugin.display()))?;
        let name = plugin
            .file_stem()
            .map_or_else(|| "component".into(), |s| s.to_string_lossy());
        Loaded::Component(runtime.load(&name, wasm).await.map_err(|e| e.to_string())?)
    };
    if !quiet {
        let components: Vec<&LoadedComponent> = match &loaded {
            Loaded::Bundle(bundle) => {
                let mut seen: Vec<&LoadedComponent> = Vec::new();
                for tool in bundle.tools().values() {
                    if !seen.iter().any(|c| c.name() == tool.component().name()) {
                        seen.push(tool.component());
                    }
                }
                seen
            }
            Loaded::Component(component) => vec![component],
        };
        for component in components {
            let how = match component.cache_outcome() {
                CacheOutcome::Hit => "loaded from cache".to_owned(),
                CacheOutcome::Miss => "compiled (cached for next time)".to_owned(),
                CacheOutcome::Disabled => "compiled (cache disabled)".to_owned(),
                CacheOutcome::Rejected(reason) => {
                    format!("recompiled (cache file rejected: {reason})")
                }
            };
            eprintln!(
                "{}: {how} in {} ms [sha256:{}]",
                component.name(),
                component.load_time().as_millis(),
                &component.sha256_hex()[..12]
            );
        }
    }
    Ok(loaded)
}

async fn run_tool(runtime: &Runtime, loaded: &Loaded, args: RunArgs) -> ExitCode {
    if let Err(err) = serde_json::from_str::<serde_json::Value>(&args.input) {
        return usage_error(&format!("--input is not valid JSON: {err}"));
    }
    let overrides = LimitOverrides {
        memory_mib: args.limits.memory_mib,
        deadline_ms: args.limits.deadline_ms,
        output_kib: args.limits.output_kib,
    };
    let requested_mounts: Vec<MountPath> = match loaded {
        Loaded::Bundle(bundle) => match bundle.tools().get(&args.tool) {
            Some(tool) => tool.spec.dirs.iter().map(|d| d.mount.clone()).collect(),
            None => return call_failed(&CallError::UnknownTool(args.tool.clone())),
        },
        Loaded::Component(_) => Vec::new(),
    };
    let mut grants = ToolGrants::none();
    for spec in &args.grant_dirs {
        match parse_grant(
            spec,
            &requested_mounts,
            matches!(loaded, Loaded::Component(_)),
        ) {
            Ok(grant) => grants = grants.with_dir(grant),
            Err(message) => return usage_error(&format!("--grant-dir {spec}: {message}")),
        }
    }
    match stockade_egress::EgressGrant::parse(&args.grant_egress) {
        Ok(grant) => {
            grants = grants.with_egress(stockade_runtime::Egress::new(
                stockade_egress::EgressPolicy::new(grant),
                std::sync::Arc::new(stockade_egress::SystemResolver::new()),
            ));
        }
        Err(err) => return usage_error(&format!("--grant-egress: {err}")),
    }
    let result = match loaded {
        Loaded::Bundle(bundle) => {
            bundle
                .call(runtime, &args.tool, &args.input, &grants, &overrides)
                .await
        }
        Loaded::Component(component) => {
            let call = ToolCall {
                tool: &args.tool,
                input: &args.input,
                grants: &grants,
                limits: Limits::default().with_overrides(&overrides),
            };
            runtime.call(component, call).await
        }
    };
    if !args.quiet {
        for record in grants.egress.log.records() {
            eprintln!(
                "egress: {}",
                serde_json::to_string(&record).unwrap_or_default()
            );
        }
    }
    match result {
        Ok(output) => {
            println!("{}", output.output);
            if !args.quiet {
                eprintln!(
                    "{}: ok in {:.1} ms",
                    args.tool,
                    output.duration.as_secs_f64() * 1e3
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => call_failed(&err),
    }
}

/// Parses `[MOUNT=]PATH[:ro|:rw]`.
fn parse_grant(spec: &str, requested: &[MountPath], bare: bool) -> Result<DirGrant, String> {
    let (rest, access) = if let Some(rest) = spec.strip_suffix(":rw") {
        (rest, Access::ReadWrite)
    } else if let Some(rest) = spec.strip_suffix(":ro") {
        (rest, Access::Read)
    } else {
        (spec, Access::Read)
    };
    let (mount, path) = match rest.split_once('=') {
        Some((mount, path)) if mount.starts_with('/') => {
            (mount.parse::<MountPath>().map_err(|e| e.to_string())?, path)
        }
        _ if bare => {
            return Err(
                "a bare component has no manifest: name the mount, e.g. /project=PATH".into(),
            );
        }
        _ => match requested {
            [only] => (only.clone(), rest),
            [] => return Err("this tool requests no directories".into()),
            _ => {
                let mounts: Vec<&str> = requested.iter().map(MountPath::as_str).collect();
                return Err(format!(
                    "the tool requests several directories; name one of {}",
                    mounts.join(", ")
                ));
            }
        },
    };
    if path.is_empty() {
        return Err("missing PATH".into());
    }
    DirGrant::new(Path::new(path), mount, access).map_err(|e| e.to_string())
}

fn describe(loaded: &Loaded) -> ExitCode {
    let tools: Vec<serde_json::Value> = match loaded {
        Loaded::Bundle(bundle) => bundle
            .tools()
            .values()
            .map(|tool| {
                let mut value = descriptor_json(&tool.descriptor);
                value["requests"] = serde_json::json!({
                    "dirs": tool.spec.dirs.iter().map(|d| serde_json::json!({
                        "mount": d.mount.as_str(),
                        "access": if d.access.can_write() { "read-write" } else { "read" },
                    })).collect::<Vec<_>>(),
                });
                value
            })
            .collect(),
        Loaded::Component(component) => component.tools().iter().map(descriptor_json).collect(),
    };
    match serde_json::to_string_pretty(&tools) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => usage_error(&err.to_string()),
    }
}

fn descriptor_json(tool: &ToolDescriptor) -> serde_json::Value {
    serde_json::json!({
        "name": tool.name,
        "description": tool.description,
        "input_schema": serde_json::from_str::<serde_json::Value>(&tool.input_schema).unwrap_or_default(),
    })
}

fn call_failed(err: &CallError) -> ExitCode {
    eprintln!("error[{}]: {err}", err.code());
    ExitCode::from(1)
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_specs() {
        let dir = std::env::temp_dir();
        let dir = dir.to_string_lossy();
        let one: Vec<MountPath> = vec!["/project".parse().unwrap()];
        let two: Vec<MountPath> = vec!["/project".parse().unwrap(), "/other".parse().unwrap()];
        let ok = |spec: &str, requested: &[MountPath]| parse_grant(spec, requested, false).unwrap();
        let grant = ok(&format!("{dir}:rw"), &one);
        assert_eq!(
            (grant.mount().as_str(), grant.access()),
            ("/project", Access::ReadWrite)
        );
        let grant = ok(&format!("/other={dir}"), &two);
        assert_eq!(
            (grant.mount().as_str(), grant.access()),
            ("/other", Access::Read)
        );
        let refused: &[(&str, String, &[MountPath], bool)] = &[
            ("ambiguous mount", format!("{dir}:ro"), &two, false),
            ("no request", dir.to_string(), &[], false),
            ("bare without mount", dir.to_string(), &one, true),
            ("relative mount", format!("project={dir}"), &one, false),
            ("empty path", "/project=:ro".into(), &one, false),
        ];
        for (name, spec, requested, bare) in refused {
            assert!(parse_grant(spec, requested, *bare).is_err(), "{name}");
        }
    }
}
